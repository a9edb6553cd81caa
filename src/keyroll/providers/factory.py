"""Build every provider client from a :class:`~keyroll.config.Config`.

Each client class has ``from_config(cfg)`` (builds its own ``httpx.AsyncClient`` with base
URL, auth and timeout) and ``aclose()``. Clients whose tokens are absent are ``None``; the
data-plane clients (Redis REST, Vector, Search) need no control-plane token and always exist.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from keyroll.config import Config
from keyroll.providers.github import GitHubAPI
from keyroll.providers.upstash.developer import DeveloperAPI
from keyroll.providers.upstash.qstash import QStashAPI
from keyroll.providers.upstash.redis import RedisREST
from keyroll.providers.upstash.vector import IndexAPI
from keyroll.providers.vercel import VercelAPI

__all__ = ["Providers", "open_providers"]


@dataclass
class Providers:
    """The set of clients a command works with (``None`` where not configured)."""

    config: Config
    vercel: VercelAPI | None = None
    github: GitHubAPI | None = None
    upstash: DeveloperAPI | None = None
    qstash: QStashAPI | None = None
    redis: RedisREST | None = None
    vector: IndexAPI | None = None
    search: IndexAPI | None = None
    _closers: list[Any] = field(default_factory=list, repr=False)

    def api_calls(self) -> dict[str, int]:
        """Requests sent so far per service (clients expose ``api.total_calls``)."""
        out: dict[str, int] = {}
        for name in ("vercel", "github", "upstash", "qstash", "redis", "vector", "search"):
            client = getattr(self, name)
            api = getattr(client, "api", None)
            if api is not None:
                out[name] = int(api.total_calls)
        return out

    async def aclose(self) -> None:
        """Close every client."""
        for c in self._closers:
            with contextlib.suppress(Exception):
                await c.aclose()
        self._closers.clear()


@contextlib.asynccontextmanager
async def open_providers(cfg: Config) -> AsyncIterator[Providers]:
    """Build the clients configured in ``cfg`` and close them on exit."""
    from keyroll.providers.github import GitHubClient
    from keyroll.providers.upstash.developer import DeveloperClient
    from keyroll.providers.upstash.qstash import QStashClient
    from keyroll.providers.upstash.redis import RedisRESTClient
    from keyroll.providers.upstash.search import SearchClient
    from keyroll.providers.upstash.vector import VectorClient
    from keyroll.providers.vercel import VercelClient

    p = Providers(config=cfg)
    if cfg.vercel_token:
        p.vercel = VercelClient.from_config(cfg)
    if cfg.github_token:
        p.github = GitHubClient.from_config(cfg)
    if cfg.upstash_api_key and cfg.upstash_email:
        p.upstash = DeveloperClient.from_config(cfg)
    if cfg.qstash_token:
        p.qstash = QStashClient.from_config(cfg)
    p.redis = RedisRESTClient.from_config(cfg)
    p.vector = VectorClient.from_config(cfg)
    p.search = SearchClient.from_config(cfg)
    p._closers = [c for c in (p.vercel, p.github, p.upstash, p.qstash, p.redis, p.vector, p.search) if c]
    try:
        yield p
    finally:
        await p.aclose()
