"""The sandbox world: shared state and the seams between the emulated services.

One :class:`World` lives in one process. Each emulated service registers a Starlette app
with :meth:`World.add_service`; :mod:`keyroll.sandbox.server` binds each to its own
loopback port and records the base URL in :attr:`World.urls`.

Seams between services (plain Python calls, no HTTP):

* ``World.templates`` — values produced while seeding Upstash resources, by name
  (``redis:<db-name>:rest_token``, ``qstash:signing_key_current`` …). Vercel seeding
  resolves ``${name}`` placeholders in fleet env values from it, so the fleet file never
  contains a credential.
* ``World.behaviour`` — the deployment behaviour: called by the Vercel emulation for each
  request to a READY deployment with the deployment's env snapshot; the Upstash emulation
  installs one that really uses the credentials (Redis, QStash, Vector, Search).
* ``World.hooks`` — named callables one service exposes to another, e.g.
  ``vercel.resync_integration(configuration_id, {key: value})`` used by the Upstash admin
  "Reset Credentials" button.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["Behaviour", "Faults", "World"]

Behaviour = Callable[[dict[str, str], Request], Awaitable[Response]]
"""(deployment env snapshot, request) -> response; 5xx when a credential fails."""


@dataclass
class Faults:
    """Fault injection, parsed from ``--faults`` (``key=value,…``).

    ``error_rate`` (fraction of 5xx), ``timeout_rate`` (fraction of requests that hang
    ``timeout_s``), ``partial_rate`` (fraction of upsert items that land in ``failed[]``),
    ``error_builds`` (fraction of builds ending in ERROR), ``storm`` (seconds of 429 on every
    rate-limited endpoint from start), ``redis_restart_after`` (seconds, once).
    """

    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_s: float = 5.0
    partial_rate: float = 0.0
    error_builds: float = 0.0
    storm: float = 0.0
    redis_restart_after: float = 0.0
    seed: int = 0

    @classmethod
    def parse(cls, spec: str | None) -> Faults:
        """Parse ``"error_rate=0.1,storm=2"``; raises ``ValueError`` naming a bad key."""
        f = cls()
        if not spec:
            return f
        for part in spec.split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip().replace("-", "_")
            if not sep or not hasattr(f, key):
                raise ValueError(f"unknown fault {key!r}; known: {', '.join(f.__dataclass_fields__)}")
            setattr(f, key, type(getattr(f, key))(value))
        return f


@dataclass
class World:
    """Shared state of one sandbox run."""

    state_dir: Path
    latency_ms: float = 0.0
    build_seconds: float = 1.0
    faults: Faults = field(default_factory=Faults)
    rate_window_s: float = 60.0
    """length of a rate-limit window; tests compress time by shrinking it"""
    clock: Callable[[], float] = time.time
    services: dict[str, Starlette] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    tls_urls: dict[str, str] = field(default_factory=dict)
    """``https://`` origins of services also served over TLS (``Sandbox(tls=True)``)"""
    templates: dict[str, str] = field(default_factory=dict)
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)
    behaviour: Behaviour | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """extra data for ``sandbox.json`` (tokens, resources), filled by each service"""
    startup: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    shutdown: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    sockets: dict[str, socket.socket] = field(default_factory=dict, repr=False)
    """bound listening sockets by URL (see :meth:`reserve_url`)"""
    rate_limits: dict[str, int] = field(default_factory=dict)
    """per-window request limits overriding a service's defaults, by ``service.class``
    (e.g. ``{"vercel.env_write": 10}``); the window is :attr:`rate_window_s`"""
    started_at: float = field(default=0.0)
    """clock time the world was created (fault storms count from here)"""
    vercel_plan: str = "pro"
    """the emulated team's Vercel plan (``hobby``, ``pro``, ``enterprise``): build slots, daily cap"""
    builds_per_day: int | None = None
    """deployments a day before 402 ``api-deployments-free-per-day``; ``None``: the plan's figure"""
    concurrent_builds: int | None = None
    """build slots; ``None``: the plan's figure (Hobby 1, Pro 12, Enterprise 12)"""

    def __post_init__(self) -> None:
        if not self.started_at:
            self.started_at = self.clock()
        self._last_stamp = 0
        self._stamp_lock = threading.Lock()

    def add_service(self, name: str, app: Starlette) -> None:
        """Register an app to be served on its own loopback port under ``name``."""
        self.services[name] = app

    def reserve_url(self, name: str, scheme: str = "http") -> str:
        """Bind a free loopback port for service ``name`` now and return its URL.

        For services whose URL must be known while installing (it goes into templates); the
        server harness then serves on this very socket, so no other process can take the port
        in between. Services that do not call it get a port when the harness starts.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"{scheme}://127.0.0.1:{sock.getsockname()[1]}"
        self.sockets[url] = sock
        if scheme == "https":
            self.tls_urls[name] = url
        else:
            self.urls[name] = url
        return url

    def socket_for(self, url: str) -> socket.socket:
        """The listening socket of a URL: the reserved one, or the URL's port bound now.

        :raises OSError: the port is taken (a URL chosen without :meth:`reserve_url`).
        """
        if url not in self.sockets:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", int(url.rsplit(":", 1)[1])))
            except OSError:
                sock.close()
                raise
            self.sockets[url] = sock
        return self.sockets[url]

    def now_ms(self) -> int:
        """Current time in ms (Vercel's unit)."""
        return int(self.clock() * 1000)

    def stamp_ms(self) -> int:
        """A strictly increasing ms timestamp: creation times never tie, so
        ``until``/``since`` cursors over them never skip or repeat an item."""
        with self._stamp_lock:
            self._last_stamp = max(self.now_ms(), self._last_stamp + 1)
            return self._last_stamp

    def limit_for(self, service: str, cls: str, default: int) -> int:
        """The per-window limit of an endpoint class (``world.rate_limits`` overrides)."""
        return int(self.rate_limits.get(f"{service}.{cls}", default))
