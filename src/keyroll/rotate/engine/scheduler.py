"""Running a plan's DAG: every step starts as soon as its dependencies are done.

Steps run concurrently (per-project pipelines; builds share ``max_parallel_builds`` slots). For
every step the intent is journaled, the action runs, the outcome is journaled; a step found
``running``, ``failed`` or waiting on resume is settled by reading provider state back
(:attr:`Action.reconcile`) before anything is repeated. A cutover's reset waits until no overlap
build queues ahead of it, and its steps run urgent (its outage window lasts until its builds are
READY). A failed credential is rolled back once everything under way has finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from keyroll.core.errors import UsageError
from keyroll.core.model import ActionName, CredentialPlan, Milestone, Plan, Step, StepKind, StepState
from keyroll.core.priority import urgent
from keyroll.core.steps import AwaitParams, WriteParams, is_cutover_reset, when_of
from keyroll.journal.events import Phase, StepRecord
from keyroll.rotate.distribute import write_locations
from keyroll.rotate.engine.rollback import rollback_group
from keyroll.rotate.engine.state import group_state
from keyroll.rotate.gates import ACTIONS as GATE_ACTIONS
from keyroll.rotate.redeploy import await_ready, reconcile_redeploy, redeploy
from keyroll.rotate.runtime import Action, QuotaPaused, Runtime, WaitingForHuman, gid_of
from keyroll.rotate.strategies import ACTIONS as STRATEGY_ACTIONS
from keyroll.rotate.strategies.common import describe_error

__all__ = ["ACTIONS", "BoundaryHook", "execute"]

BoundaryHook = Callable[[Plan, str, Step], None]
"""Called with ``"before"`` / ``"after"`` around every step's action (the crash hook)."""


async def _write(step: Step, rt: Runtime) -> dict[str, Any]:
    gid = gid_of(step)
    params = WriteParams.of(step)
    values = rt.values(gid, params.values)
    return await write_locations(
        rt,
        params.target,
        list(params.locations),
        values,
        rt.spec(step),
        old=rt.values(gid, "old"),
        gid=gid,
    )


ACTIONS: dict[str, Action] = {
    ActionName.WRITE: Action(_write),
    ActionName.REDEPLOY: Action(redeploy, reconcile_redeploy),
    ActionName.AWAIT: Action(await_ready),
    **GATE_ACTIONS,
    **STRATEGY_ACTIONS,
}


def _overlap_builds_pending(plan: Plan, done: set[str], stopped: set[str]) -> bool:
    """A credential without an outage window still has redeploys to make or wait for."""
    return any(
        s.kind in (StepKind.REDEPLOY, StepKind.AWAIT_READY) and s.id not in done
        for cp in plan.credentials
        if not cp.requires_downtime_consent and gid_of(cp.steps[0]) not in stopped
        for s in cp.steps
    )


async def execute(rt: Runtime, boundary: BoundaryHook) -> None:
    """Run every step that is not done yet; roll back the credentials that failed (and finish
    rollbacks an earlier process left under way)."""
    plan = rt.plan
    rt.records = rt.journal.step_records(rt.run_id)
    done = {sid for sid, r in rt.records.items() if r.state in (StepState.DONE, StepState.SKIPPED)}
    stopped: set[str] = set()
    unfinished_rollbacks: list[CredentialPlan] = []
    for cp in plan.credentials:
        gid = gid_of(cp.steps[0])
        if group_state(cp, rt.records) is Milestone.ROLLED_BACK:
            stopped.add(gid)
            continue
        rb = rt.records.get(f"{gid}/rollback")
        if rb is not None and (
            rb.state is StepState.RUNNING
            or (rb.state is StepState.FAILED and rb.detail.get("rollback") != "not possible")
        ):
            # a rollback was under way: finish it, never go forward on restored values
            stopped.add(gid)
            unfinished_rollbacks.append(cp)
    failed: dict[str, BaseException] = {}
    tasks: dict[str, Any] = {
        gid_of(cp.steps[0]): rt.progress.task(f"{cp.strategy} {cp.credential}", total=len(cp.steps))
        for cp in plan.credentials
    }
    for cp in plan.credentials:
        n = sum(1 for s in cp.steps if s.id in done)
        if n:
            rt.progress.advance(tasks[gid_of(cp.steps[0])], n)
    for step in plan.steps:
        rec = rt.records.get(step.id)
        if step.kind is StepKind.AWAIT_READY and rec is not None and rec.state is StepState.FAILED:
            # the build it waited for ended ERROR/CANCELED: retrying means building again
            done.discard(AwaitParams.from_params(step.params).redeploy_step)
    started: set[str] = set()
    running: dict[asyncio.Task[None], Step] = {}
    try:
        await _schedule(rt, boundary, plan, done, started, running, stopped, failed, tasks)
    except BaseException:
        # stopped (Ctrl-C, cancellation): no step may outlive the engine or touch a closed
        # journal; an interrupted step keeps its intent without outcome and is read back on resume
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        raise
    for cp in unfinished_rollbacks:
        await rollback_group(rt, cp, "resuming an interrupted rollback")
    for cp in plan.credentials:
        gid = gid_of(cp.steps[0])
        if gid in failed:
            await rollback_group(rt, cp, describe_error(failed[gid]))
        rt.progress.finish(tasks[gid])


