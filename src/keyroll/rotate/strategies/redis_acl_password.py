"""A custom Redis ACL user → overlap with a second password.

``ACL GENTOKEN user`` → journal → ``ACL SETUSER user >new`` (the old password stays valid) →
``ACL RESTTOKEN user new`` → journal → distribute → redeploy → probe → ``ACL SETUSER user <old``
(or ``resetpass >new`` when the old password itself is unknown) → probe the old token rejected.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.model import ActionName, Step, StepKind
from keyroll.core.secret import Secret
from keyroll.core.steps import (
    AclAddPasswordParams,
    AclRemovePasswordParams,
    ProbeNewParams,
    ProbeOldParams,
)
from keyroll.rotate.gates import revoke_gate
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, distribution_steps, rescan_step
from keyroll.rotate.runtime import Action, Runtime, gid_of
from keyroll.rotate.strategies.common import acl, base_spec, gentoken, redis_admin, redis_endpoint_for

__all__ = ["ACTIONS", "build", "undo_mint"]


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for one custom ACL user's password."""
    spec = base_spec(ctx)
    ep = redis_endpoint_for(ctx, spec.endpoint)
    spec = replace(
        spec, host=ep["host"], port=ep["port"], tls=ep["tls"], rest_url=spec.rest_url or ep["rest_url"]
    )
    user = spec.acl_user
    gid, fp = ctx.gid, ctx.fp
    warnings = []
    if "password" not in spec.credentials and "url" not in spec.credentials:
        warnings.append(
            f"the current password of ACL user {user} is unknown: the revoke uses `resetpass >new`, "
            "which also removes any other password that user has"
        )
    mint = Step(
        f"{gid}/mint",
        StepKind.MINT,
        fp,
        f"add a second password to ACL user {user}",
        (),
        AclAddPasswordParams(group=spec, user=user).to_params(),
    )
    steps = [mint]
    dist, tails = distribution_steps(ctx, ctx.locations, values="new", after=[mint.id])
    steps += dist
    probe = Step(
        f"{gid}/probe",
        StepKind.PROBE,
        fp,
        "probe the new token and deployments",
        tuple(tails),
        ProbeNewParams(values="new", phase=1).to_params(),
    )
    revoke = Step(
        f"{gid}/revoke",
        StepKind.REVOKE,
        fp,
        f"remove the old password of ACL user {user}",
        (probe.id,),
        AclRemovePasswordParams(user=user).to_params(),
        destructive=True,
    )
    verify_old = Step(
        f"{gid}/verify-old",
        StepKind.PROBE,
        fp,
        "probe that the old token is rejected",
        (revoke.id,),
        ProbeOldParams().to_params(),
    )
    rescan = rescan_step(gid, fp, after=verify_old.id)
    steps += [probe, revoke, verify_old, rescan]
    return StrategyPlan(steps, warnings=warnings)


async def _add(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    gid = gid_of(step)
    url = spec.rest_url
    user = AclAddPasswordParams.of(step).user
    if rt.providers.redis is None or not url:
        raise RotationError(f"no Redis REST URL for ACL user {user}")
    admin = await redis_admin(rt, step)
    rt.put_value(gid, "new", "username", Secret(user))
    pw = rt.get_value(gid, "new", "password")
    native = True
    if pw is None:
        pw, native = await gentoken(rt, url, admin, user)
        rt.put_value(gid, "new", "password", pw)  # journaled before it is used
    await acl(
        rt,
        step,
        url,
        admin,
        "ACL",
        "SETUSER",
        user,
        "on",
        Secret(">" + pw.reveal()),
        what=f"ACL SETUSER {user}",
    )
    result = await acl(rt, step, url, admin, "ACL", "RESTTOKEN", user, pw, what=f"ACL RESTTOKEN {user}")
    if not isinstance(result, str) or not result:
        raise RotationError(f"ACL RESTTOKEN {user} returned no token")
    token = Secret(result)
    rt.put_value(gid, "new", "rest_token", token)
    return {
        "user": user,
        "password_fp": pw.fingerprint,
        "rest_token_fp": token.fingerprint,
        "gentoken": native,
    }


async def _remove(step: Step, rt: Runtime) -> dict[str, Any]:
    evidence = await revoke_gate(step, rt)
    spec = rt.spec(step)
    gid = gid_of(step)
    user = AclRemovePasswordParams.of(step).user
    admin = await redis_admin(rt, step)
    old = rt.get_value(gid, "old", "password")
    new = rt.get_value(gid, "new", "password")
    if new is None:
        raise RotationError(f"the new password of {user} is not in the journal")
    assert rt.providers.redis is not None
    before = rt.now()
    if old is not None:
        await acl(
            rt,
            step,
            spec.rest_url,
            admin,
            "ACL",
            "SETUSER",
            user,
            Secret("<" + old.reveal()),
            what=f"ACL SETUSER {user}",
        )
        how = "removed old password"
    else:
        await acl(
            rt,
            step,
            spec.rest_url,
            admin,
            "ACL",
            "SETUSER",
            user,
            "resetpass",
            Secret(">" + new.reveal()),
            what=f"ACL SETUSER {user}",
        )
        how = "resetpass + new password"
    return {**evidence, "user": user, "how": how, "revoke_started_at": before, "revoked_at": rt.now()}


async def undo_mint(step: Step, rt: Runtime) -> dict[str, Any]:
    """Rollback: remove the password this run added (the old one still works)."""
    gid = gid_of(step)
    new = rt.get_value(gid, "new", "password")
    if new is None:
        return {}
    spec = rt.spec(step)
    user = str(spec.acl_user or "")
    admin = await redis_admin(rt, step)
    assert rt.providers.redis is not None
    await acl(
        rt,
        step,
        spec.rest_url,
        admin,
        "ACL",
        "SETUSER",
        user,
        Secret("<" + new.reveal()),
        what=f"ACL SETUSER {user}",
    )
    return {"removed_password_fp": new.fingerprint, "user": user}


ACTIONS: dict[str, Action] = {
    ActionName.ACL_ADD_PASSWORD: Action(_add),
    ActionName.ACL_REMOVE_PASSWORD: Action(_remove),
}
