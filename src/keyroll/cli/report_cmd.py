"""``keyroll report`` (the incident record) and ``keyroll audit`` (who did what in the exposure window).

``report`` exit codes: 0 the record shows a complete rotation; 1 it was written but something is
not done or not known (listed in it); 2 bad input (no journal, unknown run, bad --out): nothing
written. ``audit``: 0 nothing unusual and every source read; 1 flagged events or unread
sources; 2 bad input.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keyroll.app.audit import audit_scope, needs_attention, own_writes, run_audit
from keyroll.app.journal import open_journal
from keyroll.app.report import (
    collect_evidence,
    incident_report,
    read_journal,
    report_scope,
    stored_evidence,
)
from keyroll.audit.run import AuditResult
from keyroll.cli.common import (
    EnvFileOpt,
    GitReposOpt,
    JsonOpt,
    OldValuePathsOpt,
    OutOpt,
    RunIdOpt,
    emit_json,
    err_console,
    get_config,
    out_console,
    output_to,
    state,
)
from keyroll.cli.report_formats import ReportFormatChoice
from keyroll.core.errors import ExitCode, UsageError
from keyroll.core.progress import NULL_PROGRESS
from keyroll.core.serde import to_jsonable
from keyroll.verify.times import iso

__all__ = ["register", "write_atomically"]


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_out(out: Path | None) -> None:
    if out is None:
        return
    if out.is_dir():
        raise UsageError(f"--out {out} is a directory", hint="give a file name, e.g. --out incident.html")
    if not out.parent.exists():
        raise UsageError(f"--out {out}: directory {out.parent} does not exist")


def _progress() -> Any:
    if state.quiet:
        return None
    from keyroll.cli.progress_view import ProgressView

    return ProgressView(err_console)


def report_cmd(
    env_file: EnvFileOpt = None,
    fmt: Annotated[
        ReportFormatChoice, typer.Option("--format", "-f", case_sensitive=False, help="md, html or json")
    ] = ReportFormatChoice.MARKDOWN,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", dir_okay=False, help="write the report here (only once it is complete)"),
    ] = None,
    run_id: RunIdOpt = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="journal evidence only: no probes, no API reads")
    ] = False,
    path: OldValuePathsOpt = None,
    git_repo: GitReposOpt = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="start of the activity window (default: 30 days before the first run)"),
    ] = None,
) -> None:
    """Write the incident record (Markdown, HTML with a timeline chart, or versioned JSON).

    The record covers the incident: every run of the journal, each credential with the outcome
    of the last run that handled it (--run: that run, and the runs of its credentials).

    Summary, the Upstash/Vercel checklist decided by evidence, per credential the strategy,
    timeline, outage window and redeploys, per-project status, open risks, and what is not
    known. Unless --offline, it first runs verify, audit and the harden checks for fresh
    evidence; --offline cites the latest stored keyroll harden result.

    Exit 0: complete. Exit 1: written, but something is not done or not known. Exit 2: bad input.
    """
    _check_out(out)
    cfg = get_config(env_file)
    scope = report_scope(
        cfg, since=since, paths=tuple(path or ()), git_repos=tuple(git_repo or ()), now=time.time()
    )
    opened = open_journal(cfg)
    try:
        evidence = read_journal(opened, run_id)
        if offline:
            evidence = stored_evidence(cfg, evidence)
        else:
            progress = None if fmt is ReportFormatChoice.JSON and out is None else _progress()
            if progress is None:
                evidence = asyncio.run(collect_evidence(cfg, evidence, opened.journal, scope, NULL_PROGRESS))
            else:
                with progress:
                    evidence = asyncio.run(collect_evidence(cfg, evidence, opened.journal, scope, progress))
        # the journal is the incident's; --run narrows the record to the credentials of that run
        report = incident_report(evidence, whole_journal=run_id is None)
        text = fmt.to_format().format(report)
    finally:
        opened.close()
    if out is not None:
        write_atomically(out, text)
        err_console.print(f"wrote {out} ({report.summary.status})", highlight=False)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    raise typer.Exit(int(ExitCode.OK if report.summary.status == "complete" else ExitCode.FINDINGS))


def _audit_table(result: AuditResult) -> Table:
    table = Table(title=f"keyroll audit — {iso(result.since)} → {iso(result.until)}")
    for col in ("time", "source", "type", "actor", "project", "why"):
        table.add_column(col, overflow="fold")
    for e in result.flagged:
        table.add_row(
            iso(e.at),
            e.source,
            escape(e.type),
            escape(e.actor or "?"),
            e.project_id,
            escape(", ".join(e.reasons)),
        )
    return table


def audit_cmd(
    env_file: EnvFileOpt = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="start: ISO date/time, epoch seconds, or 30d/12h ago (default: 30 days before the first run)",
        ),
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="end (default: now)")] = None,
    known_actor: Annotated[
        list[str] | None,
        typer.Option(
            "--known-actor", help="a Vercel principal id or Upstash actor you vouch for (repeatable)"
        ),
    ] = None,
    json_out: JsonOpt = False,
    out: OutOpt = None,
) -> None:
    """Review the activity logs of the exposure window and flag what keyroll did not do.

    Vercel events (env reads and changes, tokens, members, deployments, integrations) and
    Upstash audit logs; events by unknown actors and writes that keyroll's rotation did not make
    (keyroll knows its own from the journal) are flagged.

    Exit 0: nothing unusual and every source read. Exit 1: flagged events or unread sources. Exit 2: bad input.
    """
    cfg = get_config(env_file)
    options = audit_scope(since=since, until=until, known_actors=tuple(known_actor or ()), now=time.time())
    runlogs, notes = own_writes(cfg)
    progress = None if json_out else _progress()
    if progress is None:
        result = asyncio.run(run_audit(cfg, options, runlogs, NULL_PROGRESS))
    else:
        with progress:
            result = asyncio.run(run_audit(cfg, options, runlogs, progress))
    all_notes = (*notes, *result.notes)
    with output_to(out):
        if json_out:
            emit_json(
                {
                    "kind": "keyroll.audit",
                    "flagged": len(result.flagged),
                    "counts": result.counts(),
                    **to_jsonable(result),
                    "notes": list(all_notes),
                }
            )
        else:
            counts = ", ".join(f"{n} {c}" for c, n in result.counts().items() if n) or "no events"
            out_console.print(
                f"{len(result.events)} event(s) from {', '.join(result.sources) or 'no source'}: {counts}; "
                f"{len(result.flagged)} flagged",
                highlight=False,
            )
            if result.flagged:
                out_console.print(_audit_table(result))
            for n in all_notes:
                err_console.print(f"[yellow]note:[/] {escape(n)}", highlight=False)
        raise typer.Exit(int(ExitCode.FINDINGS if needs_attention(result) else ExitCode.OK))


def register(app: typer.Typer) -> None:
    """Attach ``report`` and ``audit`` to the main app."""
    app.command("report")(report_cmd)
    app.command("audit")(audit_cmd)
