"""The sandbox's redis-servers get their TCP ports without a pick-then-bind race: a port that
turns out taken — already listening, or taken by a listener that sneaks in after the port was
reserved — is replaced by a new one before any token or URL is derived from it; after a
bounded number of tries the sandbox fails with an error naming the database and leaves no
redis-server behind."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis as redispy
from redis.backoff import NoBackoff
from redis.exceptions import NoPermissionError
from redis.retry import Retry

import keyroll.sandbox.upstash as upstash_pkg
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash import ports, redis_server
from keyroll.sandbox.upstash.redis_server import LAUNCH_ATTEMPTS, SandboxError
from keyroll.sandbox.upstash.state import UpstashState
from tests.sandbox_helpers import register_template_secrets

FLEET: dict[str, Any] = {
    "team": {"id": "team_t", "slug": "acme"},
    "upstash": {"redis": [{"name": "cache", "acl_users": [{"name": "worker"}]}, {"name": "kv"}]},
    "projects": [],
}


@pytest.fixture
def foreign() -> Iterator[socket.socket]:
    """Another process's socket on a loopback port (bound with SO_REUSEADDR, not listening yet)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def _picker(monkeypatch: pytest.MonkeyPatch, answers: list[int]) -> list[int]:
    """Make ``ports.candidate_port`` return ``answers`` in turn, then 0; returns the calls made."""
    calls: list[int] = []

    def pick() -> int:
        port = answers[len(calls)] if len(calls) < len(answers) else 0
        calls.append(port)
        return port

    monkeypatch.setattr(ports, "candidate_port", pick)
    return calls


def _listen_once_reserved(monkeypatch: pytest.MonkeyPatch, foreign: socket.socket) -> None:
    """The race itself: right after the sandbox reserves the foreign port, the foreign socket
    starts listening on it, so redis-server finds it taken when it binds."""
    original = ports.reserve
    port = foreign.getsockname()[1]

    def reserve(candidate: int = 0) -> socket.socket:
        sock = original(candidate)
        if candidate == port:
            foreign.listen(1)
        return sock

    monkeypatch.setattr(ports, "reserve", reserve)


def _redis_children() -> list[int]:
    """Live redis-server processes started by this test process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        if comm.startswith("redis-server") and int(fields[1]) == os.getpid() and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.mark.parametrize("how", ["already listening", "listens after the reservation"])
def test_sandbox_comes_up_on_another_port_when_the_picked_one_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, foreign: socket.socket, how: str
) -> None:
    taken = foreign.getsockname()[1]
    if how == "already listening":
        foreign.listen(1)
    else:
        _listen_once_reserved(monkeypatch, foreign)
    calls = _picker(monkeypatch, [taken])

    with Sandbox(tmp_path, fleet=FLEET, services=["upstash"]) as sb:
        register_template_secrets(sb)
        state: UpstashState = sb.world.hooks["upstash.state"]()
        assert calls[0] == taken and len(calls) == 3  # the taken port, its replacement, kv's
        reported = {r["name"]: r["tcp"] for r in sb.world.info["resources"]["redis"]}
        t = sb.world.templates
        for name, db in state.redis.items():
            port = int(t[f"redis:{name}:port"])
            assert port != taken
            assert db.tcp_port == port and reported[name] == f"127.0.0.1:{port}"
            assert t[f"redis:{name}:redis_url"].endswith(f"@127.0.0.1:{port}")
            # our redis-server answers there, with the database's own passwords …
            tcp = redispy.Redis(port=port, password=t[f"redis:{name}:password"], retry=Retry(NoBackoff(), 0))
            assert tcp.set(f"k-{name}", "v") and tcp.get(f"k-{name}") == b"v"
            ro = redispy.Redis(
                port=port,
                username="default_ro",
                password=t[f"redis:{name}:readonly_rest_token"],
                retry=Retry(NoBackoff(), 0),
            )
            assert ro.get(f"k-{name}") == b"v"
            with pytest.raises(NoPermissionError):
                ro.set(f"k-{name}", "w")
            # … and the REST tokens minted for that port reach it
            resp = httpx.post(
                t[f"redis:{name}:rest_url"],
                json=["GET", f"k-{name}"],
                headers={"Authorization": f"Bearer {t[f'redis:{name}:rest_token']}"},
                timeout=10,
            )
            assert resp.status_code == 200 and resp.json() == {"result": "v"}
        worker = state.redis["cache"].acl_users[0]["password"]
        assert redispy.Redis(port=state.redis["cache"].tcp_port, username="worker", password=worker).ping()
        # the foreign listener still owns its port: nothing of ours answers there
        with socket.create_connection(("127.0.0.1", taken), timeout=2) as conn:
            accepted, _ = foreign.accept()
            conn.sendall(b"PING\r\n")
            assert accepted.recv(16) == b"PING\r\n"
            accepted.close()


def test_no_free_port_fails_naming_the_database_and_leaves_no_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, foreign: socket.socket
) -> None:
    """cache never finds a port (kv does, and is started): the sandbox fails with an error
    naming cache, after LAUNCH_ATTEMPTS tries, and kv's redis-server is stopped again."""
    taken = foreign.getsockname()[1]
    _listen_once_reserved(monkeypatch, foreign)
    calls = _picker(monkeypatch, [taken, 0] + [taken] * 20)
    before = set(_redis_children())

    with pytest.raises(SandboxError) as err, Sandbox(tmp_path, fleet=FLEET, services=["upstash"]):
        pass

    message = str(err.value)
    assert "database cache" in message and f"after {LAUNCH_ATTEMPTS} tries" in message
    assert f"127.0.0.1:{taken}" in message and err.value.hint
    assert len(calls) == LAUNCH_ATTEMPTS + 1  # cache's tries + kv's one port
    assert set(_redis_children()) <= before


def test_an_install_failing_after_the_servers_started_stops_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The redis-servers start while Upstash is installed; a later installer that fails must
    not leave them running (nor their ports held)."""
    import keyroll.sandbox.vercel as vercel

    started: list[int] = []
    real_launch = redis_server.launch

    def launch(servers: Any, **kw: Any) -> None:
        real_launch(servers, **kw)
        started.extend(s.port for s in servers)

    def broken_install(world: Any, fleet: Any) -> None:
        raise ValueError("fleet: vercel broke")

    monkeypatch.setattr(upstash_pkg, "launch", launch)
    monkeypatch.setattr(vercel, "install", broken_install)
    before = set(_redis_children())
    with pytest.raises(ValueError, match="vercel broke"):
        Sandbox(tmp_path, fleet=FLEET, services=["upstash", "vercel"]).install()
    assert len(started) == 2
    assert set(_redis_children()) <= before
    for port in started:  # the reservations are gone: a plain bind (no SO_REUSEADDR) gets the port
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
