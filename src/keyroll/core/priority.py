"""Urgent work first: a context flag and a priority-aware semaphore.

A cutover rotation has an outage window that lasts until its new builds are READY; overlap
rotations have none. Work done under :func:`urgent` (a :class:`~contextvars.ContextVar`, so it
follows the task and every task it starts) goes ahead of normal work wherever keyroll queues:
the rate limiters of :mod:`keyroll.providers.http` and :class:`PrioritySemaphore` (build slots).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["PrioritySemaphore", "is_urgent", "urgent"]

_URGENT: ContextVar[bool] = ContextVar("keyroll_urgent", default=False)


def is_urgent() -> bool:
    """True inside :func:`urgent` (in this task or the task that started it)."""
    return _URGENT.get()


@contextlib.contextmanager
def urgent(flag: bool = True) -> Iterator[None]:
    """Mark the work inside (and tasks started inside) as urgent when ``flag``."""
    token = _URGENT.set(flag or _URGENT.get())
    try:
        yield
    finally:
        _URGENT.reset(token)


class PrioritySemaphore:
    """``asyncio.Semaphore`` whose waiters are served urgent first, then in arrival order."""

    def __init__(self, value: int) -> None:
        if value < 0:
            raise ValueError("semaphore value must be >= 0")
        self._free = value
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def locked(self) -> bool:
        """No slot is free right now."""
        return self._free == 0

    async def acquire(self) -> bool:
        """Take a slot, waiting (urgent first) when none is free."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (0 if is_urgent() else 1, next(self._seq), fut)
        heapq.heappush(self._waiters, entry)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: pass the slot on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(entry)
                    heapq.heapify(self._waiters)
            raise
        return True

    def release(self) -> None:
        """Give a slot back: to the first waiter in priority order, else to the pool."""
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> PrioritySemaphore:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()
