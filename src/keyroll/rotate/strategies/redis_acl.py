"""Redis default credentials → overlap through an ACL user (AWS "alternating users").

Plan: ``mint`` (``ACL GENTOKEN`` → journal → ``ACL SETUSER keyroll-a on >tok ~* &* +@all``
→ ``ACL RESTTOKEN`` → journal; a ``keyroll-ro-a`` user with ``+@read -@dangerous`` when
read-only tokens are in use) → distribute (REST token, read-only token, ``redis(s)://`` URLs
become ``keyroll-a:<tok>@…``) → redeploy → probe → revoke → probe old rejected → rescan.

Revoke depends on who holds the credential today:

* ``default`` on a native database: reset the default password (Developer API). Bare
  password vars (used as ``AUTH <pw>`` by the default user) follow the new default password in
  a second phase;
* ``default`` on a Vercel-integration database: a ``human`` step (dashboard "Reset
  Credentials"), then keyroll waits until Vercel resyncs the integration's vars, redeploys
  those projects and verifies;
* ``keyroll-a`` (a previous rotation): ``ACL DELUSER keyroll-a`` — the next rotation uses
  ``keyroll-b``, and so on. No reset needed.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from keyroll.core.errors import KeyrollError, RotationError
from keyroll.core.model import ActionName, LocationKind, Management, Step, StepKind
from keyroll.core.secret import Secret
from keyroll.core.steps import (
    AclMintParams,
    DeluserParams,
    GroupSpec,
    HumanParams,
    LocationSpec,
    ProbeNewParams,
    ProbeOldParams,
    ResetDefaultParams,
    ResyncWaitParams,
    When,
)
from keyroll.rotate.gates import revoke_gate
from keyroll.rotate.groups import is_keyroll_user
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, distribution_steps, projects_of, rescan_step
from keyroll.rotate.runtime import Action, Probe, Runtime, gid_of
from keyroll.rotate.strategies.common import (
    acl,
    base_spec,
    gentoken,
    redeploy_only_steps,
    redis_admin,
    redis_endpoint_for,
    stale_warnings,
)

__all__ = ["ACTIONS", "build"]

RW_RULES = ("on", "~*", "&*", "+@all")
RO_RULES = ("on", "~*", "&*", "-@all", "+@read", "-@dangerous")


def _ro_twin(user: str) -> str:
    return user.replace("keyroll-", "keyroll-ro-", 1)


def integration_instructions(name: str) -> str:
    """What a person must click for an integration-managed database."""
    return (
        f"Reset the credentials of the Upstash Redis database {name}: Vercel dashboard → Integrations → Upstash → "
        "Manage → select the database → Open in Upstash → Reset Credentials. keyroll then waits until Vercel "
        "shows the new values, redeploys the projects that use them and verifies."
    )


def build(ctx: PlanContext) -> StrategyPlan:
    """Lay out the steps for one Redis database's default credentials."""
    spec = base_spec(ctx)
    ep = redis_endpoint_for(ctx, spec.endpoint)
    spec = replace(
        spec, host=ep["host"], port=ep["port"], tls=ep["tls"], rest_url=spec.rest_url or ep["rest_url"]
    )
    current = spec.acl_user if is_keyroll_user(spec.acl_user) else "default"
    spec = replace(spec, acl_user=current)
    in_use = list(spec.users_in_use or [current])
    new_user = "keyroll-b" if "keyroll-a" in in_use else "keyroll-a"
    integration = spec.management == Management.VERCEL_INTEGRATION.value
    # a keyroll user holds it: delete that user; the default user (too): reset it as well
    mode = (
        ActionName.DELUSER
        if current != "default" and "default" not in in_use
        else (ActionName.HUMAN_RESET if integration else ActionName.RESET_DEFAULT)
    )
    delete_users = sorted(u for u in in_use if is_keyroll_user(u) and mode != ActionName.DELUSER)
    spec = replace(spec, revoke_mode=mode)
    locs = ctx.locations
    needs_ro = any(loc.role == "readonly_rest_token" for loc in locs)
    warnings: list[str] = []
    human: list[str] = []
    phase1: list[LocationSpec] = []
    phase2: list[LocationSpec] = []
    for loc in locs:
        if mode == ActionName.RESET_DEFAULT and loc.role == "password":
            phase2.append(loc)
        elif mode == ActionName.HUMAN_RESET and loc.role == "password" and not loc.configuration_id:
            warnings.append(
                f"{loc.key or loc.name}: a bare password of the default user on an integration database "
                "cannot follow the dashboard reset automatically; update it by hand afterwards"
            )
        else:
            phase1.append(loc)
    gid, fp = ctx.gid, ctx.fp
    mint = Step(
        f"{gid}/mint",
        StepKind.MINT,
        fp,
        f"create ACL user {new_user} with the default user's rights"
        + (f" and {_ro_twin(new_user)} (read-only)" if needs_ro else ""),
        (),
        AclMintParams(group=spec, user=new_user, readonly=needs_ro).to_params(),
    )
    steps: list[Step] = [mint]
    dist, tails = distribution_steps(ctx, phase1, values="new", after=[mint.id])
    steps += dist
    probe = Step(
        f"{gid}/probe",
        StepKind.PROBE,
        fp,
        "probe the new tokens and deployments",
        tuple(tails),
        ProbeNewParams(values="new", phase=1).to_params(),
    )
    steps.append(probe)
    name = spec.resource_name or spec.resource_id or ""
    if not name:  # integration databases are often known only by their URL and var names
        keys = sorted({f"{loc.key} in {loc.project_name or loc.project_id}" for loc in locs if loc.key})
        name = f"at {spec.rest_url or spec.host or gid}" + (f" ({', '.join(keys[:3])})" if keys else "")
    if mode == ActionName.DELUSER:
        revoke = Step(
            f"{gid}/revoke",
            StepKind.REVOKE,
            fp,
            f"delete ACL user {current} (and {_ro_twin(current)})",
            (probe.id,),
            DeluserParams(users=(current, _ro_twin(current))).to_params(),
            destructive=True,
        )
    elif mode == ActionName.RESET_DEFAULT:
        revoke = Step(
            f"{gid}/revoke",
            StepKind.REVOKE,
            fp,
            f"reset the default password of {name} (old password and both REST tokens die)"
            + (f"; delete ACL user(s) {', '.join(delete_users)}" if delete_users else ""),
            (probe.id,),
            ResetDefaultParams(delete_users=tuple(delete_users)).to_params(),
            destructive=True,
        )
    else:
        text = integration_instructions(name)
        human.append(text)
        revoke = Step(
            f"{gid}/revoke",
            StepKind.HUMAN,
            fp,
            f"reset {name} in the Vercel/Upstash dashboard",
            (probe.id,),
            HumanParams(action=ActionName.HUMAN_RESET, instructions=text).to_params(),
            destructive=True,
        )
    steps.append(revoke)
    verify_old = Step(
        f"{gid}/verify-old",
        StepKind.PROBE,
        fp,
        "probe that the old tokens are rejected",
        (revoke.id,),
        ProbeOldParams().to_params(),
    )
    steps.append(verify_old)
    last = verify_old.id
    expected = 0.0
    if mode == ActionName.RESET_DEFAULT:
        # That a reset leaves ACL users and their REST tokens working is documented nowhere: the
        # reset step probes the new ACL token first, and if it died these steps (skipped
        # otherwise) write the new default credentials everywhere and redeploy all at once.
        last = _emergency_steps(ctx, steps, phase1, revoke.id, verify_old.id)
        warnings.append(
            "the ACL overlap assumes the password reset leaves ACL users working (undocumented): keyroll probes "
            "the new ACL token right after the reset and, if it died, switches to an emergency cutover "
            "(`keyroll preflight --scratch-database ID` checks the assumption on a scratch database)"
        )
    if phase2 and mode == ActionName.RESET_DEFAULT:
        dist2, tails2 = distribution_steps(
            ctx, phase2, values="reset", after=[verify_old.id], tag="2", phase=2
        )
        steps += dist2
        probe2 = Step(
            f"{gid}/probe2",
            StepKind.PROBE,
            fp,
            "probe the new default password's deployments",
            tuple(tails2),
            ProbeNewParams(values="reset", phase=2).to_params(),
        )
        steps.append(probe2)
        last = probe2.id
        expected = ctx.build_estimate_s
        warnings.append(
            f"{len(phase2)} bare password var(s) authenticate as the default user; they get the new default password "
            "after the reset — apps using them over TCP see errors until their redeploy is READY"
        )
    integration_locs = [loc for loc in phase1 if loc.configuration_id and loc.kind is LocationKind.VERCEL_ENV]
    if mode == ActionName.HUMAN_RESET and integration_locs:
        resync = Step(
            f"{gid}/resync",
            StepKind.WRITE_ENV,
            fp,
            "wait until Vercel resyncs the integration's vars",
            (verify_old.id,),
            ResyncWaitParams(phase=2, locations=tuple(integration_locs)).to_params(),
        )
        steps.append(resync)
        dist2, tails2 = redeploy_only_steps(
            ctx, projects_of(integration_locs), after=[resync.id], tag="2", phase=2
        )
        steps += dist2
        probe2 = Step(
            f"{gid}/probe2",
            StepKind.PROBE,
            fp,
            "probe the resynced deployments",
            tuple(tails2),
            ProbeNewParams(values=None, phase=2).to_params(),
        )
        steps.append(probe2)
        last = probe2.id
    steps.append(rescan_step(gid, fp, after=last))
    warnings += stale_warnings(ctx, spec)
    return StrategyPlan(steps, expected_outage_s=expected, human_steps=human, warnings=warnings)


