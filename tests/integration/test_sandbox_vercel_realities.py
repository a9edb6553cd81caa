"""The emulated Vercel as it really behaves (reference notes §12), over real HTTP: Ignored Build Step
cancels redeploys, Deployment Protection answers 401 without the bypass header, the env list hides
production vars, ``staging`` deployments keep their target and get a staging alias."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from keyroll.sandbox.fleet import load_fleet
from keyroll.sandbox.server import Sandbox

SERVICES = ("vercel", "github")
BYPASS = "bypass-secret-for-automation-000000"  # a fixture value, not a credential


def realities_fleet() -> dict[str, Any]:
    fleet = copy.deepcopy(load_fleet("small"))
    projects = {p["name"]: p for p in fleet["projects"]}
    projects["web"]["ignored_build_step"] = "git diff --quiet HEAD^ HEAD ./"
    projects["web"]["sso_protection"] = "all_except_custom_domains"
    projects["web"]["protection_bypass_secret"] = BYPASS
    projects["api"]["hidden_production_env"] = 2
    projects["api"]["deployments"].append({"target": "staging"})
    return fleet


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(
        tmp_path_factory.mktemp("realities"), fleet=realities_fleet(), services=SERVICES, build_seconds=0.3
    ) as sandbox:
        yield sandbox


@pytest.fixture
def c(sb: Sandbox) -> Iterator[httpx.Client]:
    env = sb.env()
    with httpx.Client(
        base_url=env["KEYROLL_VERCEL_API_URL"],
        headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"},
        params={"teamId": env["VERCEL_TEAM_ID"]},
    ) as client:
        yield client


def _wait(c: httpx.Client, dep_id: str, states: set[str], timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        dep: dict[str, Any] = c.get(f"/v13/deployments/{dep_id}").json()
        if dep["readyState"] in states:
            return dep
        assert time.monotonic() < deadline, dep["readyState"]
        time.sleep(0.05)


def test_ignored_build_step_cancels_redeploys_until_cleared(c: httpx.Client) -> None:
    web = c.get("/v9/projects/web").json()
    assert web["commandForIgnoringBuildStep"] == "git diff --quiet HEAD^ HEAD ./"
    source = web["targets"]["production"]["id"]
    body = {"name": "web", "deploymentId": source, "target": "production"}
    first = c.post("/v13/deployments", params={"forceNew": "1"}, json=body).json()
    assert _wait(c, first["id"], {"READY", "CANCELED", "ERROR"})["readyState"] == "CANCELED"
    assert c.get("/v9/projects/web").json()["targets"]["production"]["id"] == source, "not promoted"
    # cleared with PATCH, a redeploy builds; the exact value can be put back
    r = c.patch("/v9/projects/web", json={"commandForIgnoringBuildStep": None})
    assert r.status_code == 200 and r.json()["commandForIgnoringBuildStep"] is None
    second = c.post("/v13/deployments", params={"forceNew": "1"}, json=body).json()
    assert _wait(c, second["id"], {"READY", "CANCELED", "ERROR"})["readyState"] == "READY"
    c.patch("/v9/projects/web", json={"commandForIgnoringBuildStep": "git diff --quiet HEAD^ HEAD ./"})
    assert c.get("/v9/projects/web").json()["commandForIgnoringBuildStep"] == "git diff --quiet HEAD^ HEAD ./"


def test_project_patch_rejects_unknown_fields_and_bad_values(c: httpx.Client) -> None:
    assert c.patch("/v9/projects/web", json={"bogus": 1}).status_code == 400
    assert c.patch("/v9/projects/web", json={"commandForIgnoringBuildStep": 3}).status_code == 400
    bad = c.patch("/v9/projects/web", json={"ssoProtection": {"deploymentType": "nobody"}})
    assert bad.status_code == 400


def test_protection_guards_all_but_the_production_deployment(sb: Sandbox, c: httpx.Client) -> None:
    deps = c.get("/v6/deployments", params={"projectId": "web", "state": "READY"}).json()["deployments"]
    prod = c.get("/v9/projects/web").json()["targets"]["production"]["id"]
    preview = next(d for d in deps if d["uid"] != prod)
    with httpx.Client() as plain:
        assert (
            plain.get(f"http://{sb.env()['KEYROLL_VERCEL_API_URL'].split('://')[1]}/_d/{prod}/").status_code
            == 200
        )
        url = f"http://{preview['url']}/"
        assert plain.get(url).status_code == 401
        assert plain.get(url, headers={"x-vercel-protection-bypass": "wrong"}).status_code == 401
        assert plain.get(url, headers={"x-vercel-protection-bypass": BYPASS}).status_code == 200
    web = c.get("/v9/projects/web").json()
    assert web["ssoProtection"] == {"deploymentType": "all_except_custom_domains"}
    assert BYPASS in web["protectionBypass"]


def test_env_list_hides_production_vars(c: httpx.Client) -> None:
    body = c.get("/v10/projects/api/env").json()
    assert body["hiddenProductionEnvCount"] == 2
    keys = [e["key"] for e in body["envs"]]
    assert (
        "QSTASH_URL" not in keys and "QSTASH_CURRENT_SIGNING_KEY" not in keys
    )  # the first two production vars
    assert "hiddenProductionEnvCount" not in c.get("/v10/projects/web/env").json()


def test_staging_deployments_keep_their_target_and_alias(c: httpx.Client) -> None:
    deps = c.get("/v6/deployments", params={"projectId": "api"}).json()["deployments"]
    staging = next(d for d in deps if d["target"] == "staging")
    full = c.get(f"/v13/deployments/{staging['uid']}").json()
    assert full["alias"] == ["api-staging-acme.vercel.app"]
    r = c.post(
        "/v13/deployments",
        params={"forceNew": "1"},
        json={"name": "api", "deploymentId": staging["uid"], "target": "staging"},
    ).json()
    assert r["target"] == "staging"
    new = _wait(c, r["id"], {"READY", "ERROR", "CANCELED"})
    assert new["readyState"] == "READY" and new["alias"] == ["api-staging-acme.vercel.app"]
    assert c.get(f"/v13/deployments/{staging['uid']}").json()["alias"] == [], "the alias moved"
