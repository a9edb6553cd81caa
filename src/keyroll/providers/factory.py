"""Build every provider client from a :class:`~keyroll.config.Config`: the one place that maps
keyroll's configuration to the clients' constructor arguments.

The clients take plain values (base URL, token, team, timeouts) through their ``create(...)``
class methods, which build their own ``httpx.AsyncClient``; each has ``aclose()``. Clients whose
tokens are absent are ``None``; the data-plane clients (Redis REST, Vector, Search) need no
control-plane token and always exist. :func:`vercel_client`, :func:`github_client` and
:func:`developer_client` build one client and say which setting is missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from keyroll.config import Config
from keyroll.providers.github import GitHubAPI, GitHubClient
from keyroll.providers.upstash.developer import DeveloperAPI, DeveloperClient
from keyroll.providers.upstash.qstash import QStashAPI, QStashClient
from keyroll.providers.upstash.redis import RedisREST, RedisRESTClient
from keyroll.providers.upstash.search import SearchClient
from keyroll.providers.upstash.vector import IndexAPI, VectorClient
from keyroll.providers.vercel.client import VercelClient
from keyroll.providers.vercel.protocol import VercelAPI

__all__ = ["Providers", "developer_client", "github_client", "open_providers", "vercel_client"]


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


def vercel_client(cfg: Config, **kwargs: Any) -> VercelClient:
    """A Vercel client for ``KEYROLL_VERCEL_API_URL`` with ``VERCEL_TOKEN`` and the team of ``cfg``
    (``kwargs``: ``timeout`` and the client's constructor options).

    :raises ConfigError: ``VERCEL_TOKEN`` is not set.
    """
    cfg.require("VERCEL_TOKEN")
    assert cfg.vercel_token is not None
    return VercelClient.create(
        cfg.vercel_api_url,
        cfg.vercel_token,
        team_id=cfg.vercel_team_id,
        team_slug=cfg.vercel_team_slug,
        **kwargs,
    )


def github_client(cfg: Config, **kwargs: Any) -> GitHubClient:
    """A GitHub client for ``KEYROLL_GITHUB_API_URL`` with ``GITHUB_TOKEN`` (``kwargs``: ``timeout``
    and the client's constructor options).

    :raises ConfigError: ``GITHUB_TOKEN`` is not set.
    """
    cfg.require("GITHUB_TOKEN")
    assert cfg.github_token is not None
    return GitHubClient.create(cfg.github_api_url, cfg.github_token, **kwargs)


def developer_client(cfg: Config) -> DeveloperClient:
    """An Upstash Developer API client from ``UPSTASH_EMAIL``/``UPSTASH_API_KEY``,
    ``KEYROLL_UPSTASH_API_URL`` and ``KEYROLL_UPSTASH_HOSTS``.

    :raises ConfigError: a credential is missing.
    """
    cfg.require("UPSTASH_EMAIL", "UPSTASH_API_KEY")
    assert cfg.upstash_api_key is not None
    return DeveloperClient.create(
        cfg.upstash_api_url, cfg.upstash_email, cfg.upstash_api_key, hosts=cfg.upstash_hosts
    )


@contextlib.asynccontextmanager
async def open_providers(cfg: Config) -> AsyncIterator[Providers]:
    """Build the clients configured in ``cfg`` and close them on exit."""
    p = Providers(config=cfg)
    if cfg.vercel_token:
        p.vercel = vercel_client(cfg)
    if cfg.github_token:
        p.github = github_client(cfg)
    if cfg.upstash_api_key and cfg.upstash_email:
        p.upstash = developer_client(cfg)
    if cfg.qstash_token:
        p.qstash = QStashClient.create(cfg.qstash_url)
    p.redis = RedisRESTClient.create()
    p.vector = VectorClient.create()
    p.search = SearchClient.create()
    p._closers = [c for c in (p.vercel, p.github, p.upstash, p.qstash, p.redis, p.vector, p.search) if c]
    try:
        yield p
    finally:
        await p.aclose()
