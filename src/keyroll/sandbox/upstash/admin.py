"""Sandbox-only controls (service ``admin``): the Upstash dashboard and a few knobs.

* ``POST /_sandbox/upstash/{kind}/{name}/reset`` — the dashboard "Reset Credentials" button
  (``kind`` = redis | vector | search | qstash; ``name`` = resource name; for qstash a region, anything else meaning the first region).
  Works for integration-managed resources too; for those it then calls
  ``vercel.resync_integration(configuration_id, {KEY: new value})`` like the Vercel integration
  does. Answers fingerprints only.
* ``GET /_sandbox/upstash/resources`` — the resource summary (no secrets).
* ``GET /_sandbox/loadgen`` — load generator statistics; ``POST /_sandbox/loadgen/start``
  (``{"rps": …, "duration": …}``) and ``POST /_sandbox/loadgen/stop``.
* ``POST /_sandbox/redis/restart`` — restart every redis-server (data and ACLs survive).
* ``POST /_sandbox/faults`` — ``{"spec": "error_rate=0.1,…"}`` replaces ``World.faults`` fields.

No authentication: it listens on loopback and exists only in the sandbox.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.upstash import resets
from keyroll.sandbox.upstash.apps import finish
from keyroll.sandbox.upstash.redis_server import ServerError
from keyroll.sandbox.upstash.state import UpstashState
from keyroll.sandbox.world import Faults, World

__all__ = ["create_app", "dashboard_reset"]


async def dashboard_reset(world: World, state: UpstashState, kind: str, name: str) -> dict[str, Any]:
    """Reset a resource's credentials as the dashboard does, then resync the Vercel integration.

    :raises KeyError: unknown kind or name.
    :raises ServerError: the redis-server refused the change.
    """
    resource: Any
    if kind == "redis":
        resource = state.redis[name]
        await resets.reset_redis(state, resource, source="CONSOLE")
    elif kind == "vector":
        resource = state.vector[name]
        resets.reset_vector(state, resource, source="CONSOLE")
    elif kind == "search":
        resource = state.search[name]
        resets.reset_search(state, resource, source="CONSOLE")
    elif kind == "qstash":
        user = state.qstash_user(name) or state.qstash
        if user is None:
            raise KeyError(kind)
        resource = user
        resets.reset_qstash_token(state, resource, source="CONSOLE")
    else:
        raise KeyError(kind)
    values = resets.integration_values(kind, resource, world.urls)
    resynced = 0
    cfg = getattr(resource, "configuration_id", None)
    hook = world.hooks.get("vercel.resync_integration")
    if cfg and hook is not None and getattr(resource, "resync", True):
        resynced = int(hook(cfg, values) or 0)
    return {
        "kind": kind,
        "name": getattr(resource, "name", resource.id),
        "id": resource.id,
        "configuration_id": cfg,
        "resynced": resynced,
        "fingerprints": {
            k: fingerprint_of(v)
            for k, v in sorted(values.items())
            if not k.endswith(("_REST_URL", "_API_URL"))
        },
    }


def create_app(
    world: World,
    state: UpstashState,
    *,
    restart: Callable[[], Awaitable[None]],
    loadgen: dict[str, Callable[..., Any]],
) -> Starlette:
    """The admin service."""

    async def reset(request: Request) -> Response:
        kind, name = request.path_params["kind"], request.path_params["name"]
        try:
            out = await dashboard_reset(world, state, kind, name)
        except KeyError:
            return JSONResponse({"error": f"no {kind} resource named {name}"}, status_code=404)
        except ServerError:
            return JSONResponse({"error": "redis-server refused the reset; try again"}, status_code=500)
        return JSONResponse(out)

    async def resources(request: Request) -> Response:
        return JSONResponse(world.info.get("resources", {}))

    async def loadgen_stats(request: Request) -> Response:
        return JSONResponse(loadgen["stats"]())

    async def loadgen_start(request: Request) -> Response:
        body: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            parsed = await request.json()
            body = parsed if isinstance(parsed, dict) else {}
        try:
            rps = float(body.get("rps", 10))
            duration = float(body.get("duration", 60))
        except (TypeError, ValueError):
            return JSONResponse({"error": "rps and duration must be numbers"}, status_code=400)
        try:
            loadgen["start"](rps=rps, duration=duration)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"started": True, "rps": rps, "duration": duration})

    async def loadgen_stop(request: Request) -> Response:
        loadgen["stop"]()
        return JSONResponse(loadgen["stats"]())

    async def redis_restart(request: Request) -> Response:
        await restart()
        return JSONResponse({"restarted": sorted(state.redis)})

    async def faults(request: Request) -> Response:
        try:
            body = await request.json()
            parsed = Faults.parse(str(body.get("spec", "")) if isinstance(body, dict) else "")
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        for name in parsed.__dataclass_fields__:
            setattr(world.faults, name, getattr(parsed, name))
        return JSONResponse({k: getattr(world.faults, k) for k in world.faults.__dataclass_fields__})

    async def not_found(request: Request) -> Response:
        return JSONResponse({"error": "not found"}, status_code=404)

    return finish(
        Starlette(
            routes=[
                Route("/_sandbox/upstash/{kind}/{name}/reset", reset, methods=["POST"]),
                Route("/_sandbox/upstash/resources", resources, methods=["GET"]),
                Route("/_sandbox/loadgen", loadgen_stats, methods=["GET"]),
                Route("/_sandbox/loadgen/start", loadgen_start, methods=["POST"]),
                Route("/_sandbox/loadgen/stop", loadgen_stop, methods=["POST"]),
                Route("/_sandbox/redis/restart", redis_restart, methods=["POST"]),
                Route("/_sandbox/faults", faults, methods=["POST"]),
                Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            ]
        )
    )
