"""Shared pieces of the Vector and Search data APIs: bearer auth and JSON answers.

Both answer ``{"result": …}`` or ``{"error": …, "status": n}``; a bad token gets 401
``{"error":"Unauthorized: Invalid auth token","status":401}``; the read-only token may not
write (403). The Python SDKs send POST for everything, so every route accepts POST (plus
GET/DELETE where the docs list them).
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

__all__ = ["authorize", "error", "read_json", "result"]

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
