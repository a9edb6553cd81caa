"""The emulated Neon API v2 (role management), backed by the sandbox's real PostgreSQL.

Shapes and behaviours from Neon's API reference (neon.com/docs/reference/api, "Branches"):

* ``GET /api/v2/projects`` → ``{"projects": [...], "pagination": {"cursor": …}}``;
  ``GET /api/v2/projects/{project_id}`` → ``{"project": …}``;
  ``GET /api/v2/projects/{project_id}/endpoints`` → ``{"endpoints": [{id, host, branch_id, type, …}]}``.
* ``GET|POST /api/v2/projects/{project_id}/branches/{branch_id}/roles`` — list / create. Create takes
  ``{"role": {"name": …, "no_login"?: bool}}`` (name ≤ 63 bytes) and answers **201**
  ``{"role": {branch_id, name, password, protected, authentication_method, created_at, updated_at},
  "operations": [...]}``.
* ``GET|DELETE …/roles/{role_name}``; ``POST …/roles/{role_name}/reset_password`` → 200 ``{"role": {…,
  "password"}, "operations": [...]}``: "The new password is ready to use when the last operation
  finishes. The old password remains valid until last operation finishes. Connections to the compute
  endpoint are dropped." — emulated: the SQL change is applied when the operation finishes
  (``apply_delay_s`` after the request), and at that moment every session on the project's database
  is terminated (create and delete drop connections too, as documented for create).
* ``GET …/roles/{role_name}/reveal_password`` → ``{"password": …}``.
* ``GET /api/v2/projects/{project_id}/operations/{operation_id}`` → ``{"operation": {id, action, status,
  …}}``; ``status`` is ``running`` until applied, then ``finished``.

Unconfirmed (stricter choice, docs/sandbox.md): **423 Locked** while another operation of the project
runs; **409** for a role that exists; **401** ``{"code": "", "message": …}`` without a valid
``Authorization: Bearer <NEON_API_KEY>``; API-created roles get ``CREATEDB CREATEROLE`` and membership
in ``neon_superuser`` but no privileges on other roles' tables.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyroll.sandbox.postgres.server import ADMIN_ROLE, PostgresServer, scram_verifier
from keyroll.sandbox.world import World

__all__ = ["NeonProject", "NeonState", "create_app", "new_project"]

_ADJ = ("aged", "cool", "young", "quiet", "misty", "bold", "calm", "lively", "silent", "polished")
_NOUN = ("wildflower", "darkness", "forest", "river", "meadow", "sun", "leaf", "cloud", "brook", "dawn")


def _words() -> str:
    return f"{secrets.choice(_ADJ)}-{secrets.choice(_NOUN)}"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class NeonRole:
    name: str
    password: str | None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    protected: bool = False

    def json(self, branch_id: str, *, with_password: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "branch_id": branch_id,
            "name": self.name,
            "protected": self.protected,
            "authentication_method": "password",
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if with_password:
            out["password"] = self.password
        return out


@dataclass
class NeonProject:
    """One project: one branch (``main``), one read-write endpoint, one database on the local server."""

    id: str
    name: str
    region_id: str
    branch_id: str
    endpoint_id: str
    database: str
    owner: str
    port: int
    roles: dict[str, NeonRole] = field(default_factory=dict)
    created_at: str = field(default_factory=_now)

    @property
    def host(self) -> str:
        region = self.region_id.removeprefix("aws-")
        return f"{self.endpoint_id}.{region}.aws.neon.tech"

    @property
    def pooled_host(self) -> str:
        region = self.region_id.removeprefix("aws-")
        return f"{self.endpoint_id}-pooler.{region}.aws.neon.tech"

    def url(self, role: str, password: str, *, pooled: bool = False) -> str:
        host = self.pooled_host if pooled else self.host
        return f"postgresql://{role}:{password}@{host}:{self.port}/{self.database}"

    def add_role(self, name: str, password: str | None) -> NeonRole:
        role = NeonRole(name, password)
        self.roles[name] = role
        return role

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "region_id": self.region_id,
            "platform_id": "aws",
            "pg_version": 15,
            "default_endpoint_settings": {},
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }

    def endpoint_json(self) -> dict[str, Any]:
        return {
            "id": self.endpoint_id,
            "host": self.host,
            "project_id": self.id,
            "branch_id": self.branch_id,
            "region_id": self.region_id,
            "type": "read_write",
            "current_state": "active",
            "pooler_enabled": True,
            "pooler_mode": "transaction",
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }


def new_project(spec: Mapping[str, Any], port: int) -> NeonProject:
    """A project with Neon-shaped ids (``aged-wildflower-123456``, ``br-…``, ``ep-…``)."""
    return NeonProject(
        id=f"{_words()}-{secrets.randbelow(900000) + 100000}",
        name=str(spec["name"]),
        region_id=str(spec.get("region") or "aws-us-east-2"),
        branch_id=f"br-{_words()}-{secrets.token_hex(4)}",
        endpoint_id=f"ep-{_words()}-{secrets.token_hex(4)}",
        database=str(spec.get("database") or "neondb"),
        owner=str(spec.get("role") or "neondb_owner"),
        port=port,
    )


@dataclass
class Operation:
    id: str
    project_id: str
    branch_id: str
    endpoint_id: str
    action: str
    status: str = "running"
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    started: float = field(default_factory=time.monotonic)
    finished: float = 0.0

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "branch_id": self.branch_id,
            "endpoint_id": self.endpoint_id,
            "action": self.action,
            "status": self.status,
            "failures_count": 0,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "total_duration_ms": int(((self.finished or time.monotonic()) - self.started) * 1000),
        }


@dataclass
class NeonState:
    """Projects, operations and the API key of the emulated Neon account."""

    server: PostgresServer
    api_key: str
    projects: dict[str, NeonProject] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    apply_delay_s: float = 0.3
    calls: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every request (tests read it)"""

    def running(self, project_id: str) -> bool:
        return any(op.project_id == project_id and op.status == "running" for op in self.operations.values())


