"""Helpers shared by the strategies: group specs, Redis admin access, human steps, resync waits."""

from __future__ import annotations

import asyncio
import secrets as pysecrets
import urllib.parse
from typing import Any

from keyroll.core.errors import AuthError, KeyrollError, ProviderError, RotationError
from keyroll.core.model import (
    ActionName,
    Confidence,
    Credential,
    LocationKind,
    Management,
    Product,
    Step,
    StepKind,
)
from keyroll.core.roles import credential_role, is_readonly_user
from keyroll.core.secret import Secret
from keyroll.core.steps import (
    AwaitParams,
    GroupSpec,
    HumanParams,
    RedeployParams,
    ResyncWaitParams,
    group_spec_of,
)
from keyroll.core.strategy import is_keyroll_user
from keyroll.providers.upstash.acl_rules import check_rules
from keyroll.rotate.pipeline import PlanContext
from keyroll.rotate.runtime import Action, Probe, Runtime, WaitingForHuman, gid_of

__all__ = [
    "ACTIONS",
    "acl",
    "base_spec",
    "generate_password",
    "live_credentials",
    "redeploy_only_steps",
    "redis_admin",
    "redis_endpoint",
    "stale_warnings",
]


def redis_endpoint(endpoint: str) -> dict[str, Any]:
    """REST URL plus host/port/tls guesses from a credential's endpoint (URL or host)."""
    ep = endpoint.strip()
    if not ep:
        return {"rest_url": "", "host": "", "port": 6379, "tls": True}
    if ep.startswith(("redis://", "rediss://")):
        parts = urllib.parse.urlsplit(ep)
        return {
            "rest_url": f"https://{parts.hostname}",
            "host": parts.hostname or "",
            "port": parts.port or 6379,
            "tls": parts.scheme == "rediss",
        }
    if not ep.startswith(("http://", "https://")):
        if "." not in ep and ":" not in ep:
            ep = f"{ep}.upstash.io"
        ep = f"https://{ep}"
    parts = urllib.parse.urlsplit(ep)
    return {"rest_url": ep.rstrip("/"), "host": parts.hostname or "", "port": 6379, "tls": True}


def redis_endpoint_for(ctx: PlanContext, endpoint: str) -> dict[str, Any]:
    """:func:`redis_endpoint`, with TCP port and TLS taken from a ``redis(s)://`` endpoint that the
    inventory knows for the group's credentials (the database's real port, not a 6379 guess)."""
    ep = redis_endpoint(endpoint)
    tcp = next(
        (c.endpoint for c in ctx.group.credentials if c.endpoint.startswith(("redis://", "rediss://"))), ""
    )
    if tcp:
        known = redis_endpoint(tcp)
        if not ep["host"] or ep["host"] == known["host"]:
            ep.update(host=known["host"], port=known["port"], tls=known["tls"])
    return ep


def _rw_user(user: str) -> str:
    """The read-write user a (read-only) user belongs to: ``keyroll-ro-a`` → ``keyroll-a``."""
    if user == "default_ro":
        return "default"
    return user.replace("keyroll-ro-", "keyroll-", 1) if user.startswith("keyroll-ro-") else user


def _is_dead(cred: Credential) -> bool:
    return any("rejects this token" in n for n in cred.notes)


