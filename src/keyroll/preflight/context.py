"""What a preflight check gets: :class:`PreflightContext`, and the :data:`Check` signature.

A check is ``async def check(ctx: PreflightContext) -> list[Risk]``: it reads (never writes, except
an explicitly named scratch resource, ``ctx.scratch_database``), returns the risks it found (an empty
list when all is well) and may record what it read in ``ctx.facts`` (plain JSON values: plan tier,
quota left …) for the table's header and ``--json``. Reads several checks need go through
:meth:`PreflightContext.once`, which runs each named read once per preflight however many checks ask.
A check that cannot run raises (a :class:`~keyroll.core.errors.KeyrollError`); the orchestrator turns
that into one ``warn`` risk naming the check, never a pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from keyroll.config import Config
from keyroll.core.model import Inventory, Plan, StepKind
from keyroll.preflight.model import Risk
from keyroll.providers.factory import Providers

__all__ = ["BYPASS_IGNORED_BUILD_STEP", "Check", "PreflightContext"]

T = TypeVar("T")

BYPASS_IGNORED_BUILD_STEP = "bypass-ignored-build-step"
"""Consent (``apply --bypass-ignored-build-step``): clear the setting for the rotation, restore it after."""


@dataclass
class PreflightContext:
    """Everything a check may look at. Clients are open; nothing here has been written."""

    config: Config
    providers: Providers
    inventory: Inventory
    """the inventory in scope (its projects, deployments, unknowns)"""
    plan: Plan | None = None
    """the plan in scope; ``None`` when preflight runs on an inventory alone"""
    consents: frozenset[str] = frozenset()
    """what the user consented to (e.g. :data:`BYPASS_IGNORED_BUILD_STEP`): a check that would block
    reports a ``warn`` saying what will be done instead"""
    scratch_database: str | None = None
    """a database the user named as writable for probes (``--scratch-database ID``); nothing else is written"""
    facts: dict[str, Any] = field(default_factory=dict)
    """what the checks read (JSON values), shown above the risks"""
    _once: dict[str, asyncio.Task[Any]] = field(default_factory=dict, repr=False)

    async def once(self, key: str, read: Callable[[], Awaitable[T]]) -> T:
        """The result of ``read()``, run at most once per preflight under ``key`` (shared by checks).

        :raises: whatever ``read`` raised (every caller sees the same error).
        """
        task = self._once.get(key)
        if task is None:
            task = asyncio.ensure_future(read())
            self._once[key] = task
        result: T = await asyncio.shield(task)
        return result

    @property
    def project_ids(self) -> tuple[str, ...]:
        """Projects in scope: those the plan redeploys or writes, else every project of the inventory."""
        ids: dict[str, None] = {}
        if self.plan is not None:
            for cp in self.plan.credentials:
                for d in cp.deployments:
                    ids.setdefault(d.project_id, None)
                for s in cp.steps:
                    if s.project_id:
                        ids.setdefault(s.project_id, None)
            return tuple(ids)
        for loc in self.inventory.locations:
            if loc.project_id:
                ids.setdefault(loc.project_id, None)
            for pid in loc.linked_project_ids:
                ids.setdefault(pid, None)
        for d in self.inventory.deployments:
            ids.setdefault(d.project_id, None)
        return tuple(ids)

    @property
    def planned_redeploys(self) -> int:
        """Redeploys the plan makes (every round; 0 without a plan)."""
        if self.plan is None:
            return 0
        return sum(1 for s in self.plan.steps if s.kind is StepKind.REDEPLOY)

    def project_name(self, project_id: str) -> str:
        """A project's name when the inventory knows it, else its id."""
        for loc in self.inventory.locations:
            if loc.project_id == project_id and loc.project_name:
                return loc.project_name
        return project_id


Check = Callable[[PreflightContext], Awaitable[list[Risk]]]
"""``async def check(ctx) -> list[Risk]`` (see the module docstring)."""
