"""The PostgreSQL adapter: any ``postgres://`` / ``postgresql://`` URL with a password.

Zero-downtime rotation by **alternating users**, the pattern AWS Secrets Manager uses for its
multi-user rotation (docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html,
"Rotation strategy: alternating users"): the first rotation clones the user into ``<user>_clone``
(``CREATE ROLE … LOGIN`` + ``GRANT <user> TO <user>_clone``, so the clone has exactly the user's
privileges through membership), and every later rotation sets a new password on whichever of the
two is *not* in use. Both work during the overlap; AWS needs a separate superuser secret because
"most users don't have permission to clone themselves" — here ``KEYROLL_POSTGRES_ADMIN_URL`` (a
role with ``CREATEROLE``; ``pg_signal_backend`` to end the old role's sessions).

Unlike AWS (which leaves the previous user valid), keyroll rotates because a value *leaked*, so
``revoke`` kills it: ``ALTER ROLE <old> PASSWORD NULL`` (password authentication then always
fails; the role keeps its grants and is the next rotation's target) and ends the old role's
open sessions (``pg_terminate_backend``).

Passwords are generated locally (journaled before use) and sent to the server only as SCRAM-SHA-256
verifiers (libpq's ``PQencryptPasswordConn``, as ``psql``'s ``\\password`` does): no plaintext
password reaches the server, its logs or ``pg_stat_activity``.

Driver: psycopg 3 (``pip install 'keyroll[postgres]'``), imported only when a probe or rotation runs.
"""

from __future__ import annotations

import contextlib
import secrets
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from keyroll.adapters.interface import (
    AdapterContext,
    AdapterError,
    CredentialRef,
    Detection,
    Minted,
    ProbeResult,
    ProviderAdapter,
    Setting,
    Verdict,
)
from keyroll.core.secret import Secret

__all__ = ["CLONE_SUFFIX", "PostgresAdapter", "alternate_role", "connection_url", "driver", "parse_url"]

CLONE_SUFFIX = "_clone"
"""AWS's name for the second user of an alternating pair."""

SCHEMES = ("postgres", "postgresql")

REJECTED_MARKERS = (
    "password authentication failed",
    "is not permitted to log in",
    "does not exist",  # role "x" does not exist
    "no password supplied",
    "password is expired",
    "permission denied for database",  # logged in, but may not use the database: useless to the app
)


def parse_url(value: str) -> dict[str, str] | None:
    """``scheme, user, password, host, port, database, query`` of a Postgres URL with a password."""
    text = value.strip()
    if not text.lower().startswith(tuple(f"{s}://" for s in SCHEMES)):
        return None
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    if not parts.password or not parts.username or not parts.hostname:
        return None
    query = [
        (k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != "password"
    ]
    return {
        "scheme": parts.scheme.lower(),
        "user": urllib.parse.unquote(parts.username),
        "password": urllib.parse.unquote(parts.password),
        "host": parts.hostname,
        "port": str(port or 5432),
        "database": urllib.parse.unquote(parts.path.lstrip("/")),
        "query": urllib.parse.urlencode(query),
    }


def endpoint_of(parts: dict[str, str]) -> str:
    """The value-free endpoint: ``postgres://host:port/db[?query]``."""
    q = f"?{parts['query']}" if parts.get("query") else ""
    return f"postgres://{parts['host']}:{parts['port']}/{parts['database']}{q}"


def connection_url(endpoint: str, user: str, password: Secret) -> Secret:
    """A full connection URL for ``user`` on a value-free ``endpoint``."""
    parts = urllib.parse.urlsplit(endpoint)
    netloc = (
        f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password.reveal(), safe='')}@{parts.netloc}"
    )
    return Secret(urllib.parse.urlunsplit(("postgresql", netloc, parts.path, parts.query, "")))


def alternate_role(user: str) -> str:
    """The other role of the pair: ``app`` ↔ ``app_clone``."""
    return (
        user[: -len(CLONE_SUFFIX)]
        if user.endswith(CLONE_SUFFIX) and len(user) > len(CLONE_SUFFIX)
        else user + CLONE_SUFFIX
    )


