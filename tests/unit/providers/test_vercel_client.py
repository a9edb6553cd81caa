"""VercelClient against an httpx.MockTransport: request shapes, paging, batching, retries, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from keyroll.core.errors import AuthError, NotFoundError, ProviderError, UnavailableError
from keyroll.core.secret import Secret
from keyroll.providers.http import RetryPolicy
from keyroll.providers.vercel.client import VercelClient
from keyroll.providers.vercel.models import Deployment, EnvVar, EnvVarInput
from keyroll.providers.vercel.wire import endpoint_class

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kw: Any) -> VercelClient:
    http = httpx.AsyncClient(base_url="https://api.vercel.test", transport=httpx.MockTransport(handler))
    kw.setdefault("retry", RetryPolicy(base_delay=0.001, max_delay=0.01))
    return VercelClient(http, team_id="team_1", **kw)


def test_endpoint_classes() -> None:
    assert endpoint_class("GET", "/v10/projects/p/env") == "env_read"
    assert endpoint_class("GET", "/v1/projects/p/env/abc") == "env_read"
    assert endpoint_class("PATCH", "/v1/env") == "env_write"
    assert endpoint_class("POST", "/v10/projects/p/env") == "env_write"
    assert endpoint_class("POST", "/v13/deployments") == "deployments_create"
    assert endpoint_class("GET", "/v6/deployments") == "deployments_read"
    assert endpoint_class("GET", "/v3/events") == "events"
    assert endpoint_class("GET", "/v9/projects/p/custom-environments") == "default"


async def test_list_projects_follows_until_and_scopes_every_request() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        until = req.url.params.get("until")
        if until is None:
            return httpx.Response(
                200, json={"projects": [{"id": "p1", "name": "a"}], "pagination": {"next": 50}}
            )
        if until == "50":
            return httpx.Response(
                200, json={"projects": [{"id": "p2", "name": "b"}], "pagination": {"next": 40}}
            )
        return httpx.Response(
            200, json={"projects": [{"id": "p3", "name": "c"}], "pagination": {"next": None}}
        )

    c = client(handler)
    projects = await c.list_projects()
    assert [p.id for p in projects] == ["p1", "p2", "p3"]
    assert all(r.url.params["teamId"] == "team_1" for r in seen)
    assert [r.url.params.get("until") for r in seen] == [None, "50", "40"]
    assert c.api.calls["default"] == 3


async def test_a_continuation_token_goes_back_as_from() -> None:
    """``GET /v10/projects`` pages with an opaque token (the docs' example: ``JBSWY3DPEHPK3PXP``)."""
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        if req.url.params.get("from") == "JBSWY3DPEHPK3PXP":
            return httpx.Response(
                200, json={"projects": [{"id": "p2", "name": "b"}], "pagination": {"next": None}}
            )
        return httpx.Response(
            200, json={"projects": [{"id": "p1", "name": "a"}], "pagination": {"next": "JBSWY3DPEHPK3PXP"}}
        )

    c = client(handler)
    assert [p.id for p in await c.list_projects()] == ["p1", "p2"]
    assert [dict(r.url.params).get("from") for r in seen] == [None, "JBSWY3DPEHPK3PXP"]
    assert all("until" not in r.url.params for r in seen)


async def test_paging_stops_when_cursor_does_not_advance() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"projects": [{"id": "p", "name": "x"}], "pagination": {"next": 7}})

    c = client(handler)
    assert len(await c.list_projects()) == 2  # first page, then until=7 returns next=7 again: stop


