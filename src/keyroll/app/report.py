"""The report workflow: collect the evidence for the incident record once, then decide the record.

Evidence is the journal (the run reported, and every run of the journal: the report covers the
incident, and the audit recognises keyroll's own writes from them), then — unless offline —
fresh evidence from the providers: verify for the run, the audit of the exposure window, and the
harden checks run now (read-only). Offline, the latest stored ``keyroll harden`` result is cited
instead. ``keyroll report`` collects all of it; the demo passes the verify result it already has.

A journal that cannot be read is not an exception: the record says so (``journal_error``), and
what the journal could not tell (no key …) is listed among the record's unknowns.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keyroll import __version__
from keyroll.app.audit import journal_runs, run_audit
from keyroll.app.journal import OpenedJournal
from keyroll.app.session import providers_session
from keyroll.app.verify import run_verify
from keyroll.audit.run import AuditOptions, AuditResult
from keyroll.audit.window import parse_when
from keyroll.config import Config
from keyroll.core.errors import UsageError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.inventory import options_from_config, validate_options
from keyroll.journal.read import JournalReader, load_runlog
from keyroll.journal.runlog import RunLog
from keyroll.providers.factory import Providers
from keyroll.report.build import build_report
from keyroll.report.model import IncidentReport
from keyroll.verify.result import VerifyResult
from keyroll.verify.run import VerifyOptions

if TYPE_CHECKING:
    from keyroll.report.hardening import HardeningEvidence

__all__ = [
    "ReportEvidence",
    "ReportScope",
    "collect_evidence",
    "incident_report",
    "read_journal",
    "report_scope",
    "stored_evidence",
]


@dataclass(frozen=True)
class ReportScope:
    """What fresh evidence to collect: verify's scope (of the reported run) and the audit's window."""

    verify: VerifyOptions
    audit: AuditOptions


def report_scope(
    cfg: Config,
    *,
    since: str | None = None,
    paths: Sequence[Path] = (),
    git_repos: Sequence[Path] = (),
    now: float,
) -> ReportScope:
    """Verify with the stale-copy scope of the config and the flags; audit from ``since`` (None:
    30 days before the first run). The run verified is the one the report is about.

    :raises UsageError: ``since`` is not a time, a path or git work tree that does not exist.
    """
    since_ts = parse_when(since, now) if since else None
    inv_options = options_from_config(cfg, paths=tuple(paths), git_repos=tuple(git_repos))
    validate_options(inv_options)
    return ReportScope(
        verify=VerifyOptions(
            paths=inv_options.paths,
            git_repos=inv_options.git_repos,
            inventory_options=inv_options,
        ),
        audit=AuditOptions(since=since_ts),
    )


@dataclass(frozen=True)
class ReportEvidence:
    """Everything the incident record is decided from (None: not collected)."""

    journal_path: str
    log: RunLog | None = None
    """the run reported (None: the journal could not be opened)"""
    runs: tuple[RunLog, ...] = ()
    """every run of the journal"""
    journal_error: str = ""
    """why the journal could not be read ('' when it could)"""
    notes: tuple[str, ...] = ()
    """what the journal could not tell (no key …): unknowns of the record"""
    verify: VerifyResult | None = None
    audit: AuditResult | None = None
    hardening: HardeningEvidence | None = None


def read_journal(opened: OpenedJournal, run_id: str | None = None) -> ReportEvidence:
    """The run ``run_id`` (None: the latest) and every run of the journal.

    :raises UsageError: ``run_id`` names no run, or it cannot be looked up (no readable journal).
    """
    log: RunLog | None = None
    if opened.journal is not None:
        log = load_runlog(opened.journal, run_id, path=str(opened.path))
    elif run_id:
        raise UsageError(f"cannot look up run {run_id!r}: {opened.error}")
    return ReportEvidence(
        journal_path=str(opened.path),
        log=log,
        runs=tuple(journal_runs(opened)),
        journal_error=f"the journal cannot be read: {opened.error}" if opened.error else "",
        notes=opened.notes,
    )


async def collect_evidence(
    cfg: Config,
    evidence: ReportEvidence,
    journal: JournalReader | None,
    scope: ReportScope,
    progress: Progress = NULL_PROGRESS,
    *,
    verified: VerifyResult | None = None,
    providers: Providers | None = None,
) -> ReportEvidence:
    """Add fresh evidence: verify the run (unless ``verified`` is given), audit, the harden checks.

    :param journal: the open journal verify probes values from (None: the run as read).
    :param providers: an open session to use (default: one opened from ``cfg``).
    """
    from keyroll.harden.latest import latest_path
    from keyroll.report.hardening import check_hardening

    log = evidence.log
    async with providers_session(cfg, providers) as session:
        vr = verified
        if vr is None and log is not None and log.run is not None:
            source: JournalReader | RunLog = journal if journal is not None else log
            options = dataclasses.replace(scope.verify, run_id=log.run_id)
            vr = await run_verify(cfg, source, options, progress, providers=session)
        ar = await run_audit(cfg, scope.audit, evidence.runs, progress, providers=session)
        hardening = await check_hardening(session, latest_path(cfg.journal_path), progress)
    return dataclasses.replace(evidence, verify=vr, audit=ar, hardening=hardening)


def stored_evidence(cfg: Config, evidence: ReportEvidence) -> ReportEvidence:
    """Offline: the latest stored ``keyroll harden`` result as the hardening evidence."""
    from keyroll.harden.latest import latest_path
    from keyroll.report.hardening import stored_hardening

    return dataclasses.replace(evidence, hardening=stored_hardening(latest_path(cfg.journal_path)))


def incident_report(evidence: ReportEvidence, *, whole_journal: bool) -> IncidentReport:
    """Decide the record from ``evidence``.

    :param whole_journal: every run of the journal is the incident's (False: the runs that
        handled a credential of the reported run).
    """
    report = build_report(
        evidence.log,
        evidence.verify,
        evidence.audit,
        now=time.time(),
        tool_version=__version__,
        journal_path=evidence.journal_path,
        journal_error=evidence.journal_error,
        hardening=evidence.hardening,
        runs=evidence.runs,
        whole_journal=whole_journal,
    )
    if evidence.notes:
        unknowns = tuple(dict.fromkeys((*report.unknowns, *evidence.notes)))
        report = dataclasses.replace(report, unknowns=unknowns)
    return report
