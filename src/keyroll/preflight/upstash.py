"""Upstash platform realities for a plan (``shared/reference/upstash-api.md``, last section): each
function is a preflight check, ``async def check(ctx) -> list[Risk]``, listed in :data:`CHECKS`.

* :func:`redis_acl` — a database without ACL (free plan) cannot host the ACL overlap: its default
  credentials get a cutover (``redis_cutover``, needs ``--accept-downtime``), its window is shown;
  a plan that still uses ``redis_acl`` there is blocked.
* :func:`overlap_assumption` — the ACL overlap assumes a password reset leaves ACL users working,
  which is documented nowhere: says whether it was checked on this account (``--scratch-database``)
  and what keyroll does if it fails (probe the ACL token right after the reset; emergency cutover).
* :func:`scratch_database` — with ``--scratch-database ID``: check that assumption on the database
  the user named (create an ACL user, reset the password, see whether the ACL token still works,
  clean up) and record the result (:func:`record_path`) for later plans.
* :func:`data_planes` — every Vector/Search/Redis REST URL in the plan answers (a wrong URL would
  leave a crash after a reset unreconcilable).
* :func:`qstash_regions` — each QStash credential is rotated in its own region, with a token of
  that region.
* :func:`integration_outage` — integration-managed Vector/Search/QStash: the outage is stated.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import urllib.parse
from pathlib import Path
from typing import Any

from keyroll.core.errors import AuthError, KeyrollError, ProviderError
from keyroll.core.model import ActionName, CredentialPlan, Management, Product, Strategy
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec, group_spec_of
from keyroll.core.strategy import has_no_acl
from keyroll.preflight.context import Check, PreflightContext
from keyroll.preflight.model import Risk, Severity
from keyroll.providers.upstash.endpoints import HostMap, qstash_region_of_url

__all__ = [
    "CHECKS",
    "data_planes",
    "integration_outage",
    "overlap_assumption",
    "qstash_regions",
    "read_record",
    "record_path",
    "redis_acl",
    "scratch_database",
]

RECORD_FILE = "upstash-assumptions.json"
"""next to the journal: what was checked on which account (ids, times, booleans — no values)"""
OVERLAP = "reset_keeps_acl_users"


def record_path(ctx: PreflightContext) -> Path:
    """Where the scratch-database results are kept (next to the journal)."""
    return ctx.config.journal_path.parent / RECORD_FILE


def read_record(path: Path, account: str) -> dict[str, Any]:
    """The recorded checks of ``account`` (``{}`` when none or unreadable)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    entry = data.get(account) if isinstance(data, dict) else None
    return dict(entry) if isinstance(entry, dict) else {}


