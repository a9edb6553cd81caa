"""Rotation settings from ``keyroll.toml``: the ``[strategy]`` and ``[policy]`` tables.

Precedence everywhere: a command-line flag > ``keyroll.toml`` > the built-in default.
Values are checked when the configuration loads (:func:`parse_strategy_table`,
:func:`parse_policy_table`), so a bad value stops every command before it changes anything.

``[strategy]`` — one key per class of credential; each accepts its built-in strategy or
``manual`` (the person supplies the new value, keyroll distributes it, redeploys, and the
revocation is theirs to confirm), and a few a third one: ``redis_cutover`` (a reset and a
cutover — built in for databases without ACL) and ``integration_reset`` (a person's console
reset, guided — built in for integration-created Vector/Search/QStash):

=================  ====================================================  =====================
key                credentials                                           values
=================  ====================================================  =====================
``redis``          Redis ``default`` user: REST token, read-only token,  ``redis_acl``,
                   password, ``redis://`` URL                            ``redis_cutover``,
                                                                         manual
``redis_acl``      Redis custom ACL users (password, ACL REST token)     ``redis_acl_password``,
                                                                         manual
``qstash_token``   QStash token                                          ``qstash_token``,
                                                                         ``integration_reset``,
                                                                         manual
``qstash_signing`` QStash current + next signing keys                    ``qstash_signing``, manual
``vector``         Vector index tokens (regular + read-only)             ``index_reset``,
                                                                         ``integration_reset``,
                                                                         manual
``search``         Search index tokens (regular + read-only)             ``index_reset``,
                                                                         ``integration_reset``,
                                                                         manual
``default``        every class above without a key of its own            ``manual`` only
=================  ====================================================  =====================

``[policy]`` — ``accept_downtime`` (bool): consent to cutover strategies, exactly as
``--accept-downtime`` (journaled with where it came from); ``max_parallel_builds`` (1–1000)
and ``build_timeout_s`` (1–86400 s): :class:`~keyroll.rotate.options.ApplyOptions` defaults
(the effective values and the options are built in :mod:`keyroll.app.options`);
``require_sensitive`` (bool): ``apply`` refuses a plan that writes a credential into a Vercel
variable that could be ``sensitive`` (it targets Production, Preview or a custom environment)
but is not (:func:`non_sensitive_writes`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keyroll.adapters.registry import adapter_strategy
from keyroll.core.errors import ConfigError
from keyroll.core.model import (
    ActionName,
    Credential,
    Inventory,
    LocationKind,
    Plan,
    Product,
    StepKind,
    Strategy,
)
from keyroll.core.steps import GroupSpec, group_spec_of, locations_of
from keyroll.core.strategy import default_strategy

if TYPE_CHECKING:
    from keyroll.config import Config

__all__ = [
    "BUILD_TIMEOUT_RANGE",
    "MAX_PARALLEL_BUILDS_RANGE",
    "STRATEGY_CHOICES",
    "STRATEGY_CLASSES",
    "Policy",
    "Setting",
    "effective_strategies",
    "non_sensitive_writes",
    "parse_policy_table",
    "parse_strategy_table",
    "plan_strategies",
    "strategy_key",
    "strategy_sources",
]

STRATEGY_CHOICES: dict[str, tuple[Strategy, ...]] = {
    "redis": (Strategy.REDIS_ACL, Strategy.REDIS_CUTOVER, Strategy.MANUAL),
    "redis_acl": (Strategy.REDIS_ACL_PASSWORD, Strategy.MANUAL),
    "qstash_token": (Strategy.QSTASH_TOKEN, Strategy.INTEGRATION_RESET, Strategy.MANUAL),
    "qstash_signing": (Strategy.QSTASH_SIGNING, Strategy.MANUAL),
    "vector": (Strategy.INDEX_RESET, Strategy.INTEGRATION_RESET, Strategy.MANUAL),
    "search": (Strategy.INDEX_RESET, Strategy.INTEGRATION_RESET, Strategy.MANUAL),
    "default": (Strategy.MANUAL,),
}
"""``[strategy]`` key → the strategies it accepts (the first of a class key is its built-in one)."""

STRATEGY_CLASSES: dict[str, str] = {
    "redis": "Redis default-user credentials",
    "redis_acl": "Redis custom ACL user credentials",
    "qstash_token": "the QStash token",
    "qstash_signing": "QStash signing keys",
    "vector": "Vector index tokens",
    "search": "Search index tokens",
    "default": "every credential class without a key of its own",
}
"""What each ``[strategy]`` key covers (for messages and ``keyroll config show``)."""

MAX_PARALLEL_BUILDS_RANGE = (1, 1000)
BUILD_TIMEOUT_RANGE = (1.0, 86400.0)


@dataclass(frozen=True)
class Policy:
    """The ``[policy]`` table as read; ``None`` where the file does not set a key."""

    require_sensitive: bool | None = None
    accept_downtime: bool | None = None
    max_parallel_builds: int | None = None
    build_timeout_s: float | None = None


@dataclass(frozen=True)
class Setting:
    """One effective setting and where it came from: a flag (``--accept-downtime``), the file
    (``keyroll.toml [policy]``) or ``default``."""

    value: Any
    source: str


def parse_strategy_table(table: Mapping[str, Any], where: str) -> dict[str, Strategy]:
    """Check ``[strategy]`` values.

    :raises ConfigError: a value that is not a string or not a strategy for that key's class,
        naming the file, the table and the key.
    """
    out: dict[str, Strategy] = {}
    for key, raw in table.items():
        allowed = STRATEGY_CHOICES[key]
        names = " or ".join(s.value for s in allowed)
        if not isinstance(raw, str) or raw.strip() not in {s.value for s in allowed}:
            shown = repr(raw) if isinstance(raw, str) else type(raw).__name__
            raise ConfigError(
                f"{where}: [strategy] {key} = {shown} cannot rotate {STRATEGY_CLASSES[key]}",
                hint=f"use {names}",
            )
        out[key] = Strategy(raw.strip())
    return out


def _flag(table: Mapping[str, Any], key: str, where: str) -> bool | None:
    raw = table.get(key)
    if raw is None or isinstance(raw, bool):
        return raw
    raise ConfigError(f"{where}: [policy] {key} must be true or false, got {raw!r}")


def _number(
    table: Mapping[str, Any], key: str, where: str, bounds: tuple[float, float], *, integer: bool
) -> float | None:
    raw = table.get(key)
    if raw is None:
        return None
    lo, hi = bounds
    kind = "an integer" if integer else "a number of seconds"
    ok = isinstance(raw, int) if integer else isinstance(raw, (int, float))
    if isinstance(raw, bool) or not ok or not math.isfinite(raw) or not lo <= raw <= hi:
        raise ConfigError(f"{where}: [policy] {key} must be {kind} from {lo:g} to {hi:g}, got {raw!r}")
    return raw if integer else float(raw)


def parse_policy_table(table: Mapping[str, Any], where: str) -> Policy:
    """Check ``[policy]`` values (types and ranges).

    :raises ConfigError: naming the file, the table, the key and the accepted values.
    """
    builds = _number(table, "max_parallel_builds", where, MAX_PARALLEL_BUILDS_RANGE, integer=True)
    return Policy(
        require_sensitive=_flag(table, "require_sensitive", where),
        accept_downtime=_flag(table, "accept_downtime", where),
        max_parallel_builds=None if builds is None else int(builds),
        build_timeout_s=_number(table, "build_timeout_s", where, BUILD_TIMEOUT_RANGE, integer=False),
    )


# -- [strategy] -------------------------------------------------------------------------------


def strategy_key(cred: Credential) -> str | None:
    """The ``[strategy]`` key whose class ``cred`` belongs to, by its built-in strategy
    (``None`` for credentials that are ``manual`` already: only ``default`` names them)."""
    built_in = cred.strategy or default_strategy(cred, adapter=adapter_strategy)
    if built_in is Strategy.INDEX_RESET or (
        built_in is Strategy.INTEGRATION_RESET and cred.product in (Product.VECTOR, Product.SEARCH)
    ):
        return "search" if cred.product is Product.SEARCH else "vector"
    if built_in is Strategy.INTEGRATION_RESET:
        return "qstash_token"
    if built_in is Strategy.REDIS_CUTOVER:  # a database without ACL: still the redis class
        return "redis"
    for key, choices in STRATEGY_CHOICES.items():
        if key != "default" and choices[0] is built_in:
            return key
    return None


def plan_strategies(
    cfg: Config, inventory: Inventory, cli: Mapping[str, Strategy] | None = None
) -> dict[str, Strategy]:
    """Per-fingerprint strategy choices for :func:`~keyroll.rotate.planner.make_plan`:
    ``keyroll.toml``'s where they differ from the built-in one, then the ``--strategy`` flags.

    A flag decides for the whole unit its credential rotates in (the same class on the same
    resource, and its related credentials): the file's choice is dropped there, so a flag on a
    Vector token does not leave its read-only twin to another strategy. The flags come last:
    ``make_plan`` applies the entries in order, so a flag also wins for a fingerprint prefix.
    """
    refs = [r if r.startswith("sha256:") else f"sha256:{r}" for r in cli or {}]
    flagged = [c for c in inventory.credentials if any(c.fingerprint.startswith(r) for r in refs)]
    units = {(strategy_key(c), c.product, c.resource_id) for c in flagged if c.resource_id}
    linked = {str(fp) for c in flagged for fp in (c.fingerprint, *c.related)}
    merged: dict[str, Strategy] = {}
    by_fp = {str(c.fingerprint): c for c in inventory.credentials}
    for fp, (strat, _) in _toml_choices(cfg, inventory).items():
        cred = by_fp[fp]
        if fp in linked or (strategy_key(cred), cred.product, cred.resource_id) in units:
            continue
        merged[fp] = strat
    for ref, strat in (cli or {}).items():
        merged.pop(ref, None)  # re-inserted last
        merged[ref] = strat
    return merged


def _toml_choices(cfg: Config, inventory: Inventory) -> dict[str, tuple[Strategy, str]]:
    """Fingerprint → (strategy, ``keyroll.toml [strategy] KEY``) for credentials the file moves
    off their built-in strategy."""
    out: dict[str, tuple[Strategy, str]] = {}
    if not cfg.strategy:
        return out
    for cred in inventory.credentials:
        key = strategy_key(cred)
        chosen_by = key if key in cfg.strategy else "default"
        choice = cfg.strategy.get(chosen_by)
        if choice is None or choice is (cred.strategy or default_strategy(cred, adapter=adapter_strategy)):
            continue
        out[str(cred.fingerprint)] = (choice, f"{cfg.toml_path} [strategy] {chosen_by}")
    return out


def strategy_sources(
    cfg: Config, inventory: Inventory, plan: Plan, cli: Mapping[str, Strategy] | None = None
) -> dict[str, str]:
    """Where each planned credential's strategy came from: ``--strategy``, ``keyroll.toml
    [strategy] KEY`` or ``default`` (keyed by the plan's credential fingerprint)."""
    toml = _toml_choices(cfg, inventory)
    refs = [(r if r.startswith("sha256:") else f"sha256:{r}", s) for r, s in (cli or {}).items()]
    out: dict[str, str] = {}
    for cp in plan.credentials:
        group = next((g for s in cp.steps if (g := group_spec_of(s)) is not None), GroupSpec())
        fps = [str(f) for f in group.fingerprints or [cp.credential]]
        source = "default"
        for fp in fps:
            if any(fp.startswith(ref) and s is cp.strategy for ref, s in refs):
                source = "--strategy"
                break
            chosen = toml.get(fp)
            if chosen is not None and chosen[0] is cp.strategy:
                source = chosen[1]
        out[cp.credential] = source
    return out


def effective_strategies(cfg: Config) -> dict[str, Setting]:
    """Every ``[strategy]`` key with its effective choice and source (``keyroll config show``)."""
    out: dict[str, Setting] = {}
    fallback = cfg.strategy.get("default")
    for key, choices in STRATEGY_CHOICES.items():
        if key in cfg.strategy:
            out[key] = Setting(cfg.strategy[key].value, f"{cfg.toml_path} [strategy]")
        elif key == "default":
            out[key] = Setting("(each class's own)", "default")
        elif fallback is not None:
            out[key] = Setting(fallback.value, f"{cfg.toml_path} [strategy] default")
        else:
            out[key] = Setting(choices[0].value, "default")
    return out


# -- [policy] require_sensitive ----------------------------------------------------------------


def non_sensitive_writes(plan: Plan) -> list[str]:
    """The Vercel variables ``plan`` writes that could be ``sensitive`` but are not (for
    ``require_sensitive``): type other than ``sensitive`` and a Production, Preview or custom
    environment target. Development-only variables are left out: Vercel cannot make them
    sensitive. Each entry names the project (or "shared"), key and targets — never a value."""
    out: dict[str, None] = {}
    for step in plan.steps:
        if step.kind is not StepKind.WRITE_ENV or step.action != ActionName.WRITE:
            continue  # a ``resync_wait`` step only watches what the Vercel integration writes
        for loc in locations_of(step):
            if not loc.is_vercel or loc.type == "sensitive":
                continue
            targets = [t for t in loc.targets if t in ("production", "preview")]
            if not targets and not loc.custom_environment_ids:
                continue
            owner = (
                "shared" if loc.kind is LocationKind.VERCEL_SHARED_ENV else loc.project_name or loc.project_id
            )
            scope = ",".join(list(loc.targets) + (["custom"] if loc.custom_environment_ids else []))
            out[f"{owner} {loc.key} [{scope}] ({loc.type or 'unknown type'})"] = None
    return list(out)
