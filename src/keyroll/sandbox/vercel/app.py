"""The emulated Vercel REST API as a Starlette app.

Every API route goes through :meth:`VercelApp.api`, which plays the parts of the real edge
in this order: latency → bearer auth (403 ``forbidden``) → team scope (``teamId``/``slug``;
another team → 403) → per-endpoint-class rate limit (429 ``rate_limited`` with
``error.limit`` and ``Retry-After``) → injected faults (timeouts, 5xx) → the handler.
``X-RateLimit-*`` headers are set on every API response. Any exception a handler did not
expect becomes a 500 ``internal_server_error`` (and is logged): the emulator never drops a
connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from keyroll.sandbox.guard import Guard
from keyroll.sandbox.vercel.errors import ApiError, bad_request, error_response, not_found
from keyroll.sandbox.vercel.records import Project
from keyroll.sandbox.vercel.state import VercelState
from keyroll.sandbox.world import World

__all__ = ["DEFAULT_LIMITS", "Call", "VercelApp", "paginate"]

log = logging.getLogger(__name__)

DEFAULT_LIMITS = {
    "env_read": 500,
    "env_write": 120,
    "deployments_create": 60,
    "deployments_read": 500,
    "events": 100,
    "default": 200,
}
"""Requests per rate window by endpoint class. Vercel does not publish per-endpoint numbers
(reference notes §4); these are the commonly reported orders of magnitude per minute."""

MAX_BODY = 4 * 1024 * 1024
"""Largest request body accepted (Vercel's function payload limit is 4.5 MB)."""


@dataclass
class Call:
    """One API request as a handler sees it."""

    request: Request
    state: VercelState
    team_scoped: bool
    """False when the caller gave no ``teamId``/``slug``: the personal account, which owns nothing here"""

    @property
    def query(self) -> Any:
        """The query parameters."""
        return self.request.query_params

    def param(self, name: str) -> str:
        """A path parameter."""
        return str(self.request.path_params[name])

    def flag(self, name: str) -> bool:
        """A boolean query flag (``1``/``true``)."""
        return self.query.get(name, "").lower() in ("1", "true")

    def int_query(
        self, name: str, default: int | None = None, *, lo: int = 0, hi: int | None = None
    ) -> int | None:
        """An integer query parameter, clamped to ``[lo, hi]``.

        :raises ApiError: 400 when it is not a number.
        """
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(float(raw))
        except (ValueError, OverflowError):
            raise bad_request(f"Invalid request: query.{name} should be number.") from None
        value = max(lo, value)
        return min(hi, value) if hi is not None else value

    async def json(self, *, required: bool = True) -> Any:
        """The parsed JSON body.

        :raises ApiError: 400 for a missing or malformed body, 413 when too large.
        """
        raw = await self.request.body()
        if len(raw) > MAX_BODY:
            raise ApiError(413, "payload_too_large", "The request body is too large.")
        if not raw.strip():
            if required:
                raise bad_request("Invalid request: missing request body.")
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise bad_request("Invalid JSON: the request body could not be parsed.") from None

    def project(self, id_or_name: str) -> Project:
        """A project of the scoped team.

        :raises ApiError: 404 ``not_found``.
        """
        project = self.state.project(id_or_name) if self.team_scoped else None
        if project is None:
            raise not_found("Project not found.", projectId=id_or_name)
        return project


Handler = Callable[[Call], Awaitable[Any]]


def paginate(
    items: Sequence[Any],
    stamp: Callable[[Any], int],
    *,
    limit: int,
    until: int | None,
    since: int | None = None,
) -> tuple[list[Any], dict[str, Any]]:
    """Newest-first page of ``items`` with Vercel's ``{count, next, prev}`` cursor (ms timestamps;
    ``until`` exclusive, ``since`` exclusive)."""
    ordered = sorted(items, key=stamp, reverse=True)
    if until is not None:
        ordered = [i for i in ordered if stamp(i) < until]
    if since is not None:
        ordered = [i for i in ordered if stamp(i) > since]
    page = ordered[:limit]
    more = len(ordered) > limit
    pagination = {
        "count": len(page),
        "next": stamp(page[-1]) if page and more else None,
        "prev": stamp(page[0]) if page and until is not None else None,
    }
    return page, pagination


class VercelApp:
    """Builds the Starlette app for one :class:`VercelState`."""

    def __init__(self, world: World, state: VercelState) -> None:
        self.world = world
        self.state = state
        self.guard = Guard(world, "vercel", DEFAULT_LIMITS)
        state.roll_fault = self.guard.roll

    def api(
        self, cls: str, handler: Handler, *, scoped: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler with latency, auth, scope, rate limit, faults and error mapping."""

        async def endpoint(request: Request) -> Response:
            await self.guard.delay()
            rate_headers: dict[str, str] = {}
            try:
                team_scoped = self._authorize(request, scoped)
                rate = self.guard.take(cls)
                rate_headers = rate.headers()
                if not rate.allowed:
                    raise ApiError(
                        429,
                        "rate_limited",
                        f"Rate limit exceeded for {cls.replace('_', ' ')}. Try again in {rate.retry_after_s} seconds.",
                        headers={"Retry-After": str(rate.retry_after_s)},
                        limit={
                            "remaining": 0,
                            "reset": math.ceil(rate.reset_s),
                            "resetMs": int(rate.reset_s * 1000),
                            "total": rate.limit,
                        },
                    )
                await self._inject_faults()
                self.state.refresh()
                result = await handler(Call(request, self.state, team_scoped))
                response = result if isinstance(result, Response) else JSONResponse(result)
            except ApiError as exc:
                response = exc.response()
            except Exception:
                log.exception("vercel sandbox: unexpected error in %s %s", request.method, request.url.path)
                response = error_response(
                    500, "internal_server_error", "An unexpected internal error occurred"
                )
            for k, v in rate_headers.items():
                response.headers.setdefault(k, v)
            return response

        return endpoint

    def _authorize(self, request: Request, scoped: bool) -> bool:
        auth = request.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if not auth:
            raise ApiError(
                403, "forbidden", "The request is missing an authentication token", missingToken=True
            )
        if scheme.lower() != "bearer" or token.strip() != self.state.token:
            raise ApiError(403, "forbidden", "Not authorized", invalidToken=True)
        team_id = request.query_params.get("teamId")
        slug = request.query_params.get("slug")
        if not scoped:
            return True
        if team_id is None and slug is None:
            return False
        if (team_id is not None and team_id != self.state.team["id"]) or (
            slug is not None and slug != self.state.team["slug"]
        ):
            raise ApiError(
                403,
                "forbidden",
                f'Not authorized: Trying to access resource under scope "{team_id or slug}". '
                "You must re-authenticate to this scope or use a token with access to this scope.",
                scope=team_id or slug,
            )
        return True

    async def _inject_faults(self) -> None:
        faults = self.world.faults
        if self.guard.roll("timeout", faults.timeout_rate):
            await asyncio.sleep(faults.timeout_s)
            raise ApiError(504, "gateway_timeout", "The request timed out (injected by the sandbox).")
        if self.guard.roll("error", faults.error_rate):
            raise ApiError(500, "internal_server_error", "An unexpected internal error occurred")

    def build(self, routes: list[BaseRoute]) -> Starlette:
        """The Starlette app with Vercel-shaped 404/405 answers for unknown routes."""

        async def not_found_handler(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 404)
            if status == 405:
                return error_response(
                    405, "method_unknown", f"This endpoint does not respond to {request.method}"
                )
            return error_response(404, "not_found", "The requested resource could not be found")

        return Starlette(
            routes=routes,
            exception_handlers={HTTPException: not_found_handler},
        )

    def route(
        self, path: str, cls: str, handler: Handler, methods: list[str], *, scoped: bool = True
    ) -> Route:
        """A wrapped API route."""
        return Route(path, self.api(cls, handler, scoped=scoped), methods=methods)
