"""The report's sections: one per credential, one per project, the timeline and the incident's runs.

Each reads the :class:`~keyroll.report.evidence.ReportEvidence`: a credential's section says what
was done to it (steps, redeploys, outage and how the outage is known), a project's what happened in
it, the timeline marks each write, build, revoke and failure in time, and :func:`incident_runs`
gathers the journal's runs that belong to the same incident.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence

from keyroll.core.model import OVERLAP_STRATEGIES, StepKind, StepState, Strategy
from keyroll.journal.events import Phase
from keyroll.journal.runlog import RunLog
from keyroll.report.evidence import FINISHED, ReportEvidence
from keyroll.report.model import (
    CredentialSection,
    MarkKind,
    OutageWindow,
    ProjectSection,
    RedeployRow,
    RunSummary,
    TimelineMark,
)
from keyroll.verify.result import CheckStatus
from keyroll.verify.times import iso

__all__ = ["credential_section", "credential_state", "incident_runs", "project_sections", "timeline"]


def credential_section(ev: ReportEvidence, fp: str) -> CredentialSection:
    assert ev.log is not None
    log = ev.log
    cp = log.credential_plan(fp)
    cred = log.inventory.credential(fp) if log.inventory is not None else None
    states = log.step_states(fp)
    counts = Counter(s.value for s in states.values())
    state = credential_state(states.values())
    strategy = cp.strategy if cp is not None else (cred.strategy if cred is not None else None)
    revoked = log.revoked_at(fp)
    window = log.window_s(fp)
    forced = log.forced_revoke(fp)
    notes: list[str] = []
    outage: float | None
    if strategy in OVERLAP_STRATEGIES:
        outage, basis = 0.0, "overlap"
        if forced:
            outage, basis = None, "forced revoke: not measured"
    elif window is not None:
        outage, basis = window, "measured"
    elif revoked is not None:
        outage, basis = None, "not measured"
        notes.append("a cutover happened but no window was journaled")
    else:
        outage, basis = (None, "not cut over") if strategy is not None else (None, "unknown")
    slugs = log.inventory.custom_environment_slugs() if log.inventory is not None else {}
    rds = tuple(
        RedeployRow(
            r.project_id,
            r.new_id,
            r.old_id,
            slugs.get(r.target, r.target),
            r.started_at,
            r.ready_at,
            r.state,
        )
        for r in log.redeploys(fp)
    )
    checks: tuple[tuple[str, int], ...] = ()
    if ev.vr is not None:
        c = Counter(ch.status.value for ch in ev.vr.for_credential(fp))
        checks = tuple(sorted(c.items()))
    if cp is not None:
        notes += list(cp.warnings)
    notes += [f"{e.step_id} failed at {iso(e.ts)}: {err}" for e, err in log.errors(fp)]
    notes += list(log.consents(fp))
    return CredentialSection(
        fingerprint=fp,
        product=(cred.adapter or cred.product.value) if cred else "",  # an adapter names its provider
        kind=cred.kind.value if cred else "",
        resource=(cred.resource_name or cred.resource_id) if cred else "",
        management=cred.management.value if cred else "",
        strategy=strategy.value if isinstance(strategy, Strategy) else "",
        state=state,
        started_at=log.started_at(fp),
        finished_at=max((e.ts for e in log.entries_for(fp)), default=None),
        revoked_at=revoked,
        new_fingerprints=log.new_fingerprints(fp),
        outage_s=outage,
        outage_basis=basis,
        forced_revoke=forced or (log.run_forced() and revoked is not None and state != "done"),
        projects=log.affected_projects(fp),
        redeploys=rds,
        steps=tuple(sorted(counts.items())),
        checks=checks,
        notes=tuple(notes),
    )


def _project_names(ev: ReportEvidence) -> dict[str, str]:
    names: dict[str, str] = {}
    if ev.log is not None and ev.log.inventory is not None:
        for loc in ev.log.inventory.locations:
            if loc.project_id and loc.project_name:
                names.setdefault(loc.project_id, loc.project_name)
    return names


def project_sections(ev: ReportEvidence, sections: Sequence[CredentialSection]) -> list[ProjectSection]:
    assert ev.log is not None
    names = _project_names(ev)
    out: list[ProjectSection] = []
    by_project: dict[str, list[str]] = {}
    for s in sections:
        for p in s.projects:
            by_project.setdefault(p, []).append(s.fingerprint)
    for pid, fps in by_project.items():
        written = [ev.log.env_written_at(fp, pid) for fp in fps]
        notes: list[str] = []
        missing_writes = [fp for fp, w in zip(fps, written, strict=True) if w is None]
        if missing_writes:
            notes.append(f"no env write journaled for {', '.join(missing_writes)}")
        redeployed = sum(
            1 for s in sections for r in s.redeploys if r.project_id == pid and r.state == "READY"
        )
        checks = [c for c in (ev.vr.checks if ev.vr else ()) if c.project_id == pid]
        failing = [c for c in checks if c.status is CheckStatus.FAIL]
        unknown = [c for c in checks if c.status is CheckStatus.UNKNOWN]
        notes += [c.title for c in failing[:5]]
        if failing or missing_writes:
            status = "attention"
        elif unknown:
            status = "unknown"
            notes += [c.title for c in unknown[:3]]
        elif ev.vr is None:
            status = "ok" if redeployed or not any(s.redeploys for s in sections) else "unknown"
            notes.append("not re-verified (run keyroll verify)")
        else:
            status = "ok"
        out.append(
            ProjectSection(
                project_id=pid,
                name=names.get(pid, ""),
                credentials=tuple(fps),
                env_written_at=max((w for w in written if w is not None), default=None),
                redeployed=redeployed,
                status=status,
                notes=tuple(notes),
            )
        )
    return out


def timeline(ev: ReportEvidence) -> tuple[list[TimelineMark], list[OutageWindow]]:
    assert ev.log is not None
    log = ev.log
    marks: list[TimelineMark] = []
    for fp in ev.fps:
        projects = log.affected_projects(fp)
        for e in log.entries_for(fp):
            if e.phase != Phase.OUTCOME:
                continue
            kind = log.kind_of(e)
            targets = (e.project_id,) if e.project_id else projects
            if e.state is StepState.FAILED:
                marks += [
                    TimelineMark(e.ts, MarkKind.FAILURE, p, fp, f"{kind.value if kind else 'step'} failed")
                    for p in targets
                ]
                continue
            if e.state is not StepState.DONE or kind is None:
                continue
            mk = {
                StepKind.WRITE_ENV: MarkKind.ENV_WRITE,
                StepKind.PROBE: MarkKind.VERIFY,
                StepKind.REVOKE: MarkKind.REVOKE,
            }.get(kind)
            if kind is StepKind.WRITE_ENV:
                if log.write_target(e) not in ("vercel", "shared"):
                    continue
                targets = log.project_targets(e, fp)
            revoked = e.detail.get("revoked_at")
            if isinstance(revoked, (int, float)) and kind is not StepKind.REVOKE:
                # a cutover reset or a key roll revokes inside a mint/human step
                marks += [TimelineMark(float(revoked), MarkKind.REVOKE, p, fp, e.step_id) for p in projects]
            if mk is not None:
                at = float(revoked) if mk is MarkKind.REVOKE and isinstance(revoked, (int, float)) else e.ts
                marks += [TimelineMark(at, mk, p, fp, kind.value) for p in targets]
        for r in log.redeploys(fp):
            if r.started_at is not None:
                marks.append(TimelineMark(r.started_at, MarkKind.BUILD, r.project_id, fp, r.new_id))
            if r.ready_at is not None:
                marks.append(TimelineMark(r.ready_at, MarkKind.READY, r.project_id, fp, r.new_id))
    windows: list[OutageWindow] = []
    for fp in ev.fps:
        window = log.cutover_window(fp)
        if window is not None and window[1] > window[0]:
            windows.append(OutageWindow(fp, window[0], window[1], log.affected_projects(fp)))
    marks.sort(key=lambda m: (m.at, m.project_id))
    return marks, windows


def incident_runs(ev: ReportEvidence) -> tuple[list[RunSummary], list[CredentialSection]]:
    """Every run of the incident and a section for each credential only earlier runs handled.

    With ``whole_journal`` every run of the journal belongs to the incident (one journal per
    incident). Otherwise (``--run``) a run belongs to it when it handled one of its
    credentials: the selected run's, their old and new values (a second rotation starts from
    the first one's new value), and so on transitively. A credential the selected run does not
    handle is reported from the latest run that did, with that run's outcome (a rolled-back
    one stays an open risk).
    """
    log = ev.log
    if log is None or log.run is None:
        return [], []
    others = {r.run_id: r for r in ev.all_runs if r.run is not None and r.run_id != log.run_id}
    linked = {log.run_id: log}

    def keys(r: RunLog) -> set[str]:
        out: set[str] = set()
        for fp in r.credentials():
            out |= {fp, *r.old_fingerprints(fp), *r.new_fingerprints(fp)}
        return out

    scope = keys(log)
    changed = True
    while changed:
        changed = False
        for run_id, r in list(others.items()):
            if ev.whole_journal or keys(r) & scope:
                linked[run_id] = others.pop(run_id)
                scope |= keys(r)
                changed = True
    ordered = sorted(linked.values(), key=lambda r: r.run.started_at if r.run else 0.0)
    rows: list[RunSummary] = []
    latest_for: dict[str, RunLog] = {}
    for r in ordered:
        assert r.run is not None
        states = tuple((fp, credential_state(r.step_states(fp).values())) for fp in r.credentials())
        rows.append(
            RunSummary(
                r.run_id,
                r.run.state.value,
                r.run.started_at,
                r.run.finished_at,
                states,
                selected=r.run_id == log.run_id,
            )
        )
        for fp in r.credentials():
            latest_for[fp] = r
    sections: list[CredentialSection] = []
    for fp, r in latest_for.items():
        if fp in ev.fps or r.run_id == log.run_id:
            continue
        section = credential_section(ReportEvidence(r), fp)
        note = f"handled in run {r.run_id} ({r.run.state.value if r.run else '?'}), not in run {log.run_id}"
        sections.append(dataclasses.replace(section, notes=(note, *section.notes)))
    return rows, sections


def credential_state(states: Iterable[StepState]) -> str:
    st = list(states)
    if not st:
        return "unknown"
    if any(s is StepState.ROLLED_BACK for s in st):
        return "rolled_back"
    if any(s is StepState.FAILED for s in st):
        return "failed"
    if all(s in FINISHED for s in st):
        return "done"
    if all(s is StepState.PENDING for s in st):
        return "not_started"
    return "partial"
