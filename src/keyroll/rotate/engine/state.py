"""Where a run stands: each credential's milestone and the run's result, read from the journal.

A credential goes pending → minted → distributed → deployed → verified → revoked → done; off
that road it is ``rolled_back``, ``failed`` or ``waiting`` (a step left to a person). Nothing here
talks to a provider: everything is derived from the plan and its journaled step records.
"""

from __future__ import annotations

import time

from keyroll.core.model import (
    ActionName,
    CredentialPlan,
    Milestone,
    Plan,
    RunState,
    Step,
    StepKind,
    StepState,
)
from keyroll.core.steps import is_cutover_reset, phase_of
from keyroll.journal.events import StepRecord
from keyroll.rotate.options import CredentialOutcome, RunResult
from keyroll.rotate.runtime import gid_of

__all__ = ["ROAD", "TERMINAL", "group_state", "is_revoke", "run_result"]

ROAD = (
    Milestone.PENDING,
    Milestone.MINTED,
    Milestone.DISTRIBUTED,
    Milestone.DEPLOYED,
    Milestone.VERIFIED,
    Milestone.REVOKED,
    Milestone.DONE,
)
"""The milestones of a rotation that goes well, in order."""
TERMINAL = frozenset({RunState.DONE, RunState.ROLLED_BACK, RunState.CLOSED})
"""Run states nothing more happens in (``resume`` and ``rollback`` have nothing to do)."""


def is_revoke(step: Step) -> bool:
    """A step after which the old value is dead (revoke, a person's reset, a cutover's reset)."""
    return step.destructive and (step.kind in (StepKind.REVOKE, StepKind.HUMAN) or is_cutover_reset(step))


def group_state(cp: CredentialPlan, records: dict[str, StepRecord]) -> Milestone:
    """Where a credential is in pending → minted → distributed → deployed → verified → revoked →
    done (or ``rolled_back`` / ``failed`` / ``waiting``), from its journaled steps."""
    gid = cp.steps[0].id.split("/", 1)[0]
    rb = records.get(f"{gid}/rollback")
    if rb is not None and rb.state is StepState.ROLLED_BACK:
        return Milestone.ROLLED_BACK

    def ok(s: Step) -> bool:
        r = records.get(s.id)
        return r is not None and r.state in (StepState.DONE, StepState.SKIPPED)

    if all(ok(s) for s in cp.steps):
        return Milestone.DONE
    if any((r := records.get(s.id)) is not None and r.state is StepState.FAILED for s in cp.steps):
        return Milestone.FAILED
    if any(
        (r := records.get(s.id)) is not None and r.state is StepState.PENDING and r.detail.get("waiting")
        for s in cp.steps
    ):
        return Milestone.WAITING
    phase1 = [s for s in cp.steps if phase_of(s) == 1]
    reached = Milestone.PENDING
    if cp.steps and ok(cp.steps[0]):
        reached = Milestone.MINTED
    writes = [s for s in phase1 if s.kind is StepKind.WRITE_ENV]
    if reached is Milestone.MINTED and all(ok(s) for s in writes):
        reached = Milestone.DISTRIBUTED
    readies = [s for s in phase1 if s.kind is StepKind.AWAIT_READY]
    if reached is Milestone.DISTRIBUTED and all(ok(s) for s in readies):
        reached = Milestone.DEPLOYED
    probes = [s for s in cp.steps if s.action == ActionName.PROBE_NEW]
    if reached is Milestone.DEPLOYED and probes and ok(probes[0]):
        reached = Milestone.VERIFIED
    if any(is_revoke(s) and ok(s) for s in cp.steps):
        reached = Milestone.REVOKED if ROAD.index(reached) < ROAD.index(Milestone.REVOKED) else reached
    return reached


def run_result(run_id: str, plan: Plan, records: dict[str, StepRecord], started: float) -> RunResult:
    """The result of a run from its journaled records: each credential's outcome and the run's state."""
    outcomes = []
    waiting = ""
    for cp in plan.credentials:
        state = group_state(cp, records)
        gid = gid_of(cp.steps[0])
        error = ""
        window = None
        pairs: list[tuple[str, str]] = []
        forced = False
        for s in cp.steps:
            rec = records.get(s.id)
            if rec is None:
                continue
            if rec.state is StepState.FAILED and not error:
                error = str(rec.detail.get("error", ""))
            if rec.state is StepState.PENDING and rec.detail.get("waiting") and not waiting:
                waiting = str(rec.detail["waiting"])
            if "window_s" in rec.detail:
                window = float(rec.detail["window_s"])
            if rec.detail.get("force_revoke"):
                forced = True
            if s.kind is StepKind.REDEPLOY and rec.state is StepState.DONE:
                pairs.extend((d["old"], d["new"]) for d in rec.detail.get("deployments", []))
        rb = records.get(f"{gid}/rollback")
        if rb is not None and rb.detail.get("problems"):
            error = error or "; ".join(rb.detail["problems"])
        if rb is not None and rb.detail.get("residue") and state is Milestone.ROLLED_BACK:
            error = "residue: " + "; ".join(str(r.get("what", "")) for r in rb.detail["residue"])
        outcomes.append(
            CredentialOutcome(cp.credential, cp.strategy, state, error, window, tuple(pairs), forced)
        )
    states = {o.state for o in outcomes}
    if states <= {Milestone.DONE}:
        run_state = RunState.DONE
    elif states <= {Milestone.DONE, Milestone.ROLLED_BACK}:
        run_state = RunState.ROLLED_BACK
    elif Milestone.FAILED in states:
        run_state = RunState.FAILED
    elif Milestone.WAITING in states:
        run_state = RunState.WAITING
    elif Milestone.ROLLED_BACK not in states:
        run_state = RunState.INTERRUPTED
    else:
        run_state = RunState.FAILED
    finished = time.time()
    windows = [o.window_s for o in outcomes if o.window_s is not None]
    timings = {"total": round(finished - started, 3)}
    if windows:
        timings["max_window_s"] = max(windows)
    return RunResult(run_id, run_state, tuple(outcomes), started, finished, waiting=waiting, timings=timings)