EMERGENCY_KEY = "acl_token_died"
"""what the reset step reports when the ACL user's token did not survive the reset"""


def _emergency_steps(
    ctx: PlanContext, steps: list[Step], phase1: list[LocationSpec], reset_id: str, after: str
) -> str:
    """The emergency cutover, laid out in advance and run only when the reset reports
    :data:`EMERGENCY_KEY`; returns the id later steps should follow."""
    when = When(reset_id, EMERGENCY_KEY)
    locs = [loc for loc in phase1 if loc.kind is not LocationKind.FILE]
    dist, tails = distribution_steps(ctx, locs, values="reset", after=[reset_id], tag="e", phase=3, when=when)
    if not dist:
        return after
    steps += dist
    probe = Step(
        f"{ctx.gid}/probe-e",
        StepKind.PROBE,
        ctx.fp,
        "emergency cutover: probe the new default credentials and deployments",
        (*tails, after),
        ProbeNewParams(values="reset", phase=3, when=when).to_params(),
    )
    steps.append(probe)
    return probe.id


async def _acl_token_alive(rt: Runtime, url: str, token: Secret) -> Probe:
    """Probe the ACL user's token right after the reset; a rejection is looked at again a few
    times (bounded) in case a global database's replica lags behind."""
    result = await rt.probe_redis(url, token)
    delay = 0.2
    for _ in range(3):
        if result is not Probe.REJECTED:
            return result
        await asyncio.sleep(delay)
        delay *= 2
        result = await rt.probe_redis(url, token)
    return result


