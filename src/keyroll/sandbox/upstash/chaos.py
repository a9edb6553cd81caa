"""Latency and fault injection for the Upstash services (``World.latency_ms`` / ``World.faults``).

Every service gets the latency. Control planes (Developer API, QStash management endpoints)
also get the faults: ``error_rate`` (503), ``timeout_rate`` (the request hangs ``timeout_s``
and *then* runs — a client that gave up does not know whether the reset happened, which is
the case keyroll's read-back exists for) and ``storm`` (429 with ``Retry-After`` during the
first seconds). Decisions come from a RNG seeded with ``faults.seed``, so runs repeat.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from keyroll.sandbox.world import World

__all__ = ["ChaosMiddleware"]


class ChaosMiddleware:
    """ASGI middleware: latency for every request; faults when ``control`` is set."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        world: World,
        name: str,
        control: bool = False,
        started: Callable[[], float] | None = None,
        exempt: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.world = world
        self.control = control
        self.started = started or time.monotonic
        self.exempt = exempt
        self.rng = random.Random(f"{world.faults.seed}:{name}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.world.latency_ms > 0:
            await asyncio.sleep(self.world.latency_ms / 1000)
        path = scope.get("path", "")
        if self.control and not path.startswith(self.exempt or ("\0",)):
            f = self.world.faults
            if f.storm > 0 and time.monotonic() - self.started() < f.storm:
                await self._answer(send, 429, {"error": "Too many requests, slow down"}, retry_after=1)
                return
            if f.error_rate > 0 and self.rng.random() < f.error_rate:
                await self._answer(send, 503, {"error": "Service Unavailable"})
                return
            if f.timeout_rate > 0 and self.rng.random() < f.timeout_rate:
                await asyncio.sleep(f.timeout_s)
        await self.app(scope, receive, send)

    @staticmethod
    async def _answer(send: Send, status: int, body: dict[str, str], retry_after: int | None = None) -> None:
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
