"""Upstash Vector data API: the ``/info`` probe and a write check (``VectorClient``).

The Search data API has the same auth and answers (``{"result"}`` / ``{"error","status"}``),
so :class:`IndexClient` serves both; :mod:`.search` only changes the write-probe path.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar, Protocol, Self

import httpx

from keyroll.core.errors import AuthError, KeyrollError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.http import ApiClient, RetryPolicy
from keyroll.providers.upstash.probe import ProbeResult

__all__ = ["IndexAPI", "IndexClient", "ProbeResult", "VectorClient"]


class IndexAPI(Protocol):
    """A Vector or Search index data API addressed by URL and token."""

    async def info(self, url: str, token: Secret) -> dict[str, Any]:
        """``POST /info`` → ``result``. :raises AuthError: on 401."""
        ...

    async def check_write(self, url: str, token: Secret) -> bool:
        """True when the token may write (a harmless write / upsert-delete probe)."""
        ...


def _origin(method: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class IndexClient:
    """Shared client of the Vector and Search data APIs (token per call)."""

    service: ClassVar[str] = "vector"
    write_probe: ClassVar[tuple[str, Any]] = ("/delete", {"ids": ["keyroll-write-probe"]})
    """a write that changes nothing: delete an id that does not exist"""

    def __init__(self, http: httpx.AsyncClient, *, retry: RetryPolicy | None = None) -> None:
        self.http = http
        self.api = ApiClient(
            http,
            self.service,
            limits={"default": (200.0, 1.0)},
            classify=_origin,
            retry=retry or RetryPolicy(attempts=3, base_delay=0.2, max_delay=2.0),
            hint_for_auth=f"the {self.service} token is unknown or was reset",
        )

    @classmethod
    def create(cls, *, timeout: float = 15.0, connect_timeout: float = 5.0) -> Self:
        """A client for any index URL (no control-plane credential needed)."""
        return cls(httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=connect_timeout)))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def _call(self, url: str, token: Secret, path: str, payload: Any = None) -> Any:
        host = urllib.parse.urlsplit(url).netloc or url
        what = f"{host} {path}"
        resp = await self.api.request(
            "POST",
            url.rstrip("/") + path,
            what=what,
            json=payload,
            headers={"Authorization": f"Bearer {token.reveal()}"},
        )
        try:
            body = resp.json()
        except ValueError:
            raise ProviderError(f"{self.service}: {what}: answer is not JSON", service=self.service) from None
        if isinstance(body, dict) and "error" in body:
            raise ProviderError(
                f"{self.service}: {what}: {body['error']}", service=self.service, status=resp.status_code
            )
        return body.get("result") if isinstance(body, dict) else body

    async def info(self, url: str, token: Secret) -> dict[str, Any]:
        """``POST /info``: counts, size, namespaces.

        :raises AuthError: 401 — the token is unknown or was reset.
        """
        result = await self._call(url, token, "/info")
        return result if isinstance(result, dict) else {}

    async def check_write(self, url: str, token: Secret) -> bool:
        """True when a (no-op) write is allowed, False when the token is read-only (401/403).

        :raises ProviderError: anything else.
        """
        path, payload = self.write_probe
        try:
            await self._call(url, token, path, payload)
        except AuthError:
            return False
        return True

    async def probe(self, url: str, token: Secret) -> ProbeResult:
        """``/info`` with ``token``: accepted / rejected (401) / unknown."""
        try:
            await self.info(url, token)
        except AuthError as exc:
            return ProbeResult.REJECTED if exc.status != 403 else ProbeResult.ACCEPTED
        except KeyrollError:
            return ProbeResult.UNKNOWN
        return ProbeResult.ACCEPTED


class VectorClient(IndexClient):
    """Upstash Vector (``UPSTASH_VECTOR_REST_URL``)."""

    service: ClassVar[str] = "vector"
