"""Run the preflight checks and gather their risks in a :class:`PreflightResult`.

The registry is :data:`CHECK_MODULES`: each named module exposes ``CHECKS``, a tuple of
``async def check(ctx: PreflightContext) -> list[Risk]`` functions (signature and rules:
:mod:`keyroll.preflight.context`). Adding a family of checks = one module + one line here.

Checks run concurrently; each one's failure to run becomes a ``warn`` risk naming it (a check that
could not look never passes). Risks come back blocking first, then warnings, then information.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence

from keyroll.config import Config
from keyroll.core.errors import KeyrollError
from keyroll.core.model import Inventory, Plan
from keyroll.preflight.context import Check, PreflightContext
from keyroll.preflight.model import PreflightResult, Risk, Severity
from keyroll.providers.factory import Providers

__all__ = ["CHECK_MODULES", "PreflightBlocked", "all_checks", "run_checks", "run_preflight"]

CHECK_MODULES: tuple[str, ...] = ("keyroll.preflight.vercel",)
"""Modules whose ``CHECKS`` tuple preflight runs, in this order (e.g. add ``"keyroll.preflight.upstash"``)."""

_ORDER = {Severity.BLOCK: 0, Severity.WARN: 1, Severity.INFO: 2}


class PreflightBlocked(KeyrollError):
    """``apply`` refuses: preflight found something that blocks (nothing was written). Exit 2."""

    def __init__(self, result: PreflightResult) -> None:
        blocking = result.blocking
        first = blocking[0]
        more = f" (+{len(blocking) - 1} more: `keyroll preflight`)" if len(blocking) > 1 else ""
        super().__init__(f"preflight: {first.message}{more}", hint=first.fix or None)
        self.result = result


def all_checks() -> tuple[Check, ...]:
    """Every registered check, in registry order."""
    out: list[Check] = []
    for name in CHECK_MODULES:
        out.extend(importlib.import_module(name).CHECKS)
    return tuple(out)


async def _guarded(check: Check, ctx: PreflightContext) -> list[Risk]:
    name = getattr(check, "__name__", "check")
    try:
        return list(await check(ctx))
    except KeyrollError as exc:
        return [
            Risk(
                check=f"preflight.{name}",
                severity=Severity.WARN,
                subject="preflight",
                message=f"could not check ({name}): {exc.message}",
                fix=exc.hint or "run `keyroll preflight` again; the check did not pass, it did not run",
            )
        ]


async def run_checks(ctx: PreflightContext, checks: Sequence[Check] | None = None) -> PreflightResult:
    """Run ``checks`` (default: :func:`all_checks`) against ``ctx`` concurrently."""
    chosen = tuple(checks) if checks is not None else all_checks()
    found = await asyncio.gather(*(_guarded(c, ctx) for c in chosen))
    risks = [r for group in found for r in group]
    risks.sort(key=lambda r: (_ORDER[r.severity], r.check, r.subject))
    return PreflightResult(risks=risks, facts=dict(ctx.facts))


async def run_preflight(
    config: Config,
    providers: Providers,
    inventory: Inventory,
    plan: Plan | None = None,
    *,
    consents: frozenset[str] = frozenset(),
    scratch_database: str | None = None,
    checks: Sequence[Check] | None = None,
) -> PreflightResult:
    """Build the context and run every check: what ``keyroll preflight``, ``plan`` and ``apply`` call."""
    ctx = PreflightContext(
        config=config,
        providers=providers,
        inventory=inventory,
        plan=plan,
        consents=consents,
        scratch_database=scratch_database,
    )
    return await run_checks(ctx, checks)