async def test_env_values_are_secrets_only_when_plaintext() -> None:
    envs = [
        {
            "id": "1",
            "key": "A",
            "type": "encrypted",
            "value": "ciphertext==",
            "decrypted": False,
            "target": ["production"],
        },
        {"id": "2", "key": "B", "type": "plain", "value": "plain-visible", "target": ["preview"]},
        {"id": "3", "key": "C", "type": "sensitive", "target": ["production"]},
    ]

    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/env"):
            assert req.url.params["decrypt"] == "true"
            return httpx.Response(200, json={"envs": envs})
        return httpx.Response(200, json={**envs[0], "value": "decrypted-value-123", "decrypted": True})

    c = client(handler)
    listed = await c.list_env("web", decrypt=True)
    assert listed[0].value is None
    assert listed[1].value == Secret("plain-visible")
    assert listed[2].value is None
    one = await c.get_env("web", "1")
    assert one.value == Secret("decrypted-value-123")
    assert "decrypted-value-123" not in repr(one)


async def test_upsert_batches_arrays_and_surfaces_failed_without_values() -> None:
    bodies: list[Any] = []

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.params["upsert"] == "true"
        body = json.loads(req.content)
        bodies.append(body)
        created = [
            {"id": f"id-{i['key']}", "key": i["key"], "type": i["type"], "target": i["target"]}
            for i in body[:-1]
        ]
        last = body[-1]
        failed = [{"error": {"code": "internal_server_error", "key": last["key"], "value": last["value"]}}]
        return httpx.Response(201, json={"created": created, "failed": failed})

    c = client(handler, batch_size=2)
    items = [
        EnvVarInput(key=f"K{i}", value=Secret(f"value-number-{i:04d}"), target=["production"])
        for i in range(5)
    ]
    result = await c.upsert_env("web", items)
    assert [len(b) for b in bodies] == [2, 2, 1]
    assert all(isinstance(b, list) for b in bodies)
    assert bodies[0][0] == {
        "key": "K0",
        "value": "value-number-0000",
        "type": "encrypted",
        "target": ["production"],
    }
    assert [e.key for e in result.created] == ["K0", "K2"]
    assert result.failed_keys() == ["K1", "K3", "K4"]
    assert "value" not in json.dumps(result.failed)
    assert not result.ok


async def test_upsert_whole_batch_rejected_with_failed_body() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "error": {"code": "ENV_CONFLICT", "message": "conflict"},
                "failed": [{"error": {"key": "A", "value": "leak-me-please"}}],
            },
        )

    result = await client(handler).upsert_env("web", [EnvVarInput(key="A", value=Secret("leak-me-please"))])
    assert result.created == [] and result.failed_keys() == ["A"]
    assert "leak-me-please" not in json.dumps(result.failed)


async def test_create_conflict_is_a_provider_error_naming_the_key() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400, json={"error": {"code": "ENV_CONFLICT", "message": "exists", "key": "API_TOKEN"}}
        )

    with pytest.raises(ProviderError) as info:
        await client(handler).create_env(
            "web", EnvVarInput(key="API_TOKEN", value=Secret("very-secret-value"))
        )
    assert info.value.code == "ENV_CONFLICT"
    assert "API_TOKEN" in info.value.message and "very-secret-value" not in info.value.message


async def test_edit_env_reads_back_and_detects_a_different_value() -> None:
    state = {"stored": "someone-elses-value"}

    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "PATCH":
            assert req.url.path == "/v9/projects/web/env/e1"
            assert json.loads(req.content) == {"value": "my-new-value-1234"}
            return httpx.Response(200, json={"id": "e1", "key": "TOKEN", "type": "encrypted", "value": "c=="})
        return httpx.Response(
            200,
            json={
                "id": "e1",
                "key": "TOKEN",
                "type": "encrypted",
                "value": state["stored"],
                "decrypted": True,
            },
        )

    c = client(handler)
    with pytest.raises(ProviderError) as info:
        await c.edit_env("web", "e1", value=Secret("my-new-value-1234"))
    msg = info.value.message
    assert "read-back" in msg and "TOKEN" in msg and Secret("my-new-value-1234").fingerprint in msg
    assert "my-new-value-1234" not in msg and "someone-elses-value" not in msg
    state["stored"] = "my-new-value-1234"
    back = await c.edit_env("web", "e1", value=Secret("my-new-value-1234"))
    assert back.value == Secret("my-new-value-1234")


