"""Vector / Search index tokens → cutover (reset rotates the token and the read-only token).

Same layout as the QStash token (:func:`~keyroll.rotate.strategies.qstash_token.cutover_build`).
The reset endpoints answer ``"OK"``; the clients re-read the index for the new tokens.
"""

from __future__ import annotations

from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.model import ActionName, Step
from keyroll.rotate.pipeline import PlanContext, StrategyPlan
from keyroll.rotate.runtime import Action, Probe, Runtime, gid_of
from keyroll.rotate.strategies.common import base_spec
from keyroll.rotate.strategies.qstash_token import cutover_build

__all__ = ["ACTIONS", "build"]


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for one index's tokens."""
    spec = base_spec(ctx)
    name = spec.resource_name or spec.resource_id
    return cutover_build(
        ctx,
        spec,
        ActionName.INDEX_RESET,
        f"reset the {spec.product} index {name} tokens (the old ones die now)",
    )


def _store(rt: Runtime, gid: str, index: Any) -> dict[str, Any]:
    if index.token is None:
        raise RotationError("the index reset returned no token")
    rt.put_value(gid, "new", "token", index.token)
    fps = {"token": index.token.fingerprint}
    if index.read_only_token is not None:
        rt.put_value(gid, "new", "readonly_token", index.read_only_token)
        fps["readonly_token"] = index.read_only_token.fingerprint
    return {"new": fps}


async def _reset(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    before = rt.now()
    if spec.product == "vector":
        index: Any = await rt.upstash.reset_vector(spec.resource_id)
    else:
        index = await rt.upstash.reset_search(spec.resource_id)
    at = rt.now()
    return {**_store(rt, gid_of(step), index), "revoke_started_at": before, "revoked_at": at, "reset_at": at}


async def _reconcile(step: Step, rt: Runtime) -> dict[str, Any] | None:
    gid = gid_of(step)
    if rt.has_value(gid, "new", "token"):
        return {
            "new": rt.fingerprints(gid, "new"),
            "revoked_at": rt.done_at(step.id) or rt.now(),
            "reconciled": True,
        }
    spec = rt.spec(step)
    old = rt.get_value(gid, "old", "token")
    if old is None or await rt.probe_index(spec.product, spec.rest_url, old) is not Probe.REJECTED:
        return None
    if spec.product == "vector":
        index: Any = await rt.upstash.get_vector(spec.resource_id)
    else:
        index = await rt.upstash.get_search(spec.resource_id)
    rec = rt.records.get(step.id)
    return {**_store(rt, gid, index), "revoked_at": rec.ts if rec else rt.now(), "reconciled": True}


ACTIONS: dict[str, Action] = {ActionName.INDEX_RESET: Action(_reset, _reconcile)}
