"""A real PostgreSQL server for the sandbox (Debian's ``postgresql`` package).

One ``postgres`` process serves every emulated Postgres database and every emulated Neon
project (each a database with its own login roles — roles are cluster-wide in PostgreSQL, so
the fleet keeps their names unique). It runs from a private temp dir on a free loopback port,
TCP only (no Unix socket), ``scram-sha-256`` password authentication for every role, and no
durability (``fsync=off``): a sandbox, not a database.

Binaries: ``$KEYROLL_POSTGRES_BIN`` (a directory holding ``initdb`` and ``postgres``), else the
newest ``/usr/lib/postgresql/<version>/bin`` (Debian/Ubuntu), else ``initdb`` on ``PATH``.
Install them with ``apt-get install -y postgresql`` (the server is not started by the package
in a container; the sandbox starts its own).

PostgreSQL refuses to run as root. As root the sandbox runs ``initdb`` and ``postgres`` as the
unprivileged ``nobody`` user (``setpriv --reuid nobody --regid nogroup --clear-groups``, or the
user named by ``$KEYROLL_POSTGRES_USER``) in a temp dir it ``chown``\\ s to that user; as any
other user it runs them directly. ``setpriv --pdeathsig INT`` ends the server (fast shutdown)
if the sandbox process dies without stopping it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from keyroll.core.errors import ExitCode, KeyrollError

__all__ = ["PostgresServer", "PostgresUnavailable", "find_postgres_bin", "scram_verifier"]

ADMIN_ROLE = "keyroll_sandbox_admin"
"""The bootstrap superuser (the sandbox's own; never handed to keyroll unless asked)."""


class PostgresUnavailable(KeyrollError):
    """No PostgreSQL server binaries, or the server did not start."""

    exit_code = ExitCode.USAGE


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677; what libpq's
    ``PQencryptPasswordConn`` computes): ``SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>``."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", path.parent.name) or ["0"])


def find_postgres_bin() -> Path:
    """The directory holding ``initdb`` and ``postgres``.

    :raises PostgresUnavailable: none found, with what to do about it.
    """
    env = os.environ.get("KEYROLL_POSTGRES_BIN")
    if env:
        d = Path(env)
        if not (os.access(d / "initdb", os.X_OK) and os.access(d / "postgres", os.X_OK)):
            raise PostgresUnavailable(f"KEYROLL_POSTGRES_BIN={env} holds no executable initdb and postgres")
        return d
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    for d in candidates:
        if os.access(d / "initdb", os.X_OK) and os.access(d / "postgres", os.X_OK):
            return d
    found = shutil.which("initdb")
    if found and os.access(Path(found).parent / "postgres", os.X_OK):
        return Path(found).parent
    raise PostgresUnavailable(
        "no PostgreSQL server found for the sandbox",
        hint="apt-get install -y postgresql (or set KEYROLL_POSTGRES_BIN to a directory with initdb and postgres)",
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One ``postgres`` process on ``127.0.0.1:port`` with a sandbox superuser.

    :meth:`start` runs ``initdb`` (once) and the server; :meth:`stop` ends it; :meth:`cleanup`
    removes the temp dir. :attr:`admin_url` is the superuser's connection URL.
    """

    def __init__(self, *, bin_dir: Path | None = None, max_connections: int = 400) -> None:
        self.bin_dir = bin_dir or find_postgres_bin()
        self.max_connections = max_connections
        self.admin_password = secrets.token_urlsafe(24)
        self.port = 0
        self.dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.run_as = self._run_as()

    @staticmethod
    def _run_as() -> str:
        if os.geteuid() != 0:
            return ""
        name = os.environ.get("KEYROLL_POSTGRES_USER", "nobody")
        try:
            pwd.getpwnam(name)
        except KeyError:
            raise PostgresUnavailable(
                f"the sandbox runs postgres as {name!r} (it refuses root), but no such user exists",
                hint="set KEYROLL_POSTGRES_USER to an unprivileged user",
            ) from None
        if not shutil.which("setpriv"):
            raise PostgresUnavailable(
                "running as root, the sandbox needs setpriv (util-linux) to start postgres as another user"
            )
        return name

    def _prefix(self) -> list[str]:
        if not self.run_as:
            return []
        entry = pwd.getpwnam(self.run_as)
        return [
            "setpriv",
            f"--reuid={entry.pw_uid}",
            f"--regid={entry.pw_gid}",
            "--clear-groups",
            "--pdeathsig",
            "INT",
        ]

    def _own(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    @property
    def admin_url(self) -> str:
        """``postgresql://`` URL of the sandbox superuser (database ``postgres``)."""
        return f"postgresql://{ADMIN_ROLE}:{self.admin_password}@127.0.0.1:{self.port}/postgres"

    def url(self, user: str, password: str, database: str, *, host: str = "127.0.0.1") -> str:
        """A connection URL on this server."""
        from urllib.parse import quote

        return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{self.port}/{quote(database, safe='')}"

    def start(self, timeout: float = 30.0) -> None:
        """initdb (first time) and start the server; returns when it accepts connections.

        :raises PostgresUnavailable: initdb or the server failed (with the end of its log).
        """
        if self.dir is None:
            # as root the server runs as another user, who must reach the dir: $TMPDIR may be private
            parent = "/tmp" if self.run_as and os.path.isdir("/tmp") else None
            self.dir = Path(tempfile.mkdtemp(prefix="keyroll-postgres-", dir=parent))
            self._own(self.dir)
            os.chmod(self.dir, 0o700)
            pwfile = self.dir / "pw"
            pwfile.write_text(self.admin_password + "\n")
            self._own(pwfile)
            os.chmod(pwfile, 0o600)
            result = subprocess.run(
                [
                    *self._prefix(),
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.dir / "data"),
                    "-U",
                    ADMIN_ROLE,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--no-sync",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                capture_output=True,
                timeout=120,
                check=False,
            )
            pwfile.unlink()
            if result.returncode != 0:
                tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
                raise PostgresUnavailable(f"initdb failed: {' | '.join(tail)}")
        for _attempt in range(3):
            self.port = _free_port()
            if self._launch(timeout):
                return
        raise PostgresUnavailable(f"postgres did not start: {self._log_tail()}")

    def _launch(self, timeout: float) -> bool:
        assert self.dir is not None
        log = open(self.dir / "server.log", "ab")  # noqa: SIM115 - handed to the child
        self._own(self.dir / "server.log")
        args: Sequence[str] = [
            *self._prefix(),
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.dir / "data"),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            f"max_connections={self.max_connections}",
            "-c",
            "shared_buffers=32MB",
            "-c",
            "password_encryption=scram-sha-256",
        ]
        self.proc = subprocess.Popen(args, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                if self._ready():
                    return True
            time.sleep(0.05)
        self.stop()
        return False

    def _ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.admin_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _log_tail(self) -> str:
        if self.dir is None:
            return ""
        with contextlib.suppress(OSError):
            lines = (self.dir / "server.log").read_text("utf-8", "replace").strip().splitlines()
            return " | ".join(lines[-3:])
        return ""

    def stop(self, timeout: float = 10.0) -> None:
        """Fast shutdown (SIGINT: sessions are ended, the server exits)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def cleanup(self) -> None:
        """Stop and remove the temp dir."""
        self.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
