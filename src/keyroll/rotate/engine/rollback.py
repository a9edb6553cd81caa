"""Undoing a credential's rotation before its old value is revoked.

A failure before revocation restores the old values (still valid in overlap strategies) where
they were written, redeploys the builds that serve the new value, and removes what was minted.
When the old value is already dead (a revoke happened, or the strategy cannot restore) there is
no going back: the journal says so, ``keyroll resume`` finishes forward and ``keyroll abandon``
closes the run. A revoke whose outcome is unknown is settled by asking the provider whether the
old values still work.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from keyroll.core.model import ActionName, CredentialPlan, DeploymentRef, Step, StepKind, StepState
from keyroll.core.steps import AwaitParams, RedeployParams, WriteParams
from keyroll.journal.events import Phase, StepRecord
from keyroll.rotate.distribute import write_locations
from keyroll.rotate.engine.state import is_revoke
from keyroll.rotate.gates import probe_values
from keyroll.rotate.redeploy import await_ready, redeploy
from keyroll.rotate.runtime import Probe, Runtime, gid_of
from keyroll.rotate.strategies import RESTORE_ON_FAILURE, UNDO_MINT
from keyroll.rotate.strategies.common import describe_error

__all__ = ["rollback_group"]


async def rollback_group(rt: Runtime, cp: CredentialPlan, reason: str) -> None:
    """Roll one credential back (journaled as ``<gid>/rollback``), or journal why it cannot be."""
    gid = gid_of(cp.steps[0])
    records = rt.records

    def log(
        sid: str,
        phase: Phase,
        state: StepState,
        kind: StepKind | None = None,
        project_id: str = "",
        *,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """One journal entry of this credential's rollback."""
        rt.journal.append(
            rt.run_id,
            sid,
            phase,
            state,
            kind=kind,
            credential=cp.credential,
            project_id=project_id,
            detail=detail,
        )

    touched = {
        sid
        for sid, r in records.items()
        if r.state in (StepState.RUNNING, StepState.DONE, StepState.FAILED, StepState.SKIPPED)
    }
    revoked = [
        s
        for s in cp.steps
        if is_revoke(s)
        and s.id in touched
        and not (
            records[s.id].state in (StepState.FAILED, StepState.PENDING)
            and records[s.id].detail.get("error_type") in ("GateFailed", "WaitingForHuman", None)
        )
    ]
    uncertain = [
        s for s in cp.steps if is_revoke(s) and s.id in records and records[s.id].state is not StepState.DONE
    ]
    if uncertain and not any(records[s.id].state is StepState.DONE for s in revoked):
        # a revoke that failed, never reported back, or was left to a person may have happened
        # (the dashboard reset done while the run waited): the provider knows
        verdict = await _old_values_verdict(rt, cp)
        if verdict is Probe.ACCEPTED:
            revoked = []
        elif verdict is Probe.REJECTED:
            revoked = uncertain
    rb_id = f"{gid}/rollback"
    changed = [s.id for s in cp.steps if s.id in touched and records[s.id].state is not StepState.FAILED]
    if not revoked and cp.strategy not in RESTORE_ON_FAILURE and not changed:
        unchanged: dict[str, Any] = {"reason": reason, "nothing_changed": True, "problems": []}
        log(rb_id, Phase.OUTCOME, StepState.ROLLED_BACK, detail=unchanged)
        rt.records[rb_id] = StepRecord(rb_id, StepState.ROLLED_BACK, unchanged, {}, time.time())
        rt.note(f"{cp.credential}: rolled back (nothing had changed)")
        return
    if revoked or cp.strategy not in RESTORE_ON_FAILURE:
        # the old value is dead: only forward is left (the new values are in the journal);
        # `keyroll abandon` closes the run with a reason if forward cannot work either
        why = "already revoked" if revoked else f"{cp.strategy} cannot restore old values"
        log(
            rb_id,
            Phase.NOTE,
            StepState.FAILED,
            detail={"rollback": "not possible", "why": why, "reason": reason},
        )
        rt.note(
            f"{cp.credential}: no rollback ({why}); `keyroll resume` finishes it forward, "
            f"`keyroll abandon {rt.run_id} --reason …` closes the run"
        )
        return
    log(rb_id, Phase.INTENT, StepState.RUNNING, detail={"reason": reason})
    rt.note(f"{cp.credential}: rolling back ({reason})")
    old = rt.values(gid, "old")
    restored: list[str] = []
    problems: list[str] = []
    writes = [s for s in cp.steps if s.action == ActionName.WRITE and s.id in touched]
    for s in writes:
        params = WriteParams.of(s)
        specs = [
            loc
            for loc in params.locations
            if loc.role in old or (loc.role == "url" and "password" in old) or loc.role == "value"
        ]
        if not specs:
            continue
        sid = f"{gid}/rollback/{s.id.split('/', 1)[1]}"
        log(sid, Phase.INTENT, StepState.RUNNING, StepKind.WRITE_ENV, s.project_id)
        try:
            detail = await write_locations(
                rt,
                params.target,
                specs,
                old,
                rt.spec(s),
                old=rt.values(gid, params.values),
                restore=True,
            )
            log(sid, Phase.OUTCOME, StepState.ROLLED_BACK, StepKind.WRITE_ENV, s.project_id, detail=detail)
            restored.append(s.id)
        except Exception as exc:
            problems.append(f"{s.id}: {describe_error(exc)}")
            log(
                sid,
                Phase.OUTCOME,
                StepState.FAILED,
                StepKind.WRITE_ENV,
                s.project_id,
                detail={"error": describe_error(exc)},
            )
    redeployed: list[dict[str, Any]] = []
    for s in cp.steps:
        if s.kind is not StepKind.REDEPLOY or s.id not in touched or problems:
            continue
        sid = f"{gid}/rollback/{s.id.split('/', 1)[1]}"
        log(sid, Phase.INTENT, StepState.RUNNING, StepKind.REDEPLOY, s.project_id)
        try:
            refs = await _serving_new(rt, s)
            if not refs:
                log(
                    sid,
                    Phase.OUTCOME,
                    StepState.SKIPPED,
                    StepKind.REDEPLOY,
                    s.project_id,
                    detail={"reason": "no build with the new value serves"},
                )
                continue
            redo = replace(RedeployParams.from_params(s.params), deployments=tuple(refs))
            again = replace(s, id=sid, params=redo.to_params())
            detail = await redeploy(again, rt, written_at=time.time())
            rt.records[sid] = StepRecord(sid, StepState.DONE, detail, {}, time.time())
            ready_step = replace(
                s,
                id=f"{sid}/ready",
                kind=StepKind.AWAIT_READY,
                params=AwaitParams(redeploy_step=sid).to_params(),
            )
            ready = await await_ready(ready_step, rt)
            log(
                sid,
                Phase.OUTCOME,
                StepState.ROLLED_BACK,
                StepKind.REDEPLOY,
                s.project_id,
                detail={**detail, **ready},
            )
            redeployed.extend(detail.get("deployments", []))
        except Exception as exc:
            problems.append(f"{s.id}: {describe_error(exc)}")
            log(
                sid,
                Phase.OUTCOME,
                StepState.FAILED,
                StepKind.REDEPLOY,
                s.project_id,
                detail={"error": describe_error(exc)},
            )
    undone: dict[str, Any] = {}
    residue: list[dict[str, str]] = []
    undo = UNDO_MINT.get(cp.strategy)
    if undo is not None and cp.steps[0].id in touched and not problems:
        try:
            undone = await undo(cp.steps[0], rt)
        except Exception as exc:
            # the old values are back and serving: what this run minted is left over, and a
            # person removes it (a retry would fail the same way — the rollback ends here)
            residue.append(
                {
                    "what": f"{cp.steps[0].description} (created by this run)",
                    "do": f"remove it by hand (keyroll could not: {describe_error(exc)})",
                }
            )
    detail = {
        "reason": reason,
        "restored": restored,
        "redeployed": redeployed,
        "undone": undone,
        "problems": problems,
        "residue": residue,
    }
    state = StepState.ROLLED_BACK if not problems else StepState.FAILED
    log(rb_id, Phase.OUTCOME, state, detail=detail)
    rt.records[rb_id] = StepRecord(rb_id, state, detail, {}, time.time())
    if problems:
        rt.note(f"{cp.credential}: rollback incomplete: {problems[0]}")
    elif residue:
        rt.note(f"{cp.credential}: rolled back; left for a person: {residue[0]['what']} — {residue[0]['do']}")
    else:
        rt.note(f"{cp.credential}: rolled back")


