"""The rotation strategies (DESIGN.md, "Strategies per credential"), as an explicit registry.

Each strategy module has ``build(ctx) -> StrategyPlan`` (pure: lays out the steps) and
``ACTIONS`` (how its own step actions run and are read back after a crash). Generic actions
(write, redeploy, await, probes, rescan, human steps) live in the engine's modules.

The tables below are keyroll's generic strategies (``manual``, ``adapter``) plus whatever the
provider adapters contribute through :meth:`keyroll.adapters.interface.ProviderAdapter.strategies`
— the built-in Upstash adapter registers its strategies that way (entry point group
``keyroll.providers``). They are assembled on first use, so that importing this package never
loads the adapters.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

from keyroll.core.model import Step, Strategy
from keyroll.rotate.pipeline import PlanContext, StrategyPlan
from keyroll.rotate.runtime import Action, Runtime
from keyroll.rotate.strategies import adapter, common, manual

__all__ = ["ACTIONS", "BUILDERS", "RESTORE_ON_FAILURE", "UNDO_MINT", "StrategyTables", "tables"]

K = TypeVar("K")
V = TypeVar("V")


class StrategyTables:
    """Builders, actions, undo-mint hooks and restore-on-failure set, merged from the generic
    strategies and every adapter's :class:`~keyroll.adapters.interface.StrategySet`."""

    def __init__(self) -> None:
        from keyroll.adapters.registry import get_registry

        self.builders: dict[Strategy, Callable[[PlanContext], StrategyPlan]] = {
            Strategy.MANUAL: manual.build,
            Strategy.ADAPTER: adapter.build,
        }
        self.actions: dict[str, Action] = {**common.ACTIONS, **manual.ACTIONS, **adapter.ACTIONS}
        self.undo_mint: dict[Strategy, Callable[[Step, Runtime], Awaitable[dict[str, Any]]]] = {
            Strategy.ADAPTER: adapter.undo_mint,
        }
        self.restore_on_failure: set[Strategy] = {Strategy.MANUAL, Strategy.ADAPTER}
        for contributed in get_registry().strategy_sets():
            for strategy, build in contributed.builders.items():
                self.builders.setdefault(strategy, build)
            for name, action in contributed.actions.items():
                self.actions.setdefault(name, action)
            for strategy, undo in contributed.undo_mint.items():
                self.undo_mint.setdefault(strategy, undo)
            self.restore_on_failure |= contributed.restore_on_failure


@functools.cache
def tables() -> StrategyTables:
    """The merged tables (built once per process)."""
    return StrategyTables()


class _Lazy(Mapping[K, V]):
    """A read-only mapping view of one of :func:`tables`' dicts, resolved on first use."""

    def __init__(self, pick: Callable[[StrategyTables], Mapping[K, V]]) -> None:
        self._pick = pick

    def _map(self) -> Mapping[K, V]:
        return self._pick(tables())

    def __getitem__(self, key: K) -> V:
        return self._map()[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._map())

    def __len__(self) -> int:
        return len(self._map())


class _LazySet:
    """``strategy in RESTORE_ON_FAILURE`` without loading the adapters at import time."""

    def __contains__(self, item: object) -> bool:
        return item in tables().restore_on_failure

    def __iter__(self) -> Iterator[Strategy]:
        return iter(sorted(tables().restore_on_failure))


BUILDERS: Mapping[Strategy, Callable[[PlanContext], StrategyPlan]] = _Lazy(lambda t: t.builders)

ACTIONS: Mapping[str, Action] = _Lazy(lambda t: t.actions)

UNDO_MINT: Mapping[Strategy, Callable[[Step, Runtime], Awaitable[dict[str, Any]]]] = _Lazy(
    lambda t: t.undo_mint
)
"""What a rollback undoes after restoring the old values (the minted credential goes)."""

RESTORE_ON_FAILURE = _LazySet()
"""Strategies whose old values stay valid until revocation, so a failure restores them.
Cutovers cannot go back after the reset, and after the first signing-key roll the distributed
keys are the valid ones: those stop and wait for ``keyroll resume``."""
