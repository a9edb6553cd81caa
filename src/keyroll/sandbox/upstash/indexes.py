"""Shared pieces of the Vector and Search data APIs: bearer auth, JSON answers, the
fetch/range/delete operations both stores answer alike, and the app that dispatches to handlers.

Both answer ``{"result": …}`` or ``{"error": …, "status": n}``; a bad token gets 401
``{"error":"Unauthorized: Invalid auth token","status":401}``; the read-only token may not
write (403). The Python SDKs send POST for everything, so every route accepts POST (plus
GET/DELETE where the docs list them).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, Protocol, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyroll.sandbox.upstash.apps import finish
from keyroll.sandbox.upstash.chaos import ChaosMiddleware
from keyroll.sandbox.world import World

__all__ = [
    "BadBody",
    "authorize",
    "create_index_app",
    "delete_records",
    "error",
    "fetch_records",
    "ids_of",
    "range_records",
    "read_json",
    "result",
]

MAX_BODY = 10 * 1024 * 1024


def error(status: int, message: str) -> JSONResponse:
    """An error answer."""
    return JSONResponse({"error": message, "status": status}, status_code=status)


def result(value: Any) -> JSONResponse:
    """A success answer."""
    return JSONResponse({"result": value})


def authorize(request: Request, token: str, readonly_token: str, *, write: bool) -> JSONResponse | None:
    """``None`` when the bearer token may do this; else the error answer."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    given = value.strip() if scheme.lower() == "bearer" else ""
    if given and secrets.compare_digest(given, token):
        return None
    if given and secrets.compare_digest(given, readonly_token):
        if write:
            return error(403, "Unauthorized: Read-only token cannot be used for write operations")
        return None
    return error(401, "Unauthorized: Invalid auth token")


class BadBody(Exception):
    """The body is not the JSON the endpoint needs."""


async def read_json(request: Request, *, default: Any = None) -> Any:
    """The JSON body (``default`` when empty).

    :raises BadBody: too large or not JSON.
    """
    body = await request.body()
    if len(body) > MAX_BODY:
        raise BadBody("Request body is too large")
    if not body.strip():
        return default
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadBody("Invalid JSON body") from None


def ids_of(payload: Any) -> list[str] | None:
    """``ids`` of a fetch/delete payload (a list, one id, or ``{"ids": …}``)."""
    if isinstance(payload, list):
        return [str(x) for x in payload if isinstance(x, str | int)]
    if isinstance(payload, str | int):
        return [str(payload)]
    if isinstance(payload, dict):
        ids = payload.get("ids")
        if isinstance(ids, list):
            return [str(x) for x in ids if isinstance(x, str | int)]
        if isinstance(ids, str | int):
            return [str(ids)]
    return None


Store = dict[str, dict[str, Any]]
"""One namespace (Vector) or index (Search): ``id -> record``."""
View = Callable[[dict[str, Any]], dict[str, Any]]
"""How a stored record is answered."""


def fetch_records(payload: Any, store: Store, view: View) -> list[dict[str, Any] | None]:
    """``fetch``: the records under ``prefix`` (by id), or those named by ``ids`` (None where absent).

    :raises BadBody: neither ids nor a prefix.
    """
    prefix = payload.get("prefix") if isinstance(payload, dict) else None
    if isinstance(prefix, str):
        return [view(r) for i, r in sorted(store.items()) if i.startswith(prefix)]
    ids = ids_of(payload)
    if ids is None:
        raise BadBody("ids or prefix is required")
    return [view(store[i]) if i in store else None for i in ids]


def range_records(payload: Any, store: Store, view: View) -> dict[str, Any]:
    """``range``: one page of records by id from ``cursor`` (an offset), and the next cursor ('' at the end).

    :raises BadBody: cursor or limit not an integer.
    """
    opts = payload if isinstance(payload, dict) else {}
    try:
        start = int(opts.get("cursor") or 0)
        limit = int(opts.get("limit", 100))
    except (TypeError, ValueError):
        raise BadBody("Invalid cursor or limit") from None
    given = opts.get("prefix")
    prefix = given if isinstance(given, str) else ""
    ids = [i for i in sorted(store) if i.startswith(prefix)]
    page = ids[start : start + max(0, limit)]
    nxt = str(start + len(page)) if start + len(page) < len(ids) else ""
    return {"nextCursor": nxt, "vectors": [view(store[i]) for i in page]}


def delete_records(payload: Any, store: Store, *, missing: str) -> int:
    """``delete``: remove the records under ``prefix`` or named by ``ids``; how many went.

    :raises BadBody: neither ids nor a prefix (``missing`` is the message).
    """
    prefix = payload.get("prefix") if isinstance(payload, dict) else None
    if isinstance(prefix, str):
        doomed = [i for i in store if i.startswith(prefix)]
    else:
        ids = ids_of(payload)
        if ids is None:
            raise BadBody(missing)
        doomed = [i for i in ids if i in store]
    for i in doomed:
        del store[i]
    return len(doomed)


class IndexState(Protocol):
    """What the app needs of a Vector index or Search database (tokens are read per request)."""

    token: str
    readonly_token: str

    @property
    def service(self) -> str: ...


S = TypeVar("S", bound=IndexState)


def create_index_app(
    world: World,
    state: S,
    handlers: Mapping[str, Callable[[Request, S, str], Awaitable[Response]]],
    *,
    writes: Collection[str],
    needs_name: Collection[str] = (),
) -> Starlette:
    """The data API of one index: ``/{op}`` and ``/{op}/{name}`` dispatched to ``handlers[op]``.

    Unknown ops answer 404, other methods 405, tokens are checked (read-only ones may not run
    ``writes``), ops in ``needs_name`` without a name answer 400, and :class:`BadBody` answers 400.
    """

    async def handle(request: Request) -> Response:
        op = request.path_params.get("op", "")
        name = request.path_params.get("name", "")
        handler = handlers.get(op)
        if handler is None:
            return error(404, f"Unknown endpoint: /{op}")
        if request.method not in ("POST", "GET", "DELETE", "PUT"):
            return error(405, "Method not allowed")
        denied = authorize(request, state.token, state.readonly_token, write=op in writes)
        if denied is not None:
            return denied
        if op in needs_name and not name:
            return error(400, "Index name is required")
        try:
            return await handler(request, state, name)
        except BadBody as exc:
            return error(400, str(exc))

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return finish(
        Starlette(
            routes=[
                Route("/", handle, methods=methods),
                Route("/{op}", handle, methods=methods),
                Route("/{op}/{name:path}", handle, methods=methods),
            ],
            middleware=[Middleware(ChaosMiddleware, world=world, name=state.service)],
        )
    )
