"""The emulated Vercel, driven through keyroll's own VercelClient over real HTTP on 127.0.0.1.

These tests run the Vercel and GitHub emulations only (``services=``): fleet templates get
stand-in values, so no redis-server is needed and the tests stay fast.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyroll.config import load_config
from keyroll.core.errors import AuthError, NotFoundError, ProviderError
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.providers.factory import vercel_client
from keyroll.providers.http import RetryPolicy
from keyroll.providers.vercel.client import VercelClient
from keyroll.providers.vercel.models import EnvVarInput
from keyroll.sandbox.fleet_generate import generate_fleet
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.vercel.state import VercelState

SERVICES = ("vercel", "github")


def make_sandbox(path: Path, **kw: Any) -> Sandbox:
    kw.setdefault("fleet", "small")
    kw.setdefault("build_seconds", 0.2)
    return Sandbox(path, services=SERVICES, **kw)


def vercel_state(sb: Sandbox) -> VercelState:
    state: VercelState = sb.world.hooks["vercel.state"]()
    return state


def client(sb: Sandbox, **kw: Any) -> VercelClient:
    kw.setdefault("retry", RetryPolicy(base_delay=0.02, max_delay=0.2))
    return vercel_client(load_config(None, environ=sb.env()), **kw)


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with make_sandbox(tmp_path_factory.mktemp("vercel")) as sandbox:
        yield sandbox


@pytest.fixture
def raw(sb: Sandbox) -> Iterator[httpx.Client]:
    env = sb.env()
    with httpx.Client(
        base_url=env["KEYROLL_VERCEL_API_URL"],
        headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"},
        params={"teamId": env["VERCEL_TEAM_ID"]},
    ) as c:
        yield c


async def test_reads_projects_env_shared_and_integrations(sb: Sandbox) -> None:
    state = vercel_state(sb)
    c = client(sb)
    try:
        projects = await c.list_projects()
        assert {p.name for p in projects} == {"web", "api", "docs"}
        web = await c.get_project("web")
        prod = web.targets["production"]
        assert prod["readyState"] == "READY" and prod["readySubstate"] == "PROMOTED"
        assert prod["alias"] == ["web-acme.vercel.app"]
        envs = await c.list_env(web.id, decrypt=True)
        by_key = {(e.key, tuple(e.target)): e for e in envs}
        sensitive = by_key[("UPSTASH_REDIS_REST_TOKEN", ("production",))]
        encrypted = by_key[("UPSTASH_REDIS_REST_TOKEN", ("preview", "development"))]
        assert sensitive.type == "sensitive" and sensitive.value is None
        assert encrypted.value is None, "list values stay ciphertext even with decrypt=true"
        assert by_key[("NEXT_PUBLIC_SITE_NAME", ("production", "preview", "development"))].value == Secret(
            "Acme Web"
        )
        one = await c.get_env(web.id, encrypted.id)
        stored = state.projects[web.id].env[encrypted.id].value
        assert one.value is not None and one.value.fingerprint == fingerprint_of(stored)
        assert (await c.get_env(web.id, sensitive.id)).value is None
        branch = next(e for e in envs if e.git_branch)
        assert branch.key == "MYAPP_UPSTASH_REDIS_REST_TOKEN" and branch.git_branch == "feat-x"
        managed = [e for e in envs if e.configuration_id == "icfg_upstash"]
        assert {e.key for e in managed} == {
            "KV_REST_API_URL",
            "KV_REST_API_TOKEN",
            "KV_REST_API_READ_ONLY_TOKEN",
        }
        assert managed[0].content_hint and managed[0].content_hint["type"].startswith("redis-rest-api")
        customs = await c.list_custom_environments(web.id)
        assert [ce.slug for ce in customs] == ["staging"]
        assert any(customs[0].id in e.custom_environment_ids for e in envs if e.key == "REDIS_URL")
        shared = await c.list_shared_env()
        assert [(s.key, len(s.project_ids)) for s in shared] == [("QSTASH_TOKEN", 2)]
        assert shared[0].value is None and (await c.get_shared_env(shared[0].id)).value is not None
        integrations = await c.list_integration_configurations()
        assert [(i.id, i.slug, i.projects) for i in integrations] == [("icfg_upstash", "upstash", [web.id])]
        events = await c.list_events(types=["env-variable-read", "shared-env-variable-read"])
        assert {e.type for e in events} == {"env-variable-read", "shared-env-variable-read"}
        assert all(e.principal_id == state.user["id"] for e in events)
        team = await c.get_team()
        assert team["slug"] == "acme"
        assert (await c.get_user())["username"] == state.user["username"]
    finally:
        await c.aclose()


async def test_env_write_lifecycle(sb: Sandbox) -> None:
    c = client(sb)
    state = vercel_state(sb)
    try:
        api = await c.get_project("api")
        first = await c.upsert_env(
            api.id,
            [
                EnvVarInput(
                    key="LIFECYCLE_TOKEN", value=Secret("lifecycle-value-0001"), target=["production"]
                ),
                EnvVarInput(
                    key="LIFECYCLE_OTHER",
                    value=Secret("lifecycle-value-0002"),
                    target=["preview"],
                    type="plain",
                ),
            ],
        )
        assert first.ok and len(first.created) == 2
        env_id = first.created[0].id
        again = await c.upsert_env(
            api.id,
            [EnvVarInput(key="LIFECYCLE_TOKEN", value=Secret("lifecycle-value-0003"), target=["production"])],
        )
        assert [e.id for e in again.created] == [env_id], "upsert updates the same var in place"
        assert state.projects[api.id].env[env_id].value == "lifecycle-value-0003"
        with pytest.raises(ProviderError) as conflict:
            await c.create_env(
                api.id, EnvVarInput(key="LIFECYCLE_TOKEN", value=Secret("x" * 20), target=["production"])
            )
        assert conflict.value.code == "ENV_CONFLICT" and "LIFECYCLE_TOKEN" in conflict.value.message
        edited = await c.edit_env(api.id, env_id, value=Secret("lifecycle-value-0004"), comment="rotated")
        assert edited.value == Secret("lifecycle-value-0004") and edited.comment == "rotated"
        assert edited.id == env_id and edited.target == ["production"]
        await c.delete_env(api.id, env_id)
        with pytest.raises(NotFoundError):
            await c.get_env(api.id, env_id)
        deleted = await c.delete_envs(api.id, [first.created[1].id, "does-not-exist"])
        assert deleted == [first.created[1].id]
        kinds = [
            e.type
            for e in await c.list_events(
                types=["env-variable-add", "env-variable-edit", "env-variable-delete"]
            )
        ]
        assert kinds.count("env-variable-delete") >= 2 and "env-variable-edit" in kinds
        shared = await c.create_shared_env(
            "LIFECYCLE_SHARED", Secret("lifecycle-shared-0005"), target=["production"], project_ids=[api.id]
        )
        assert shared.project_ids == [api.id] and shared.value is None
        updated = await c.update_shared_env(
            {shared.id: {"value": Secret("lifecycle-shared-0006")}, "ghost": {"value": "x"}}
        )
        assert [e.id for e in updated.created] == [shared.id] and updated.failed_keys() == ["ghost"]
        assert state.shared[shared.id].value == "lifecycle-shared-0006" and state.shared[
            shared.id
        ].project_ids == [api.id]
        with pytest.raises(ProviderError) as clash:
            await c.create_shared_env(
                "LIFECYCLE_SHARED", Secret("lifecycle-shared-0007"), target=["production"]
            )
        assert clash.value.status == 409 and clash.value.code == "existing_key_and_target"
        assert await c.delete_shared_env([shared.id]) == [shared.id]
    finally:
        await c.aclose()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"key": "A", "value": "v", "type": "encrypted", "target": ["prod"]}, "target[0]"),
        ({"key": "A", "value": "", "type": "encrypted", "target": ["production"]}, "value"),
        ({"key": "A", "type": "encrypted", "target": ["production"]}, "missing required property `value`"),
        ({"key": "A", "value": "v", "type": "secret", "target": ["production"]}, "type"),
        ({"key": "1A", "value": "v", "type": "plain", "target": ["production"]}, "invalid characters"),
        (
            {"key": "A", "value": "v", "type": "plain", "target": ["production"], "bogus": 1},
            "additional property `bogus`",
        ),
        ({"key": "A", "value": 5, "type": "plain", "target": ["production"]}, "should be string"),
        (
            {"key": "A", "value": "v", "type": "plain", "target": ["production"], "gitBranch": "x"},
            "Git branch",
        ),
        ({"key": "A", "value": "v", "type": "sensitive", "target": ["development"]}, "Development"),
        ({"key": "A", "value": "v" * (64 * 1024 + 1), "type": "plain", "target": ["production"]}, "64 KB"),
        ({"key": "A", "value": "v", "type": "plain"}, "target"),
    ],
)
def test_env_validation_is_bad_request(raw: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    r = raw.post("/v10/projects/web/env", json=body)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "bad_request" and fragment in err["message"]


def test_auth_scope_and_unknown_things(sb: Sandbox, raw: httpx.Client) -> None:
    base = sb.urls["vercel"]
    r = httpx.get(f"{base}/v10/projects")
    assert r.status_code == 403 and r.json()["error"] == {
        "code": "forbidden",
        "message": "The request is missing an authentication token",
        "missingToken": True,
    }
    r = httpx.get(f"{base}/v10/projects", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 403 and r.json()["error"]["invalidToken"] is True
    r = raw.get("/v10/projects", params={"teamId": "team_other"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert raw.get("/v10/projects", params={"slug": "acme"}).json()["projects"]
    personal = httpx.get(f"{base}/v10/projects", headers=dict(raw.headers))
    assert personal.status_code == 200 and personal.json()["projects"] == []
    r = raw.get("/v9/projects/ghost")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = raw.get("/v10/projects/web/env/ghost-id")
    assert r.status_code == 404
    r = raw.get("/v42/whatever")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = raw.put("/v10/projects")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_unknown"
    r = raw.get("/v1/integrations/configurations")
    assert r.status_code == 400 and "view" in r.json()["error"]["message"]
    for resp in (raw.get("/v10/projects"), raw.get("/v6/deployments")):
        assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(resp.headers)


async def test_redeploy_snapshots_env_builds_and_promotes(sb: Sandbox) -> None:
    c = client(sb)
    state = vercel_state(sb)
    try:
        web = await c.get_project("web")
        deps = await c.list_deployments(web.id)
        prod = next(d for d in deps if d.target == "production" and d.id == web.targets["production"]["id"])
        preview = next(d for d in deps if d.git_branch == "feat-x")
        custom = next(d for d in deps if d.custom_environment_id)
        token_var = next(
            e
            for e in await c.list_env(web.id)
            if e.key == "UPSTASH_REDIS_REST_TOKEN" and "production" in e.target
        )
        await c.edit_env(web.id, token_var.id, value=Secret("rotated-production-token-01"))
        new_prod = await c.redeploy(prod)
        assert new_prod.ready_state == "QUEUED" and new_prod.target == "production"
        building = httpx.get(f"http://{new_prod.url}/")
        assert building.status_code == 404 and building.json()["error"]["code"] == "DEPLOYMENT_NOT_FOUND"
        done = await c.wait_ready(new_prod.id, poll_s=0.05)
        assert (
            done.ready_state == "READY"
            and done.ready_substate == "PROMOTED"
            and done.alias == ["web-acme.vercel.app"]
        )
        assert (await c.get_project(web.id)).targets["production"]["id"] == new_prod.id
        assert (await c.get_deployment(prod.id)).alias == [], "the old deployment lost the production alias"
        assert (await c.get_deployment(f"https://{done.url}")).id == new_prod.id, "lookup by URL"
        served = httpx.get(f"http://{done.url}/api/health").json()
        assert served["env"]["UPSTASH_REDIS_REST_TOKEN"] == fingerprint_of("rotated-production-token-01")
        old = httpx.get(f"http://{prod.url}/").json()
        assert old["env"]["UPSTASH_REDIS_REST_TOKEN"] != fingerprint_of("rotated-production-token-01")
        assert "QSTASH_TOKEN" in served["env"], "linked shared vars reach the deployment"
        new_preview = await c.redeploy(preview)
        new_custom = await c.redeploy(custom)
        assert new_preview.git_branch == "feat-x" and new_preview.target is None
        assert new_custom.custom_environment_id == custom.custom_environment_id
        snap = state.deployments[new_preview.id].env
        assert "MYAPP_UPSTASH_REDIS_REST_TOKEN" in snap, "branch-scoped preview var"
        assert "REDIS_URL" in state.deployments[new_custom.id].env and "REDIS_URL" not in snap
        await c.wait_ready(new_custom.id, poll_s=0.05)
        serving = {d["id"] for d in sb.world.hooks["vercel.serving_deployments"]()}
        assert {new_prod.id, new_custom.id} <= serving and prod.id not in serving and custom.id not in serving
        events = await c.list_events(types=["deployment"])
        assert {e.payload["deploymentId"] for e in events if e.payload} >= {new_prod.id, new_preview.id}
    finally:
        await c.aclose()


def test_redeploy_without_target_is_preview_and_name_is_required(raw: httpx.Client, sb: Sandbox) -> None:
    state = vercel_state(sb)
    prod_id = state.project("api").production_id  # type: ignore[union-attr]
    r = raw.post("/v13/deployments", params={"forceNew": "1"}, json={"deploymentId": prod_id, "name": "api"})
    assert r.status_code == 200 and r.json()["target"] is None
    r = raw.post("/v13/deployments", json={"deploymentId": prod_id})
    assert r.status_code == 400 and "name" in r.json()["error"]["message"]
    r = raw.post("/v13/deployments", json={"name": "ghost", "deploymentId": prod_id})
    assert r.status_code == 404
    r = raw.get(
        "/v6/deployments", params={"projectId": "api", "target": "production", "state": "READY", "limit": 1}
    )
    assert r.json()["deployments"][0]["uid"] == prod_id


def test_paused_project_does_not_serve(sb: Sandbox, raw: httpx.Client) -> None:
    deps = raw.get("/v6/deployments", params={"projectId": "docs"}).json()["deployments"]
    r = httpx.get(f"http://{deps[0]['url']}/")
    assert r.status_code == 503 and r.headers["x-vercel-error"] == "DEPLOYMENT_PAUSED"
    assert not [d for d in sb.world.hooks["vercel.serving_deployments"]() if d["project_name"] == "docs"]
    assert [d for d in sb.world.hooks["vercel.deployments"]() if d["project_name"] == "docs"]


def test_resync_integration_updates_managed_vars_only(sb: Sandbox, raw: httpx.Client) -> None:
    state = vercel_state(sb)
    web = state.project("web")
    assert web is not None
    before = {ev.id: ev.value for ev in web.env.values()}
    changed = sb.world.hooks["vercel.resync_integration"](
        "icfg_upstash", {"KV_REST_API_TOKEN": "resynced-token-value-1", "UNRELATED": "zzz-zzz-zzz-zzz"}
    )
    assert changed == 1
    after = {ev.key: ev.value for ev in web.env.values() if ev.value != before[ev.id]}
    assert after == {"KV_REST_API_TOKEN": "resynced-token-value-1"}
    assert (
        sb.world.hooks["vercel.resync_integration"](
            "icfg_upstash", {"KV_REST_API_TOKEN": "resynced-token-value-1"}
        )
        == 0
    )
    types = [e["type"] for e in raw.get("/v3/events", params={"limit": 3}).json()["events"]]
    assert "integration-configuration-credential-rotated" in types


def test_pagination_over_many_projects_and_deployments(tmp_path: Path) -> None:
    fleet = generate_fleet(45, vars_per_project=4, preview_branches=1, shared_vars=1)
    with make_sandbox(tmp_path, fleet=fleet) as sandbox:

        async def go() -> tuple[int, int, int, int]:
            c = client(sandbox)
            try:
                projects = await c.list_projects()
                calls = c.api.calls["default"]
                deps = await c.list_deployments(projects[0].id, limit=1)
                # pages of 20 follow v10's continuation tokens (sent back as ``from``)
                small = await c._pages("/v10/projects", "projects", what="projects", page_size=20)
                return len({p.id for p in projects}), calls, len(deps), len({r["id"] for r in small})
            finally:
                await c.aclose()

        count, calls, deps, paged = asyncio.run(go())
        assert count == 45 and calls == 1  # limit=100 per page
        assert paged == 45
        env = sandbox.env()
        for version, cursor in (("v10", "from"), ("v9", "until")):
            url = f"{env['KEYROLL_VERCEL_API_URL']}/{version}/projects"
            params: dict[str, object] = {"teamId": env["VERCEL_TEAM_ID"], "limit": 20}
            headers = {"Authorization": f"Bearer {env['VERCEL_TOKEN']}"}
            r = httpx.get(url, params=params, headers=headers).json()
            seen = [p["id"] for p in r["projects"]]
            while r["pagination"]["next"] is not None:
                nxt = r["pagination"]["next"]
                # v10 answers a continuation token (as Vercel documents); older versions a timestamp
                assert isinstance(nxt, str) if version == "v10" else isinstance(nxt, int)
                r = httpx.get(url, params={**params, cursor: nxt}, headers=headers).json()
                seen += [p["id"] for p in r["projects"]]
            assert len(seen) == len(set(seen)) == 45, version
        bad = httpx.get(
            f"{env['KEYROLL_VERCEL_API_URL']}/v10/projects",
            params={"teamId": env["VERCEL_TEAM_ID"], "from": "not-a-token!"},
            headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"},
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
        assert deps == 1


def test_429_storm_client_waits_and_succeeds(tmp_path: Path) -> None:
    with make_sandbox(tmp_path, faults="storm=1.2") as sandbox:

        async def go() -> tuple[int, int]:
            c = client(sandbox)
            try:
                projects = await c.list_projects()
                return len(projects), c.api.calls["default"]
            finally:
                await c.aclose()

        count, calls = asyncio.run(go())
        assert count == 3 and calls >= 2, "at least one 429 was answered, then the retry succeeded"


def test_rate_limit_window_is_respected(tmp_path: Path) -> None:
    with make_sandbox(tmp_path, rate_limits={"vercel.env_read": 4}, rate_window_s=0.5) as sandbox:
        env = sandbox.env()
        headers = {"Authorization": f"Bearer {env['VERCEL_TOKEN']}"}
        url = f"{env['KEYROLL_VERCEL_API_URL']}/v10/projects/web/env"
        # A window boundary may fall between requests, so keep asking until one is over the
        # limit (at 4 per 0.5 s that takes at most ~9 requests on any machine that sends > 8/s).
        limited = []
        for _ in range(40):
            r = httpx.get(url, params={"teamId": "team_sandbox"}, headers=headers)
            if r.status_code == 429:
                limited.append(r)
                break
        assert limited, "more than 4 requests in one window are limited"
        body = limited[0].json()["error"]
        assert (
            body["code"] == "rate_limited" and body["limit"]["total"] == 4 and body["limit"]["remaining"] == 0
        )
        assert (
            int(limited[0].headers["retry-after"]) >= 1 and limited[0].headers["x-ratelimit-remaining"] == "0"
        )
        assert (
            httpx.get(
                f"{env['KEYROLL_VERCEL_API_URL']}/v10/projects",
                params={"teamId": "team_sandbox"},
                headers=headers,
            ).status_code
            == 200
        )

        async def go() -> int:
            c = client(sandbox)
            try:
                for _ in range(10):
                    await c.list_env("web")
                return c.api.calls["env_read"]
            finally:
                await c.aclose()

        assert asyncio.run(go()) >= 10


def test_5xx_and_timeouts_are_retried(tmp_path: Path) -> None:
    with make_sandbox(tmp_path, faults="error_rate=0.4,timeout_rate=0.15,timeout_s=1.5,seed=3") as sandbox:

        async def go() -> tuple[int, int]:
            c = client(sandbox, timeout=0.4, retry=RetryPolicy(attempts=10, base_delay=0.01, max_delay=0.05))
            try:
                names = set()
                for _ in range(4):
                    names |= {p.name for p in await c.list_projects()}
                    await c.list_env("web")
                return len(names), c.api.total_calls
            finally:
                await c.aclose()

        count, calls = asyncio.run(go())
        assert count == 3 and calls > 8, "some requests failed and were retried"


def test_partial_failures_surface_in_failed(tmp_path: Path) -> None:
    with make_sandbox(tmp_path, faults="partial_rate=0.5,seed=11") as sandbox:
        state = vercel_state(sandbox)

        async def go() -> Any:
            c = client(sandbox)
            try:
                items = [
                    EnvVarInput(
                        key=f"PARTIAL_{i}", value=Secret(f"partial-value-{i:03d}"), target=["production"]
                    )
                    for i in range(10)
                ]
                return await c.upsert_env("web", items)
            finally:
                await c.aclose()

        result = asyncio.run(go())
        assert result.failed and result.created and len(result.failed) + len(result.created) == 10
        assert "partial-value" not in json.dumps(result.failed)
        web = state.project("web")
        assert web is not None
        stored = {ev.key for ev in web.env.values() if ev.key.startswith("PARTIAL_")}
        assert stored == {e.key for e in result.created}, "failed items were not written"
        assert set(result.failed_keys()).isdisjoint(stored)


def test_error_builds_end_in_error_and_are_not_promoted(tmp_path: Path) -> None:
    with make_sandbox(tmp_path, faults="error_builds=1") as sandbox:

        async def go() -> Any:
            c = client(sandbox)
            try:
                web = await c.get_project("web")
                prod = await c.get_deployment(web.targets["production"]["id"])
                new = await c.redeploy(prod)
                done = await c.wait_ready(new.id, poll_s=0.05)
                return done, (await c.get_project("web")).targets["production"]["id"], prod.id
            finally:
                await c.aclose()

        done, current, old = asyncio.run(go())
        assert done.ready_state == "ERROR" and done.error_code == "BUILD_FAILED"
        assert current == old


def test_fault_decisions_are_deterministic(tmp_path: Path) -> None:
    def run(path: Path) -> list[int]:
        with make_sandbox(path, faults="error_rate=0.5,seed=42") as sandbox:
            env = sandbox.env()
            headers = {"Authorization": f"Bearer {env['VERCEL_TOKEN']}"}
            return [
                httpx.get(
                    f"{env['KEYROLL_VERCEL_API_URL']}/v10/projects",
                    params={"teamId": "team_sandbox"},
                    headers=headers,
                ).status_code
                for _ in range(12)
            ]

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second and 500 in first and 200 in first


# -- the emulator never crashes ------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
env_items = st.fixed_dictionaries(
    {},
    optional={
        "key": st.one_of(st.sampled_from(["TOKEN", "A_B", "9X", ""]), json_values),
        "value": st.one_of(st.text(max_size=30), json_values),
        "type": st.one_of(
            st.sampled_from(["plain", "encrypted", "sensitive", "system", "secret"]), json_values
        ),
        "target": st.one_of(
            st.lists(st.sampled_from(["production", "preview", "development", "x"]), max_size=3), json_values
        ),
        "gitBranch": st.one_of(st.none(), st.text(max_size=10), json_values),
        "customEnvironmentIds": st.one_of(st.lists(st.text(max_size=8), max_size=2), json_values),
        "comment": st.one_of(st.text(max_size=10), json_values),
    },
)
bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    env_items.map(lambda v: json.dumps(v).encode()),
    st.lists(env_items, max_size=3).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)
WRITES = [
    ("POST", "/v10/projects/web/env"),
    ("POST", "/v10/projects/web/env?upsert=true"),
    ("PATCH", "/v9/projects/web/env/{env_id}"),
    ("DELETE", "/v1/projects/web/env"),
    ("POST", "/v1/env"),
    ("PATCH", "/v1/env"),
    ("DELETE", "/v1/env"),
    ("POST", "/v13/deployments"),
]


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, httpx.Client, str]]:
    limits = {f"vercel.{cls}": 100_000 for cls in ("env_read", "env_write", "deployments_create", "default")}
    with make_sandbox(tmp_path_factory.mktemp("fuzz"), build_seconds=0.05, rate_limits=limits) as sandbox:
        env = sandbox.env()
        state = vercel_state(sandbox)
        web = state.project("web")
        assert web is not None
        env_id = next(iter(web.env))
        with httpx.Client(
            base_url=env["KEYROLL_VERCEL_API_URL"], headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"}
        ) as c:
            yield sandbox, c, env_id


@settings(
    max_examples=160,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(endpoint=st.sampled_from(WRITES), body=bodies)
def test_arbitrary_bodies_get_well_formed_answers(
    fuzz_target: tuple[Sandbox, httpx.Client, str], endpoint: tuple[str, str], body: bytes
) -> None:
    _, c, env_id = fuzz_target
    method, path = endpoint
    path, _, query = path.format(env_id=env_id).partition("?")
    params = {"teamId": "team_sandbox", **dict(p.split("=") for p in query.split("&") if p)}
    r = c.request(method, path, params=params, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 201, 400, 404, 409, 413), r.text
    data = r.json()
    if r.status_code >= 400:
        assert isinstance(data["error"]["code"], str) and isinstance(data["error"]["message"], str)
    else:
        assert isinstance(data, dict)
        if method == "POST" and "env" in path:
            assert "created" in data and isinstance(data["failed"], list)


def test_secret_values_never_reach_errors_or_logs(sb: Sandbox, raw: httpx.Client) -> None:
    body = {
        "key": "LEAKY",
        "value": "do-not-echo-this-value-123",
        "type": "plain",
        "target": ["production"],
        "oops": 1,
    }
    r = raw.post("/v10/projects/web/env", json=body)
    assert r.status_code == 400 and "do-not-echo-this-value-123" not in r.text

    async def go() -> None:
        bad = vercel_client(
            load_config(None, environ={**sb.env(), "VERCEL_TOKEN": "wrong-token-value-here"}),
            retry=RetryPolicy(attempts=1),
        )
        try:
            await bad.list_projects()
        finally:
            await bad.aclose()

    with pytest.raises(AuthError) as info:
        asyncio.run(go())
    assert "wrong-token-value-here" not in info.value.format_message()


def test_full_sandbox_deployments_use_their_own_snapshot(tmp_path: Path) -> None:
    """With the Upstash emulation: a deployment built with a bad token fails, the old one keeps serving."""
    upstash = pytest.importorskip("keyroll.sandbox.upstash")
    if not hasattr(upstash, "install"):
        pytest.skip("the Upstash emulation is not installed")
    with Sandbox(tmp_path, fleet="small", build_seconds=0.2) as sandbox:

        async def go() -> tuple[Any, Any]:
            c = client(sandbox)
            try:
                web = await c.get_project("web")
                prod = await c.get_deployment(web.targets["production"]["id"])
                token = next(
                    e
                    for e in await c.list_env(web.id)
                    if e.key == "UPSTASH_REDIS_REST_TOKEN" and e.type == "sensitive"
                )
                await c.edit_env(web.id, token.id, value=Secret("not-a-valid-upstash-token-000"))
                new = await c.wait_ready((await c.redeploy(prod)).id, poll_s=0.05)
                return prod, new
            finally:
                await c.aclose()

        old, new = asyncio.run(go())
        assert httpx.get(f"http://{old.url}/", timeout=20).status_code == 200
        broken = httpx.get(f"http://{new.url}/", timeout=20)
        assert broken.status_code >= 500 and "UPSTASH_REDIS_REST_TOKEN" in broken.text
        assert "not-a-valid-upstash-token-000" not in broken.text
        assert new.id in {d["id"] for d in sandbox.world.hooks["vercel.serving_deployments"]()}
