"""Renderers for a :class:`~keyroll.harden.run.HardenResult`: JSON, Markdown and a rich table.

Each format is one small class with ``render(result) -> str`` (the table renders to a string
through a recording console, so the CLI decides where it goes); :class:`HardenFormat` maps the
CLI choice to the class. Nothing here can print a value: findings only hold fingerprints.
"""

from __future__ import annotations

import enum
import json
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keyroll.core.serde import to_jsonable
from keyroll.harden.run import HardenResult

__all__ = ["HardenFormat", "JsonFormat", "MarkdownFormat", "TableFormat"]


class _Format(Protocol):
    def render(self, result: HardenResult) -> str: ...


def _doc(result: HardenResult) -> dict[str, object]:
    return {
        "version": result.version,
        "summary": {
            "findings": len(result.findings),
            "open": len(result.open_findings),
            "fixed": len(result.findings) - len(result.open_findings),
            "by_severity": result.counts(),
            "projects": list(result.projects),
        },
        "findings": to_jsonable(list(result.findings)),
        "fixes": to_jsonable(list(result.fixes)),
        "unknowns": list(result.unknowns),
        "sources": to_jsonable(result.sources),
    }


class JsonFormat:
    """The versioned JSON document (``version``, ``summary``, ``findings``, ``fixes``, ``unknowns``, ``sources``)."""

    def render(self, result: HardenResult) -> str:
        """JSON text."""
        return json.dumps(_doc(result), indent=2) + "\n"


class MarkdownFormat:
    """A Markdown report: one section per finding with evidence, fix, ACL lines and snippets."""

    def render(self, result: HardenResult) -> str:
        """Markdown text."""
        lines = ["# keyroll harden", ""]
        counts = result.counts()
        lines.append(
            f"{len(result.open_findings)} open finding(s)"
            + (f" ({', '.join(f'{v} {k}' for k, v in counts.items())})" if counts else "")
            + f", {len(result.findings) - len(result.open_findings)} fixed; projects: {', '.join(result.projects) or '—'}"
        )
        lines.append("")
        for f in result.findings:
            status = "fixed" if f.fixed else ("fixable with `--fix`" if f.fixable_by_keyroll else "manual")
            lines += [
                f"## [{f.severity.value}] {f.title}",
                "",
                f"`{f.id}` · rule `{f.rule.value}` · {status}",
                "",
            ]
            lines.append("Evidence:")
            lines += [f"- {e.fact} — _{e.source}_" for e in f.evidence]
            lines += ["", f"Fix: {f.fix}", ""]
            acl = f.details.get("acl") or (
                [{"line": f.details["acl_setuser"]}] if "acl_setuser" in f.details else []
            )
            if acl:
                lines += ["```", *[str(a["line"]) for a in acl], "```", ""]
            if "snippet" in f.details:
                lang = "python" if "upstash_ratelimit" in str(f.details["snippet"]) else "ts"
                lines += [f"```{lang}", str(f.details["snippet"]).rstrip(), "```", ""]
        if result.fixes:
            lines += ["## Fixes", ""]
            for o in result.fixes:
                state = "dry run" if o.dry_run else ("applied" if o.applied else f"failed: {o.error}")
                lines.append(f"- `{o.finding_id}` — {o.summary} ({state})")
                lines += [f"  - {s}" for s in o.steps]
            lines.append("")
        if result.unknowns:
            lines += ["## Not checked", ""] + [f"- {u}" for u in result.unknowns] + [""]
        return "\n".join(lines)


class TableFormat:
    """A rich table for people (severity, rule, project, title, fix status), then unknowns."""

    def render(self, result: HardenResult) -> str:
        """The table as text (ANSI styles when the console supports them)."""
        console = Console(record=True, width=140, highlight=False, soft_wrap=False)
        table = Table(title=f"keyroll harden — {len(result.open_findings)} open finding(s)", show_lines=False)
        for col in ("severity", "rule", "project", "finding", "fix"):
            table.add_column(col, overflow="fold")
        styles = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
        for f in result.findings:
            fix = "fixed" if f.fixed else ("--fix" if f.fixable_by_keyroll else "manual")
            table.add_row(
                f"[{styles[f.severity.value]}]{f.severity.value}[/]",
                f.rule.value,
                f.project or "—",
                f.title,
                fix,
            )
        console.print(table)
        for f in result.findings:
            if f.fixed:
                continue
            console.print(f"[bold]{f.id}[/] {escape(f.title)}")
            for e in f.evidence[:6]:
                console.print(f"  • {escape(e.fact)} [dim]({escape(e.source)})[/]")
            if len(f.evidence) > 6:
                console.print(f"  • … {len(f.evidence) - 6} more (see --format md)")
            console.print(f"  fix: {escape(f.fix)}")
        for o in result.fixes:
            state = (
                "dry run" if o.dry_run else ("applied" if o.applied else f"[red]failed[/]: {escape(o.error)}")
            )
            console.print(f"[bold]fix[/] {o.finding_id}: {escape(o.summary)} — {state}")
            for step in o.steps:
                console.print(f"    {escape(step)}")
        if result.unknowns:
            console.print("[yellow]not checked:[/]")
            for u in result.unknowns:
                console.print(f"  • {escape(u)}")
        return console.export_text(styles=False)


class HardenFormat(enum.StrEnum):
    """The ``--format`` choices, mapped to their renderer."""

    TABLE = "table"
    JSON = "json"
    MD = "md"
    MARKDOWN = "markdown"
    """the same as ``md``"""

    def renderer(self) -> _Format:
        """The renderer class for this choice."""
        classes: dict[HardenFormat, type[_Format]] = {
            HardenFormat.TABLE: TableFormat,
            HardenFormat.JSON: JsonFormat,
            HardenFormat.MD: MarkdownFormat,
            HardenFormat.MARKDOWN: MarkdownFormat,
        }
        return classes[self]()
