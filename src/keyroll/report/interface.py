"""The report format interface.

Each format is a small class with :meth:`ReportFormat.format` returning the whole document as
a string; the CLI picks the format (:mod:`keyroll.cli.report_formats`) and decides where it goes
(and writes ``--out`` only after the work succeeded).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from keyroll.report.model import IncidentReport

__all__ = ["ReportFormat"]


class ReportFormat(ABC):
    """Renders an :class:`IncidentReport`."""

    media_type: str = "text/plain"
    suffix: str = ".txt"

    @abstractmethod
    def format(self, report: IncidentReport) -> str:
        """The whole document."""
