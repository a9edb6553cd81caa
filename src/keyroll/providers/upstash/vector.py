"""Upstash Vector data API: the ``/info`` probe."""

from __future__ import annotations

from typing import Any, Protocol

from keyroll.core.secret import Secret

__all__ = ["IndexAPI"]


class IndexAPI(Protocol):
    """A Vector or Search index data API addressed by URL and token."""

    async def info(self, url: str, token: Secret) -> dict[str, Any]:
        """``POST /info`` → ``result``. :raises AuthError: on 401."""
        ...

    async def check_write(self, url: str, token: Secret) -> bool:
        """True when the token may write (a harmless write / upsert-delete probe)."""
        ...
