"""QStash API (bearer token): signing keys, publishing, and a cheap auth probe.

The token is passed per call (a QStash token rotation changes it mid-run), and so may the
region's origin (``url=``): each QStash region has its own token and signing keys, so a
credential is always checked and rotated at its own region. Rolling the
signing keys is *not* idempotent — rolling twice before apps learn the new *next* key breaks
every signature — so :meth:`QStashClient.rotate_keys` never blindly retries: after a timeout
or 5xx it reads the keys back and treats "current is the old next" as done.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from keyroll.core.errors import AuthError, KeyrollError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.http import ApiClient, RetryPolicy
from keyroll.providers.upstash.probe import ProbeResult

__all__ = ["ProbeResult", "QStashAPI", "QStashClient", "SigningKeys"]

DEFAULT_URL = "https://qstash.upstash.io"
AUTH_HINT = "QSTASH_TOKEN is invalid or was reset (Upstash console → QStash → Reset token issues a new one)"


class SigningKeys(BaseModel):
    """``{current, next}`` signing keys."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    current: Secret = Field(exclude=True)
    next: Secret = Field(exclude=True)

    @field_validator("current", "next", mode="before")
    @classmethod
    def _wrap(cls, value: Any) -> Any:
        return Secret(value) if isinstance(value, str) else value


class QStashAPI(Protocol):
    """What keyroll needs from QStash. ``token`` is passed per call (it changes during rotation)."""

    async def get_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        """``GET /v2/keys`` (``url``: the region's origin; default: the configured one)."""
        ...

    async def rotate_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        """``POST /v2/keys/rotate``: new current = old next; next is fresh."""
        ...

    async def check_token(self, token: Secret, *, url: str | None = None) -> bool:
        """True when QStash accepts the token, False on 401; raises on other failures."""
        ...


class QStashClient:
    """:class:`QStashAPI` over httpx (every request through :attr:`api`)."""

    def __init__(
        self, http: httpx.AsyncClient, *, base_url: str = DEFAULT_URL, retry: RetryPolicy | None = None
    ) -> None:
        """``http`` needs no auth (the token comes with each call); ``base_url`` is the region's origin."""
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.api = ApiClient(
            http,
            "qstash",
            limits={"default": (50.0, 1.0)},
            retry=retry or RetryPolicy(),
            hint_for_auth=AUTH_HINT,
        )

    @classmethod
    def create(
        cls, base_url: str = DEFAULT_URL, *, timeout: float = 20.0, connect_timeout: float = 10.0
    ) -> QStashClient:
        """A client for the QStash origin ``base_url`` (default ``https://qstash.upstash.io``)."""
        return cls(
            httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=connect_timeout)), base_url=base_url
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    def _url(self, path: str, base: str | None = None) -> str:
        return (base or self.base_url).rstrip("/") + path

    @staticmethod
    def _auth(token: Secret) -> dict[str, str]:
        return {"Authorization": f"Bearer {token.reveal()}"}

    async def get_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        """``GET /v2/keys`` → current and next signing keys of the region at ``url``.

        :raises AuthError: the token was rejected.
        """
        resp = await self.api.request(
            "GET", self._url("/v2/keys", url), what="get signing keys", headers=self._auth(token)
        )
        return SigningKeys.model_validate(resp.json())

    async def rotate_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        """``POST /v2/keys/rotate`` exactly once (an ambiguous failure is resolved by reading back).

        :raises AuthError: the token was rejected.
        """
        before = await self.get_keys(token, url=url)

        async def recover() -> httpx.Response | None:
            try:
                now = await self.get_keys(token, url=url)
            except KeyrollError:
                return None
            if now.current == before.next:  # the first attempt rolled
                return httpx.Response(200, json={"current": now.current.reveal(), "next": now.next.reveal()})
            return None

        resp = await self.api.request(
            "POST",
            self._url("/v2/keys/rotate", url),
            what="rotate signing keys",
            headers=self._auth(token),
            recover=recover,
        )
        return SigningKeys.model_validate(resp.json())

    async def check_token(self, token: Secret, *, url: str | None = None) -> bool:
        """``GET /v2/keys``: True when accepted (403 counts: authenticated, not permitted), False on 401.

        :raises ProviderError: any other failure (unreachable, 5xx …).
        """
        try:
            await self.get_keys(token, url=url)
        except AuthError as exc:
            return exc.status == 403
        return True

    async def probe(self, url: str | None, token: Secret) -> ProbeResult:
        """Tri-state :meth:`check_token` against ``url`` (default: the configured origin)."""
        try:
            resp = await self.api.request(
                "GET",
                self._url("/v2/keys", url),
                what="probe token",
                headers=self._auth(token),
                ok=(401, 403),
            )
        except KeyrollError:
            return ProbeResult.UNKNOWN
        if resp.status_code == 401:
            return ProbeResult.REJECTED
        return ProbeResult.ACCEPTED

    async def publish(
        self,
        token: Secret,
        destination: str,
        body: bytes | str = b"",
        *,
        headers: dict[str, str] | None = None,
    ) -> str:
        """``POST /v2/publish/<destination>``; returns the message id.

        :raises AuthError: the token was rejected. :raises ProviderError: a bad destination.
        """
        parts = urllib.parse.urlsplit(destination)
        if parts.scheme not in ("http", "https"):
            raise ProviderError(
                f"qstash: publish: destination must be an http(s) URL, got {parts.scheme or 'none'}"
            )
        resp = await self.api.request(
            "POST",
            self._url(f"/v2/publish/{destination}"),
            what=f"publish to {parts.netloc}",
            content=body.encode() if isinstance(body, str) else body,
            headers={**(headers or {}), **self._auth(token)},
        )
        data = resp.json()
        if isinstance(data, list):  # a URL group: one message per endpoint
            data = data[0] if data else {}
        return str(data.get("messageId", ""))