async def _old_values_verdict(rt: Runtime, cp: CredentialPlan) -> Probe:
    """``ACCEPTED`` when the provider still accepts every old value of the group (so it was not
    revoked), ``REJECTED`` when it rejects one, ``UNKNOWN`` when it cannot tell."""
    gid = gid_of(cp.steps[0])
    old = rt.values(gid, "old")
    old.pop("username", None)
    try:
        results = await probe_values(rt, rt.spec(cp.steps[0]), old)
    except Exception:
        return Probe.UNKNOWN
    if any(r["result"] == Probe.REJECTED.value for r in results):
        return Probe.REJECTED
    if results and all(r["result"] == Probe.ACCEPTED.value for r in results):
        return Probe.ACCEPTED
    return Probe.UNKNOWN


async def _serving_new(rt: Runtime, step: Step) -> list[DeploymentRef]:
    """The source refs whose rotated build reached READY (so serves the new value): those are
    redeployed again on rollback; ERROR/CANCELED builds never served. Builds still running are
    waited for, since they would start serving the new value after the rollback."""
    rec = rt.records.get(step.id)
    builds = list((rec.detail if rec else {}).get("deployments", []))
    if rec is not None and rec.state is StepState.RUNNING:
        return list(
            RedeployParams.from_params(step.params).deployments
        )  # unknown which builds exist: redo all
    refs = {r.deployment_id: r for r in RedeployParams.from_params(step.params).deployments}
    out: list[DeploymentRef] = []
    for b in builds:
        deadline = time.time() + rt.options.build_timeout_s
        while True:
            state = (await rt.vercel.get_deployment(b["new"])).ready_state
            if state in ("READY", "ERROR", "CANCELED", "DELETED") or time.time() > deadline:
                break
            await asyncio.sleep(max(rt.options.poll_interval_s, 0.01))
        if state == "READY" and b["old"] in refs:
            out.append(refs[b["old"]])
    return out
