"""What a Vercel plan allows a rotation: concurrent builds and deployments per day.

Documented (https://vercel.com/docs/limits, /docs/builds/build-queues; reference notes §4, §12):
concurrent builds Hobby 1, Pro 12, Enterprise "custom"; deployments created per day Hobby 100,
Pro 6,000, Enterprise custom. For Enterprise, and for a plan name keyroll does not know, the Pro
figures are used (a guess on the safe side: extra builds only queue). ``[policy] max_parallel_builds``
overrides the build figure for teams that bought more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["DAY_MS", "PlanInfo", "plan_info"]

DAY_MS = 24 * 3600 * 1000

_KNOWN: dict[str, tuple[int, int | None, bool]] = {
    # plan: (concurrent builds, deployments per day, documented exactly)
    "hobby": (1, 100, True),
    "pro": (12, 6000, True),
    "enterprise": (12, 6000, False),
}


@dataclass(frozen=True)
class PlanInfo:
    """A team's plan and its limits."""

    plan: str
    """``billing.plan`` as Vercel answered it (``hobby``, ``pro``, ``enterprise`` …), or ``unknown``"""
    concurrent_builds: int
    deployments_per_day: int | None
    documented: bool
    """False when the figures are keyroll's stand-ins (Enterprise, an unknown plan)"""

    def build_rounds(self, redeploys: int) -> int:
        """How many waves of builds ``redeploys`` take with this plan's slots."""
        return math.ceil(redeploys / self.concurrent_builds) if redeploys else 0


def plan_info(team: dict[str, Any] | None) -> PlanInfo:
    """The plan of a ``GET /v2/teams/{id}`` answer (``billing.plan``); unknown → Pro figures."""
    billing = (team or {}).get("billing")
    raw = billing.get("plan") if isinstance(billing, dict) else None
    plan = str(raw).lower() if isinstance(raw, str) and raw else "unknown"
    builds, per_day, documented = _KNOWN.get(plan, (12, 6000, False))
    return PlanInfo(plan, builds, per_day, documented)
