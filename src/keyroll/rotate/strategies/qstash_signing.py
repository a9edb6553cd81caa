"""QStash signing keys → a double roll with an interlock.

A roll makes ``current ← next`` and ``next ← new``. Apps that already hold ``next`` keep
verifying; apps that don't break. So: roll → write CURRENT and NEXT everywhere → redeploy →
verify → roll again → write → redeploy. Both leaked keys are dead after the second roll.

Interlock (the "don't roll twice" rule): before each roll keyroll checks what QStash holds
against the journal, so a retry never rolls twice, and refuses to roll while an affected
serving deployment lacks the keys of the previous roll (the revoke gate).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.model import ActionName, Step, StepKind
from keyroll.core.steps import ProbeNewParams, ProbeOldParams, RollParams
from keyroll.rotate.gates import revoke_gate
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, distribution_steps, projects_of, rescan_step
from keyroll.rotate.runtime import Action, GateFailed, Runtime, gid_of
from keyroll.rotate.strategies.common import base_spec

__all__ = ["ACTIONS", "build"]


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for the signing keys of one QStash user."""
    spec = base_spec(ctx)
    gid, fp = ctx.gid, ctx.fp
    locs = ctx.locations
    warnings: list[str] = []
    has_next = set(projects_of([loc for loc in locs if loc.role == "signing_next"]))
    lacking = [p for p in projects_of(locs) if p not in has_next]
    spec = replace(spec, projects_without_next=tuple(lacking))
    if lacking:
        warnings.append(
            f"{len(lacking)} project(s) hold a signing key but no QSTASH_NEXT_SIGNING_KEY ({', '.join(lacking[:3])}): "
            "the first roll would break them — keyroll refuses unless --force-revoke; add the NEXT var first"
        )
    roll1 = Step(
        f"{gid}/roll1",
        StepKind.MINT,
        fp,
        "roll the signing keys (current ← next, next ← new)",
        (),
        RollParams(roll=1, group=spec).to_params(),
        destructive=True,
    )
    steps = [roll1]
    dist1, tails1 = distribution_steps(ctx, locs, values="roll1", after=[roll1.id])
    steps += dist1
    probe1 = Step(
        f"{gid}/probe",
        StepKind.PROBE,
        fp,
        "check QStash holds the distributed keys; probe deployments",
        tuple(tails1),
        ProbeNewParams(values="roll1", phase=1).to_params(),
    )
    roll2 = Step(
        f"{gid}/roll2",
        StepKind.REVOKE,
        fp,
        "roll again: the leaked next key dies",
        (probe1.id,),
        RollParams(roll=2).to_params(),
        destructive=True,
    )
    steps += [probe1, roll2]
    dist2, tails2 = distribution_steps(ctx, locs, values="roll2", after=[roll2.id], tag="2", phase=2)
    steps += dist2
    probe2 = Step(
        f"{gid}/probe2",
        StepKind.PROBE,
        fp,
        "check the second roll everywhere",
        tuple(tails2),
        ProbeNewParams(values="roll2", phase=2).to_params(),
    )
    verify_old = Step(
        f"{gid}/verify-old",
        StepKind.PROBE,
        fp,
        "check QStash no longer holds either leaked key",
        (probe2.id,),
        ProbeOldParams().to_params(),
    )
    rescan = rescan_step(gid, fp, after=verify_old.id)
    steps += [probe2, verify_old, rescan]
    return StrategyPlan(steps, warnings=warnings)


def _expected_before(rt: Runtime, step: Step) -> tuple[str, str]:
    gid = gid_of(step)
    if RollParams.of(step).roll == 1:
        old = rt.fingerprints(gid, "old")
        return old.get("signing_current", ""), old.get("signing_next", "")
    r1 = rt.fingerprints(gid, "roll1")
    return r1.get("signing_current", ""), r1.get("signing_next", "")


async def _state(step: Step, rt: Runtime) -> tuple[str, str, str, str, Any]:
    url = rt.spec(step).rest_url or None
    keys = await rt.qstash.get_keys(await rt.qstash_token_for(url or ""), url=url)
    cur, nxt = _expected_before(rt, step)
    return keys.current.fingerprint, keys.next.fingerprint, cur, nxt, keys


def _store(rt: Runtime, step: Step, keys: Any) -> dict[str, Any]:
    gid = gid_of(step)
    name = f"roll{RollParams.of(step).roll}"
    rt.put_value(gid, name, "signing_current", keys.current)
    rt.put_value(gid, name, "signing_next", keys.next)
    return {
        "current_fp": keys.current.fingerprint,
        "next_fp": keys.next.fingerprint,
        "rolled_at": rt.now(),
        "revoked_at": rt.now(),
    }


async def _roll(step: Step, rt: Runtime) -> dict[str, Any]:
    n = RollParams.of(step).roll
    spec = rt.spec(step)
    evidence: dict[str, Any] = {}
    if n == 1:
        lacking = spec.projects_without_next or ()
        if lacking:
            if not rt.options.force_revoke:
                raise GateFailed(
                    f"refusing to roll: project {lacking[0]} has no QSTASH_NEXT_SIGNING_KEY",
                    hint="add the NEXT var (and redeploy) first, or pass --force-revoke",
                )
            evidence = {
                "gate": "forced",
                "force_revoke": True,
                "gate_problems": [f"{p}: no NEXT key" for p in lacking],
            }
    else:
        evidence = await revoke_gate(step, rt, phase=1)
    cur_fp, next_fp, want_cur, want_next = (await _state(step, rt))[:4]
    if cur_fp == want_next and want_next:
        raise RotationError(
            f"QStash keys already rolled (roll {n}) but not journaled", hint="run `keyroll resume`"
        )
    if want_cur and (cur_fp, next_fp) != (want_cur, want_next):
        raise GateFailed(
            f"QStash signing keys changed outside this run (current is {cur_fp})",
            hint="someone rolled them; take a new inventory and plan again",
        )
    url = str(spec.rest_url or "") or None  # the keys' own region
    keys = await rt.qstash.rotate_keys(await rt.qstash_token_for(url or ""), url=url)
    return {**evidence, **_store(rt, step, keys), "roll": n}


async def _reconcile(step: Step, rt: Runtime) -> dict[str, Any] | None:
    gid = gid_of(step)
    n = RollParams.of(step).roll
    if rt.has_value(gid, f"roll{n}", "signing_next"):
        fps = rt.fingerprints(gid, f"roll{n}")
        return {
            "current_fp": fps.get("signing_current"),
            "next_fp": fps.get("signing_next"),
            "roll": n,
            "reconciled": True,
        }
    cur_fp, _next_fp, want_cur, want_next, keys = await _state(step, rt)
    if want_next and cur_fp == want_next:
        # it rolled, the answer was lost: QStash's keys now are the roll's result
        return {**_store(rt, step, keys), "roll": n, "reconciled": True}
    if cur_fp == want_cur:
        return None  # not rolled: safe to roll
    raise RotationError(
        f"QStash signing keys are in an unexpected state (current {cur_fp})", hint="inspect and plan again"
    )


ACTIONS: dict[str, Action] = {ActionName.ROLL: Action(_roll, _reconcile)}
