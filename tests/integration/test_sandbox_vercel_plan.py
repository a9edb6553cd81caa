"""The emulated Vercel under a plan's limits: build slots (extra builds wait in QUEUED), the daily
deployment cap (402 ``api-deployments-free-per-day``) and ``billing.plan`` on the team — over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.sandbox.server import Sandbox

SERVICES = ("vercel", "github")


def raw_client(sb: Sandbox) -> httpx.Client:
    env = sb.env()
    return httpx.Client(
        base_url=env["KEYROLL_VERCEL_API_URL"],
        headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"},
        params={"teamId": env["VERCEL_TEAM_ID"]},
    )


def production_of(c: httpx.Client, project: str) -> str:
    dep_id: str = c.get(f"/v9/projects/{project}").json()["targets"]["production"]["id"]
    return dep_id


def redeploy(c: httpx.Client, project: str, source: str) -> httpx.Response:
    return c.post(
        "/v13/deployments",
        params={"forceNew": "1"},
        json={"name": project, "deploymentId": source, "target": "production"},
    )


@pytest.fixture
def hobby(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(
        tmp_path, fleet="small", services=SERVICES, build_seconds=1.0, vercel_plan="hobby", builds_per_day=8
    ) as sb:
        yield sb


def test_team_reports_its_plan(hobby: Sandbox) -> None:
    with raw_client(hobby) as c:
        team = c.get(f"/v2/teams/{hobby.env()['VERCEL_TEAM_ID']}").json()
    assert team["billing"]["plan"] == "hobby"
    info = hobby.world.info["vercel"]["plan"]
    assert info == {"plan": "hobby", "concurrent_builds": 1, "deployments_per_day": 8}


def test_hobby_builds_one_at_a_time(hobby: Sandbox) -> None:
    with raw_client(hobby) as c:
        source = production_of(c, "web")
        first = redeploy(c, "web", source).json()
        second = redeploy(c, "web", source).json()
        time.sleep(0.3)
        states = {d: c.get(f"/v13/deployments/{d}").json() for d in (first["id"], second["id"])}
        assert states[first["id"]]["readyState"] == "BUILDING"
        assert states[second["id"]]["readyState"] == "QUEUED", "one build slot on Hobby"
        assert "buildingAt" not in states[second["id"]], "a queued build has not started"
        deadline = time.monotonic() + 10
        while c.get(f"/v13/deployments/{second['id']}").json()["readyState"] != "READY":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        a = c.get(f"/v13/deployments/{first['id']}").json()
        b = c.get(f"/v13/deployments/{second['id']}").json()
    assert b["buildingAt"] >= a["ready"], "the second build started when the first freed the slot"


def test_daily_cap_answers_402(hobby: Sandbox) -> None:
    with raw_client(hobby) as c:
        source = production_of(c, "api")
        used = len(c.get("/v6/deployments", params={"limit": 100}).json()["deployments"])
        answers: list[httpx.Response] = [redeploy(c, "api", source) for _ in range(8 - used)]
        assert all(r.status_code == 200 for r in answers)
        refused = redeploy(c, "api", source)
    assert refused.status_code == 402
    body: dict[str, Any] = refused.json()["error"]
    assert body["code"] == "api-deployments-free-per-day"
    assert body["limit"]["total"] == 8 and body["limit"]["remaining"] == 0
    assert body["limit"]["reset"] > time.time() * 1000 + 23 * 3600 * 1000
    assert int(refused.headers["Retry-After"]) >= 23 * 3600


def test_pro_runs_twelve_builds_at_once(tmp_path: Path) -> None:
    with Sandbox(tmp_path, fleet="small", services=SERVICES, build_seconds=2.0) as sb, raw_client(sb) as c:
        source = production_of(c, "web")
        ids = [redeploy(c, "web", source).json()["id"] for _ in range(13)]
        time.sleep(0.5)
        states = [c.get(f"/v13/deployments/{d}").json()["readyState"] for d in ids]
    assert states[:12] == ["BUILDING"] * 12
    assert states[12] == "QUEUED"


def test_unknown_plan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown Vercel plan"):
        Sandbox(tmp_path, services=SERVICES, vercel_plan="free")


def test_builds_rate_limited_fault_is_final_for_keyroll(tmp_path: Path) -> None:
    import asyncio

    from keyroll.config import load_config
    from keyroll.core.errors import QuotaExceededError
    from keyroll.providers.factory import vercel_client
    from keyroll.providers.vercel.models import Deployment

    with (
        Sandbox(
            tmp_path, fleet="small", services=SERVICES, build_seconds=0.2, faults="builds_rate_limited=1"
        ) as sb,
        raw_client(sb) as c,
    ):
        source = production_of(c, "web")
        r = redeploy(c, "web", source)
        assert r.status_code == 429 and r.json()["error"]["code"] == "builds_rate_limited"

        async def once() -> int:
            client = vercel_client(load_config(None, environ=sb.env()))
            try:
                with pytest.raises(QuotaExceededError):
                    await client.redeploy(
                        Deployment(id=source, name="web", projectId="", target="production")
                    )
                return int(client.api.total_calls)
            finally:
                await client.aclose()

        assert asyncio.run(once()) == 1, "not retried"
