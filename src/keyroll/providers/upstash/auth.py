"""httpx auth for Upstash clients: the credential stays a :class:`Secret` until a request is built."""

from __future__ import annotations

import base64
from collections.abc import Generator

import httpx

from keyroll.core.secret import Secret

__all__ = ["SecretBasicAuth"]


class SecretBasicAuth(httpx.Auth):
    """HTTP Basic ``email:api_key`` (the Developer API); the key is revealed per request only."""

    def __init__(self, username: str, password: Secret) -> None:
        self._username = username
        self._password = password

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raw = f"{self._username}:{self._password.reveal()}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        yield request

    def __repr__(self) -> str:
        return f"SecretBasicAuth({self._username!r}, {self._password!r})"
