"""The preflight table (``keyroll preflight``, ``plan``, ``apply --dry-run``)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from keyroll.preflight.model import PreflightResult, Severity

__all__ = ["facts_line", "preflight_table"]

_STYLE = {
    Severity.BLOCK: "[bold red]block[/]",
    Severity.WARN: "[yellow]warn[/]",
    Severity.INFO: "[dim]info[/]",
}


def facts_line(result: PreflightResult) -> str:
    """What was read, on one line (``vercel.plan=pro, vercel.concurrent_builds=12 …``)."""
    return ", ".join(f"{k}={v}" for k, v in sorted(result.facts.items()))


def preflight_table(result: PreflightResult) -> Table:
    """One row per risk: severity, check, subject, what is wrong, what to do."""
    verdict = "blocks apply" if result.blocking else "nothing blocks"
    table = Table(title=f"preflight: {len(result.risks)} finding(s), {verdict}", show_lines=False)
    for col in ("severity", "check", "subject", "finding", "fix"):
        table.add_column(col)
    for r in result.risks:
        table.add_row(_STYLE[r.severity], r.check, escape(r.subject), escape(r.message), escape(r.fix))
    if result.facts:
        table.caption = escape(facts_line(result))
    return table
