"""Fidelity: the official node clients ``@upstash/redis`` and ``@upstash/qstash`` work against the
sandbox with only the URL and token changed (versions pinned in ``tests/node/package-lock.json``).

Each test runs one node script against the sandbox and reads one JSON line of results back: every
call must succeed, and the calls that must fail (a wrong token, a write with a read-only token, a
tampered signature) must fail the way the real service makes them fail.
"""

from __future__ import annotations

import json
import queue
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyroll.sandbox.server import Sandbox
from tests.node_clients import node_modules as installed_node_modules
from tests.sandbox_helpers import register_template_secrets, webhook_receiver

pytestmark = [pytest.mark.node]

FLEET: dict[str, Any] = {
    "upstash": {
        "redis": [{"name": "cache", "acl_users": [{"name": "app", "rules": "~app:* +@all"}]}],
        "qstash": {},
    },
    "projects": [],
}

REDIS_SCRIPT = r"""
import { Redis } from "@upstash/redis";
const [url, token, roToken, appToken] = process.argv.slice(2);
const out = {};
const step = async (name, fn) => {
  try { out[name] = await fn(); } catch (e) { out[name] = { error: String((e && e.message) || e).slice(0, 200) }; }
};
const r = new Redis({ url, token, enableTelemetry: false, retry: false });
await step("ping", () => r.ping());
await step("set", () => r.set("greeting", "héllo wörld ✓"));
await step("get", () => r.get("greeting"));
await step("json", async () => { await r.set("obj", { a: 1, b: [2, 3] }); return r.get("obj"); });
await step("incr", () => r.incr("counter"));
await step("hset", () => r.hset("h", { a: "1", b: "2" }));
await step("hgetall", () => r.hgetall("h"));
await step("expire", async () => { await r.set("ex", "v", { ex: 100 }); return r.ttl("ex"); });
await step("pipeline", () => { const p = r.pipeline(); p.set("p", 1); p.incr("p"); return p.exec(); });
await step("multi", () => { const m = r.multi(); m.set("t", "a"); m.get("t"); return m.exec(); });
await step("wrongtype", () => r.lpush("greeting", "x"));
const ro = new Redis({ url, token: roToken, enableTelemetry: false, retry: false });
await step("ro_get", () => ro.get("greeting"));
await step("ro_set", () => ro.set("x", "y"));
const bad = new Redis({ url, token: "not-a-valid-token", enableTelemetry: false, retry: false });
await step("bad_get", () => bad.get("greeting"));
const app = new Redis({ url, token: appToken, enableTelemetry: false, retry: false });
await step("acl_own_key", () => app.set("app:1", "v"));
await step("acl_other_key", () => app.set("other", "v"));
console.log(JSON.stringify(out));
"""

QSTASH_SCRIPT = r"""
import { Client, Receiver } from "@upstash/qstash";
const [baseUrl, token, target] = process.argv.slice(2);
const out = {};
const step = async (name, fn) => {
  try { out[name] = await fn(); } catch (e) { out[name] = { error: String((e && e.message) || e).slice(0, 200) }; }
};
const client = new Client({ baseUrl, token, retry: false });
await step("publish", async () => {
  const res = await client.publishJSON({ url: target, body: { order: 42 }, headers: { "X-Trace": "abc" } });
  return res.messageId;
});
const bad = new Client({ baseUrl, token: "bm90LWEtdG9rZW4=", retry: false });
await step("bad_publish", () => bad.publishJSON({ url: target, body: { order: 0 } }));
console.log(JSON.stringify(out));
"""

VERIFY_SCRIPT = r"""
import { Receiver } from "@upstash/qstash";
const [current, next, signature, body, url] = process.argv.slice(2);
const receiver = new Receiver({ currentSigningKey: current, nextSigningKey: next });
const out = {};
try { out.valid = await receiver.verify({ signature, body, url }); } catch (e) { out.valid = String(e.message || e); }
try { out.tampered = await receiver.verify({ signature, body: body + " ", url }); } catch (e) { out.tampered = "rejected"; }
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node_modules() -> Path:
    return installed_node_modules()


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("node-sdk"), fleet=FLEET, services=["upstash"]) as sandbox:
        register_template_secrets(sandbox)
        yield sandbox


def t(sb: Sandbox, name: str) -> str:
    return sb.world.templates[name]


def node(node_modules: Path, name: str, script: str, *args: str) -> dict[str, Any]:
    path = node_modules.parent / f"keyroll_{name}.mjs"
    path.write_text(script)
    done = subprocess.run(["node", str(path), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_upstash_redis_node_client(node_modules: Path, sb: Sandbox) -> None:
    got = node(
        node_modules,
        "redis",
        REDIS_SCRIPT,
        t(sb, "redis:cache:rest_url"),
        t(sb, "redis:cache:rest_token"),
        t(sb, "redis:cache:readonly_rest_token"),
        t(sb, "redis:cache:acl:app:rest_token"),
    )
    assert got["ping"] == "PONG"
    assert got["set"] == "OK" and got["get"] == "héllo wörld ✓"
    assert got["json"] == {"a": 1, "b": [2, 3]}, "the client's automatic JSON (de)serialisation round-trips"
    assert got["incr"] == 1 and got["hset"] == 2 and got["hgetall"] == {"a": 1, "b": 2}
    assert 0 < got["expire"] <= 100
    assert got["pipeline"] == ["OK", 2] and got["multi"] == ["OK", "a"]
    assert "WRONGTYPE" in got["wrongtype"]["error"]
    assert got["ro_get"] == "héllo wörld ✓"
    assert "NOPERM" in got["ro_set"]["error"]
    assert "WRONGPASS" in got["bad_get"]["error"] or "Unauthorized" in got["bad_get"]["error"]
    assert got["acl_own_key"] == "OK"
    assert "NOPERM" in got["acl_other_key"]["error"]


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    with webhook_receiver() as endpoint:
        yield endpoint


def test_upstash_qstash_node_client(node_modules: Path, sb: Sandbox, receiver: tuple[str, Any]) -> None:
    url, inbox = receiver
    got = node(node_modules, "qstash", QSTASH_SCRIPT, t(sb, "qstash:url"), t(sb, "qstash:token"), url)
    assert isinstance(got["publish"], str) and got["publish"].startswith("msg_")
    assert "Unauthorized" in got["bad_publish"]["error"], got["bad_publish"]
    headers, body = inbox.get(timeout=10)
    assert headers["upstash-message-id"] == got["publish"] and headers["x-trace"] == "abc"
    assert json.loads(body) == {"order": 42}
    verdict = node(
        node_modules,
        "verify",
        VERIFY_SCRIPT,
        t(sb, "qstash:current_signing_key"),
        t(sb, "qstash:next_signing_key"),
        headers["upstash-signature"],
        body.decode(),
        url,
    )
    assert verdict == {"valid": True, "tampered": "rejected"}, verdict
