"""Redis default credentials on a database without ACL (a free database) → cutover.

"ACL is available on all paid databases": on a free database there is no second user to move
the apps to, so the overlap of :mod:`.redis_acl` is impossible and a mint there would fail
mid-run. The only rotation is the one the QStash token gets (:func:`.qstash_token.cutover_build`):
everything is prepared first; then, with ``--accept-downtime``, reset the default password
(password, REST token and read-only token die at once) → write the new values everywhere →
redeploy every project at once (a cutover's steps go first wherever keyroll queues). The
outage window (reset → last READY) is shown in the plan and measured in the run.

The same steps are the emergency path of :mod:`.redis_acl` when the ACL user's token did not
survive the reset (:func:`store_reset` is shared).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.model import ActionName, Step
from keyroll.core.secret import Secret
from keyroll.rotate.pipeline import PlanContext, StrategyPlan
from keyroll.rotate.runtime import Action, Probe, Runtime, gid_of
from keyroll.rotate.strategies.common import base_spec, redis_endpoint_for
from keyroll.rotate.strategies.qstash_token import cutover_build

__all__ = ["ACTIONS", "build", "store_reset"]


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for one database's default credentials, reset in one go."""
    spec = base_spec(ctx)
    ep = redis_endpoint_for(ctx, spec.endpoint)
    spec = replace(
        spec, host=ep["host"], port=ep["port"], tls=ep["tls"], rest_url=spec.rest_url or ep["rest_url"]
    )
    spec = replace(spec, acl_user="default")
    name = spec.resource_name or spec.resource_id
    plan = cutover_build(
        ctx,
        spec,
        ActionName.REDIS_RESET,
        f"reset the default password of {name} (no ACL on this database: password and both REST tokens die now)",
    )
    plan.warnings.insert(
        0, f"{name} has no ACL (free database): no overlap is possible, the apps switch at the reset"
    )
    return plan


def store_reset(rt: Runtime, gid: str, db: Any, values: str) -> dict[str, str]:
    """Journal a reset's new password and tokens under value set ``values``; their fingerprints."""
    if db.rest_token is None:
        raise RotationError("the password reset returned no REST token")
    fps: dict[str, str] = {}
    for role, value in (
        ("password", db.password),
        ("rest_token", db.rest_token),
        ("readonly_rest_token", db.read_only_rest_token),
    ):
        if value is not None:
            rt.put_value(gid, values, role, value)
            fps[role] = value.fingerprint
    rt.put_value(gid, values, "username", Secret("default"))
    return fps


async def _reset(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    gid = gid_of(step)
    before = rt.now()
    db = await rt.upstash.reset_redis_password(spec.resource_id)
    at = rt.now()
    return {
        "new": store_reset(rt, gid, db, "new"),
        "revoke_started_at": before,
        "revoked_at": at,
        "reset_at": at,
    }


async def _reconcile(step: Step, rt: Runtime) -> dict[str, Any] | None:
    gid = gid_of(step)
    if rt.has_value(gid, "new", "rest_token"):
        return {"new": rt.fingerprints(gid, "new"), "revoked_at": rt.done_at(step.id) or rt.now()}
    spec = rt.spec(step)
    old = rt.get_value(gid, "old", "rest_token")
    if old is None or await rt.probe_redis(spec.rest_url, old) is not Probe.REJECTED:
        return None
    db = await rt.upstash.get_redis(spec.resource_id)
    rec = rt.records.get(step.id)
    return {
        "new": store_reset(rt, gid, db, "new"),
        "revoked_at": rec.ts if rec else rt.now(),
        "reconciled": True,
    }


ACTIONS: dict[str, Action] = {ActionName.REDIS_RESET: Action(_reset, _reconcile)}
