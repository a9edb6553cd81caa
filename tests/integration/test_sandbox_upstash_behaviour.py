"""Deployments that really use their credentials (small fleet, Vercel emulation, real redis-server).

A deployment built with a token serves 200; after that token's reset it serves 5xx naming the
key; an ACL user's token survives a default-password reset; QStash deliveries verify with the
current or next key and fail after two rolls; integration-managed resets resync Vercel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request

from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.behaviour import plan_checks
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


def serving(sb: Sandbox) -> list[dict[str, Any]]:
    deps: list[dict[str, Any]] = sb.world.hooks["vercel.serving_deployments"]()
    return deps


def find(sb: Sandbox, project: str, target: str = "production", **match: Any) -> dict[str, Any]:
    for d in serving(sb):
        if (
            d.get("project_name") == project
            and d.get("target") == target
            and all(d.get(k) == v for k, v in match.items())
        ):
            return d
    raise AssertionError(f"no serving {target} deployment of {project}")


def hit(dep: dict[str, Any], path: str = "/") -> httpx.Response:
    return httpx.get(f"http://{dep['url']}{path}", timeout=15)


def redeploy(sb: Sandbox, dep: dict[str, Any]) -> dict[str, Any]:
    env = sb.env()
    base, team = env["KEYROLL_VERCEL_API_URL"], env["VERCEL_TEAM_ID"]
    headers = {"Authorization": f"Bearer {env['VERCEL_TOKEN']}"}
    r = httpx.post(
        f"{base}/v13/deployments",
        params={"teamId": team, "forceNew": "1"},
        json={"name": dep["project_name"], "deploymentId": dep["id"], "target": dep["target"]},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    new_id = r.json()["id"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = httpx.get(f"{base}/v13/deployments/{new_id}", params={"teamId": team}, headers=headers).json()
        if got["readyState"] == "READY":
            return next(d for d in serving(sb) if d["id"] == new_id)
        time.sleep(0.05)
    raise AssertionError("redeploy did not become READY")


def admin(sb: Sandbox, path: str) -> httpx.Response:
    return httpx.post(sb.env()["KEYROLL_SANDBOX_ADMIN_URL"] + path, timeout=30)


def dev_post(sb: Sandbox, path: str) -> httpx.Response:
    env = sb.env()
    return httpx.post(
        env["KEYROLL_UPSTASH_API_URL"] + path, auth=(env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"])
    )


def failed_keys(resp: httpx.Response) -> set[str]:
    return {f["key"] for f in resp.json()["failed"]}


def test_reset_breaks_deployments_built_with_the_old_token(sb: Sandbox) -> None:
    web, api, staging = find(sb, "web"), find(sb, "api"), find(sb, "web", "preview", git_branch="staging")
    ok = hit(web)
    assert ok.status_code == 200
    assert ok.json()["used"]["UPSTASH_REDIS_REST_TOKEN"] == fingerprint_of(
        sb.world.templates["redis:cache:rest_token"]
    )
    assert hit(api).status_code == 200
    assert hit(staging).status_code == 200  # REDIS_URL over TCP
    cache = state(sb).redis["cache"]
    assert dev_post(sb, f"/v2/redis/reset-password/{cache.id}").status_code == 200
    canary.register(cache.rest_token)
    broken = hit(web)
    assert broken.status_code == 500
    assert failed_keys(broken) == {"UPSTASH_REDIS_REST_TOKEN", "UPSTASH_REDIS_REST_READ_ONLY_TOKEN"}
    assert "WRONGPASS" in broken.json()["error"]
    assert hit(staging).status_code == 500 and failed_keys(hit(staging)) == {"REDIS_URL"}
    # the ACL user "worker" keeps working: only the default user's password was reset
    assert hit(api).status_code == 200
    assert not canary.find(broken.text)


def test_integration_reset_resyncs_vercel_and_redeploy_recovers(sb: Sandbox) -> None:
    web = find(sb, "web")
    assert hit(web).status_code == 200
    r = admin(sb, "/_sandbox/upstash/redis/kv/reset")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["configuration_id"] == "icfg_upstash" and body["resynced"] == 2
    )  # token + read-only token (the URL did not change)
    kv = state(sb).redis["kv"]
    canary.register(kv.rest_token)
    canary.register(kv.readonly_token)
    assert not canary.find(r.text)
    assert failed_keys(hit(web)) == {"KV_REST_API_TOKEN", "KV_REST_API_READ_ONLY_TOKEN"}
    fresh = redeploy(sb, web)
    answer = hit(fresh)
    assert answer.status_code == 200, answer.text
    assert answer.json()["used"]["KV_REST_API_TOKEN"] == fingerprint_of(kv.rest_token)


def _publish(sb: Sandbox, url: str) -> str:
    env = sb.env()
    r = httpx.post(
        f"{env['KEYROLL_QSTASH_URL']}/v2/publish/{url}",
        content=b'{"hello":"world"}',
        headers={"Authorization": f"Bearer {env['QSTASH_TOKEN']}", "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    message_id: str = r.json()["messageId"]
    return message_id


def _settle(sb: Sandbox, message_id: str) -> dict[str, Any]:
    env = sb.env()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        msg: dict[str, Any] = httpx.get(
            f"{env['KEYROLL_QSTASH_URL']}/v2/messages/{message_id}",
            headers={"Authorization": f"Bearer {env['QSTASH_TOKEN']}"},
        ).json()
        if msg["state"] in ("DELIVERED", "FAILED"):
            return msg
        time.sleep(0.05)
    raise AssertionError("delivery did not settle")


def test_qstash_signing_keys_current_or_next_then_two_rolls_break(sb: Sandbox) -> None:
    api = find(sb, "api")
    target = f"http://{api['url']}/api/qstash"
    env = sb.env()
    roll = lambda: httpx.post(  # noqa: E731
        f"{env['KEYROLL_QSTASH_URL']}/v2/keys/rotate",
        headers={"Authorization": f"Bearer {env['QSTASH_TOKEN']}"},
    )
    assert _settle(sb, _publish(sb, target))["state"] == "DELIVERED"  # signed with current
    keys = roll().json()
    canary.register(keys["next"])
    assert keys["current"] == sb.world.templates["qstash:next_signing_key"]
    assert _settle(sb, _publish(sb, target))["state"] == "DELIVERED"  # verified with next
    canary.register(roll().json()["next"])
    msg = _settle(sb, _publish(sb, target))
    assert msg["state"] == "FAILED"  # both keys the deployment holds are gone
    # a redeploy picks up nothing new (env still holds the old keys): still failing
    api_env_keys = {k for k in find(sb, "api")["env"] if "SIGNING" in k}
    assert api_env_keys == {"QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY"}


def test_qstash_token_reset_breaks_publishers(sb: Sandbox) -> None:
    web = find(sb, "web")
    assert hit(web).status_code == 200
    user = state(sb).qstash
    assert user is not None
    old = user.token
    r = dev_post(sb, f"/v2/qstash/rotate-token/{user.id}")
    assert r.status_code == 200
    canary.register(user.token)
    canary.register(user.readonly_token)
    assert r.json()["token"] == user.token != old
    broken = hit(web)
    assert broken.status_code == 500 and failed_keys(broken) == {"QSTASH_TOKEN"}
    keys = httpx.get(f"{sb.env()['KEYROLL_QSTASH_URL']}/v2/keys", headers={"Authorization": f"Bearer {old}"})
    assert keys.status_code == 401 and "error" in keys.json()


async def test_behaviour_called_directly_and_check_plan(sb: Sandbox) -> None:
    t = sb.world.templates
    env = {
        "KV_REST_API_URL": t["redis:kv:rest_url"],
        "UPSTASH_REDIS_REST_URL": t["redis:cache:rest_url"],
        "MYAPP_UPSTASH_REDIS_REST_TOKEN": t["redis:cache:rest_token"],
        "KV_REST_API_READ_ONLY_TOKEN": t["redis:kv:readonly_rest_token"],
        "UPSTASH_VECTOR_REST_URL": t["vector:embeddings:url"],
        "UPSTASH_VECTOR_REST_TOKEN": t["vector:embeddings:readonly_token"],
        "KV_URL": f"rediss://default_ro:{t['redis:kv:readonly_rest_token']}@127.0.0.1:{t['redis:kv:port']}",
        "STRIPE_TOKEN": "not-an-upstash-credential",
    }
    plan = {c.key: (c.kind, c.url, c.readonly) for c in plan_checks(env)}
    assert plan == {
        "MYAPP_UPSTASH_REDIS_REST_TOKEN": ("redis-rest", t["redis:cache:rest_url"], False),
        "KV_REST_API_READ_ONLY_TOKEN": ("redis-rest", t["redis:kv:rest_url"], True),
        "UPSTASH_VECTOR_REST_TOKEN": ("vector", t["vector:embeddings:url"], False),
        "KV_URL": ("redis-tcp", "", True),
    }
    behaviour = sb.world.behaviour
    assert behaviour is not None
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}

    async def go() -> Any:
        return await behaviour(env, Request(scope))

    resp = sb.call(go())
    assert resp.status_code == 200, resp.body
