"""The report format interface and the CLI choice → format mapping.

Each format is a small class with :meth:`ReportFormat.format` returning the whole document as
a string; the CLI decides where it goes (and writes ``--out`` only after the work succeeded).
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod

from keyroll.report.model import IncidentReport

__all__ = ["ReportFormat", "ReportFormatChoice"]


class ReportFormat(ABC):
    """Renders an :class:`IncidentReport`."""

    media_type: str = "text/plain"
    suffix: str = ".txt"

    @abstractmethod
    def format(self, report: IncidentReport) -> str:
        """The whole document."""


class ReportFormatChoice(enum.StrEnum):
    """``keyroll report --format`` values."""

    MARKDOWN = "md"
    HTML = "html"
    JSON = "json"
    MARKDOWN_LONG = "markdown"
    """the same as ``md`` (``inventory`` spells it ``markdown``)"""

    def to_format(self) -> ReportFormat:
        """The format class for this choice."""
        from keyroll.report.html import HtmlFormat
        from keyroll.report.json import JsonFormat
        from keyroll.report.markdown import MarkdownFormat

        formats: dict[ReportFormatChoice, type[ReportFormat]] = {
            ReportFormatChoice.MARKDOWN: MarkdownFormat,
            ReportFormatChoice.HTML: HtmlFormat,
            ReportFormatChoice.JSON: JsonFormat,
            ReportFormatChoice.MARKDOWN_LONG: MarkdownFormat,
        }
        return formats[self]()
