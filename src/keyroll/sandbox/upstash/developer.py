"""The Upstash Developer API (``/v2/…`` and ``/auditlogs``), HTTP Basic email + API key.

Field names and types follow the OpenAPI file of ``upstash/docs`` (``db_acl_enabled`` is the
string ``"true"``/``"false"``, index resets answer ``"OK"`` …). Resources created through the
Vercel integration live in another (Vercel-owned) account: they are absent from lists and
answer 404 here, as in reality.

Credential protection has no Developer API endpoint (a console toggle, absent from the
OpenAPI file), so none is served here: the fleet's ``credential_protection`` flag sets it. With
protection on, database reads omit ``password``/``rest_token``/``read_only_rest_token``. It is a
Prod Pack feature: ``prod_pack_enabled`` renders the fleet's per-database ``prod_pack`` flag
(implied by ``credential_protection: true``).

``endpoint`` has the documented shapes (:mod:`.hosts`): a bare host for Redis, a slug for
Vector/Search. A free database (fleet ``free: true``) reads ``type: "free"`` and
``db_acl_enabled: "false"``; a global one lists its ``read_regions``.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyroll.sandbox.upstash import resets
from keyroll.sandbox.upstash.apps import finish
from keyroll.sandbox.upstash.chaos import ChaosMiddleware
from keyroll.sandbox.upstash.redis_server import ServerError
from keyroll.sandbox.upstash.state import QStashUser, RedisDB, SearchIndex, UpstashState, VectorIndex
from keyroll.sandbox.world import World

__all__ = ["create_app", "database_json"]

Handler = Callable[[Request], Awaitable[Response]]
_Index = TypeVar("_Index", VectorIndex, SearchIndex)


def _err(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def database_json(db: RedisDB, *, email: str, credentials: bool = True) -> dict[str, Any]:
    """A ``Database`` object as the Developer API returns it."""
    out: dict[str, Any] = {
        "database_id": db.id,
        "database_name": db.name,
        "database_type": "Free" if db.free else "Pay as You Go",
        "region": "global",
        "port": db.tcp_port,
        "creation_time": db.creation_time,
        "state": "active",
        "endpoint": db.endpoint,
        "tls": False,
        "user_email": email,
        "customer_id": email,
        "type": "free" if db.free else "payg",
        "budget": 0 if db.free else 360,
        "primary_region": db.region,
        "primary_members": [db.region],
        "all_members": [db.region, *db.read_regions],
        "read_regions": list(db.read_regions),
        "eviction": False,
        "auto_upgrade": False,
        "consistent": False,
        "modifying_state": "",
        "db_max_clients": 10000,
        "db_max_request_size": 10485760,
        "db_disk_threshold": 107374182400,
        "db_max_entry_size": 104857600,
        "db_memory_threshold": 3221225472,
        "db_max_commands_per_second": 10000,
        "db_acl_enabled": "false" if db.free else "true",
        "db_acl_default_user_status": "true",
        "db_eviction": False,
        "daily_backup_enabled": False,
        "securityAddons": {
            "ipWhitelisting": False,
            "vpcPeering": False,
            "privateLink": False,
            "tlsMutualAuth": False,
            "encryptionAtRest": False,
        },
        "prometheus_enabled": "false",
        "prod_pack_enabled": db.prod_pack or db.credential_protection,
    }
    if credentials and not db.credential_protection:
        out["password"] = db.password
        out["rest_token"] = db.rest_token
        out["read_only_rest_token"] = db.readonly_token
    return out


def vector_json(index: VectorIndex, *, email: str) -> dict[str, Any]:
    """A ``VectorIndex`` object."""
    return {
        "customer_id": email,
        "id": index.id,
        "name": index.name,
        "similarity_function": index.similarity_function,
        "dimension_count": index.dimension,
        "embedding_model": "",
        "endpoint": index.endpoint,
        "token": index.token,
        "read_only_token": index.readonly_token,
        "type": "payg",
        "region": index.region,
        "max_vector_count": 5210000,
        "max_daily_updates": -1,
        "max_daily_queries": -1,
        "max_monthly_bandwidth": -1,
        "max_writes_per_second": 1000,
        "max_query_per_second": 1000,
        "max_reads_per_request": 1000,
        "max_writes_per_request": 1000,
        "max_total_metadata_size": 53687091200,
        "reserved_price": 0,
        "creation_time": index.creation_time,
        "index_type": "DENSE",
    }


def search_json(index: SearchIndex, *, email: str) -> dict[str, Any]:
    """A ``SearchIndex`` object (``vercel_email`` empty: a native account)."""
    return {
        "customer_id": email,
        "id": index.id,
        "name": index.name,
        "endpoint": index.endpoint,
        "type": "payg",
        "region": index.region,
        "vercel_email": "",
        "token": index.token,
        "read_only_token": index.readonly_token,
        "max_vector_count": 2000000,
        "max_monthly_reranks": -1,
        "max_daily_updates": -1,
        "max_daily_queries": -1,
        "max_monthly_bandwidth": -1,
        "max_writes_per_second": 1000,
        "max_query_per_second": 1000,
        "max_reads_per_request": 100,
        "max_writes_per_request": 100,
        "creation_time": index.creation_time,
        "input_enrichment_enabled": True,
    }


def qstash_json(user: QStashUser, *, email: str) -> dict[str, Any]:
    """A ``QStashUser`` object."""
    return {
        "customer_id": email,
        "id": user.id,
        "token": user.token,
        "read_only_token": user.readonly_token,
        "active": True,
        "state": "active",
        "modifying_state": "",
        "max_message_size": 1048576,
        "max_requests_per_day": 1000000,
        "max_requests_per_second": 100,
        "max_retries": 5,
        "max_topics": 100,
        "max_schedules": 1000,
        "max_queues": 100,
        "prod_pack_enabled": False,
        "prometheus_enabled": "false",
        "timeout": 900,
        "type": "paid",
        "region": user.region,
        "reserved_type": "",
        "reserved_price": 0,
        "created_by": email,
        "creation_time": user.creation_time,
        "deletion_time": 0,
        "budget": 0,
        "enterprise": "",
    }


def create_app(world: World, state: UpstashState, started: Callable[[], float]) -> Starlette:
    """The Developer API service (``upstash``)."""
    source = "API_KEY - keyroll-sandbox"

    def authorized(request: Request) -> bool:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            email, _, key = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return False
        return secrets.compare_digest(email, state.email) and secrets.compare_digest(key, state.api_key)

    def guarded(fn: Handler) -> Handler:
        async def wrapper(request: Request) -> Response:
            if not authorized(request):
                return _err(401, "Unauthorized")
            return await fn(request)

        return wrapper

    def visible_db(request: Request) -> RedisDB | None:
        db = state.redis_by_id(request.path_params["id"])
        return None if db is None or db.integration_managed else db

    def db_out(db: RedisDB, *, credentials: bool = True) -> dict[str, Any]:
        return database_json(db, email=state.email, credentials=credentials)

    async def list_databases(request: Request) -> Response:
        return JSONResponse([db_out(d) for d in state.redis.values() if not d.integration_managed])

    async def get_database(request: Request) -> Response:
        db = visible_db(request)
        if db is None:
            return _err(404, "database not found")
        hide = request.query_params.get("credentials", "") == "hide"
        return JSONResponse(db_out(db, credentials=not hide))

    async def reset_password(request: Request) -> Response:
        db = visible_db(request)
        if db is None:
            return _err(404, "database not found")
        try:
            await resets.reset_redis(state, db, source=source)
        except ServerError:
            return _err(500, "internal error, try again")
        out = db_out(db, credentials=False)
        # With credential protection the new credentials are shown once — here.
        out.update(password=db.password, rest_token=db.rest_token, read_only_rest_token=db.readonly_token)
        return JSONResponse(out)

    def native_qstash() -> list[QStashUser]:
        return [u for u in state.qstash_regions.values() if u.managed_by == "native"]

    def qstash_user(request: Request) -> QStashUser | None:
        return next((u for u in native_qstash() if u.id == request.path_params.get("id")), None)

    async def list_qstash(request: Request) -> Response:
        return JSONResponse([qstash_json(u, email=state.email) for u in native_qstash()])

    async def get_qstash(request: Request) -> Response:
        user = qstash_user(request)
        if user is None:
            return _err(404, "qstash user not found")
        return JSONResponse(qstash_json(user, email=state.email))

    async def rotate_qstash(request: Request) -> Response:
        user = qstash_user(request)
        if user is None:
            return _err(404, "qstash user not found")
        resets.reset_qstash_token(state, user, source=source)
        return JSONResponse(qstash_json(user, email=state.email))

    async def legacy_qstash(request: Request) -> Response:
        # the legacy single-user form answers for the default (first) region
        user = state.qstash if state.qstash is not None and state.qstash.managed_by == "native" else None
        if user is None:
            return _err(404, "qstash user not found")
        return JSONResponse(qstash_json(user, email=state.email))

    async def teams(request: Request) -> Response:
        if not state.team_name:
            return JSONResponse([])
        team_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keyroll-sandbox:{state.team_name}"))
        return JSONResponse([{"team_id": team_id, "team_name": state.team_name, "copy_cc": False}])

    async def audit_logs(request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "log_id": e.log_id,
                    "customer_id": state.email,
                    "actor": state.email,
                    "timestamp": e.timestamp,
                    "action": e.action,
                    "action_string": e.action_string,
                    "source": e.source,
                    "entity": e.entity,
                    "secondary_entity": e.secondary_entity,
                    "third_entity": "",
                    "readable_format": "",
                    "ip": "127.0.0.1",
                    "ttl": e.timestamp + 180 * 86400,
                    "reason": "",
                    "notes": "",
                }
                for e in reversed(state.audit)
            ]
        )

    async def not_found(request: Request) -> Response:
        return _err(404, "not found")

    def r(path: str, fn: Handler, method: str = "GET") -> Route:
        return Route(path, guarded(fn), methods=[method])

    def index_routes(
        base: str,
        indexes: Mapping[str, _Index],
        by_id: Callable[[str], _Index | None],
        to_json: Callable[..., dict[str, Any]],
        reset: Callable[..., None],
        missing: str,
    ) -> list[Route]:
        """``GET base`` (native indexes), ``GET base/{id}``, ``POST base/{id}/reset-password`` (``"OK"``)."""

        def visible(request: Request) -> _Index | None:
            index = by_id(request.path_params["id"])
            return None if index is None or index.managed_by != "native" else index

        async def list_all(request: Request) -> Response:
            return JSONResponse(
                [to_json(i, email=state.email) for i in indexes.values() if i.managed_by == "native"]
            )

        async def get_one(request: Request) -> Response:
            index = visible(request)
            if index is None:
                return _err(404, missing)
            return JSONResponse(to_json(index, email=state.email))

        async def reset_one(request: Request) -> Response:
            index = visible(request)
            if index is None:
                return _err(404, missing)
            reset(state, index, source=source)
            return JSONResponse("OK")

        return [
            r(base, list_all),
            r(f"{base}/{{id}}", get_one),
            r(f"{base}/{{id}}/reset-password", reset_one, "POST"),
        ]

    routes = [
        r("/v2/redis/databases", list_databases),
        r("/v2/redis/database/{id}", get_database),
        r("/v2/redis/reset-password/{id}", reset_password, "POST"),
        *index_routes(
            "/v2/vector/index",
            state.vector,
            state.vector_by_id,
            vector_json,
            resets.reset_vector,
            "index not found",
        ),
        *index_routes(
            "/v2/search",
            state.search,
            state.search_by_id,
            search_json,
            resets.reset_search,
            "search index not found",
        ),
        r("/v2/qstash/users", list_qstash),
        r("/v2/qstash/user", legacy_qstash),
        r("/v2/qstash/user/{id}", get_qstash),
        r("/v2/qstash/rotate-token/{id}", rotate_qstash, "POST"),
        r("/v2/teams", teams),
        r("/auditlogs", audit_logs),
        Route("/{path:path}", guarded(not_found), methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]

    return finish(
        Starlette(
            routes=routes,
            middleware=[
                Middleware(ChaosMiddleware, world=world, name="upstash", control=True, started=started)
            ],
        )
    )
