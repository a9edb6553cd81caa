"""``apply --dry-run``: walk the whole plan and fail where the real run would, changing nothing.

Every step's action has a read-only check of what it needs at the provider: the Redis REST URL
and an admin token that the database accepts (``ACL WHOAMI``), the QStash user a token belongs
to, the index or database id a reset needs, the clients a write or a redeploy uses. A group's
walk stops at its first failing step (later steps depend on it). Values read on the way go into
a throw-away journal, never the real one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from keyroll.core.errors import KeyrollError, RotationError
from keyroll.core.model import ActionName, Plan, Step
from keyroll.core.steps import WriteParams
from keyroll.rotate.runtime import Runtime
from keyroll.rotate.strategies.common import describe_error, redis_admin
from keyroll.rotate.strategies.qstash_token import user_id

__all__ = ["CHECKS", "walk"]

Check = Callable[[Step, Runtime], Awaitable[None]]


async def _redis_admin(step: Step, rt: Runtime) -> None:
    spec = rt.spec(step)
    url = str(spec.rest_url or "")
    if rt.providers.redis is None or not url:
        raise RotationError(f"no Redis REST URL for {spec.resource_name or spec.gid or step.id}")
    admin = await redis_admin(rt, step)
    try:
        await rt.providers.redis.command(url, admin, "ACL", "WHOAMI")
    except KeyrollError as exc:
        raise RotationError(f"the database refuses the admin token ({exc.message})") from None


async def _qstash_user(step: Step, rt: Runtime) -> None:
    spec = rt.spec(step)
    await user_id(rt, spec, str(spec.credentials.get("token", "")))


async def _upstash_resource(step: Step, rt: Runtime) -> None:
    spec = rt.spec(step)
    if not spec.resource_id:
        raise RotationError(f"the id of {spec.resource_name or step.credential} is unknown")
    _ = rt.upstash  # raises when the Developer API is not configured


async def _qstash_keys(step: Step, rt: Runtime) -> None:
    await rt.qstash.get_keys(rt.qstash_token())


async def _write(step: Step, rt: Runtime) -> None:
    target = WriteParams.of(step).target
    if target in ("vercel", "shared"):
        _ = rt.vercel
    elif target == "github" and rt.providers.github is None:
        raise RotationError("GITHUB_TOKEN is not set", hint="export it or pass --env-file")


async def _redeploy(step: Step, rt: Runtime) -> None:
    _ = rt.vercel


CHECKS: dict[str, Check] = {
    ActionName.ACL_MINT: _redis_admin,
    ActionName.ACL_ADD_PASSWORD: _redis_admin,
    ActionName.DELUSER: _redis_admin,
    ActionName.RESET_DEFAULT: _upstash_resource,
    ActionName.QSTASH_RESET: _qstash_user,
    ActionName.INDEX_RESET: _upstash_resource,
    ActionName.ROLL: _qstash_keys,
    ActionName.WRITE: _write,
    ActionName.REDEPLOY: _redeploy,
}
"""Read-only checks by step action; actions without one need nothing the preflight did not check."""


async def walk(rt: Runtime, plan: Plan) -> dict[str, Any] | None:
    """Check every step in plan order; the first failure as ``{step, credential, error}``."""
    for cp in plan.credentials:
        for step in cp.steps:
            check = CHECKS.get(step.action)
            if check is None:
                continue
            try:
                await check(step, rt)
            except KeyrollError as exc:
                return {"step": step.id, "credential": cp.credential, "error": describe_error(exc)}
    return None
