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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keyroll import __version__
from keyroll.audit.run import AuditOptions, AuditResult, audit
from keyroll.audit.window import parse_when
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
from keyroll.config import Config
from keyroll.core.errors import ExitCode, UsageError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.serde import to_jsonable
from keyroll.inventory import options_from_config, validate_options
from keyroll.providers.factory import open_providers
from keyroll.report.build import build_report
from keyroll.report.interface import ReportFormatChoice

if TYPE_CHECKING:
    from keyroll.report.hardening import HardeningEvidence
from keyroll.app.journal import OpenedJournal, open_journal
from keyroll.journal.read import load_runlog
from keyroll.journal.runlog import RunLog
from keyroll.verify.result import VerifyResult
from keyroll.verify.run import VerifyOptions, verify
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


def _runlogs(opened: OpenedJournal) -> list[RunLog]:
    if opened.journal is None:
        return []
    return [load_runlog(opened.journal, r.id, path=str(opened.path)) for r in opened.journal.runs()]


async def _live(
    cfg: Config,
    opened: OpenedJournal,
    log: RunLog | None,
    voptions: VerifyOptions,
    aoptions: AuditOptions,
    runlogs: Sequence[RunLog],
    progress: Progress,
) -> tuple[VerifyResult | None, AuditResult, HardeningEvidence]:
    from keyroll.harden.latest import latest_path
    from keyroll.report.hardening import check_hardening

    async with open_providers(cfg) as providers:
        vr = None
        if log is not None and log.run is not None:
            source: Any = opened.journal if opened.journal is not None else log
            vr = await verify(providers, source, voptions, progress)
        ar = await audit(providers, aoptions, runlogs, progress)
        hardening = await check_hardening(providers, latest_path(cfg.journal_path), progress)
    return vr, ar, hardening


def _stored_hardening(cfg: Config) -> HardeningEvidence:
    from keyroll.harden.latest import latest_path
    from keyroll.report.hardening import stored_hardening

    return stored_hardening(latest_path(cfg.journal_path))


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
    now = time.time()
    since_ts = parse_when(since, now) if since else None
    inv_options = options_from_config(cfg, paths=tuple(path or ()), git_repos=tuple(git_repo or ()))
    validate_options(inv_options)
    opened = open_journal(cfg)
    try:
        log: RunLog | None = None
        if opened.journal is not None:
            log = load_runlog(opened.journal, run_id, path=str(opened.path))
        elif run_id:
            raise UsageError(f"cannot look up run {run_id!r}: {opened.error}")
        runlogs = _runlogs(opened)  # every run: the report covers the incident, audit knows all own writes
        vr: VerifyResult | None = None
        ar: AuditResult | None = None
        hardening = _stored_hardening(cfg) if offline else None
        if not offline:
            voptions = VerifyOptions(
                run_id=log.run_id if log is not None else None,
                paths=inv_options.paths,
                git_repos=inv_options.git_repos,
                inventory_options=inv_options,
            )
            aoptions = AuditOptions(since=since_ts)
            progress = None if fmt is ReportFormatChoice.JSON and out is None else _progress()
            if progress is None:
                vr, ar, hardening = asyncio.run(
                    _live(cfg, opened, log, voptions, aoptions, runlogs, NULL_PROGRESS)
                )
            else:
                with progress:
                    vr, ar, hardening = asyncio.run(
                        _live(cfg, opened, log, voptions, aoptions, runlogs, progress)
                    )
        journal_error = f"the journal cannot be read: {opened.error}" if opened.error else ""
        report = build_report(
            log,
            vr,
            ar,
            now=time.time(),
            tool_version=__version__,
            journal_path=str(opened.path),
            journal_error=journal_error,
            hardening=hardening,
            runs=runlogs,
            whole_journal=run_id is None,  # the journal is the incident's; --run narrows to its credentials
        )
        if opened.notes:
            report = _with_unknowns(report, opened.notes)
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


def _with_unknowns(report: Any, notes: Sequence[str]) -> Any:
    import dataclasses

    return dataclasses.replace(report, unknowns=tuple(dict.fromkeys((*report.unknowns, *notes))))


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
    now = time.time()
    since_ts = parse_when(since, now) if since else None
    until_ts = parse_when(until, now, option="--until") if until else None
    if since_ts is not None and until_ts is not None and since_ts > until_ts:
        raise UsageError("--since is after --until")
    notes: list[str] = []
    try:
        opened = open_journal(cfg)
    except UsageError as exc:
        opened = OpenedJournal(cfg.journal_path)
        notes.append(f"{exc.message}: keyroll's own writes are not known, every write is flagged")
    try:
        runlogs = _runlogs(opened)
    finally:
        opened.close()
    if opened.error:
        notes.append(f"the journal cannot be read: {opened.error}")
    options = AuditOptions(since=since_ts, until=until_ts, known_actors=tuple(known_actor or ()))

    async def go(progress: Progress) -> AuditResult:
        async with open_providers(cfg) as providers:
            return await audit(providers, options, runlogs, progress)

    progress = None if json_out else _progress()
    if progress is None:
        result = asyncio.run(go(NULL_PROGRESS))
    else:
        with progress:
            result = asyncio.run(go(progress))
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
        unread = bool(result.notes) or not result.sources
        raise typer.Exit(int(ExitCode.FINDINGS if result.flagged or unread else ExitCode.OK))


def register(app: typer.Typer) -> None:
    """Attach ``report`` and ``audit`` to the main app."""
    app.command("report")(report_cmd)
    app.command("audit")(audit_cmd)
