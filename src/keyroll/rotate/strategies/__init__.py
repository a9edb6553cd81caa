"""The rotation strategies (DESIGN.md, "Strategies per credential"), as an explicit registry.

Each strategy module has ``build(ctx) -> StrategyPlan`` (pure: lays out the steps) and
``ACTIONS`` (how its own step actions run and are read back after a crash). Generic actions
(write, redeploy, await, probes, rescan, human steps) live in the engine's modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from keyroll.core.model import Step, Strategy
from keyroll.rotate.pipeline import PlanContext, StrategyPlan
from keyroll.rotate.runtime import Action, Runtime
from keyroll.rotate.strategies import (
    common,
    index_reset,
    integration_reset,
    manual,
    qstash_signing,
    qstash_token,
    redis_acl,
    redis_acl_password,
    redis_cutover,
)

__all__ = ["ACTIONS", "BUILDERS", "RESTORE_ON_FAILURE", "UNDO_MINT"]

BUILDERS: dict[Strategy, Callable[[PlanContext], StrategyPlan]] = {
    Strategy.REDIS_ACL: redis_acl.build,
    Strategy.REDIS_ACL_PASSWORD: redis_acl_password.build,
    Strategy.REDIS_CUTOVER: redis_cutover.build,
    Strategy.QSTASH_SIGNING: qstash_signing.build,
    Strategy.QSTASH_TOKEN: qstash_token.build,
    Strategy.INDEX_RESET: index_reset.build,
    Strategy.INTEGRATION_RESET: integration_reset.build,
    Strategy.MANUAL: manual.build,
}

ACTIONS: dict[str, Action] = {
    **common.ACTIONS,
    **redis_acl.ACTIONS,
    **redis_acl_password.ACTIONS,
    **redis_cutover.ACTIONS,
    **qstash_signing.ACTIONS,
    **qstash_token.ACTIONS,
    **index_reset.ACTIONS,
    **integration_reset.ACTIONS,
    **manual.ACTIONS,
}

UNDO_MINT: dict[Strategy, Callable[[Step, Runtime], Awaitable[dict[str, Any]]]] = {
    Strategy.REDIS_ACL: redis_acl.undo_mint,
    Strategy.REDIS_ACL_PASSWORD: redis_acl_password.undo_mint,
}
"""What a rollback undoes after restoring the old values (the minted credential goes)."""

RESTORE_ON_FAILURE: frozenset[Strategy] = frozenset(
    {Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD, Strategy.MANUAL}
)
"""Strategies whose old values stay valid until revocation, so a failure restores them.
Cutovers cannot go back after the reset, and after the first signing-key roll the distributed
keys are the valid ones: those stop and wait for ``keyroll resume``."""
