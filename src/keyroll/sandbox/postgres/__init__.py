"""The emulated PostgreSQL databases and Neon projects, on one real ``postgres`` server.

:func:`install` (only when the fleet has a ``postgres`` or ``neon`` section) starts
:class:`~keyroll.sandbox.postgres.server.PostgresServer`, creates per ``postgres[]`` entry a
database owned by its own login role (``CONNECT`` revoked from ``PUBLIC``: only the role and its
members get in) with a ``hits`` table, and per ``neon[]`` entry a Neon project (database
``neondb`` owned by ``neondb_owner``, a member of ``neon_superuser``) served by the emulated Neon
API (:mod:`.neon`). It fills the ``${postgres:…}`` / ``${neon:…}`` templates, puts
``KEYROLL_POSTGRES_ADMIN_URL`` (a ``CREATEROLE`` role, not a superuser), ``NEON_API_KEY`` and
``KEYROLL_NEON_API_URL`` into ``sandbox.env``, and registers the ``postgres.check`` hook the
deployment behaviour calls for every ``postgres://`` URL in a deployment's env: a fresh
connection and ``UPDATE hits SET n = n + 1`` per request — a real login and a real query.

Neon hosts (``ep-…​.us-east-2.aws.neon.tech``) carry ``hostaddr=127.0.0.1`` in the URL's query
(a libpq connection parameter: connect to this address, keep the host name), so the URLs have
Neon's shape and still reach the local server.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import string
import urllib.parse
from collections.abc import Mapping
from typing import Any

from keyroll.sandbox.postgres.server import PostgresServer, PostgresUnavailable
from keyroll.sandbox.world import World

__all__ = ["PostgresUnavailable", "check_url", "install"]

ROTATOR = "keyroll_rotator"
"""The managing role handed to keyroll (``KEYROLL_POSTGRES_ADMIN_URL``): CREATEROLE + pg_signal_backend."""

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_AUTH_MARKERS = (
    "password authentication failed",
    "is not permitted to log in",
    "does not exist",
    "permission denied for database",
)
_DROPPED_MARKERS = (
    "terminating connection due to administrator command",
    "server closed the connection unexpectedly",
    "consuming input failed",
    "the database system is shutting down",
)


def _password() -> str:
    return secrets.token_urlsafe(24)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1].strip()
    return text[:160]


async def check_url(url: str) -> str:
    """What a deployment does per request with a Postgres URL: connect, ``UPDATE hits``. ``""``
    when it worked, else the cause (value-free). A connection the server drops (Neon drops them
    on role changes) is retried like a pooled driver does; a refused login is not."""
    import psycopg

    parts = urllib.parse.urlsplit(url)
    hostaddr = dict(urllib.parse.parse_qsl(parts.query)).get("hostaddr", "")
    if (parts.hostname or "") not in LOOPBACK and hostaddr not in LOOPBACK:
        return "host is not reachable from the sandbox"
    cause = ""
    for attempt in range(4):
        try:
            async with await psycopg.AsyncConnection.connect(url, connect_timeout=5, autocommit=True) as conn:
                await conn.execute("UPDATE hits SET n = n + 1 WHERE id = 1")
            return ""
        except psycopg.OperationalError as exc:
            cause = _reason(exc)
            if any(m in cause for m in _AUTH_MARKERS):
                return f"login refused ({cause})"
            if not any(m in cause for m in _DROPPED_MARKERS) or attempt == 3:
                return f"connection failed ({cause})"
            await asyncio.sleep(0.05 * (attempt + 1))
        except psycopg.Error as exc:
            return f"query failed ({_reason(exc)})"
    return f"connection failed ({cause})"


def _setup_sql(server: PostgresServer, fleet: Mapping[str, Any]) -> dict[str, Any]:
    """Create roles, databases and tables; returns templates, env and resource info."""
    import psycopg
    from psycopg import sql

    templates: dict[str, str] = {}
    info: dict[str, Any] = {"databases": [], "neon": []}
    rotator_pw = _password()

    def create_db(
        admin: Any, db: str, role: str, password: str, *, extra: str = "", private: bool = True
    ) -> None:
        verifier = admin.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
        admin.execute(
            sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {} " + extra).format(
                sql.Identifier(role), sql.Literal(verifier)
            )
        )
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(role)))
        if private:  # only the owner (and its members: the clone) may connect
            admin.execute(sql.SQL("REVOKE CONNECT ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db)))
        with psycopg.connect(server.url(role, password, db), autocommit=True) as conn:
            conn.execute("CREATE TABLE hits (id int PRIMARY KEY, n bigint NOT NULL)")
            conn.execute("INSERT INTO hits VALUES (1, 0)")

    with psycopg.connect(server.admin_url, autocommit=True) as admin:
        verifier = admin.pgconn.encrypt_password(
            rotator_pw.encode(), ROTATOR.encode(), b"scram-sha-256"
        ).decode()
        admin.execute(
            sql.SQL("CREATE ROLE {} WITH LOGIN CREATEROLE PASSWORD {}").format(
                sql.Identifier(ROTATOR), sql.Literal(verifier)
            )
        )
        admin.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(sql.Identifier(ROTATOR)))
        for spec in fleet.get("postgres") or []:
            name, role, pw = spec["name"], spec.get("role") or spec["name"], _password()
            create_db(admin, name, role, pw)
            for field, value in {
                "url": server.url(role, pw, name),
                "password": pw,
                "user": role,
                "host": "127.0.0.1",
                "port": str(server.port),
                "database": name,
            }.items():
                templates[f"postgres:{name}:{field}"] = value
            info["databases"].append({"name": name, "role": role, "port": server.port})
        if fleet.get("neon"):
            admin.execute("CREATE ROLE neon_superuser WITH NOLOGIN CREATEDB CREATEROLE")
        for spec in fleet.get("neon") or []:
            from keyroll.sandbox.postgres.neon import new_project

            project = new_project(spec, server.port)
            pw = _password()
            create_db(
                admin,
                project.database,
                project.owner,
                pw,
                extra="CREATEDB CREATEROLE IN ROLE neon_superuser",
                private=False,  # Neon leaves CONNECT to PUBLIC: any role of the project may connect
            )
            project.add_role(project.owner, pw)
            q = "hostaddr=127.0.0.1"
            for field, value in {
                "url": project.url(project.owner, pw, pooled=True) + f"?{q}",
                "url_unpooled": project.url(project.owner, pw) + f"?{q}",
                "password": pw,
                "user": project.owner,
                "host": project.pooled_host,
                "host_unpooled": project.host,
                "port": str(server.port),
                "database": project.database,
                "project_id": project.id,
                "branch_id": project.branch_id,
                "endpoint_id": project.endpoint_id,
            }.items():
                templates[f"neon:{spec['name']}:{field}"] = value
            info["neon"].append(project)
    info["rotator_url"] = server.url(ROTATOR, rotator_pw, "postgres")
    info["templates"] = templates
    return info


def install(world: World, fleet: Mapping[str, Any]) -> None:
    """Start the server and seed it when the fleet declares Postgres databases or Neon projects.

    :raises PostgresUnavailable: the fleet needs PostgreSQL and no server could be started.
    """
    if not fleet.get("postgres") and not fleet.get("neon"):
        return
    server = PostgresServer()
    try:
        server.start()
        seeded = _setup_sql(server, fleet)
    except BaseException:  # also Ctrl-C while installing: never leave a server behind
        server.cleanup()
        raise

    async def stop() -> None:
        await asyncio.to_thread(server.cleanup)

    world.shutdown.append(stop)
    world.templates.update(seeded["templates"])
    world.hooks["postgres.check"] = check_url
    world.hooks["postgres.server"] = lambda: server
    env = world.info.setdefault("env", {})
    env["KEYROLL_POSTGRES_ADMIN_URL"] = seeded["rotator_url"]
    world.info["postgres"] = {"port": server.port, "databases": seeded["databases"]}
    if seeded["neon"]:
        from keyroll.sandbox.postgres.neon import NeonState, create_app

        state = NeonState(
            server=server,
            api_key="napi_"
            + "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(60)),
        )
        for project in seeded["neon"]:
            state.projects[project.id] = project
        world.add_service("neon", create_app(world, state))
        url = world.reserve_url("neon")
        env["NEON_API_KEY"] = state.api_key
        env["KEYROLL_NEON_API_URL"] = url
        world.hooks["neon.state"] = lambda: state
        world.info["neon"] = {
            "projects": [
                {
                    "id": p.id,
                    "name": p.name,
                    "branch_id": p.branch_id,
                    "endpoint_id": p.endpoint_id,
                    "host": p.host,
                }
                for p in seeded["neon"]
            ]
        }

        async def stop_tasks() -> None:
            for task in list(state.tasks):
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*state.tasks, return_exceptions=True)

        world.shutdown.append(stop_tasks)