async def _whoami(rt: Runtime, url: str, token: Any) -> str:
    assert rt.providers.redis is not None
    try:
        result = await rt.providers.redis.command(url, token, "ACL", "WHOAMI")
    except KeyrollError:
        return ""
    return str(result) if isinstance(result, str) else ""


async def _mint(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    gid = gid_of(step)
    url = spec.rest_url
    if rt.providers.redis is None or not url:
        raise RotationError(f"no Redis REST URL for {spec.resource_name or gid}")
    admin = await redis_admin(rt, step)
    old_token = rt.get_value(gid, "old", "rest_token")
    previous = spec.acl_user or "default"
    if old_token is not None:
        who = await _whoami(rt, url, old_token)
        if who:
            previous = who
    params = AclMintParams.of(step)
    user = params.user or "keyroll-a"
    if previous == user:  # the plan expected the other one: alternate
        user = "keyroll-b" if user == "keyroll-a" else "keyroll-a"
    users: list[tuple[str, str, tuple[str, ...]]] = [(user, "", RW_RULES)]
    if params.readonly:
        users.append((_ro_twin(user), "ro_", RO_RULES))
    detail: dict[str, Any] = {"user": user, "previous_user": previous, "users": [], "gentoken": True}
    rt.put_value(gid, "new", "username", Secret(user))
    for name, prefix, rules in users:
        pw = rt.get_value(gid, "new", f"{prefix}password")
        if pw is None:
            pw, native = await gentoken(rt, url, admin, name)
            detail["gentoken"] = detail["gentoken"] and native
            rt.put_value(gid, "new", f"{prefix}password", pw)  # journaled before it is used
        await acl(
            rt,
            step,
            url,
            admin,
            "ACL",
            "SETUSER",
            name,
            "reset",
            *rules,
            Secret(">" + pw.reveal()),
            what=f"ACL SETUSER {name}",
        )
        token_role = "rest_token" if not prefix else "readonly_rest_token"
        result = await acl(rt, step, url, admin, "ACL", "RESTTOKEN", name, pw, what=f"ACL RESTTOKEN {name}")
        if not isinstance(result, str) or not result:
            raise RotationError(f"ACL RESTTOKEN {name} returned no token")
        token = Secret(result)
        rt.put_value(gid, "new", token_role, token)
        detail["users"].append(
            {"user": name, "password_fp": pw.fingerprint, "rest_token_fp": token.fingerprint}
        )
    rt.note(f"{spec.resource_name or gid}: ACL user {user} ready")
    return detail


async def _reset_default(step: Step, rt: Runtime) -> dict[str, Any]:
    evidence = await revoke_gate(step, rt)
    spec = rt.spec(step)
    gid = gid_of(step)
    before = rt.now()
    db = await rt.upstash.reset_redis_password(spec.resource_id)
    detail = {**_store_reset(rt, gid, db), **evidence, "revoke_started_at": before, "revoked_at": rt.now()}
    detail.update(await _delete_previous(step, rt, db.rest_token))
    return {**detail, **await _check_overlap(rt, gid, spec)}


async def _delete_previous(step: Step, rt: Runtime, admin: Secret | None) -> dict[str, Any]:
    """Delete keyroll's earlier ACL users that also held live copies (next to the default user)."""
    users = [u for u in ResetDefaultParams.of(step).delete_users if is_keyroll_user(u)]
    if not users or admin is None:
        return {}
    users += [_ro_twin(u) for u in users]
    spec = rt.spec(step)
    await acl(rt, step, spec.rest_url, admin, "ACL", "DELUSER", *users, what="ACL DELUSER")
    return {"deleted_users": users}


async def _check_overlap(rt: Runtime, gid: str, spec: GroupSpec) -> dict[str, Any]:
    """Right after the reset: does the ACL user's token (what the apps now use) still work?"""
    token = rt.get_value(gid, "new", "rest_token")
    if token is None or not spec.rest_url:
        return {"acl_token_after_reset": Probe.UNKNOWN.value}
    result = await _acl_token_alive(rt, spec.rest_url, token)
    out: dict[str, Any] = {"acl_token_after_reset": result.value}
    if result is Probe.REJECTED:
        name = spec.resource_name or spec.resource_id or gid
        rt.note(
            f"EMERGENCY: {name}: the password reset also killed ACL user tokens (the overlap assumption "
            "failed on this account); writing the new default credentials everywhere and redeploying all at once"
        )
        out.update({EMERGENCY_KEY: True, "emergency_started_at": rt.now()})
    return out


def _store_reset(rt: Runtime, gid: str, db: Any) -> dict[str, Any]:
    fps: dict[str, str] = {}
    for role, value in (
        ("password", db.password),
        ("rest_token", db.rest_token),
        ("readonly_rest_token", db.read_only_rest_token),
    ):
        if value is not None:
            rt.put_value(gid, "reset", role, value)
            fps[role] = value.fingerprint
    rt.put_value(gid, "reset", "username", Secret("default"))
    return {"reset": fps}


async def _reset_reconcile(step: Step, rt: Runtime) -> dict[str, Any] | None:
    gid = gid_of(step)
    spec = rt.spec(step)
    if rt.has_value(gid, "reset", "rest_token"):
        detail = {"reset": rt.fingerprints(gid, "reset"), "revoked_at": rt.now()}
        return {**detail, **await _check_overlap(rt, gid, spec)}
    old = rt.get_value(gid, "old", "rest_token")
    if old is None:
        return None
    if await rt.probe_redis(spec.rest_url, old) is Probe.REJECTED:
        db = await rt.upstash.get_redis(spec.resource_id)
        detail = {**_store_reset(rt, gid, db), "revoked_at": rt.now(), "reconciled": True}
        return {**detail, **await _check_overlap(rt, gid, spec)}
    return None


async def _deluser(step: Step, rt: Runtime) -> dict[str, Any]:
    evidence = await revoke_gate(step, rt)
    spec = rt.spec(step)
    mint = rt.detail(f"{gid_of(step)}/mint")
    previous = str(mint.get("previous_user") or spec.acl_user or "")
    if not is_keyroll_user(previous):
        if previous == "default" and spec.management == Management.NATIVE.value:
            return await _reset_default(step, rt)
        raise RotationError(f"refusing to delete ACL user {previous!r}: keyroll only deletes its own users")
    admin = await redis_admin(rt, step, prefer_new=True)
    assert rt.providers.redis is not None
    users = [previous, _ro_twin(previous)]
    before = rt.now()
    removed = await acl(
        rt, step, spec.rest_url, admin, "ACL", "DELUSER", *users, what=f"ACL DELUSER {previous}"
    )
    return {
        **evidence,
        "deleted_users": users,
        "removed": removed,
        "revoke_started_at": before,
        "revoked_at": rt.now(),
    }


async def undo_mint(step: Step, rt: Runtime) -> dict[str, Any]:
    """Rollback: delete the ACL user(s) this run created (the old credentials still work)."""
    gid = gid_of(step)
    mint = rt.records.get(f"{gid}/mint")
    if mint is None:
        return {}
    detail = dict(mint.detail or {})
    user = str(detail.get("user") or AclMintParams.of(step).user)
    if not is_keyroll_user(user):
        return {}
    if not detail.get("users") and not rt.has_value(gid, "new", "password"):
        return {"nothing_minted": True}  # the mint stopped before it created anything
    spec = rt.spec(step)
    if not spec.rest_url:
        raise RotationError(f"no Redis REST URL to delete ACL user {user} with")
    admin = await redis_admin(rt, step)
    assert rt.providers.redis is not None
    users = [user, _ro_twin(user)]
    await acl(rt, step, spec.rest_url, admin, "ACL", "DELUSER", *users, what=f"ACL DELUSER {user}")
    return {"deleted_users": users}


ACTIONS: dict[str, Action] = {
    ActionName.ACL_MINT: Action(_mint),
    ActionName.RESET_DEFAULT: Action(_reset_default, _reset_reconcile),
    ActionName.DELUSER: Action(_deluser),
}
