"""The plan workflow: inventory → plan → preflight → a plan file sealed with its digest.

A plan says, per credential, the strategy, the steps, the projects and deployments to redeploy
and the expected outage. It is made from a live inventory (or a saved ``keyroll inventory
--json``), with the strategy choices of ``--strategy`` and ``keyroll.toml`` and the effective
``[policy]``. The plan file carries its inventory scope, so that ``apply`` takes the same
inventory again; its digest (:mod:`keyroll.rotate.plan_digest`) makes an edited plan refuse to
apply. Loading a plan file checks that digest before anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyroll.app.options import effective_policy
from keyroll.app.session import providers_session
from keyroll.config import Config
from keyroll.config.policy import Setting, non_sensitive_writes, plan_strategies, strategy_sources
from keyroll.core.errors import UsageError
from keyroll.core.model import Inventory, Plan, Strategy
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.serde import from_dict, to_jsonable
from keyroll.inventory import InventoryOptions
from keyroll.preflight.model import PreflightResult
from keyroll.preflight.run import run_preflight
from keyroll.rotate.plan_digest import seal as seal_plan
from keyroll.rotate.plan_digest import verify as verify_plan_digest
from keyroll.rotate.planner import make_plan
from keyroll.rotate.select import credentials_by_key

__all__ = [
    "LoadedPlan",
    "PlanOutcome",
    "PlanRequest",
    "Scope",
    "inventory_for",
    "load_inventory_file",
    "load_plan",
    "make_rotation_plan",
    "plan_document",
    "plan_rotation",
    "policy_notes",
    "selected_credentials",
    "settings_json",
    "take_scoped_inventory",
]


@dataclass(frozen=True)
class Scope:
    """What the inventory of a plan covers (the flags of ``keyroll inventory``), saved in the plan
    file so that ``apply`` takes the same inventory again. Empty means ``keyroll.toml [scope]``."""

    projects: tuple[str, ...] = ()
    github_repos: tuple[str, ...] = ()
    github_orgs: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    git_repos: tuple[str, ...] = ()
    include_paused: bool = True

    def to_json(self) -> dict[str, Any]:
        """The ``scope`` object of a plan file (its keys and order are part of the file format)."""
        return {
            "projects": list(self.projects),
            "github_repos": list(self.github_repos),
            "github_orgs": list(self.github_orgs),
            "paths": list(self.paths),
            "git_repos": list(self.git_repos),
            "include_paused": self.include_paused,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Scope:
        """The scope saved in a plan file (older plans lack the newer keys)."""
        return cls(
            projects=tuple(data.get("projects") or ()),
            github_repos=tuple(data.get("github_repos") or ()),
            github_orgs=tuple(data.get("github_orgs") or ()),
            paths=tuple(str(p) for p in data.get("paths") or ()),
            git_repos=tuple(str(p) for p in data.get("git_repos") or ()),
            include_paused=bool(data.get("include_paused", True)),
        )

    def inventory_options(self, cfg: Config) -> InventoryOptions:
        """``InventoryOptions`` for this scope over ``keyroll.toml [scope]``.

        :raises UsageError: a path or git repository that does not exist.
        """
        from keyroll.inventory import options_from_config, validate_options

        options = options_from_config(
            cfg,
            projects=self.projects,
            github_repos=self.github_repos,
            github_orgs=self.github_orgs,
            paths=tuple(Path(p) for p in self.paths),
            git_repos=tuple(Path(p) for p in self.git_repos),
            include_paused=self.include_paused,
        )
        validate_options(options)
        return options


@dataclass(frozen=True)
class PlanRequest:
    """What to plan: the credentials (by fingerprint, by variable name, or every Upstash one),
    strategy overrides, and where the inventory comes from."""

    credentials: tuple[str, ...] = ()
    """fingerprints (or prefixes)"""
    keys: tuple[str, ...] = ()
    """variable names whose credential to rotate"""
    all_upstash: bool = False
    strategies: Mapping[str, Strategy] = field(default_factory=dict)
    """``--strategy CRED=STRATEGY`` overrides (beat ``keyroll.toml [strategy]``)"""
    scope: Scope = field(default_factory=Scope)
    inventory_file: Path | None = None
    """plan from this saved ``keyroll inventory --json`` instead of a live inventory"""
    build_seconds: float = 60.0
    """expected build time (outage estimate, first poll)"""

    def __post_init__(self) -> None:
        if not self.credentials and not self.all_upstash and not self.keys:
            raise UsageError(
                "choose what to rotate",
                hint="pass --credential FINGERPRINT or --key NAME (repeatable), or --all-upstash",
            )


@dataclass(frozen=True)
class PlanOutcome:
    """A plan and what was decided with it."""

    plan: Plan
    sources: dict[str, str]
    """credential → where its strategy came from (``--strategy``, ``keyroll.toml``, ``default``)"""
    settings: dict[str, Setting]
    """the effective ``[policy]``"""
    preflight: PreflightResult | None
    """``None`` without a Vercel token (a plan from a saved inventory)"""
    document: dict[str, Any]
    """the plan file's content, sealed"""
    notes: tuple[str, ...]
    """what the policy means for this plan (:func:`policy_notes`)"""


