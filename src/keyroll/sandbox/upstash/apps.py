"""Common finishing of the Upstash services' Starlette apps: JSON for every framework answer.

The SDKs decode every answer as JSON (a non-JSON body makes them retry, then fail), so
unmatched paths (including ones Starlette's path regex cannot match, such as encoded
newlines), wrong methods and unexpected exceptions all answer ``{"error": …}``.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["finish"]

log = logging.getLogger(__name__)


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    await JSONResponse({"error": "not found"}, status_code=404)(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    message = {405: "Method Not Allowed", 404: "not found"}.get(status, "bad request")
    return JSONResponse({"error": message}, status_code=status)


async def _crash(request: Request, exc: Exception) -> Response:
    # Only the first path segment: REST paths carry command arguments (values, even passwords).
    first = request.url.path.split("/")[1][:32] if "/" in request.url.path else ""
    log.error("sandbox service error on %s /%s…: %s", request.method, first, type(exc).__name__)
    return JSONResponse({"error": "ERR internal error"}, status_code=500)


def finish(app: Starlette, default: ASGIApp | None = None) -> Starlette:
    """Answer unmatched requests with ``default`` (a JSON 404 unless given) and errors as JSON."""
    app.router.default = default or _not_found
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _crash)
    return app
