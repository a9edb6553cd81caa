"""The QStash token → cutover (the provider has no overlap: the old token dies at the reset).

Everything is prepared first (old values journaled, every write computed from the plan,
deployments known from the inventory); then, with ``--accept-downtime`` and consent: reset →
all env writes in parallel batches → every redeploy at once. The outage window (reset → last
READY) is measured and journaled as ``window_s``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from keyroll.config import update_env_file
from keyroll.core.errors import KeyrollError, RotationError
from keyroll.core.model import ActionName, Step, StepKind
from keyroll.core.steps import CutoverResetParams, GroupSpec
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, cutover_tail
from keyroll.rotate.runtime import Action, Probe, Runtime, gid_of
from keyroll.rotate.strategies.common import base_spec

__all__ = ["ACTIONS", "build", "cutover_build", "own_token_update", "user_id"]


def cutover_build(ctx: PlanContext, spec: GroupSpec, action: ActionName, description: str) -> StrategyPlan:
    """The cutover layout shared by the QStash token and index resets."""
    gid, fp = ctx.gid, ctx.fp
    reset = Step(
        f"{gid}/reset",
        StepKind.MINT,
        fp,
        description,
        (),
        CutoverResetParams(action=action, group=spec).to_params(),
        destructive=True,
    )
    steps = [reset]
    steps += cutover_tail(ctx, reset.id)
    warnings = [
        f"cutover: the old value dies at the reset; requests fail until each project's new deployment is READY (≈ {ctx.build_estimate_s:.0f} s)"
    ]
    return StrategyPlan(
        steps, expected_outage_s=ctx.build_estimate_s, requires_downtime_consent=True, warnings=warnings
    )


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for one QStash user's token."""
    spec = base_spec(ctx)
    plan = cutover_build(ctx, spec, ActionName.QSTASH_RESET, "reset the QStash token (the old one dies now)")
    plan.warnings.append(
        "keyroll's own QSTASH_TOKEN is this token: the --env-file it came from is updated right after the reset"
    )
    return plan


async def user_id(rt: Runtime, spec: GroupSpec, old_fp: str) -> str:
    """The QStash user whose token has fingerprint ``old_fp`` (the spec's resource id when known).

    :raises RotationError: no user of the account holds that token.
    """
    if spec.resource_id:
        return str(spec.resource_id)
    for user in await rt.upstash.list_qstash_users():
        if user.token is not None and user.token.fingerprint == old_fp:
            return user.id
    raise RotationError(
        "cannot find the QStash user of this token", hint="check UPSTASH_EMAIL / UPSTASH_API_KEY"
    )


def _store(rt: Runtime, gid: str, user: Any) -> dict[str, Any]:
    if user.token is None:
        raise RotationError("the QStash reset returned no token")
    rt.put_value(gid, "new", "token", user.token)
    fps = {"token": user.token.fingerprint}
    if user.read_only_token is not None:
        rt.put_value(gid, "new", "readonly_token", user.read_only_token)
        fps["readonly_token"] = user.read_only_token.fingerprint
    return {"new": fps}


async def _reset(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    gid = gid_of(step)
    uid = await user_id(rt, spec, spec.credentials.get("token", ""))
    before = rt.now()
    user = await rt.upstash.rotate_qstash_token(uid)
    at = rt.now()
    detail = {
        **_store(rt, gid, user),
        "user_id": uid,
        "revoke_started_at": before,
        "revoked_at": at,
        "reset_at": at,
    }
    return {**detail, **own_token_update(rt, gid)}


def own_token_update(rt: Runtime, gid: str) -> dict[str, Any]:
    """keyroll itself runs with this token: put the new one where keyroll's QSTASH_TOKEN came from.

    The ``--env-file`` is rewritten atomically (mode 0600) when it still holds the old token; a
    token from the environment cannot be changed from here, so the outcome says what to change.
    Never fails the step: the reset has happened and the new token is journaled.
    """
    own = rt.providers.config.qstash_token
    old = rt.get_value(gid, "old", "token")
    new = rt.get_value(gid, "new", "token")
    if own is None or old is None or new is None or own.fingerprint != old.fingerprint:
        return {}
    source = rt.providers.config.sources.get("QSTASH_TOKEN", "env")
    out: dict[str, Any] = {
        "own_token": {"key": "QSTASH_TOKEN", "old_fp": old.fingerprint, "new_fp": new.fingerprint}
    }
    if source in ("env", "default") or not Path(source).is_file():
        out["own_token"]["update"] = (
            f"QSTASH_TOKEN in keyroll's environment is now dead: set it to the new token ({new.fingerprint}, "
            "Upstash console → QStash) before the next keyroll command"
        )
        rt.note(out["own_token"]["update"])
        return out
    try:
        updated = update_env_file(Path(source), "QSTASH_TOKEN", old, new)
    except KeyrollError as exc:
        updated = False
        out["own_token"]["error"] = exc.message
    out["own_token"]["env_file"] = source
    out["own_token"]["updated"] = updated
    if updated:
        rt.note(f"keyroll's own QSTASH_TOKEN in {source} now holds the new token ({new.fingerprint})")
    else:
        out["own_token"]["update"] = (
            f"QSTASH_TOKEN in {source} is now dead: set it to the new token ({new.fingerprint}, "
            "Upstash console → QStash) before the next keyroll command"
        )
        rt.note(out["own_token"]["update"])
    return out


async def _reconcile(step: Step, rt: Runtime) -> dict[str, Any] | None:
    gid = gid_of(step)
    if rt.has_value(gid, "new", "token"):
        return {
            "new": rt.fingerprints(gid, "new"),
            "revoked_at": rt.done_at(step.id) or rt.now(),
            "reconciled": True,
            **own_token_update(rt, gid),
        }
    old = rt.get_value(gid, "old", "token")
    if old is None or await rt.probe_qstash(old, rt.spec(step).rest_url or None) is not Probe.REJECTED:
        return None
    spec = rt.spec(step)
    uid = await user_id(rt, spec, "")
    for user in await rt.upstash.list_qstash_users():
        if user.id == uid:
            rec = rt.records.get(step.id)
            detail = {
                **_store(rt, gid, user),
                "user_id": uid,
                "revoked_at": rec.ts if rec else rt.now(),
                "reconciled": True,
            }
            return {**detail, **own_token_update(rt, gid)}
    return None


ACTIONS: dict[str, Action] = {ActionName.QSTASH_RESET: Action(_reset, _reconcile)}
