"""Checks before a run changes anything: the plan, consent, clients, scopes and today's values.

A plan is refused (exit 2, nothing changed) when it is malformed, was made for another state of
the world (drift), lacks consent (destructive steps need ``yes``, cutovers with an outage window
need ``accept_downtime``), needs a client that is not configured, or when a credential's current
values are unknown so that a failure could not be rolled back. An earlier run that is still
unfinished holds minted-but-unrevoked state: a new run waits until it is resumed, rolled back or
abandoned.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Set
from dataclasses import dataclass, field, replace

from keyroll.core.errors import AuthError, ConsentRequired, ExitCode, JournalError, RotationError, UsageError
from keyroll.core.model import (
    ActionName,
    CredentialKind,
    CredentialPlan,
    Inventory,
    Milestone,
    Plan,
    Step,
    StepKind,
    Strategy,
)
from keyroll.core.roles import credential_role
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec, LocationSpec, WriteParams, group_spec_of, locations_of
from keyroll.journal.store import Journal
from keyroll.providers.factory import Providers
from keyroll.rotate.distribute import _scope
from keyroll.rotate.engine.state import TERMINAL, group_state
from keyroll.rotate.options import ApplyOptions
from keyroll.rotate.planner import inventory_digest, validate_plan
from keyroll.rotate.strategies import RESTORE_ON_FAILURE

__all__ = [
    "MissingConsent",
    "PlanDriftError",
    "Preflight",
    "check_consent",
    "missing_consent",
    "preflight",
    "refuse_unfinished",
]


class PlanDriftError(RotationError):
    """The plan was made for another state of the world; nothing was changed."""

    exit_code = ExitCode.USAGE


# -- consent ------------------------------------------------------------------------------
@dataclass(frozen=True)
class MissingConsent:
    """What a plan still lacks consent for (empty: nothing)."""

    cutovers: tuple[CredentialPlan, ...] = ()
    """credentials whose cutover has a short outage, without ``accept_downtime``"""
    destructive: tuple[Step, ...] = ()
    """destructive steps (revoke, cutover reset) without ``yes``"""

    def __bool__(self) -> bool:
        return bool(self.cutovers or self.destructive)


def missing_consent(
    plan: Plan, *, accept_downtime: bool, yes: bool, done: Set[str] = frozenset()
) -> MissingConsent:
    """The cutovers and destructive steps of ``plan`` not yet ``done`` that the given consents do
    not cover (the one rule the engine enforces and the CLI checks up front)."""
    cutovers = (
        ()
        if accept_downtime
        else tuple(
            cp
            for cp in plan.credentials
            if cp.requires_downtime_consent and not all(s.id in done for s in cp.steps)
        )
    )
    destructive = () if yes else tuple(s for s in plan.steps if s.destructive and s.id not in done)
    return MissingConsent(cutovers, destructive)


def check_consent(plan: Plan, options: ApplyOptions, done: Set[str] = frozenset()) -> None:
    """:raises ConsentRequired: a cutover without ``accept_downtime`` or a destructive step without ``yes``."""
    missing = missing_consent(plan, accept_downtime=options.accept_downtime, yes=options.yes, done=done)
    if missing.cutovers:
        first = missing.cutovers[0]
        raise ConsentRequired(
            f"{len(missing.cutovers)} credential(s) need a cutover with a short outage ({first.credential}, {first.strategy})",
            hint="pass --accept-downtime or set accept_downtime = true in keyroll.toml [policy] (recorded in the journal and the report)",
        )
    if missing.destructive:
        raise ConsentRequired(
            f"{len(missing.destructive)} destructive step(s) need consent (e.g. {missing.destructive[0].description})",
            hint="pass --yes or confirm interactively",
        )


# -- the plan against today -----------------------------------------------------------------
@dataclass
class Preflight:
    """What the checks learnt: today's values of each group (what a rollback restores) and the
    stale or dead copies found (replaced too, reported)."""

    olds: dict[str, dict[str, Secret]] = field(default_factory=dict)
    """group id → role → current value"""
    stale: dict[str, dict[str, str]] = field(default_factory=dict)
    """credential → {fingerprint: why}"""


async def preflight(
    plan: Plan,
    inv: Inventory,
    providers: Providers,
    journal: Journal,
    options: ApplyOptions,
    *,
    manual_values: bool,
) -> Preflight:
    """Every check that needs no change, in order; today's values of each group are read.

    :param manual_values: a source of new values for the ``manual`` strategy is at hand.
    :raises PlanDriftError: the inventory changed since the plan was made.
    :raises ConsentRequired: destructive steps without ``yes`` / cutovers without ``accept_downtime``.
    :raises UsageError: a malformed plan; missing clients, scopes or values (every credential's
        problem at once).
    :raises JournalError: no journal key.
    """
    problems = validate_plan(plan)
    if problems:
        raise UsageError(f"the plan is malformed: {problems[0]}", hint="make a new one with `keyroll plan`")
    digest = inventory_digest(inv)
    if digest != plan.inventory_digest:
        raise PlanDriftError(
            "the plan was made for a different state than today's inventory (drift)",
            hint="something changed since `keyroll plan`; run it again and review the new plan",
        )
    check_consent(plan, options)
    if not journal.has_key:
        raise JournalError(
            "no journal key: credentials must be journaled encrypted before they are used",
            hint="set KEYROLL_JOURNAL_KEY (32+ characters) or use an OS keyring",
        )
    found = Preflight()
    writes = [WriteParams.of(s) for s in plan.steps if s.action == ActionName.WRITE]
    need_vercel = any(w.target in ("vercel", "shared") for w in writes) or any(
        s.kind is StepKind.REDEPLOY for s in plan.steps
    )
    if need_vercel and providers.vercel is None:
        raise UsageError(
            "the plan writes Vercel env vars but VERCEL_TOKEN is not set",
            hint="export it or pass --env-file",
        )
    github_scopes: dict[tuple[str, str], LocationSpec] = {}
    group_problems: list[UsageError] = []
    for cp in plan.credentials:
        spec = next((g for s in cp.steps if (g := group_spec_of(s)) is not None), GroupSpec())
        gid = cp.steps[0].id.split("/", 1)[0]
        old = _old_values(inv, cp, spec)
        spec = await _fill_from_provider(providers, cp, spec, old)
        found.olds[gid] = old
        if spec.stale:
            found.stale[cp.credential] = dict(spec.stale)
        try:
            _check_group(providers, cp, spec, old, manual_values=manual_values)
        except UsageError as exc:  # every credential's problem at once, not one per attempt
            group_problems.append(exc)
        for w in (WriteParams.of(s) for s in cp.steps if s.action == ActionName.WRITE):
            if w.target == "github":
                for loc in w.locations:
                    github_scopes[(loc.repo, loc.scope)] = loc
    if len(group_problems) == 1:
        raise group_problems[0]
    if group_problems:
        raise UsageError(
            f"{len(group_problems)} credentials cannot be rotated as planned: "
            + "; ".join(f"({i}) {p.message}" for i, p in enumerate(group_problems, 1)),
            hint="; ".join(dict.fromkeys(p.hint for p in group_problems if p.hint)),
        )
    await _check_qstash_token(providers, plan)
    if github_scopes:
        if providers.github is None:
            raise UsageError(
                "the plan updates GitHub Actions secrets but GITHUB_TOKEN is not set",
                hint="export it or pass --env-file",
            )

        async def key(loc: LocationSpec) -> None:
            assert providers.github is not None
            await providers.github.get_public_key(_scope(loc))  # missing scope → AuthError (exit 2)

        await asyncio.gather(*(key(loc) for loc in github_scopes.values()))
    return found


async def _check_qstash_token(providers: Providers, plan: Plan) -> None:
    """The QStash token keyroll runs with must work before the first write when the plan calls
    QStash with it (signing keys roll; a token rotated earlier and not updated is dead)."""
    token = providers.config.qstash_token
    if providers.qstash is None or token is None:
        return
    if not any(cp.strategy is Strategy.QSTASH_SIGNING for cp in plan.credentials):
        return
    try:
        await providers.qstash.get_keys(token)
    except AuthError:
        source = providers.config.sources.get("QSTASH_TOKEN", "the environment")
        raise UsageError(
            f"QSTASH_TOKEN ({token.fingerprint}, from {source}) is rejected by QStash",
            hint="it was probably rotated: put the current token there (Upstash console → QStash), "
            "check with `keyroll doctor`",
        ) from None


def refuse_unfinished(journal: Journal) -> None:
    """A new run must not start while an earlier one holds minted-but-unrevoked state.

    :raises UsageError: the latest run is unfinished.
    """
    last = journal.latest_run()
    if last is None or last.state in TERMINAL:
        return
    plan = journal.plan(last.id)
    records = journal.step_records(last.id)
    open_groups = [
        cp.credential
        for cp in plan.credentials
        if group_state(cp, records) not in (Milestone.DONE, Milestone.ROLLED_BACK)
    ]
    if open_groups:
        raise UsageError(
            f"run {last.id} is unfinished ({len(open_groups)} credential(s), e.g. {open_groups[0]})",
            hint="finish it with `keyroll resume`, undo it with `keyroll rollback`, or close it with "
            f"`keyroll abandon {last.id} --reason …` first",
        )


def _old_values(inv: Inventory, cp: CredentialPlan, spec: GroupSpec) -> dict[str, Secret]:
    """The current values of a group's credentials by role (what a rollback restores)."""
    out: dict[str, Secret] = {}
    live = [str(f) for f in spec.credentials.values()]
    # the live value of each role first (a stale or dead copy never stands for the credential)
    ordered = live + [f for f in (spec.fingerprints or (cp.credential,)) if f not in live]
    for fp in ordered:
        cred = inv.credential(fp)
        if cred is None or cred.value is None:
            continue
        if cp.strategy is Strategy.MANUAL:
            out.setdefault("value", cred.value)
            continue
        out.setdefault(credential_role(cred), cred.value)
        if cred.kind is CredentialKind.URL_WITH_PASSWORD:
            parts = urllib.parse.urlsplit(cred.value.reveal())
            if parts.password:
                out.setdefault("password", Secret(urllib.parse.unquote(parts.password)))
    user = spec.acl_user
    if cp.strategy in (Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD):
        out["username"] = Secret(user or "default")
    elif cp.strategy is Strategy.ADAPTER and user:
        out["username"] = Secret(user)
    return out


