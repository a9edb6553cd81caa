"""An httpx transport that reaches sandbox services in-process.

Requests to an origin in ``World.urls`` go straight to that service's ASGI app (same event
loop, same middleware, no sockets); anything else goes over the network. Deployments hit
their Upstash services very often, and this keeps the load generator cheap on small machines
without changing what the services see.
"""

from __future__ import annotations

import httpx

from keyroll.sandbox.world import World

__all__ = ["LocalTransport"]


class LocalTransport(httpx.AsyncBaseTransport):
    """Dispatch by origin: sandbox services via ASGI, the rest via :class:`httpx.AsyncHTTPTransport`."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._network = httpx.AsyncHTTPTransport()
        self._asgi: dict[str, httpx.ASGITransport] = {}
        self._seen: dict[str, str] = {}

    def _route(self, origin: str) -> httpx.ASGITransport | None:
        if self._seen != self.world.urls:
            self._seen = dict(self.world.urls)
            self._asgi = {
                url.rstrip("/"): httpx.ASGITransport(
                    app=self.world.services[name], raise_app_exceptions=False
                )
                for name, url in self.world.urls.items()
                if name in self.world.services
            }
        return self._asgi.get(origin)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` in-process when it targets a sandbox service."""
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        host = "127.0.0.1" if url.host in ("localhost", "127.0.0.1") else url.host
        transport = self._route(f"{url.scheme}://{host}:{port}")
        if transport is not None:
            return await transport.handle_async_request(request)
        return await self._network.handle_async_request(request)

    async def aclose(self) -> None:
        """Close the network transport."""
        await self._network.aclose()