def live_credentials(ctx: PlanContext) -> dict[str, Any]:
    """Which value of each role is the live one, which copies are stale, who holds the credential.

    The live value is the one the provider says is live (the Developer API lists it), else the one
    in use (a copy somewhere that the provider does not reject). Every other copied value of a
    role is a stale or dead copy: it is replaced like the others and reported, never a blocker
    (issue #17, case 1). ``users`` are the Redis users whose live credentials have copies: a
    database keyroll rotated before is held by ``keyroll-a`` or ``keyroll-b`` (case 2).
    """
    g = ctx.group
    listed = {loc.fingerprint for loc in ctx.inventory.locations if loc.kind is LocationKind.UPSTASH}
    copied = {  # copies whose value was read (a sensitive var's guessed link says nothing of its user)
        loc.fingerprint
        for loc in ctx.inventory.locations
        if loc.kind not in (LocationKind.UPSTASH, LocationKind.GIT_COMMIT, LocationKind.DEPLOYMENT)
        and loc.confidence is Confidence.EXACT
    }
    native = g.primary.management is Management.NATIVE and bool(listed & set(g.fingerprints))

    def user_of(c: Credential) -> str:
        return _rw_user(c.acl_user or "default")

    def counts_for_user(c: Credential) -> bool:
        """A live copy whose owner is known: a keyroll user's value, or the listed default one."""
        if c.fingerprint not in copied or _is_dead(c):
            return False
        if is_keyroll_user(c.acl_user):
            return True
        return not native or c.fingerprint in listed

    users = sorted({user_of(c) for c in g.credentials if counts_for_user(c)})
    keyroll_users = [u for u in users if is_keyroll_user(u)]
    current = keyroll_users[0] if keyroll_users else (users[0] if users else "")

    def rank(c: Credential) -> tuple[int, str]:
        if counts_for_user(c) and user_of(c) == current:
            return 0, c.fingerprint  # a live copy of the current holder
        if c.fingerprint in listed and current in ("", "default"):
            return 1, c.fingerprint  # what the provider says is live (even with no copy left)
        if c.fingerprint in copied and not _is_dead(c):
            return 2, c.fingerprint
        if not _is_dead(c):
            return 3, c.fingerprint
        return 4, c.fingerprint

    by_role: dict[str, list[Credential]] = {}
    for c in g.credentials:
        by_role.setdefault(credential_role(c), []).append(c)
    creds: dict[str, str] = {}
    stale: dict[str, str] = {}
    for role, members in sorted(by_role.items()):
        members.sort(key=rank)
        creds[role] = str(members[0].fingerprint)
        for c in members[1:]:
            if c.fingerprint not in copied or counts_for_user(c):
                continue
            stale[str(c.fingerprint)] = (
                "the provider rejects it (a dead copy)"
                if _is_dead(c)
                else "not the live value the provider lists (a stale copy)"
            )
    return {"credentials": creds, "stale": stale, "users": users, "current_user": current}


def base_spec(ctx: PlanContext) -> GroupSpec:
    """The JSON-able group spec every strategy starts from."""
    g = ctx.group
    p = g.primary
    live = live_credentials(ctx)
    endpoint = (
        next((c.endpoint for c in g.credentials if c.endpoint.startswith(("http://", "https://"))), "")
        or p.endpoint
    )
    acl_user = next(
        (c.acl_user for c in g.credentials if c.acl_user and not is_readonly_user(c.acl_user)), ""
    )
    if p.product is Product.REDIS and is_keyroll_user(live["current_user"]):
        acl_user = live["current_user"]
    return GroupSpec(
        # a provider adapter's credential: its probe answers for manual groups too
        adapter=p.adapter or None,
        adapter_kind=p.adapter_kind if p.adapter else None,
        gid=g.gid,
        strategy=g.strategy.value,
        product=p.product.value,
        resource_id=p.resource_id,
        resource_name=p.resource_name,
        management=p.management.value,
        acl_user=acl_user,
        credentials=live["credentials"],
        stale=live["stale"],
        users_in_use=tuple(live["users"]),
        fingerprints=tuple(str(f) for f in g.fingerprints),
        rest_url=endpoint if endpoint.startswith(("http://", "https://")) else "",
        endpoint=endpoint,
    )


def stale_warnings(ctx: PlanContext, spec: GroupSpec) -> list[str]:
    """One plan warning per stale or dead copy: it is replaced, and said so."""
    out: list[str] = []
    for fp, why in sorted(spec.stale.items()):
        where = sorted(
            {
                f"{loc.key or loc.secret_name or loc.path} in {loc.project_name or loc.project_id or loc.repo or 'files'}"
                for loc in ctx.inventory.locations_of(fp)
                if loc.kind not in (LocationKind.UPSTASH, LocationKind.GIT_COMMIT, LocationKind.DEPLOYMENT)
            }
        )
        out.append(f"{fp}: {why} at {', '.join(where) or 'a copy'}; it gets the new value too")
    return out


