"""``keyroll report --format``: the CLI choice → report format mapping.

The format choice lives in the CLI (the report package holds the formats and their interface,
:mod:`keyroll.report.interface`, and knows nothing of which one a user picked).
"""

from __future__ import annotations

import enum

from keyroll.report.html import HtmlFormat
from keyroll.report.interface import ReportFormat
from keyroll.report.json import JsonFormat
from keyroll.report.markdown import MarkdownFormat

__all__ = ["ReportFormatChoice"]


class ReportFormatChoice(enum.StrEnum):
    """``keyroll report --format`` values."""

    MARKDOWN = "md"
    HTML = "html"
    JSON = "json"
    MARKDOWN_LONG = "markdown"
    """the same as ``md`` (``inventory`` spells it ``markdown``)"""

    def to_format(self) -> ReportFormat:
        """The format class for this choice."""
        return _FORMATS[self]()


_FORMATS: dict[ReportFormatChoice, type[ReportFormat]] = {
    ReportFormatChoice.MARKDOWN: MarkdownFormat,
    ReportFormatChoice.HTML: HtmlFormat,
    ReportFormatChoice.JSON: JsonFormat,
    ReportFormatChoice.MARKDOWN_LONG: MarkdownFormat,
}
