"""keyroll.report: the incident record (JSON, Markdown, HTML with a timeline chart)."""

from keyroll.report.build import build_report
from keyroll.report.interface import ReportFormat
from keyroll.report.model import REPORT_VERSION, IncidentReport, ItemStatus

__all__ = [
    "REPORT_VERSION",
    "IncidentReport",
    "ItemStatus",
    "ReportFormat",
    "build_report",
]
