"""Ending a run that cannot finish: ``keyroll abandon RUN --reason …``, and what a closed run left.

A run ends ``done``, ``rolled_back`` or ``closed``. ``closed`` is the person's way out when neither
``resume`` nor ``rollback`` can end it (a provider that keeps refusing, a resource deleted by
hand): the reason is journaled (hash-chained like every entry), with the residue — per open
credential, how far it got and which steps were never done — so ``status`` and the report can
say what a person still has to do. Nothing is changed at the providers.
"""

from __future__ import annotations

import time
from typing import Any

from keyroll.core.errors import UsageError
from keyroll.core.model import Milestone, RunRecord, RunState, StepState
from keyroll.journal.events import Phase
from keyroll.journal.store import Journal
from keyroll.rotate.engine import TERMINAL, group_state
from keyroll.rotate.runtime import gid_of

__all__ = ["ABANDON_STEP", "abandon", "closing_of", "residue_of"]

ABANDON_STEP = "run/abandon"
"""The journal entry (step id) that records an abandoned run's reason and residue."""

MAX_REASON = 500


def residue_of(journal: Journal, run_id: str) -> list[dict[str, Any]]:
    """Per unfinished credential: its state, the steps never done, and what a person must do."""
    plan = journal.plan(run_id)
    records = journal.step_records(run_id)
    out: list[dict[str, Any]] = []
    for cp in plan.credentials:
        state = group_state(cp, records)
        if state in (Milestone.DONE, Milestone.ROLLED_BACK):
            continue
        open_steps = [
            s.description
            for s in cp.steps
            if not (s.id in records and records[s.id].state in (StepState.DONE, StepState.SKIPPED))
        ]
        minted = any(s.id in records and records[s.id].state is StepState.DONE for s in cp.steps[:1])
        do = "finish these steps by hand, or rotate the credential again with a new `keyroll apply`"
        if minted:
            do += "; values this run minted stay encrypted in the journal and may still be live"
        out.append(
            {
                "credential": cp.credential,
                "gid": gid_of(cp.steps[0]),
                "state": state,
                "not_done": open_steps,
                "do": do,
            }
        )
    return out


def abandon(journal: Journal, run_id: str | None, reason: str) -> tuple[RunRecord, list[dict[str, Any]]]:
    """Close an unfinished run with a recorded reason; return it (now ``closed``) and its residue.

    :raises UsageError: no reason, or the run already ended (done, rolled back, closed).
    :raises JournalError: no such run, or another process is running it.
    """
    text = " ".join(reason.split())
    if not text:
        raise UsageError("abandon needs a reason", hint="pass --reason 'why this run is closed unfinished'")
    if len(text) > MAX_REASON:
        raise UsageError(f"the reason is longer than {MAX_REASON} characters", hint="shorten it")
    run = journal.run(run_id)
    if run.state in TERMINAL:
        raise UsageError(
            f"run {run.id} is {run.state.value}: nothing to abandon", hint="see `keyroll status`"
        )
    journal.lock()
    residue = residue_of(journal, run.id)
    journal.append(
        run.id,
        ABANDON_STEP,
        Phase.NOTE,
        StepState.SKIPPED,
        detail={
            "reason": text,
            "abandoned_at": time.time(),
            "previous_state": run.state.value,
            "residue": residue,
        },
    )
    journal.set_run_state(run.id, RunState.CLOSED, detail={"abandoned": True, "reason": text})
    return journal.run(run.id), residue


def closing_of(journal: Journal, run_id: str) -> dict[str, Any]:
    """How a closed run was closed: ``{reason, abandoned_at, residue}`` (empty if not abandoned)."""
    for e in reversed(journal.entries(run_id)):
        if e.step_id == ABANDON_STEP:
            return {
                "reason": str(e.detail.get("reason", "")),
                "abandoned_at": e.ts,
                "residue": list(e.detail.get("residue", [])),
            }
    return {}
