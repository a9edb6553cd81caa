"""Upstash Redis REST data plane (``POST <url>`` with a JSON command array).

Used by probes (new token works, old rejected) and by the ACL strategy (``ACL SETUSER``,
``ACL RESTTOKEN``, ``ACL DELUSER``).
"""

from __future__ import annotations

from typing import Any, Protocol

from keyroll.core.secret import Secret

__all__ = ["RedisREST"]


class RedisREST(Protocol):
    """A Redis REST endpoint addressed by URL and bearer token."""

    async def command(self, url: str, token: Secret, *args: str | int) -> Any:
        """Run one command; returns ``result``.

        :raises AuthError: 401 (unknown/revoked token).
        :raises ProviderError: ``{"error": …}`` bodies (e.g. NOPERM), message included.
        """
        ...

    async def pipeline(self, url: str, token: Secret, commands: list[list[str | int]]) -> list[Any]:
        """Run several commands (``/pipeline``); each item is ``result`` or an error string."""
        ...
