"""What every emulated control-plane API does before it answers: latency, faults, rate limits.

One :class:`Guard` per service. Fault decisions are deterministic: the *n*-th decision of a
kind on a service is a pure function of ``faults.seed``, so a run with the same seed and the
same request order injects the same faults. Rate limits are fixed windows of
``world.rate_window_s`` seconds per endpoint class, like the
per-endpoint limits of the real APIs (other classes keep working while one is limited);
windows are aligned to multiples of the window length since the epoch.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
from collections import Counter
from dataclasses import dataclass

from keyroll.sandbox.world import World

__all__ = ["Guard", "RateState"]


@dataclass(frozen=True)
class RateState:
    """The outcome of counting one request against its endpoint class's window."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: float
    """epoch seconds at which the window resets"""
    retry_after_s: int
    """whole seconds to wait (``Retry-After``) when not allowed"""

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-Limit/Remaining/Reset`` (reset in epoch seconds, as Vercel and GitHub send)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_s)),
        }


class Guard:
    """Latency, deterministic fault decisions and per-class rate-limit windows for one service.

    :param limits: requests per window by endpoint class; ``world.rate_limits`` overrides them.
    """

    def __init__(self, world: World, service: str, limits: dict[str, int]) -> None:
        self.world = world
        self.service = service
        self.limits = dict(limits)
        self._lock = threading.Lock()
        self._decisions: Counter[str] = Counter()
        self._windows: dict[str, tuple[int, int]] = {}
        """class -> (window index, requests counted in it)"""

    async def delay(self) -> None:
        """Sleep ``world.latency_ms`` (the network round trip of the real service)."""
        if self.world.latency_ms > 0:
            await asyncio.sleep(self.world.latency_ms / 1000)

    def roll(self, kind: str, rate: float) -> bool:
        """The next deterministic decision of ``kind``: True with probability ``rate``."""
        if rate <= 0:
            return False
        with self._lock:
            n = self._decisions[kind]
            self._decisions[kind] = n + 1
        digest = hashlib.sha256(f"{self.world.faults.seed}:{self.service}:{kind}:{n}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < rate

    def storm_left(self) -> float:
        """Seconds of the injected 429 storm still to come (0 when none)."""
        storm = self.world.faults.storm
        if storm <= 0:
            return 0.0
        return max(0.0, self.world.started_at + storm - self.world.clock())

    def limit_of(self, cls: str) -> int:
        """Requests allowed per window for an endpoint class."""
        default = self.limits.get(cls, self.limits.get("default", 100))
        return self.world.limit_for(self.service, cls, default)

    def take(self, cls: str) -> RateState:
        """Count one request of ``cls``; says whether it is allowed and what the headers say."""
        window = max(self.world.rate_window_s, 1e-3)
        now = self.world.clock()
        # windows are aligned to the epoch, so with whole-second windows the integer
        # X-RateLimit-Reset the real APIs send is exact
        index = int(now // window)
        reset = (index + 1) * window
        limit = self.limit_of(cls)
        with self._lock:
            current, count = self._windows.get(cls, (index, 0))
            if current != index:
                count = 0
            count += 1
            self._windows[cls] = (index, count)
        storm = self.storm_left()
        if storm > 0:
            return RateState(False, limit, 0, now + storm, max(1, math.ceil(storm)))
        if count > limit:
            return RateState(False, limit, 0, reset, max(1, math.ceil(reset - now)))
        return RateState(True, limit, limit - count, reset, 0)