async def _fill_from_provider(
    providers: Providers, cp: CredentialPlan, spec: GroupSpec, old: dict[str, Secret]
) -> GroupSpec:
    """Native Redis held by the default user: the Developer API says which values are live.

    A copy of another value in the same role is stale or dead: it is replaced like the others
    and reported (the spec's ``stale``), never a reason to stop (issue #17, case 1).

    :returns: the spec with the live fingerprints (unchanged when the API has nothing to say).
    """
    if (
        cp.strategy is not Strategy.REDIS_ACL
        or spec.management != "native"
        or spec.acl_user not in ("", "default")
    ):
        return spec
    if providers.upstash is None or not spec.resource_id:
        return spec
    db = await providers.upstash.get_redis(spec.resource_id)
    known = dict(spec.credentials)
    stale = dict(spec.stale)
    for role, value in (
        ("rest_token", db.rest_token),
        ("readonly_rest_token", db.read_only_rest_token),
        ("password", db.password),
    ):
        if value is None:
            continue
        if role in known and known[role] != value.fingerprint:
            stale.setdefault(known[role], "not the live value the Developer API lists (a stale copy)")
        known[role] = value.fingerprint
        old[role] = value
    return replace(spec, credentials=known, stale=stale, rest_url=spec.rest_url or db.rest_url)


