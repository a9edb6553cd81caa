"""The preflight workflow: every platform risk a rotation of the credentials in scope would meet.

Read-only: the inventory of the scope, a plan for the given credentials (every Upstash one when
none is given), then the checks of :mod:`keyroll.preflight` against that plan. The one exception
is ``--scratch-database``: on the database it names, a password reset is tried on a throw-away
ACL user, to learn whether this account keeps ACL users working (Upstash credentials needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keyroll.app.plan import Scope
from keyroll.app.session import providers_session
from keyroll.config import Config
from keyroll.config.policy import plan_strategies
from keyroll.core.errors import UsageError
from keyroll.core.progress import Progress
from keyroll.inventory import take_inventory
from keyroll.preflight.context import BYPASS_IGNORED_BUILD_STEP
from keyroll.preflight.model import PreflightResult
from keyroll.preflight.run import run_preflight
from keyroll.rotate.planner import make_plan

__all__ = ["PreflightRequest", "check_request", "preflight"]


@dataclass(frozen=True)
class PreflightRequest:
    """What ``keyroll preflight`` checks."""

    credentials: tuple[str, ...] = ()
    """fingerprints (or prefixes) to plan for; empty: every Upstash credential"""
    scope: Scope = field(default_factory=Scope)
    bypass_ignored_build_step: bool = False
    """check as ``apply --bypass-ignored-build-step`` would run"""
    scratch_database: str | None = None
    """an Upstash Redis database id keyroll may write to (the ACL overlap check)"""


def check_request(cfg: Config, request: PreflightRequest) -> None:
    """What the checks need before they start.

    :raises ConfigError: no ``VERCEL_TOKEN``; with a scratch database, no Upstash credentials.
    :raises UsageError: an empty scratch database id.
    """
    cfg.require("VERCEL_TOKEN")
    if request.scratch_database is not None:
        if not request.scratch_database.strip():
            raise UsageError("--scratch-database needs a database id", hint="keyroll inventory lists them")
        cfg.require("UPSTASH_EMAIL", "UPSTASH_API_KEY")


async def preflight(cfg: Config, request: PreflightRequest, progress: Progress) -> PreflightResult:
    """Inventory, plan and every preflight check (see the module docstring)."""
    options = request.scope.inventory_options(cfg)
    consents = frozenset({BYPASS_IGNORED_BUILD_STEP} if request.bypass_ignored_build_step else ())
    async with providers_session(cfg) as providers:
        inv = await take_inventory(providers, options, progress)
        plan = make_plan(
            inv,
            credentials=list(request.credentials) or None,
            all_upstash=not request.credentials,
            strategies=plan_strategies(cfg, inv),
        )
        return await run_preflight(
            cfg, providers, inv, plan, consents=consents, scratch_database=request.scratch_database
        )
