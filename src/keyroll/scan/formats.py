"""Report formats for scan results: one small class per format, each returns a string.

The CLI picks the class from ``--format`` (:data:`FORMATS`) and decides where the string
goes (stdout or ``--output``). No format ever contains a value: findings carry fingerprints
and redacted previews only.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

from keyroll import __version__
from keyroll.core.model import Form
from keyroll.scan.findings import Finding, ScanSummary

__all__ = [
    "FORMATS",
    "FormatChoice",
    "JsonFormat",
    "ReportFormat",
    "SarifFormat",
    "TextFormat",
    "summary_line",
]

REPORT_VERSION = 1


class ReportFormat(Protocol):
    """Renders findings and the summary as one string."""

    def render(self, findings: Sequence[Finding], summary: ScanSummary) -> str:
        """The whole report."""
        ...


def describe(f: Finding) -> str:
    """One line for a finding: where, what, how sure, which credential (never the value)."""
    where = f"{f.path}:{f.line}:{f.column}"
    extra = []
    if f.key:
        extra.append(f"key={f.key}")
    if f.form in (Form.BASE64, Form.URL_ENCODED, Form.BINARY):
        extra.append(f"form={f.form.value}")  # the file holds an encoding of the credential
    if f.cell is not None:
        extra.append(f"cell={f.cell}")
    if f.commit:
        extra.append(f"commit={f.commit[:12]} ({f.author_date[:10]})")
    if f.occurrences > 1:
        extra.append(f"versions={f.occurrences}")
    if f.known:
        extra.append("KNOWN")
    tail = (" " + " ".join(extra)) if extra else ""
    return f"{where}  {f.confidence.value:<6}  {f.rule_id}  {f.fingerprint}  {f.preview}{tail}  ({f.reason})"


def summary_line(summary: ScanSummary) -> str:
    """The one-line summary: what was scanned, skipped and found, and how long it took."""
    mib = summary.bytes / (1024 * 1024)
    parts = []
    if summary.files or not summary.blobs:
        parts.append(f"{summary.files} file{'s' if summary.files != 1 else ''}")
    if summary.blobs or summary.commits:
        parts.append(f"{summary.blobs} blobs in {summary.commits} commits")
    scanned = f"scanned {', '.join(parts)} ({mib:.1f} MiB) in {summary.seconds:.2f}s"
    found = f"{summary.findings} finding{'s' if summary.findings != 1 else ''}"
    if summary.by_confidence:
        found += " (" + ", ".join(f"{n} {c}" for c, n in sorted(summary.by_confidence.items())) + ")"
    notes = []
    if summary.skipped:
        notes.append(
            "skipped " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(summary.skipped.items()))
        )
    if summary.binary:
        notes.append(f"{summary.binary} binary searched byte for byte")
    if summary.invalid_utf8:
        notes.append(f"{summary.invalid_utf8} not valid UTF-8 (scanned with replacement)")
    if summary.allowed:
        notes.append(f"{summary.allowed} allowed by pragma")
    if summary.baselined:
        notes.append(f"{summary.baselined} in baseline")
    if summary.below_threshold:
        notes.append(f"{summary.below_threshold} below --min-confidence")
    return f"{scanned} — {found}" + ("; " + "; ".join(notes) if notes else "")


class TextFormat:
    """One line per finding, then nothing else (the summary goes to stderr)."""

    def render(self, findings: Sequence[Finding], summary: ScanSummary) -> str:
        """See :class:`ReportFormat`."""
        return "".join(describe(f) + "\n" for f in findings)


class JsonFormat:
    """``{"version", "tool", "summary", "findings"}``; findings as :class:`Finding` fields."""

    def render(self, findings: Sequence[Finding], summary: ScanSummary) -> str:
        """See :class:`ReportFormat`."""
        import json

        from keyroll.core.serde import to_jsonable

        doc = {
            "version": REPORT_VERSION,
            "tool": {"name": "keyroll", "version": __version__},
            "summary": to_jsonable(summary),
            "findings": [to_jsonable(f) for f in findings],
        }
        return json.dumps(doc, indent=2) + "\n"


class SarifFormat:
    """SARIF 2.1.0 (GitHub code scanning and other SARIF consumers)."""

    def render(self, findings: Sequence[Finding], summary: ScanSummary) -> str:
        """See :class:`ReportFormat`."""
        import json

        from keyroll.scan.sarif import to_sarif

        return json.dumps(to_sarif(findings, summary), indent=2) + "\n"


class FormatChoice(enum.StrEnum):
    """``--format`` values."""

    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


FORMATS: dict[FormatChoice, type[ReportFormat]] = {
    FormatChoice.TEXT: TextFormat,
    FormatChoice.JSON: JsonFormat,
    FormatChoice.SARIF: SarifFormat,
}
