"""``--bypass-ignored-build-step``: clear a project's Ignored Build Step for a run, restore it after.

Vercel cancels same-commit redeploys of a project with ``commandForIgnoringBuildStep`` (state
``CANCELED``), so a rotation could never rebuild it. With the user's consent every project the plan
redeploys that has one gets it cleared (``PATCH /v9/projects/{id}``) before any step runs, and the
exact previous value back when the engine stops — done, paused, failed, rolled back or interrupted.
``resume`` clears again and restores again.

Journal (step id ``vercel/ignored-build-step/<project id>``, no values — the command is a setting):
the intent with the previous value is written *before* the change; ``cleared`` after it; ``restored``
after the restore. A crash in between leaves an intent or ``cleared`` without ``restored``: the next
``resume`` or ``rollback`` takes the previous value from there (the project now shows none).
"""

from __future__ import annotations

from typing import Any

from keyroll.core.errors import KeyrollError
from keyroll.core.model import StepKind, StepState
from keyroll.core.steps import RedeployParams
from keyroll.journal.events import Phase
from keyroll.rotate.runtime import Runtime

__all__ = ["clear_ignored_build_steps", "restore_ignored_build_steps", "restores_pending", "step_id"]


def step_id(project_id: str) -> str:
    """The journal step id of one project's bypass."""
    return f"vercel/ignored-build-step/{project_id}"


def _redeployed(rt: Runtime) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in rt.plan.steps:
        if s.kind is StepKind.REDEPLOY and s.project_id:
            out.setdefault(s.project_id, RedeployParams.from_params(s.params).project_name or s.project_id)
    return out


def _pending(rt: Runtime) -> dict[str, dict[str, Any]]:
    """Projects cleared (or about to be) and not restored yet, with their journaled detail."""
    records = rt.journal.step_records(rt.run_id)
    out = {}
    for pid in _redeployed(rt):
        rec = records.get(step_id(pid))
        if rec is not None and not rec.detail.get("restored"):
            out[pid] = {**rec.intent_detail, **rec.detail}
    return out


def restores_pending(rt: Runtime) -> bool:
    """True when a project cleared by this run still waits for its setting to be put back."""
    return any(detail.get("previous") for detail in _pending(rt).values())


async def clear_ignored_build_steps(rt: Runtime) -> list[str]:
    """Clear the setting of every redeployed project that has one (journaled first); names cleared.

    :raises KeyrollError: reading or changing a project failed (nothing else has run yet).
    """
    if not rt.options.bypass_ignored_build_step:
        return []
    unfinished = _pending(rt)
    cleared = []
    for pid, name in _redeployed(rt).items():
        if pid in unfinished:
            previous = unfinished[pid].get("previous")  # a crash left it cleared: the journal knows
        else:
            previous = (await rt.vercel.get_project(pid)).command_for_ignoring_build_step
        if not previous:
            continue
        rt.journal.append(
            rt.run_id,
            step_id(pid),
            Phase.INTENT,
            StepState.RUNNING,
            project_id=pid,
            detail={"project": name, "previous": previous, "action": "clear"},
        )
        await rt.vercel.update_project(pid, commandForIgnoringBuildStep=None)
        rt.journal.append(
            rt.run_id,
            step_id(pid),
            Phase.OUTCOME,
            StepState.DONE,
            project_id=pid,
            detail={"project": name, "previous": previous, "cleared": True},
        )
        rt.note(f"{name}: Ignored Build Step cleared for the rotation (restored after)")
        cleared.append(name)
    return cleared


async def restore_ignored_build_steps(rt: Runtime) -> list[str]:
    """Put back the exact previous value of every project cleared and not restored; names restored.
    A project that cannot be restored now is noted (the journal keeps it for the next run)."""
    restored = []
    for pid, detail in _pending(rt).items():
        previous = detail.get("previous")
        name = str(detail.get("project") or pid)
        if not previous:
            continue
        try:
            await rt.vercel.update_project(pid, commandForIgnoringBuildStep=previous)
        except KeyrollError as exc:
            rt.note(f"{name}: Ignored Build Step NOT restored yet ({exc.message}); `keyroll resume` retries")
            continue
        rt.journal.append(
            rt.run_id,
            step_id(pid),
            Phase.OUTCOME,
            StepState.DONE,
            project_id=pid,
            detail={"project": name, "previous": previous, "restored": True},
        )
        rt.note(f"{name}: Ignored Build Step restored")
        restored.append(name)
    return restored