def _same_server(a: str, b: str) -> bool:
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    try:
        return (pa.hostname, pa.port or 5432) == (pb.hostname, pb.port or 5432)
    except ValueError:
        return False


def driver() -> Any:
    """The psycopg module.

    :raises AdapterError: it is not installed (it is the ``postgres`` extra).
    """
    try:
        import psycopg
    except ImportError:
        raise AdapterError(
            "postgres: the psycopg driver is not installed", hint="pip install 'keyroll[postgres]'"
        ) from None
    return psycopg


def _reason(exc: BaseException) -> str:
    """A value-free one-liner for a driver error (server messages name roles, never passwords)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "FATAL:" in text:
        text = text.split("FATAL:", 1)[1].strip()
    return text[:200]


class PostgresAdapter(ProviderAdapter):
    """PostgreSQL login roles, rotated by alternating two roles with the same grants."""

    name = "postgres"
    title = "PostgreSQL (alternating login roles)"
    kinds = ("postgres_password",)
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting(
            "KEYROLL_POSTGRES_ADMIN_URL",
            "a role with CREATEROLE (and pg_signal_backend) on the server: clones and alters the login "
            "roles; without it keyroll acts as the credential's own role",
        ),
    )
    priority = 10

    # -- detect / probe ------------------------------------------------------------------------
    def detect(self, value: str, *, key: str = "") -> Detection | None:
        """A ``postgres(ql)://user:password@host[:port]/db`` URL."""
        parts = parse_url(value)
        if parts is None:
            return None
        return Detection(
            adapter=self.name,
            kind="postgres_password",
            secret=Secret(parts["password"]),
            in_url=True,
            principal=parts["user"],
            endpoint=endpoint_of(parts),
        )

    async def probe(self, cred: CredentialRef, ctx: AdapterContext) -> ProbeResult:
        """Log in as the credential's role and run ``SELECT 1``."""
        if not cred.endpoint or not cred.principal:
            return ProbeResult(Verdict.UNKNOWN, "endpoint or role unknown")
        try:
            import psycopg
        except ImportError:
            return ProbeResult(Verdict.UNKNOWN, "psycopg is not installed (pip install 'keyroll[postgres]')")
        url = connection_url(cred.endpoint, cred.principal, cred.secret)
        try:
            async with await psycopg.AsyncConnection.connect(url.reveal(), connect_timeout=5) as conn:
                await conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            reason = _reason(exc)
            if any(m in reason for m in REJECTED_MARKERS):
                return ProbeResult(Verdict.REJECTED, f"login as {cred.principal} refused ({reason})")
            return ProbeResult(Verdict.UNKNOWN, f"could not reach the server ({reason})")
        except psycopg.Error as exc:
            return ProbeResult(Verdict.UNKNOWN, f"probe failed ({type(exc).__name__})")
        return ProbeResult(Verdict.ACCEPTED, f"SELECT 1 as {cred.principal}")

    # -- mint / revoke -------------------------------------------------------------------------
    def propose(self, cred: CredentialRef) -> Secret | None:
        """A random 40-character URL-safe password (no quoting needed in URLs)."""
        return Secret(secrets.token_urlsafe(30))

    @contextlib.asynccontextmanager
    async def _admin(
        self, ctx: AdapterContext, cred: CredentialRef, *, user: str, password: Secret
    ) -> AsyncIterator[Any]:
        """A connection that may manage roles: ``KEYROLL_POSTGRES_ADMIN_URL`` when it points at
        the same server, else ``user``/``password`` on the credential's own endpoint."""
        psycopg = driver()

        admin = ctx.setting("KEYROLL_POSTGRES_ADMIN_URL")
        target = admin if admin is not None and _same_server(admin.reveal(), cred.endpoint) else None
        if target is None:
            target = connection_url(cred.endpoint, user, password)
        try:
            conn = await psycopg.AsyncConnection.connect(target.reveal(), connect_timeout=10, autocommit=True)
        except psycopg.Error as exc:
            raise AdapterError(
                f"postgres: cannot connect to manage roles ({_reason(exc)})",
                hint="set KEYROLL_POSTGRES_ADMIN_URL to a role with CREATEROLE on this server",
            ) from None
        try:
            yield conn
        finally:
            await conn.close()

    @staticmethod
    def _verifier(conn: Any, role: str, password: Secret) -> str:
        raw = conn.pgconn.encrypt_password(password.reveal().encode(), role.encode(), b"scram-sha-256")
        return bytes(raw).decode()

    async def mint(
        self, cred: CredentialRef, ctx: AdapterContext, *, proposed: Secret | None = None
    ) -> Minted:
        """Clone (first time) or re-password the other role of the pair; same grants via membership."""
        psycopg = driver()
        from psycopg import sql

        password = proposed or self.propose(cred)
        assert password is not None
        current = cred.principal
        other = alternate_role(current)
        async with self._admin(ctx, cred, user=current, password=cred.secret) as conn:
            try:
                row = await (
                    await conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (other,))
                ).fetchone()
                verifier = sql.Literal(self._verifier(conn, other, password))
                created = row is None
                if created:
                    await conn.execute(
                        sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                            sql.Identifier(other), verifier
                        )
                    )
                else:
                    await conn.execute(
                        sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                            sql.Identifier(other), verifier
                        )
                    )
                member = await (
                    await conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (other, current))
                ).fetchone()
                granted = False
                if not (member and member[0]) and other.endswith(CLONE_SUFFIX):
                    # AWS: the clone gets the user's privileges; membership keeps them in step
                    await conn.execute(
                        sql.SQL("GRANT {} TO {}").format(sql.Identifier(current), sql.Identifier(other))
                    )
                    granted = True
            except psycopg.Error as exc:
                raise AdapterError(
                    f"postgres: preparing role {other} failed ({_reason(exc)})",
                    hint="the managing role needs CREATEROLE (KEYROLL_POSTGRES_ADMIN_URL)",
                ) from None
        return Minted(
            secret=password,
            principal=other,
            url=connection_url(cred.endpoint, other, password),
            state={
                "role": other,
                "previous_role": current,
                "created": created,
                "granted": granted,
                "endpoint": cred.endpoint,
            },
        )

    async def _disable(
        self, ctx: AdapterContext, cred: CredentialRef, role: str, *, act_as: tuple[str, Secret]
    ) -> dict[str, Any]:
        psycopg = driver()
        from psycopg import sql

        async with self._admin(ctx, cred, user=act_as[0], password=act_as[1]) as conn:
            try:
                await conn.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD NULL").format(sql.Identifier(role)))
            except psycopg.Error as exc:
                raise AdapterError(
                    f"postgres: removing the password of {role} failed ({_reason(exc)})"
                ) from None
            ended, note = 0, ""
            try:
                cur = await conn.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE usename = %s AND pid <> pg_backend_pid()",
                    (role,),
                )
                row = await cur.fetchone()
                ended = int(row[0]) if row else 0
            except psycopg.Error as exc:
                note = f"open sessions of {role} were not ended ({_reason(exc)})"
        out: dict[str, Any] = {"role": role, "password": "removed", "sessions_ended": ended}
        if note:
            out["note"] = note
        return out

    async def revoke(self, cred: CredentialRef, new: Minted | None, ctx: AdapterContext) -> dict[str, Any]:
        """``ALTER ROLE <old> PASSWORD NULL`` and end its sessions (as the admin, else as itself)."""
        return await self._disable(ctx, cred, cred.principal, act_as=(cred.principal, cred.secret))

    async def undo_mint(self, minted: Minted, ctx: AdapterContext) -> dict[str, Any]:
        """Rollback: the minted role's password goes (the old one still works)."""
        endpoint = str(minted.state.get("endpoint") or "")
        if not endpoint or not minted.principal:
            return {}
        ref = CredentialRef(
            self.name, "postgres_password", minted.secret, principal=minted.principal, endpoint=endpoint
        )
        return await self._disable(ctx, ref, minted.principal, act_as=(minted.principal, minted.secret))