def _write_record(path: Path, account: str, key: str, result: dict[str, Any]) -> None:
    try:
        data = json.loads(path.read_text("utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data.setdefault(account, {})[key] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def _plans(ctx: PreflightContext, *strategies: Strategy) -> list[CredentialPlan]:
    return [cp for cp in (ctx.plan.credentials if ctx.plan else ()) if cp.strategy in strategies]


def _group(cp: CredentialPlan) -> GroupSpec:
    return next((g for s in cp.steps if (g := group_spec_of(s)) is not None), GroupSpec())


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc if "://" in url else ""


def _name(cp: CredentialPlan) -> str:
    g = _group(cp)
    return g.resource_name or g.resource_id or cp.credential


# -- 1. free databases ------------------------------------------------------------------------


async def redis_acl(ctx: PreflightContext) -> list[Risk]:
    """Databases without ACL: cutover (window shown), never an ACL mint that would fail mid-run."""
    risks: list[Risk] = []
    no_acl = {
        c.resource_id
        for c in ctx.inventory.credentials
        if c.product is Product.REDIS and has_no_acl(c.notes) and c.resource_id
    }
    for cp in _plans(ctx, Strategy.REDIS_CUTOVER):
        risks.append(
            Risk(
                check="upstash.redis-no-acl",
                severity=Severity.WARN,
                subject=f"redis {_name(cp)}",
                message=(
                    "no ACL on this database (free plan): no overlap is possible; the reset cuts every app "
                    f"over at once, outage ≈ {cp.expected_outage_s:.0f} s (until the last redeploy is READY)"
                ),
                fix="apply needs --accept-downtime (or [policy] accept_downtime); upgrading the database "
                "to a paid plan makes the zero-downtime ACL overlap possible",
                data={"expected_outage_s": cp.expected_outage_s, "strategy": str(cp.strategy)},
            )
        )
    for cp in _plans(ctx, Strategy.REDIS_ACL):
        rid = _group(cp).resource_id
        if rid and rid in no_acl:
            risks.append(
                Risk(
                    check="upstash.redis-no-acl",
                    severity=Severity.BLOCK,
                    subject=f"redis {_name(cp)}",
                    message="the plan creates an ACL user on a database without ACL: the mint would fail mid-run",
                    fix=f"plan it with --strategy {cp.credential}=redis_cutover (and --accept-downtime)",
                )
            )
    ctx.facts["upstash.redis_without_acl"] = len(no_acl)
    return risks


# -- 3. the overlap assumption ----------------------------------------------------------------


def _overlap_plans(ctx: PreflightContext) -> list[CredentialPlan]:
    return [
        cp
        for cp in _plans(ctx, Strategy.REDIS_ACL)
        if any(s.action == ActionName.RESET_DEFAULT for s in cp.steps)
    ]


async def overlap_assumption(ctx: PreflightContext) -> list[Risk]:
    """Whether "a reset leaves ACL users working" was checked on this account, and what happens if not."""
    if ctx.scratch_database:  # a check running now: read its result, not the one before it
        try:
            await ctx.once("upstash.scratch", lambda: _scratch(ctx))
        except KeyrollError:
            pass
    account = ctx.config.upstash_email
    record = read_record(record_path(ctx), account).get(OVERLAP) if account else None
    checked = "no" if not record else ("held" if record.get("held") else "failed")
    record = record or {}
    ctx.facts["upstash.acl_overlap_checked"] = checked
    plans = _overlap_plans(ctx)
    if not plans:
        return []
    names = ", ".join(sorted({_name(cp) for cp in plans}))
    if checked == "held":
        return [
            Risk(
                check="upstash.acl-overlap-assumption",
                severity=Severity.INFO,
                subject=f"account {account}",
                message=(
                    f"checked on scratch database {record.get('database_id')} at {record.get('checked_at_iso')}: "
                    "ACL tokens survived a password reset"
                ),
                fix="keyroll still probes the ACL token right after each reset",
                data=dict(record),
            )
        ]
    if checked == "failed":
        return [
            Risk(
                check="upstash.acl-overlap-assumption",
                severity=Severity.WARN,
                subject=f"account {account}",
                message=(
                    f"on this account a password reset killed ACL tokens (scratch database "
                    f"{record.get('database_id')}): the overlap for {names} will end in an emergency cutover"
                ),
                fix="plan these databases with --strategy FP=redis_cutover and --accept-downtime to schedule "
                "the outage instead of meeting it",
                data=dict(record),
            )
        ]
    return [
        Risk(
            check="upstash.acl-overlap-assumption",
            severity=Severity.WARN,
            subject=f"account {account or '(no Developer API)'}",
            message=(
                f"not checked on this account: the zero-downtime overlap for {names} assumes a password reset "
                "leaves ACL users working (documented nowhere); if it does not, keyroll switches to an "
                "emergency cutover right after the reset"
            ),
            fix="check it first: keyroll preflight --scratch-database ID (a database you can reset)",
        )
    ]


async def _probe(ctx: PreflightContext, url: str, token: Secret) -> bool | None:
    """PING with ``token`` (True/False); a rejection is looked at again a few times (bounded)
    because a global database's replicas may lag behind the write that created the user."""
    redis = ctx.providers.redis
    assert redis is not None
    delay = 0.2
    for attempt in range(4):
        try:
            await redis.command(url, token, "PING")
            return True
        except AuthError:
            if attempt == 3:
                return False
        except KeyrollError:
            return None
        await asyncio.sleep(delay)
        delay *= 2
    return False


async def scratch_database(ctx: PreflightContext) -> list[Risk]:
    """``--scratch-database ID``: check the overlap assumption there and record the result.

    Writes only to the named database: one ACL user (``keyroll-preflight-…``, removed again) and one
    password reset (the database's default credentials change).
    """
    if not ctx.scratch_database:
        return []
    return await ctx.once("upstash.scratch", lambda: _scratch(ctx))


async def _scratch(ctx: PreflightContext) -> list[Risk]:
    db_id = str(ctx.scratch_database)
    dev, redis = ctx.providers.upstash, ctx.providers.redis
    if dev is None or redis is None:
        raise KeyrollError(
            "--scratch-database needs the Developer API", hint="set UPSTASH_EMAIL and UPSTASH_API_KEY"
        )
    db = await dev.get_redis(db_id)
    subject = f"scratch database {db.database_name or db_id}"
    if not db.acl_enabled:
        return [
            Risk(
                check="upstash.scratch-database",
                severity=Severity.WARN,
                subject=subject,
                message="this database has no ACL (free plan): the ACL overlap cannot be checked on it",
                fix="name a paid database you can reset",
            )
        ]
    if db.rest_token is None:
        raise KeyrollError(
            f"{subject}: the Developer API returns no credentials (credential protection?)",
            hint="name a database whose credentials keyroll can read",
        )
    url, admin = db.rest_url, db.rest_token
    user = f"keyroll-preflight-{secrets.token_hex(3)}"
    password = Secret(str(await redis.command(url, admin, "ACL", "GENTOKEN", user)))
    await redis.command(url, admin, "ACL", "SETUSER", user, "on", Secret(">" + password.reveal()), "+ping")
    token = Secret(str(await redis.command(url, admin, "ACL", "RESTTOKEN", user, password)))
    before = await _probe(ctx, url, token)
    after: bool | None = None
    new_admin = admin
    try:
        if before:
            fresh = await dev.reset_redis_password(db_id)
            new_admin = fresh.rest_token or admin
            after = await _probe(ctx, url, token)
    finally:
        try:
            await redis.command(url, new_admin, "ACL", "DELUSER", user)
        except (AuthError, ProviderError):
            pass  # nothing to clean up if the reset took the user with it
    if before is not True or after is None:
        raise KeyrollError(f"{subject}: the ACL user's token could not be probed; nothing recorded")
    now = time.time()
    result = {
        "database_id": db_id,
        "held": bool(after),
        "checked_at": now,
        "checked_at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    }
    _write_record(record_path(ctx), ctx.config.upstash_email, OVERLAP, result)
    ctx.facts["upstash.acl_overlap_checked"] = "held" if after else "failed"
    return [
        Risk(
            check="upstash.scratch-database",
            severity=Severity.INFO if after else Severity.WARN,
            subject=subject,
            message=(
                "an ACL user's REST token kept working across a password reset: the overlap assumption holds "
                "on this account (recorded)"
                if after
                else "a password reset killed the ACL user's REST token: the ACL overlap cannot be zero-downtime "
                "on this account (recorded)"
            ),
            fix="" if after else "plan Redis default credentials with redis_cutover and --accept-downtime",
            data=result,
        )
    ]


# -- 4. data planes ---------------------------------------------------------------------------


async def data_planes(ctx: PreflightContext) -> list[Risk]:
    """Each Vector/Search/Redis REST URL in the plan answers (a probe with the current value)."""
    risks: list[Risk] = []
    wanted = {str(cp.credential) for cp in (ctx.plan.credentials if ctx.plan else ())}
    for cred in ctx.inventory.credentials:
        if str(cred.fingerprint) not in wanted or cred.value is None:
            continue
        if cred.product not in (Product.VECTOR, Product.SEARCH):
            continue
        client = ctx.providers.vector if cred.product is Product.VECTOR else ctx.providers.search
        if client is None:
            continue
        url = cred.endpoint
        problem = ""
        if not url.startswith(("http://", "https://")):
            problem = "the data-plane URL is unknown"
        else:
            try:
                await client.info(url, cred.value)
            except AuthError:
                continue  # reachable; the token's state is verify's business
            except KeyrollError as exc:
                problem = f"{url} does not answer ({type(exc).__name__})"
        if problem:
            risks.append(
                Risk(
                    check="upstash.data-plane-url",
                    severity=Severity.BLOCK,
                    subject=f"{cred.product.value} {cred.resource_name or cred.resource_id}",
                    message=f"{problem}: probes would say unknown and a crash after the reset could not be reconciled",
                    fix=f"set UPSTASH_{cred.product.value.upper()}_REST_URL next to the token in Vercel "
                    "(keyroll prefers a URL it sees over the one it derives)",
                )
            )
    return risks


# -- 5. QStash regions ------------------------------------------------------------------------


async def qstash_regions(ctx: PreflightContext) -> list[Risk]:
    """Each QStash credential's region, and whether keyroll holds a token for it."""
    hosts = HostMap(ctx.config.upstash_hosts)
    default = qstash_region_of_url(hosts.reverse(ctx.config.qstash_url))
    plans = [cp for cp in (ctx.plan.credentials if ctx.plan else ()) if _group(cp).product == "qstash"]
    regions: dict[str, list[str]] = {}
    for cp in plans:
        url = _group(cp).rest_url
        region = qstash_region_of_url(hosts.reverse(url)) or "unknown"
        regions.setdefault(region, []).append(str(cp.strategy))
    if regions:
        ctx.facts["upstash.qstash_regions"] = ",".join(sorted(regions))
    risks: list[Risk] = []
    for region, strategies in sorted(regions.items()):
        other = region not in (default, "unknown")
        if other and ctx.providers.upstash is None and "qstash_signing" in strategies:
            risks.append(
                Risk(
                    check="upstash.qstash-region",
                    severity=Severity.BLOCK,
                    subject=f"qstash {region}",
                    message=f"signing keys of {region} need a token of {region}; QSTASH_TOKEN is of {default or 'another region'}",
                    fix="set UPSTASH_EMAIL/UPSTASH_API_KEY so keyroll can read that region's token",
                )
            )
        elif region == "unknown":
            risks.append(
                Risk(
                    check="upstash.qstash-region",
                    severity=Severity.WARN,
                    subject="qstash",
                    message="a QStash credential's region is unknown: no region accepted it",
                    fix="set QSTASH_URL next to QSTASH_TOKEN in Vercel",
                )
            )
    return risks


# -- 7. integration-managed resources ---------------------------------------------------------


async def integration_outage(ctx: PreflightContext) -> list[Risk]:
    """Integration-managed indexes and QStash: a person resets them in the console; the old
    token dies at once, so the outage lasts until the redeploys are READY."""
    risks: list[Risk] = []
    by_fp = {str(c.fingerprint): c for c in ctx.inventory.credentials}
    for cp in _plans(ctx, Strategy.INTEGRATION_RESET, Strategy.MANUAL):
        cred = by_fp.get(str(cp.credential))
        if cred is None or cred.management is not Management.VERCEL_INTEGRATION:
            continue
        if cred.product not in (Product.VECTOR, Product.SEARCH, Product.QSTASH):
            continue
        risks.append(
            Risk(
                check="upstash.integration-reset",
                severity=Severity.WARN,
                subject=f"{cred.product.value} {cred.resource_name or _host(cred.endpoint) or cred.fingerprint}",
                message=(
                    "managed by the Vercel integration: a person resets it in the Upstash console; the old "
                    f"token dies at that moment, so requests fail until the redeploys are READY "
                    f"(≈ {cp.expected_outage_s:.0f} s) — not an overlap"
                ),
                fix="apply walks you through it (reset, then the new value from stdin or --value-file if "
                "Vercel does not show it)"
                + ("; needs --accept-downtime" if cp.requires_downtime_consent else ""),
            )
        )
    return risks


CHECKS: tuple[Check, ...] = (
    redis_acl,
    scratch_database,
    overlap_assumption,
    data_planes,
    qstash_regions,
    integration_outage,
)
