"""The load generator against the small fleet: zero failures at rest, failures after a reset,
QStash delivery failures after two signing-key rolls, stats through the hook and the admin API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import UpstashState
from tests import canary
from tests.sandbox_helpers import register_template_secrets


@pytest.fixture
def sb(tmp_path: Any) -> Iterator[Sandbox]:
    with Sandbox(tmp_path, fleet="small", build_seconds=0.2) as sandbox:
        register_template_secrets(sandbox)
        yield sandbox


def state(sb: Sandbox) -> UpstashState:
    st: UpstashState = sb.world.hooks["upstash.state"]()
    return st


def projects(sb: Sandbox) -> dict[str, str]:
    return {d["project_id"]: d["project_name"] for d in sb.world.hooks["vercel.serving_deployments"]()}


def test_zero_failures_while_nothing_changes(sb: Sandbox) -> None:
    lg = LoadGenerator(sb.world, rps=40, duration=1.5, qstash_ratio=1.0)
    stats = lg.start().wait(timeout=30)
    assert not stats["running"]
    assert stats["requests"] >= 30 and stats["ok"] == stats["requests"]
    assert stats["failed"] == 0 and stats["failures"] == []
    assert stats["qstash"]["published"] > 0
    assert stats["qstash"]["delivered"] == stats["qstash"]["published"]
    assert len(stats["deployments"]) == len(sb.world.hooks["vercel.serving_deployments"]())
    assert sb.world.hooks["loadgen.stats"]()["requests"] == stats["requests"]


def test_failures_after_a_reset_are_counted_with_cause(sb: Sandbox) -> None:
    cache = state(sb).redis["cache"]
    env = sb.env()
    with LoadGenerator(sb.world, rps=40, duration=2.5, qstash=False) as lg:
        time.sleep(0.8)
        reset_at = time.time()
        r = httpx.post(
            f"{env['KEYROLL_UPSTASH_API_URL']}/v2/redis/reset-password/{cache.id}",
            auth=(env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"]),
        )
        assert r.status_code == 200
        canary.register(cache.rest_token)
        lg.wait(timeout=30)
    stats = lg.stats()
    assert stats["failed"] > 0 and stats["http_failed"] == stats["failed"]
    assert stats["first_failure_at"] >= reset_at
    names = projects(sb)
    failing = {names[f["project"]] for f in stats["failures"]}
    assert failing == {"web"}  # api uses the ACL user "worker", which survives the reset
    assert all(f["status"] == 500 and f["kind"] == "http" for f in stats["failures"])
    assert any(
        "UPSTASH_REDIS_REST_TOKEN" in f["cause"] or "REDIS_URL" in f["cause"] for f in stats["failures"]
    )
    assert not canary.find(repr(stats))


def test_two_signing_key_rolls_fail_deliveries(sb: Sandbox) -> None:
    env = sb.env()
    headers = {"Authorization": f"Bearer {env['QSTASH_TOKEN']}"}
    with LoadGenerator(sb.world, rps=30, duration=2.0, qstash_ratio=1.0) as lg:
        time.sleep(0.5)
        for _ in range(2):
            keys = httpx.post(f"{env['KEYROLL_QSTASH_URL']}/v2/keys/rotate", headers=headers).json()
            canary.register(keys["next"])
        lg.wait(timeout=30)
    stats = lg.stats()
    q = stats["qstash"]
    assert q["failed_attempts"] > 0 and q["delivered"] > 0
    qfail = [f for f in stats["failures"] if f["kind"] == "qstash"]
    assert qfail and {projects(sb)[f["project"]] for f in qfail} == {"api"}
    assert all("SIGNING_KEY" in f["cause"] for f in qfail)
    assert stats["http_failed"] == 0


def test_admin_endpoints_and_bounds(sb: Sandbox) -> None:
    admin = sb.env()["KEYROLL_SANDBOX_ADMIN_URL"]
    with pytest.raises(ValueError):
        LoadGenerator(sb.world, rps=0)
    with pytest.raises(ValueError):
        LoadGenerator(sb.world, duration=10_000)
    assert httpx.post(f"{admin}/_sandbox/loadgen/start", json={"rps": -1}).status_code == 400
    assert httpx.post(f"{admin}/_sandbox/loadgen/start", json={"rps": 20, "duration": 5}).json()["started"]
    time.sleep(0.5)
    stats = httpx.post(f"{admin}/_sandbox/loadgen/stop").json()
    assert stats["requests"] > 0
    time.sleep(0.3)
    after = httpx.get(f"{admin}/_sandbox/loadgen").json()
    assert after["running"] is False and after["failed"] == 0


def test_redis_restart_fault_costs_no_failed_request(tmp_path: Any) -> None:
    with Sandbox(tmp_path, fleet="small", build_seconds=0.2, faults="redis_restart_after=0.7") as sandbox:
        register_template_secrets(sandbox)
        stats = LoadGenerator(sandbox.world, rps=40, duration=2.0, qstash_ratio=0.5).start().wait(timeout=30)
        restarts = {n: d.server.restarts for n, d in state(sandbox).redis.items() if d.server}
    assert restarts == {"cache": 1, "kv": 1}
    assert stats["requests"] >= 60 and stats["failed"] == 0, stats["failures"][:3]
