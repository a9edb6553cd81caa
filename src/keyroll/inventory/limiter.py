"""A bound on requests in flight. Rate limits are the clients' token buckets' job; this only
keeps thousands of coroutines from opening thousands of connections at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

__all__ = ["Limiter"]

P = ParamSpec("P")
T = TypeVar("T")


class Limiter:
    """``await limiter.run(fn, *args)`` runs ``fn`` with at most ``concurrency`` calls in flight."""

    def __init__(self, concurrency: int) -> None:
        self._sem = asyncio.Semaphore(max(1, concurrency))

    async def run(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` inside the bound."""
        async with self._sem:
            return await fn(*args, **kwargs)
