"""The plumbing of the Vercel client: one session scoped to a team.

:class:`VercelSession` holds the ``httpx.AsyncClient`` (base URL, bearer token, timeout) and the
:class:`~keyroll.providers.http.ApiClient` every request goes through (one token bucket per
endpoint class, retries with backoff and jitter on 429/5xx/timeouts, call counting); it adds the
team to every request (``teamId``, or ``slug``) and follows Vercel's two pagination styles.
It takes plain values — base URL, token, team, timeout — never keyroll's configuration
(:mod:`keyroll.providers.factory` maps that).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Self

import httpx

from keyroll import __version__
from keyroll.core.secret import Secret
from keyroll.providers.http import ApiClient, RetryPolicy, bearer_client
from keyroll.providers.vercel.wire import LIMITS, QUOTA_CODES, UPSERT_BATCH, endpoint_class

__all__ = ["VercelSession"]


class VercelSession:
    """Team-scoped, rate-limited, paged access to the Vercel REST API (what every endpoint
    method of :class:`~keyroll.providers.vercel.client.VercelClient` sends through).

    :param http: an ``httpx.AsyncClient`` with base URL and auth (see :meth:`create`).
    :param team_id: sent as ``teamId`` on every request (or ``team_slug`` as ``slug``).
    :param batch_size: items per upsert request.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        team_id: str = "",
        team_slug: str = "",
        limits: dict[str, tuple[float, float]] | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = UPSERT_BATCH,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.team_id = team_id
        self.team_slug = team_slug
        self.batch_size = max(1, batch_size)
        self._sleep = sleep
        self.api = ApiClient(
            http,
            "vercel",
            limits=dict(limits or LIMITS),
            classify=endpoint_class,
            retry=retry or RetryPolicy(),
            hint_for_auth="check VERCEL_TOKEN and VERCEL_TEAM_ID: the token needs access to the team",
            sleep=sleep,
            quota_codes=QUOTA_CODES,
        )

    @classmethod
    def create(
        cls,
        base_url: str,
        token: Secret,
        *,
        team_id: str = "",
        team_slug: str = "",
        timeout: float = 30.0,
        **kwargs: Any,
    ) -> Self:
        """A client for ``base_url`` (``https://api.vercel.com``, the sandbox …) with a bearer
        ``token``, scoped to ``team_id`` (or ``team_slug``); ``kwargs`` go to the constructor."""
        http = bearer_client(
            base_url,
            token,
            timeout=timeout,
            headers={"User-Agent": f"keyroll/{__version__}", "Accept": "application/json"},
        )
        return cls(http, team_id=team_id, team_slug=team_slug, **kwargs)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    def _params(self, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
        if self.team_id:
            params["teamId"] = self.team_id
        elif self.team_slug:
            params["slug"] = self.team_slug
        return params

    async def _get(self, path: str, *, what: str, **params: Any) -> Any:
        resp = await self.api.request("GET", path, params=self._params(**params), what=what)
        return resp.json()

    async def _pages(
        self,
        path: str,
        field: str,
        *,
        what: str,
        limit: int | None = None,
        page_size: int = 100,
        max_pages: int | None = None,
        stop: Callable[[list[dict[str, Any]]], bool] | None = None,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Follow ``pagination.next`` until exhausted, ``limit`` items, ``max_pages`` pages, or
        ``stop(items so far)`` is true. A timestamp cursor goes back as ``until``; a continuation
        token (``GET /v10/projects`` answers e.g. ``"next": "JBSWY3DPEHPK3PXP"``) as ``from``."""
        items: list[dict[str, Any]] = []
        until: Any = None
        pages = 0
        while max_pages is None or pages < max_pages:
            pages += 1
            size = page_size if limit is None else max(1, min(page_size, limit - len(items)))
            token = isinstance(until, str) and not until.isdigit()
            cursor = {"from": until} if token else {"until": until}
            body = await self._get(path, what=what, limit=size, **cursor, **params)
            page = body.get(field) or []
            items.extend(page)
            nxt = (body.get("pagination") or {}).get("next")
            if not page or nxt is None or nxt == until or (limit is not None and len(items) >= limit):
                break
            if stop is not None and stop(items):
                break
            until = nxt
        return items if limit is None else items[:limit]