@dataclass(frozen=True)
class LoadedPlan:
    """A plan file whose digest checked out."""

    plan: Plan
    scope: Scope


def settings_json(settings: Mapping[str, Setting]) -> dict[str, Any]:
    """The effective settings as written to a plan file and to ``--json`` output."""
    return {k: {"value": v.value, "source": v.source} for k, v in settings.items()}


def selected_credentials(
    inv: Inventory, credentials: tuple[str, ...], keys: tuple[str, ...]
) -> list[str] | None:
    """The fingerprints to plan for: those given plus those the variable names hold (``None``: none).

    :raises UsageError: a name no copy carries, or one that holds several values.
    """
    if keys:
        return [*credentials, *credentials_by_key(inv, keys)]
    return list(credentials) or None


def make_rotation_plan(
    cfg: Config,
    inv: Inventory,
    *,
    credentials: tuple[str, ...] = (),
    keys: tuple[str, ...] = (),
    all_upstash: bool = False,
    strategies: Mapping[str, Strategy] | None = None,
    build_seconds: float = 60.0,
) -> Plan:
    """The plan for the selected credentials, with the strategy choices of ``keyroll.toml``
    and ``strategies`` (the flags)."""
    return make_plan(
        inv,
        credentials=selected_credentials(inv, credentials, keys),
        all_upstash=all_upstash,
        strategies=plan_strategies(cfg, inv, strategies or None),
        build_seconds_estimate=build_seconds,
    )


async def take_scoped_inventory(cfg: Config, scope: Scope, progress: Progress = NULL_PROGRESS) -> Inventory:
    """A live inventory of ``scope``."""
    from keyroll.inventory import take_inventory

    options = scope.inventory_options(cfg)
    async with providers_session(cfg) as providers:
        return await take_inventory(providers, options, progress)


def _read_json(path: Path, hint: str) -> Any:
    """The JSON document in ``path``.

    :raises UsageError: unreadable, or not JSON (``hint`` says how to make the file).
    """
    try:
        return json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"{path} is not JSON", hint=hint) from None


def load_inventory_file(path: Path) -> Inventory:
    """A saved ``keyroll inventory --json``.

    :raises UsageError: unreadable, not JSON, or not an inventory.
    """
    from keyroll.inventory import inventory_from_json

    return inventory_from_json(_read_json(path, "create it with `keyroll inventory --json`"))