def _error(status: int, message: str, code: str = "") -> JSONResponse:
    return JSONResponse(
        {"request_id": str(uuid.uuid4()), "code": code, "message": message}, status_code=status
    )


async def _admin_sql(server: PostgresServer, statements: list[Any]) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(server.admin_url, autocommit=True) as conn:
        for stmt in statements:
            await conn.execute(stmt)


async def _drop_connections(server: PostgresServer, database: str) -> None:
    import psycopg

    async with await psycopg.AsyncConnection.connect(server.admin_url, autocommit=True) as conn:
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND usename <> %s AND pid <> pg_backend_pid()",
            (database, ADMIN_ROLE),
        )


def create_app(world: World, state: NeonState) -> Starlette:
    """The Neon API service (``/api/v2/…``)."""

    def verifier(password: str) -> Any:
        from psycopg import sql

        return sql.Literal(scram_verifier(password))

    def start(project: NeonProject, action: str, apply: Callable[[], Awaitable[None]]) -> Operation:
        op = Operation(str(uuid.uuid4()), project.id, project.branch_id, project.endpoint_id, action)
        state.operations[op.id] = op

        async def run() -> None:
            await asyncio.sleep(state.apply_delay_s)
            try:
                await apply()
                await _drop_connections(state.server, project.database)
                op.status = "finished"
            except Exception:
                op.status = "failed"
            op.finished = time.monotonic()
            op.updated_at = _now()

        task = asyncio.get_running_loop().create_task(run())
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        return op

    def guarded(
        handler: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            state.calls.append((request.method, request.url.path))
            if world.latency_ms:
                await asyncio.sleep(world.latency_ms / 1000)
            auth = request.headers.get("authorization", "")
            if not secrets.compare_digest(auth.encode(), f"Bearer {state.api_key}".encode()):
                return _error(401, "authorization failed: provide a valid API key")
            return await handler(request)

        return wrapped

    def project_of(request: Request) -> NeonProject | None:
        return state.projects.get(request.path_params["project_id"])

    def branch_ok(request: Request, project: NeonProject) -> bool:
        return request.path_params.get("branch_id") == project.branch_id

    async def list_projects(request: Request) -> Response:
        projects = sorted(state.projects.values(), key=lambda p: p.id)
        cursor = request.query_params.get("cursor", "")
        limit = min(int(request.query_params.get("limit", "10") or 10), 400)
        page = [p for p in projects if p.id > cursor][:limit]
        return JSONResponse(
            {"projects": [p.json() for p in page], "pagination": {"cursor": page[-1].id if page else cursor}}
        )

    async def get_project(request: Request) -> Response:
        project = project_of(request)
        if project is None:
            return _error(404, "project not found")
        return JSONResponse({"project": project.json()})

    async def list_endpoints(request: Request) -> Response:
        project = project_of(request)
        if project is None:
            return _error(404, "project not found")
        return JSONResponse({"endpoints": [project.endpoint_json()]})

    async def list_roles(request: Request) -> Response:
        project = project_of(request)
        if project is None or not branch_ok(request, project):
            return _error(404, "branch not found")
        return JSONResponse({"roles": [r.json(project.branch_id) for r in project.roles.values()]})

    async def create_role(request: Request) -> Response:
        project = project_of(request)
        if project is None or not branch_ok(request, project):
            return _error(404, "branch not found")
        try:
            body = await request.json()
            role_spec = body["role"]
            name = str(role_spec["name"])
        except (ValueError, KeyError, TypeError):
            return _error(400, 'request body must be {"role": {"name": "..."}}')
        if not name or len(name.encode()) > 63:
            return _error(400, "role name must be 1 to 63 bytes")
        if name in project.roles:
            return _error(409, f"role {name} already exists")
        if state.running(project.id):
            return _error(
                423,
                "project already has running conflicting operations, scheduling of new ones is prohibited",
            )
        no_login = bool(role_spec.get("no_login", False))
        password = None if no_login else secrets.token_urlsafe(24)
        role = project.add_role(name, password)
        from psycopg import sql

        login = (
            sql.SQL("NOLOGIN") if no_login else sql.SQL("LOGIN PASSWORD {}").format(verifier(password or ""))
        )
        stmt = sql.SQL("CREATE ROLE {} WITH {} CREATEDB CREATEROLE IN ROLE neon_superuser").format(
            sql.Identifier(name), login
        )
        op = start(project, "apply_config", lambda: _admin_sql(state.server, [stmt]))
        return JSONResponse(
            {"role": role.json(project.branch_id, with_password=True), "operations": [op.json()]},
            status_code=201,
        )

    async def role_detail(request: Request) -> Response:
        project = project_of(request)
        if project is None or not branch_ok(request, project):
            return _error(404, "branch not found")
        role = project.roles.get(request.path_params["role_name"])
        if role is None:
            return _error(404, "role not found")
        if request.method == "GET":
            return JSONResponse({"role": role.json(project.branch_id)})
        if state.running(project.id):
            return _error(
                423,
                "project already has running conflicting operations, scheduling of new ones is prohibited",
            )
        if role.name == project.owner:
            return _error(400, "the project owner role cannot be deleted")
        from psycopg import sql

        del project.roles[role.name]
        op = start(
            project,
            "apply_config",
            lambda: _admin_sql(state.server, [sql.SQL("DROP ROLE {}").format(sql.Identifier(role.name))]),
        )
        return JSONResponse({"role": role.json(project.branch_id), "operations": [op.json()]})

    async def reset_password(request: Request) -> Response:
        project = project_of(request)
        if project is None or not branch_ok(request, project):
            return _error(404, "branch not found")
        role = project.roles.get(request.path_params["role_name"])
        if role is None:
            return _error(404, "role not found")
        if state.running(project.id):
            return _error(
                423,
                "project already has running conflicting operations, scheduling of new ones is prohibited",
            )
        from psycopg import sql

        password = secrets.token_urlsafe(24)
        stmt = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
            sql.Identifier(role.name), verifier(password)
        )

        async def apply() -> None:
            await _admin_sql(state.server, [stmt])
            role.password = password  # reveal_password shows the new one once it is in force

        op = start(project, "apply_config", apply)
        role.updated_at = _now()
        out = role.json(project.branch_id)
        out["password"] = password
        return JSONResponse({"role": out, "operations": [op.json()]})

    async def reveal_password(request: Request) -> Response:
        project = project_of(request)
        if project is None or not branch_ok(request, project):
            return _error(404, "branch not found")
        role = project.roles.get(request.path_params["role_name"])
        if role is None:
            return _error(404, "role not found")
        if role.password is None:
            return _error(404, "role has no stored password")
        return JSONResponse({"password": role.password})

    async def get_operation(request: Request) -> Response:
        op = state.operations.get(request.path_params["operation_id"])
        if op is None or op.project_id != request.path_params["project_id"]:
            return _error(404, "operation not found")
        return JSONResponse({"operation": op.json()})

    base = "/api/v2/projects"
    roles = base + "/{project_id}/branches/{branch_id}/roles"
    return Starlette(
        routes=[
            Route(base, guarded(list_projects), methods=["GET"]),
            Route(base + "/{project_id}", guarded(get_project), methods=["GET"]),
            Route(base + "/{project_id}/endpoints", guarded(list_endpoints), methods=["GET"]),
            Route(roles, guarded(list_roles), methods=["GET"]),
            Route(roles, guarded(create_role), methods=["POST"]),
            Route(roles + "/{role_name}", guarded(role_detail), methods=["GET", "DELETE"]),
            Route(roles + "/{role_name}/reset_password", guarded(reset_password), methods=["POST"]),
            Route(roles + "/{role_name}/reveal_password", guarded(reveal_password), methods=["GET"]),
            Route(base + "/{project_id}/operations/{operation_id}", guarded(get_operation), methods=["GET"]),
        ]
    )
