"""The audit workflow: who did what in the exposure window, keyroll's own writes set apart.

keyroll knows its own writes from the journal (every run of it), so the audit reads the journal
first; without one every write is flagged, and the result says so in its notes. The window is
``--since``/``--until`` (default: 30 days before the first run, until now). An audit needs
attention when it flagged an event or could not read a source.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyroll.app.journal import OpenedJournal, open_journal
from keyroll.app.session import providers_session
from keyroll.audit.run import AuditOptions, AuditResult, audit
from keyroll.audit.window import parse_when
from keyroll.config import Config
from keyroll.core.errors import UsageError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.journal.read import load_runlog
from keyroll.journal.runlog import RunLog
from keyroll.providers.factory import Providers

__all__ = ["audit_scope", "journal_runs", "needs_attention", "own_writes", "run_audit"]


def audit_scope(
    *, since: str | None, until: str | None, known_actors: Sequence[str] = (), now: float
) -> AuditOptions:
    """The window (ISO time, epoch seconds or ``30d`` ago; None: the default) and the vouched-for actors.

    :raises UsageError: a time that is not one, in the future, or ``since`` after ``until``.
    """
    since_ts = parse_when(since, now) if since else None
    until_ts = parse_when(until, now, option="--until") if until else None
    if since_ts is not None and until_ts is not None and since_ts > until_ts:
        raise UsageError("--since is after --until")
    return AuditOptions(since=since_ts, until=until_ts, known_actors=tuple(known_actors))


def journal_runs(opened: OpenedJournal) -> list[RunLog]:
    """Every run of the journal (none when it could not be opened)."""
    if opened.journal is None:
        return []
    return [load_runlog(opened.journal, r.id, path=str(opened.path)) for r in opened.journal.runs()]


def own_writes(cfg: Config) -> tuple[list[RunLog], list[str]]:
    """keyroll's runs from the journal, and notes on what is not known (no journal, unreadable).

    :raises ConfigError: ``KEYROLL_JOURNAL_KEY`` is too short.
    """
    notes: list[str] = []
    try:
        opened = open_journal(cfg)
    except UsageError as exc:
        opened = OpenedJournal(cfg.journal_path)
        notes.append(f"{exc.message}: keyroll's own writes are not known, every write is flagged")
    try:
        runlogs = journal_runs(opened)
    finally:
        opened.close()
    if opened.error:
        notes.append(f"the journal cannot be read: {opened.error}")
    return runlogs, notes


async def run_audit(
    cfg: Config,
    options: AuditOptions,
    runlogs: Sequence[RunLog] = (),
    progress: Progress = NULL_PROGRESS,
    *,
    providers: Providers | None = None,
) -> AuditResult:
    """Read the activity logs of the window and flag what keyroll's runs do not explain."""
    async with providers_session(cfg, providers) as session:
        return await audit(session, options, runlogs, progress)


def needs_attention(result: AuditResult) -> bool:
    """True when an event was flagged or a source could not be read (or none was)."""
    unread = bool(result.notes) or not result.sources
    return bool(result.flagged) or unread