async def test_edit_env_skips_read_back_for_sensitive() -> None:
    calls: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req.method)
        return httpx.Response(200, json={"id": "e1", "key": "T", "type": "sensitive"})

    await client(handler).edit_env("web", "e1", value=Secret("abcdefghijklmnopq"))
    assert calls == ["PATCH"]


async def test_redeploy_sends_what_vercel_redeploy_sends() -> None:
    sent: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v13/deployments" and req.url.params["forceNew"] == "1"
        body = json.loads(req.content)
        sent.append(body)
        return httpx.Response(
            200, json={"id": "dpl_new", "readyState": "QUEUED", "target": body.get("target")}
        )

    c = client(handler)
    prod = Deployment.model_validate(
        {"uid": "dpl_p", "name": "web", "projectId": "prj_1", "target": "production", "state": "READY"}
    )
    preview = Deployment.model_validate(
        {
            "uid": "dpl_v",
            "name": "web",
            "projectId": "prj_1",
            "target": None,
            "meta": {"githubCommitRef": "feat"},
        }
    )
    custom = Deployment.model_validate(
        {
            "id": "dpl_c",
            "name": "web",
            "projectId": "prj_1",
            "target": None,
            "customEnvironment": {"id": "env_s", "slug": "staging"},
        }
    )
    new = await c.redeploy(prod)
    await c.redeploy(preview)
    await c.redeploy(custom)
    assert new.id == "dpl_new" and new.ready_state == "QUEUED"
    assert (
        sent[0]["deploymentId"] == "dpl_p" and sent[0]["name"] == "web" and sent[0]["target"] == "production"
    )
    assert sent[0]["meta"]["action"] == "redeploy"
    assert "target" not in sent[1]  # a preview redeploy omits target (omitted means preview)
    assert sent[2]["customEnvironmentSlugOrId"] == "env_s" and "target" not in sent[2]
    assert preview.git_branch == "feat" and custom.custom_environment_id == "env_s"


async def test_redeploy_after_5xx_finds_the_first_attempt_instead_of_creating_twice() -> None:
    posts: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        if req.method == "POST":
            posts.append(json.loads(req.content)["meta"]["keyrollRequestId"])
            return httpx.Response(502, json={"error": {"code": "bad_gateway", "message": "upstream"}})
        rid = req.url.params["meta-keyrollRequestId"]
        assert rid == posts[-1]
        return httpx.Response(
            200, json={"deployments": [{"uid": "dpl_made", "state": "BUILDING", "name": "web"}]}
        )

    dep = Deployment.model_validate(
        {"id": "dpl_p", "name": "web", "projectId": "prj_1", "target": "production"}
    )
    new = await client(handler).redeploy(dep)
    assert new.id == "dpl_made" and new.ready_state == "BUILDING"
    assert len(posts) == 1


async def test_429_waits_for_retry_after_then_succeeds() -> None:
    count = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        count["n"] += 1
        if count["n"] <= 2:
            return httpx.Response(
                429,
                headers={"Retry-After": "0"},
                json={
                    "error": {
                        "code": "rate_limited",
                        "message": "slow down",
                        "limit": {"remaining": 0, "total": 5},
                    }
                },
            )
        return httpx.Response(200, json={"envs": []})

    c = client(handler)
    assert await c.list_env("web") == []
    assert count["n"] == 3 and c.api.calls["env_read"] == 3


