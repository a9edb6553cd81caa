"""What every fake shares: ids, credential-looking values, call accounting and fault injection.

Every fake API (:class:`FakeAPI`) counts its calls (``calls[name]``, ``total``) and the peak
number of requests in flight (``peak``), can answer slowly (``latency``) and raises an injected
error per call (``failures[(method, argument)]``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from keyroll.core.errors import KeyrollError
from keyroll.core.serde import to_jsonable

if TYPE_CHECKING:
    from tests.fakes.world import FakeWorld


_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    """A fresh id (``prefix`` and a counter unique across the test session)."""
    return f"{prefix}{next(_ids):06d}"


def token(prefix: str = "") -> str:
    """A random credential-looking value (long enough for the canary)."""
    return prefix + secrets.token_urlsafe(24)


def now_ms() -> int:
    """Now as the APIs stamp it: milliseconds since the epoch."""
    return int(time.time() * 1000)


class FakeAPI:
    """Call accounting and fault injection shared by every fake API."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.peak = 0
        self.latency = 0.0
        """seconds each call takes"""
        self.failures: dict[tuple[str, str], KeyrollError] = {}
        """``(method, argument)`` → the error that call raises, e.g. ``("list_env", project_id)``"""

    async def _enter(self, name: str, arg: str = "") -> None:
        self.calls[name] += 1
        exc = self.failures.get((name, arg))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        if exc is not None:
            raise exc

    @property
    def total(self) -> int:
        """Calls of every method so far."""
        return sum(self.calls.values())


def plan_json(plan: Any) -> str:
    """Canonical JSON of a plan (for determinism checks)."""
    return json.dumps(to_jsonable(plan), sort_keys=True)
