"""The team's Vercel plan and the limits it brings: concurrent build slots and deployments per day.

Sources (reference notes §12, docs/sandbox.md "Plan limits"):

* concurrent builds: Hobby 1, Pro 12, Enterprise "custom, by contract" (https://vercel.com/docs/limits,
  /docs/builds/build-queues). No Enterprise number is published: the sandbox uses 12 (the Pro figure,
  the stricter guess) unless ``concurrent_builds`` says otherwise. Builds beyond the limit wait in
  ``QUEUED`` and start first-in, first-out as slots free up.
* deployments created per day: Hobby 100, Pro 6,000 (/docs/limits); Enterprise is custom — the sandbox
  uses 6,000 (stricter guess). Past the cap ``POST /v13/deployments`` answers **402**
  ``api-deployments-free-per-day`` whose ``limit.reset`` is "now + 24 h" on every refused call
  (vercel/vercel#17426). The sandbox counts every deployment created in the last 24 hours (a rolling
  window; the fleet's seeded deployments count too).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PLANS", "PlanLimits", "plan_limits"]

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class PlanLimits:
    """What a plan allows; ``None`` would mean unlimited."""

    plan: str
    concurrent_builds: int
    deployments_per_day: int | None


PLANS: dict[str, PlanLimits] = {
    "hobby": PlanLimits("hobby", 1, 100),
    "pro": PlanLimits("pro", 12, 6000),
    "enterprise": PlanLimits("enterprise", 12, 6000),
}
"""Documented defaults by plan (Enterprise: stricter stand-ins, see the module docstring)."""


def plan_limits(
    plan: str, *, builds_per_day: int | None = None, concurrent_builds: int | None = None
) -> PlanLimits:
    """The limits of ``plan`` with optional overrides.

    :raises ValueError: an unknown plan or a non-positive override.
    """
    base = PLANS.get(plan)
    if base is None:
        raise ValueError(f"unknown Vercel plan {plan!r}; known: {', '.join(PLANS)}")
    if builds_per_day is not None and builds_per_day < 0:
        raise ValueError("builds per day must be >= 0")
    if concurrent_builds is not None and concurrent_builds < 1:
        raise ValueError("concurrent builds must be >= 1")
    return PlanLimits(
        plan,
        concurrent_builds if concurrent_builds is not None else base.concurrent_builds,
        builds_per_day if builds_per_day is not None else base.deployments_per_day,
    )