def redeploy_only_steps(
    ctx: PlanContext, project_ids: list[str], *, after: list[str], tag: str, phase: int
) -> tuple[list[Step], list[str]]:
    """Redeploy + await steps (no writes) for projects whose vars someone else updated."""
    steps: list[Step] = []
    tails: list[str] = []

    for project_id in project_ids:
        serving = ctx.deployments(project_id)
        if not serving:
            continue
        name = ctx.project_name(project_id)
        rid = f"{ctx.gid}/redeploy{tag}/{project_id}"
        steps.append(
            Step(
                rid,
                StepKind.REDEPLOY,
                ctx.fp,
                f"redeploy {len(serving)} serving deployment(s) of {name or project_id}",
                tuple(after),
                RedeployParams(
                    phase=phase,
                    project_name=name,
                    deployments=tuple(serving),
                    build_estimate_s=ctx.build_estimate_s,
                ).to_params(),
                project_id=project_id,
            )
        )
        aid = f"{ctx.gid}/ready{tag}/{project_id}"
        steps.append(
            Step(
                aid,
                StepKind.AWAIT_READY,
                ctx.fp,
                f"wait until the new deployments of {name or project_id} are READY",
                (rid,),
                AwaitParams(
                    phase=phase, redeploy_step=rid, build_estimate_s=ctx.build_estimate_s
                ).to_params(),
                project_id=project_id,
            )
        )
        tails.append(aid)
    return steps, tails or list(after)


def generate_password() -> Secret:
    """A strong random password (used when the server does not implement ``ACL GENTOKEN``)."""
    return Secret(pysecrets.token_urlsafe(32))


async def gentoken(rt: Runtime, url: str, admin: Secret, user: str) -> tuple[Secret, bool]:
    """``ACL GENTOKEN user`` (Upstash). Upstash's ``ACL SETUSER`` takes no other password
    (plain ``>password`` is refused), so there is no local fallback.

    :raises RotationError: the server refused or gave no token.
    """
    assert rt.providers.redis is not None
    try:
        result = await rt.providers.redis.command(url, admin, "ACL", "GENTOKEN", user)
    except ProviderError as exc:
        if exc.status == 401 or "WRONGPASS" in str(exc):
            raise
        raise RotationError(
            f"ACL GENTOKEN {user} was refused ({exc.message})",
            hint="ACL needs a paid Upstash database; Upstash accepts only GENTOKEN passwords in ACL SETUSER",
        ) from None
    if not isinstance(result, str) or not result:
        raise RotationError(f"ACL GENTOKEN {user} returned no token")
    return Secret(result), True


async def acl(rt: Runtime, step: Step, url: str, admin: Secret, *args: str | Secret, what: str) -> Any:
    """Run one ``ACL …`` command as ``admin``. Every argument holding a password is a
    :class:`Secret` (``Secret(">" + pw)``): the client replaces them in error text, because Redis
    echoes rules. A rejected admin token (another credential of the same database was just
    reset) is refreshed once. Errors become a :class:`RotationError` naming the command only."""
    assert rt.providers.redis is not None
    if [str(a).upper() for a in args[:2] if isinstance(a, str)] == ["ACL", "SETUSER"]:
        # only the rule forms Upstash documents (password rules travel as Secrets)
        problems = check_rules(a for a in args[3:] if isinstance(a, str))
        if problems:
            raise RotationError(f"{what}: {problems[0]}", hint="a keyroll bug: please report it")
    for attempt in range(2):
        try:
            return await rt.providers.redis.command(url, admin, *args)
        except AuthError:
            fresh = await redis_admin(rt, step, refresh=True, rejected=admin) if attempt == 0 else None
            if fresh is None or fresh == admin:
                raise RotationError(
                    f"{what}: the admin token was rejected", hint="check the database's default token"
                ) from None
            admin = fresh
        except ProviderError as exc:
            text = exc.message
            for a in args:
                if isinstance(a, Secret):
                    text = text.replace(a.reveal(), str(a.fingerprint))
            raise RotationError(
                f"{what} failed ({text})",
                hint="check that ACLs are enabled on the database (a paid plan) and the token may run ACL",
            ) from None
    raise AssertionError("unreachable")