async def _schedule(
    rt: Runtime,
    boundary: BoundaryHook,
    plan: Plan,
    done: set[str],
    started: set[str],
    running: dict[asyncio.Task[None], Step],
    stopped: set[str],
    failed: dict[str, BaseException],
    tasks: dict[str, Any],
) -> None:
    """Start every step whose dependencies are done; record how each ends."""
    while True:
        deferred: list[Step] = []
        for step in plan.steps:
            gid = gid_of(step)
            if step.id in done or step.id in started or gid in stopped or rt.paused:
                continue
            if all(d in done for d in step.depends_on):
                if is_cutover_reset(step) and _overlap_builds_pending(plan, done, stopped):
                    deferred.append(step)  # open the window when no other build queues ahead
                    continue
                started.add(step.id)
                running[asyncio.create_task(_step(rt, step, boundary))] = step
        if not running:
            for step in deferred:  # nothing else can move: never wait forever
                started.add(step.id)
                running[asyncio.create_task(_step(rt, step, boundary))] = step
        if not running:
            break
        finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            step = running.pop(task)
            gid = gid_of(step)
            exc = task.exception()
            if exc is None:
                done.add(step.id)
                rt.progress.advance(tasks[gid])
                continue
            stopped.add(gid)
            if isinstance(exc, QuotaPaused):
                if not rt.paused:
                    rt.note(f"paused: {exc.message}")
                rt.paused = exc.message
                continue
            if isinstance(exc, WaitingForHuman):
                rt.note(f"{step.credential}: {exc.message}")
                continue
            if not isinstance(exc, Exception):
                raise exc
            failed[gid] = exc
            rt.note(f"{step.credential}: {step.id} failed: {describe_error(exc)}")


async def _step(rt: Runtime, step: Step, boundary: BoundaryHook) -> None:
    # a cutover's steps go first wherever keyroll queues (rate limits, build slots): its
    # window lasts until its builds are READY
    rt.active.add(step.id)
    try:
        with urgent(rt.group_of(step).requires_downtime_consent):
            await _run_step(rt, step, boundary)
    finally:
        rt.active.discard(step.id)


async def _run_step(rt: Runtime, step: Step, boundary: BoundaryHook) -> None:
    action = ACTIONS.get(step.action)
    if action is None:
        raise UsageError(
            f"step {step.id} has an unknown action", hint="make a new plan with this keyroll version"
        )
    rec = rt.records.get(step.id)
    j = rt.journal
    when = when_of(step)
    if when is not None and not rt.detail(when.step).get(when.key):
        # a conditional step (e.g. the emergency cutover after a reset that killed the ACL
        # user's token): its condition did not happen, so it is skipped, not run
        boundary(rt.plan, "before", step)
        _outcome(
            rt,
            step,
            StepState.SKIPPED,
            {"skipped": f"{when.key} not reported by {when.step}"},
        )
        boundary(rt.plan, "after", step)
        return
    # an intent without outcome, a failure that may have come after the action (a 5xx
    # answer to a reset that happened), or a step left to a person who may have done it
    # since: read provider state back before acting (or asking) again
    if (
        rec is not None
        and rec.state in (StepState.RUNNING, StepState.FAILED, StepState.PENDING)
        and action.reconcile is not None
    ):
        detail = await action.reconcile(step, rt)
        if detail is not None:
            _outcome(rt, step, StepState.DONE, {**detail, "reconciled": True})
            return
    intent: dict[str, Any] = {"description": step.description}
    if step.destructive:
        intent.update(destructive=True, consent="--yes" if rt.options.yes else "interactive")
        if rt.options.force_revoke:
            intent["force_revoke_allowed"] = True
        if is_cutover_reset(step):
            intent["accept_downtime"] = rt.options.accept_downtime
            intent["accept_downtime_source"] = rt.options.sources.get(
                "accept_downtime", "--accept-downtime" if rt.options.accept_downtime else ""
            )
    e = j.append(
        rt.run_id,
        step.id,
        Phase.INTENT,
        StepState.RUNNING,
        kind=step.kind,
        credential=step.credential,
        project_id=step.project_id,
        detail=intent,
    )
    rt.records[step.id] = StepRecord(step.id, StepState.RUNNING, intent, intent, e.ts)
    boundary(rt.plan, "before", step)
    try:
        detail = await action.run(step, rt)
    except WaitingForHuman as exc:
        _outcome(rt, step, StepState.PENDING, {"waiting": exc.message})
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        _outcome(rt, step, StepState.FAILED, {"error": describe_error(exc), "error_type": type(exc).__name__})
        raise
    boundary(rt.plan, "after", step)
    state = StepState.SKIPPED if detail.get("skipped") else StepState.DONE
    _outcome(rt, step, state, detail)


def _outcome(rt: Runtime, step: Step, state: StepState, detail: dict[str, Any]) -> None:
    e = rt.journal.append(
        rt.run_id,
        step.id,
        Phase.OUTCOME,
        state,
        kind=step.kind,
        credential=step.credential,
        project_id=step.project_id,
        detail=detail,
    )
    prev = rt.records.get(step.id)
    rt.records[step.id] = StepRecord(step.id, state, e.detail, prev.intent_detail if prev else {}, e.ts)