def load_plan(path: Path) -> LoadedPlan:
    """A plan file made by ``keyroll plan --out``, its digest checked first.

    :raises UsageError: unreadable, not a plan, or not a valid one.
    :raises PlanTampered: the content does not match its digest (an edited plan never applies).
    """
    data = _read_json(path, "create it with `keyroll plan --out FILE`")
    if not isinstance(data, dict) or "inventory_digest" not in data or "credentials" not in data:
        raise UsageError(f"{path} is not a keyroll plan", hint="create it with `keyroll plan --out FILE`")
    verify_plan_digest(data, str(path))
    data = {k: v for k, v in data.items() if k not in ("digest", "digests")}
    try:
        plan = from_dict(Plan, data)
    except (TypeError, ValueError, KeyError):
        raise UsageError(
            f"{path} is not a valid keyroll plan", hint="make a new one with `keyroll plan`"
        ) from None
    return LoadedPlan(plan, Scope.from_json(dict(data.get("scope") or {})))


def plan_document(
    plan: Plan,
    scope: Scope,
    sources: dict[str, str],
    settings: Mapping[str, Setting],
    preflight: PreflightResult | None = None,
) -> dict[str, Any]:
    """The plan file's content, sealed with its digest (the preflight findings included)."""
    doc: dict[str, Any] = to_jsonable(plan)
    doc["scope"] = scope.to_json()
    doc["strategy_sources"] = sources
    doc["settings"] = settings_json(settings)
    if preflight is not None:
        doc["preflight"] = preflight.to_json()
    return seal_plan(doc)


def policy_notes(plan: Plan, settings: Mapping[str, Setting]) -> list[str]:
    """What the effective policy means for ``plan``: cutover consent and its source, and the
    variables ``require_sensitive`` objects to (value-free lines)."""
    notes = []
    cutovers = sum(1 for cp in plan.credentials if cp.requires_downtime_consent)
    consent = settings["accept_downtime"]
    if cutovers and consent.value:
        notes.append(f"downtime accepted for {cutovers} cutover(s) by {consent.source}")
    elif cutovers:
        notes.append(
            f"{cutovers} cutover(s) need consent: pass --accept-downtime to apply, "
            "or set accept_downtime = true in keyroll.toml [policy]"
        )
    if settings["require_sensitive"].value:
        bad = non_sensitive_writes(plan)
        if bad:
            notes.append(
                f"require_sensitive ({settings['require_sensitive'].source}): apply will refuse, "
                f"{len(bad)} variable(s) are not sensitive: {'; '.join(bad[:5])}{' …' if len(bad) > 5 else ''}"
            )
    return notes


async def _preflight(cfg: Config, inv: Inventory, plan: Plan) -> PreflightResult | None:
    """Preflight of ``plan`` (read-only); ``None`` without a Vercel token (a plan from a saved inventory)."""
    if not cfg.vercel_token:
        return None
    async with providers_session(cfg) as providers:
        return await run_preflight(cfg, providers, inv, plan, consents=frozenset())


def inventory_for(cfg: Config, request: PlanRequest) -> Inventory | None:
    """The saved inventory a request names (``None``: take one live, which needs ``VERCEL_TOKEN``).

    :raises ConfigError: no saved inventory and no ``VERCEL_TOKEN``.
    """
    if request.inventory_file is not None:
        return load_inventory_file(request.inventory_file)
    cfg.require("VERCEL_TOKEN")
    return None


async def plan_rotation(cfg: Config, request: PlanRequest, inv: Inventory) -> PlanOutcome:
    """Plan ``request`` on ``inv`` and run the preflight on the plan (read-only).

    ``keyroll.toml``'s ``[strategy]`` and ``[policy]`` apply to a saved inventory too.

    :raises UsageError: a credential or name the inventory does not hold.
    """
    plan = make_rotation_plan(
        cfg,
        inv,
        credentials=request.credentials,
        keys=request.keys,
        all_upstash=request.all_upstash,
        strategies=request.strategies,
        build_seconds=request.build_seconds,
    )
    sources = strategy_sources(cfg, inv, plan, request.strategies or None)
    settings = effective_policy(cfg)
    pre = await _preflight(cfg, inv, plan)
    return PlanOutcome(
        plan,
        sources,
        settings,
        pre,
        plan_document(plan, request.scope, sources, settings, pre),
        tuple(policy_notes(plan, settings)),
    )