def _same_database_tokens(rt: Runtime, spec: GroupSpec) -> list[Secret]:
    """Admin-capable tokens other credentials of this run minted for the same database
    (a reset's new default token, a keyroll-a/-b token), newest sets first."""
    out: list[Secret] = []
    for cp in rt.plan.credentials:
        other = next((g for s in cp.steps if (g := group_spec_of(s)) is not None), GroupSpec())
        if other.product != "redis" or other.resource_id != spec.resource_id:
            continue
        gid = cp.steps[0].id.split("/", 1)[0]
        for value_set in ("reset", "new"):
            if value_set == "new" and other.strategy != "redis_acl":
                continue
            value = rt.get_value(gid, value_set, "rest_token")
            if value is not None:
                out.append(value)
    return out


async def redis_admin(
    rt: Runtime,
    step: Step,
    *,
    prefer_new: bool = False,
    refresh: bool = False,
    rejected: Secret | None = None,
) -> Secret:
    """A REST token allowed to run ``ACL`` commands on the group's database.

    :param refresh: the cached one was rejected: look at what this run minted for the same
        database and ask the Developer API again.
    :raises RotationError: none is known (no Developer API access and no admin token).
    """
    gid = gid_of(step)
    spec = rt.spec(step)
    if refresh:
        for token in _same_database_tokens(rt, spec):
            if token != rejected:
                return token
        if spec.management == Management.NATIVE.value and spec.resource_id and rt.providers.upstash:
            db = await rt.upstash.get_redis(spec.resource_id)
            if db.rest_token is not None and db.rest_token != rejected:
                rt.put_value(gid, "admin", "rest_token", db.rest_token)
                return db.rest_token
        raise RotationError(f"no working admin token for Redis database {spec.resource_name or gid}")
    order = [("reset", "rest_token"), ("admin", "rest_token")]
    if prefer_new and spec.strategy == "redis_acl":
        order.insert(0, ("new", "rest_token"))
    user = spec.acl_user or "default"
    if spec.strategy == "redis_acl" or user in ("default", "keyroll-a", "keyroll-b"):
        order.append(("old", "rest_token"))
    for value_set, role in order:
        value = rt.get_value(gid, value_set, role)
        if value is not None:
            return value
    if spec.management == Management.NATIVE.value and spec.resource_id and rt.providers.upstash:
        db = await rt.upstash.get_redis(spec.resource_id)
        if db.rest_token is not None:
            rt.put_value(gid, "admin", "rest_token", db.rest_token)
            return db.rest_token
    raise RotationError(
        f"no admin token for Redis database {spec.resource_name or spec.resource_id or gid}",
        hint="set UPSTASH_EMAIL/UPSTASH_API_KEY, or make the default REST token readable to keyroll",
    )


# -- human steps and resync waits --------------------------------------------------------

RESYNC_GRACE_S = 10.0
"""how long keyroll waits for Vercel to show the new values before asking the person"""


async def _old_default_probe(rt: Runtime, step: Step) -> Probe:
    spec = rt.spec(step)
    old = rt.get_value(gid_of(step), "old", "rest_token")
    url = str(spec.rest_url or "")
    if old is None or not url:
        return Probe.UNKNOWN
    return await rt.probe_redis(url, old)


async def _human(step: Step, rt: Runtime) -> dict[str, Any]:
    instructions = HumanParams.of(step).instructions
    if instructions is None:
        instructions = step.description
    from keyroll.rotate.gates import revoke_gate

    # the gate first: nobody is told to revoke before every copy and build is ready for it
    evidence = await revoke_gate(step, rt)
    if rt.human is None:
        raise WaitingForHuman(
            f"waiting for a person: {instructions}",
            hint="do it, then run `keyroll resume` (it checks that it was done)",
        )
    asked = rt.now()
    await rt.human.perform(step, instructions)
    detail: dict[str, Any] = {
        **evidence,
        "human_asked_at": asked,
        "human_done_at": rt.now(),
        "revoked_at": rt.now(),
    }
    if step.action == ActionName.HUMAN_RESET:
        result = await _old_default_probe(rt, step)
        detail["old_probe"] = result.value
        if result is Probe.ACCEPTED:
            raise RotationError(
                "the old credential still works — the dashboard reset was not done",
                hint="click Reset Credentials for this database, then run `keyroll resume`",
            )
    else:
        detail["confirmed"] = True
    return detail