async def test_5xx_is_retried_then_reported_naming_the_project() -> None:
    def flaky(req: httpx.Request) -> httpx.Response:
        flaky.n += 1  # type: ignore[attr-defined]
        return httpx.Response(500 if flaky.n < 3 else 200, json={"envs": []})  # type: ignore[attr-defined]

    flaky.n = 0  # type: ignore[attr-defined]
    assert await client(flaky).list_env("web") == []

    def down(req: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": {"code": "unavailable", "message": "down"}})

    with pytest.raises(UnavailableError, match="project web env"):
        await client(down, retry=RetryPolicy(attempts=3, base_delay=0.001)).list_env("web")


async def test_timeouts_are_retried() -> None:
    state = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        state["n"] += 1
        if state["n"] == 1:
            raise httpx.ReadTimeout("slow", request=req)
        return httpx.Response(200, json={"envs": []})

    assert await client(handler).list_env("web") == []
    assert state["n"] == 2


async def test_errors_map_to_keyroll_errors() -> None:
    def forbidden(req: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": {"code": "forbidden", "message": "Not authorized"}})

    def missing(req: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "Project not found."}})

    with pytest.raises(AuthError) as auth:
        await client(forbidden).list_projects()
    assert "VERCEL_TOKEN" in (auth.value.hint or "")
    with pytest.raises(NotFoundError, match="project ghost"):
        await client(missing).get_project("ghost")


def test_models_accept_v6_and_v13_shapes() -> None:
    v6 = Deployment.model_validate(
        {
            "uid": "dpl_a",
            "state": "READY",
            "created": 5,
            "meta": {"githubCommitRef": "main"},
            "target": "production",
        }
    )
    v13 = Deployment.model_validate(
        {"id": "dpl_a", "readyState": "READY", "createdAt": 5, "gitSource": {"ref": "main"}, "alias": None}
    )
    assert (v6.id, v6.ready_state, v6.created_at, v6.git_branch) == ("dpl_a", "READY", 5, "main")
    assert (v13.id, v13.ready_state, v13.created_at, v13.git_branch, v13.alias) == (
        "dpl_a",
        "READY",
        5,
        "main",
        [],
    )
    assert v6.is_terminal
    ev = EnvVar.model_validate({"id": "1", "key": "K", "type": "system", "value": "VERCEL_URL"})
    assert ev.value == Secret("VERCEL_URL")


def test_request_descriptions_never_show_data_plane_urls_or_queries() -> None:
    from keyroll.providers.http import describe

    assert describe("GET", "/v10/projects/web/env?decrypt=true") == "GET /v10/projects/web/env"
    assert (
        describe("POST", "https://eu1-fine-cat.upstash.io/acl/setuser/u/>secret-pw?_token=abc")
        == "POST <url>/acl"
    )
    assert describe("POST", "http://127.0.0.1:5000") == "POST <url>"


async def test_token_bucket_probes_first_then_follows_the_service_window() -> None:
    import asyncio
    import time

    from keyroll.providers.http import TokenBucket

    bucket = TokenBucket(100, 60)
    await bucket.acquire()  # the probe goes alone
    second = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.02)
    assert not second.done(), "no burst before the first answer"
    bucket.observe(
        {
            "x-ratelimit-limit": "3",
            "x-ratelimit-remaining": "2",
            "x-ratelimit-reset": str(int(time.time()) + 30),
        }
    )
    bucket.settle()
    await asyncio.wait_for(second, 1)
    await asyncio.wait_for(bucket.acquire(), 1)  # the second of the two the window still allows
    third = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0.05)
    assert not third.done(), "the window is spent: wait for its reset, no refill in between"
    third.cancel()
    assert bucket.capacity == 3


async def test_token_bucket_counts_requests_in_flight_at_the_reset_against_the_new_window() -> None:
    """A request sent just before the reset can reach the service after it: counting it in the new
    window's budget keeps a full burst at the turn from overshooting (the 429s at each window edge)."""
    import time

    from keyroll.providers.http import TokenBucket

    now = [1000.0]
    bucket = TokenBucket(10, 6, clock=lambda: now[0])
    await bucket.acquire()
    bucket.observe(
        {"x-ratelimit-limit": "4", "x-ratelimit-remaining": "3", "x-ratelimit-reset": str(time.time() + 1)}
    )
    bucket.settle()
    for _ in range(3):
        await bucket.acquire()  # the window's last three: all still in flight at its end
    bucket.settle()  # one is answered before the reset
    now[0] += 1.5  # the window has turned
    bucket._refill()
    assert bucket._tokens == 2, "4 per window, 2 requests of the old window still on the way"