def _check_group(
    providers: Providers,
    cp: CredentialPlan,
    spec: GroupSpec,
    old: dict[str, Secret],
    *,
    manual_values: bool,
) -> None:
    """:raises UsageError: the credential cannot be rotated as planned with these clients and values."""
    name = spec.resource_name or cp.credential
    roles = {loc.role for s in cp.steps if s.action == ActionName.WRITE for loc in locations_of(s)}
    if cp.strategy in RESTORE_ON_FAILURE and cp.strategy is not Strategy.MANUAL:
        missing = sorted(
            r for r in roles if r not in old and not (r == "url" and "password" in old) and r != "value"
        )
        if missing:
            raise UsageError(
                f"cannot rotate {name} safely: the current {', '.join(missing)} value is unknown, so a failure could not be rolled back",
                hint="let keyroll read it (Developer API credentials, or a non-sensitive copy), or use --strategy CRED=manual",
            )
    if cp.strategy is Strategy.REDIS_ACL and "rest_token" not in old and providers.upstash is None:
        raise UsageError(
            f"no token can run ACL commands on {name}",
            hint="set UPSTASH_EMAIL/UPSTASH_API_KEY, or keep a readable copy of the default REST token",
        )
    if cp.strategy is Strategy.QSTASH_SIGNING and providers.config.qstash_token is None:
        raise UsageError(
            "rotating QStash signing keys needs QSTASH_TOKEN", hint="export it or pass --env-file"
        )
    if (
        cp.strategy in (Strategy.QSTASH_TOKEN, Strategy.INDEX_RESET, Strategy.REDIS_CUTOVER)
        and providers.upstash is None
    ):
        raise UsageError(
            f"resetting {name} needs the Upstash Developer API",
            hint="set UPSTASH_EMAIL and UPSTASH_API_KEY",
        )
    if (
        cp.strategy is Strategy.REDIS_ACL
        and spec.revoke_mode == ActionName.RESET_DEFAULT
        and providers.upstash is None
    ):
        raise UsageError(
            f"resetting the default password of {name} needs the Upstash Developer API",
            hint="set UPSTASH_EMAIL and UPSTASH_API_KEY",
        )
    if cp.strategy is Strategy.MANUAL and not manual_values:
        raise UsageError(
            f"{cp.credential} is rotated manually: a new value is needed",
            hint="pass --value-file FP=PATH (or pipe it on stdin)",
        )