async def _human_reconcile(step: Step, rt: Runtime) -> dict[str, Any] | None:
    """A dashboard reset is done when the provider rejects the old credential (also after a run
    stopped waiting for it and the person did it in between); a confirmation cannot be read back."""
    if step.action != ActionName.HUMAN_RESET:
        return None
    if await _old_default_probe(rt, step) is Probe.REJECTED:
        rec = rt.records.get(step.id)  # when the person was asked (journaled waiting or intent)
        return {
            "human_asked_at": rec.ts if rec else rt.now(),
            "human_done_at": rt.now(),
            "revoked_at": rt.now(),
            "old_probe": Probe.REJECTED.value,
        }
    return None


async def _resync_wait(step: Step, rt: Runtime) -> dict[str, Any]:
    """Wait until Vercel shows new values on the integration's vars (after the dashboard reset)."""
    locations = ResyncWaitParams.of(step).locations
    human = next((s for s in rt.group_of(step).steps if s.action == ActionName.HUMAN_RESET), None)
    since = rt.done_at(human.id) if human else 0.0
    human_detail = rt.detail(human.id) if human else {}
    since = float(human_detail.get("human_asked_at", since) or since)
    gid = gid_of(step)
    ours = set(rt.fingerprints(gid, "new").values()) | set(rt.fingerprints(gid, "old").values())
    deadline = rt.now() + rt.options.build_timeout_s
    ask_at = rt.now() + min(RESYNC_GRACE_S, rt.options.build_timeout_s)
    pending = {(loc.project_id, loc.env_id): loc for loc in locations}
    done: list[dict[str, Any]] = []
    interval = max(rt.options.poll_interval_s, 0.05)
    while pending:
        for key, loc in list(pending.items()):
            try:
                var = await rt.vercel.get_env(loc.project_id, loc.env_id)
            except KeyrollError:
                continue
            fp = var.value.fingerprint if var.value is not None else ""
            changed = (fp and fp not in ours) or (not fp and var.updated_at / 1000 >= since)
            if changed:
                role = loc.role or "value"
                if var.value is not None:  # journal what Vercel now holds (verify probes it)
                    if role == "url":  # a URL around the new password: a composite, like distribute's
                        rt.put_value(gid, "rendered", var.value.fingerprint.split(":", 1)[1], var.value)
                    else:
                        rt.put_value(gid, "resync", role, var.value)
                done.append(
                    {
                        "project_id": loc.project_id,
                        "env_id": loc.env_id,
                        "key": loc.key,
                        "fp": fp,
                        "updated_at": var.updated_at,
                    }
                )
                del pending[key]
        if not pending:
            break
        if rt.now() > ask_at and rt.secret_source is not None:
            # that Vercel resyncs after a console reset is not confirmed: ask the person
            from keyroll.rotate.strategies.guided import ask_and_write

            for w in await ask_and_write(step, rt, list(pending.values())):
                done.append({**w, "source": "person"})
            pending.clear()
            break
        if rt.now() > deadline:
            keys = ", ".join(sorted(loc.key for loc in pending.values()))
            raise RotationError(
                f"Vercel did not resync {keys} after the dashboard reset",
                hint="check the integration in the Vercel dashboard, then run `keyroll resume`",
            )
        await asyncio.sleep(interval)
        interval = min(interval * 2, 5.0)
    return {"resynced": done, "resynced_at": rt.now(), "env_written_at": rt.now()}


ACTIONS: dict[str, Action] = {
    ActionName.HUMAN_RESET: Action(_human, _human_reconcile),
    ActionName.HUMAN_REVOKE: Action(_human, _human_reconcile),
    ActionName.RESYNC_WAIT: Action(_resync_wait),
}


def describe_error(exc: BaseException) -> str:
    """A one-line, value-free description of an exception."""
    if isinstance(exc, KeyrollError):
        return exc.message
    return type(exc).__name__
