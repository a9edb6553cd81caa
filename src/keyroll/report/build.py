"""Build the incident record from evidence: the journal's run log, a verify result, an audit result.

:func:`build_report` is pure: it reads a :class:`~keyroll.journal.runlog.RunLog` (or none, when
the journal is missing), an optional :class:`~keyroll.verify.result.VerifyResult`, an
optional :class:`~keyroll.audit.run.AuditResult` and optional hardening evidence
(:class:`~keyroll.report.hardening.HardeningEvidence`), and decides each checklist item *by
evidence* — citing the journal entry, probe, API read or harden check and its time. Whatever
cannot be decided is UNKNOWN and listed in ``unknowns``.

The parts: :mod:`keyroll.report.checklist` (the rule table, one function per item),
:mod:`keyroll.report.sections` (credentials, projects, timeline, runs), :mod:`keyroll.report.risks`;
all read a :class:`~keyroll.report.evidence.ReportEvidence`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from keyroll.audit.run import AuditResult
from keyroll.journal.runlog import RunLog
from keyroll.report.checklist import CHECKLIST, FOLLOW_UPS, decide_item
from keyroll.report.evidence import ReportEvidence
from keyroll.report.model import IncidentReport, ItemStatus, Summary
from keyroll.report.risks import risks as report_risks
from keyroll.report.sections import credential_section, incident_runs, project_sections, timeline
from keyroll.verify.result import VerifyResult

if TYPE_CHECKING:  # the harden package loads the code analysers: only the CLI needs them
    from keyroll.report.hardening import HardeningEvidence

__all__ = ["build_report"]


def build_report(
    log: RunLog | None,
    verify: VerifyResult | None = None,
    audit: AuditResult | None = None,
    *,
    now: float,
    tool_version: str = "",
    journal_path: str = "",
    journal_error: str = "",
    hardening: HardeningEvidence | None = None,
    runs: Sequence[RunLog] = (),
    whole_journal: bool = False,
) -> IncidentReport:
    """Decide every checklist item and section from the evidence given.

    :param runs: every run of the journal; those that handled a credential of ``log``'s run (or
        its old/new values, transitively) are the incident's and are reported too;
        ``whole_journal``: all of them are.
    :param log: the run (None when the journal could not be opened: ``journal_error`` says why).
    :param verify: a verify result for the same run (None: not verified).
    :param audit: an audit result (None: logs not reviewed).
    :param hardening: harden checks run for this record or stored (None: not checked; the
        hardening item stays unknown).
    """
    ev = ReportEvidence(log, verify, audit, journal_error, hardening, tuple(runs), whole_journal)
    unknowns = _unknowns(ev)
    sections = [credential_section(ev, fp) for fp in ev.fps] if log is not None and log.run else []
    run_rows, earlier = incident_runs(ev)
    sections += earlier
    projects = project_sections(ev, sections) if log is not None and log.run else []
    marks, windows = timeline(ev) if log is not None and log.run else ([], [])
    for s in sections:
        if s.state == "not_started":
            unknowns.append(f"{s.fingerprint}: rotation not started")
    checklist = tuple(decide_item(rule, ev) for rule in CHECKLIST)
    risks = report_risks(ev, sections)
    core = [c for c in checklist if c.id not in FOLLOW_UPS]
    if any(c.status is ItemStatus.NOT_DONE for c in core) or any(r.severity == "high" for r in risks):
        status = "incomplete"
    elif all(c.status is ItemStatus.DONE for c in core):
        status = "complete"
    else:
        status = "unknown"
    outages = [s.outage_s for s in sections if s.outage_s is not None]
    summary = Summary(
        status=status,
        credentials_total=len(sections),
        credentials_done=sum(1 for s in sections if s.state == "done"),
        projects=len(projects),
        deployments_redeployed=sum(1 for s in sections for r in s.redeploys if r.state == "READY"),
        max_outage_s=max(outages) if outages else None,
        open_risks=len(risks),
        checklist_done=sum(1 for c in checklist if c.status is ItemStatus.DONE),
        checklist_total=len(checklist),
        started_at=min(
            (t for t in (*(r.started_at for r in run_rows), log.started_at()) if t is not None),
            default=None,
        )
        if log is not None and log.run
        else None,
        finished_at=log.finished_at() if log is not None and log.run else None,
    )
    return IncidentReport(
        generated_at=now,
        summary=summary,
        checklist=checklist,
        credentials=tuple(sections),
        projects=tuple(projects),
        risks=tuple(risks),
        unknowns=tuple(dict.fromkeys(unknowns)),
        integrity=log.integrity if log is not None else (),
        marks=tuple(marks),
        windows=tuple(windows),
        run_id=log.run_id if log is not None else "",
        run_state=log.run.state.value if log is not None and log.run else "",
        runs=tuple(run_rows),
        run_options=_safe_options(log.run.options) if log is not None and log.run else None,
        journal=journal_path,
        tool_version=tool_version,
        verify=ev.vr,
        audit=ev.ar,
    )


def _unknowns(ev: ReportEvidence) -> list[str]:
    """What the evidence given cannot tell (missing journal, plan, inventory, verify, audit)."""
    unknowns: list[str] = []
    log = ev.log
    if log is None:
        unknowns.append(ev.journal_error or "no journal: nothing about the rotation is known")
    elif log.run is None:
        unknowns.append("the journal holds no rotation run")
    else:
        if log.plan is None:
            unknowns.append("the plan could not be read: steps not yet started are not known")
        if log.inventory is None:
            unknowns.append("no inventory in the journal: products, endpoints and copies are not known")
    if log is not None:
        unknowns += [f"journal: {p}" for p in log.problems]
    if ev.vr is None:
        unknowns.append(
            "not verified: no probe of the old/new values and no re-read of deployments (keyroll verify)"
        )
    else:
        unknowns += [f"verify: {n}" for n in ev.vr.notes]
    if ev.ar is None:
        unknowns.append("activity logs not reviewed (keyroll audit)")
    else:
        unknowns += [f"audit: {n}" for n in ev.ar.notes]
    return unknowns


def _safe_options(options: dict[str, object]) -> dict[str, object]:
    """Run options for the report: only flags and numbers (never anything that could be a value)."""
    out: dict[str, object] = {
        k: v for k, v in options.items() if isinstance(v, (bool, int, float)) or v is None
    }
    sources = options.get("sources")
    if isinstance(sources, dict):  # where a flag came from: flag names and config file paths
        out["sources"] = {str(k): str(v) for k, v in sources.items()}
    return out
