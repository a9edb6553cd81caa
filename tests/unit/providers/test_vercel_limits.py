"""Vercel plan limits on keyroll's side: plan figures, a queued build's timeout, a spent quota is
never retried, and a 402 mid-run pauses the run (journaled, resumable) instead of rolling back."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from keyroll.core.errors import QuotaExceededError
from keyroll.core.model import RunState, StepState, Strategy
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.providers.http import RetryPolicy
from keyroll.providers.vercel.client import VercelClient
from keyroll.providers.vercel.models import Deployment
from keyroll.providers.vercel.plans import plan_info
from keyroll.rotate.buildstats import BuildStats
from keyroll.rotate.planner import make_plan
from keyroll.rotate.ready import BuildWatch, ReadyWatcher
from tests.fakes.inventory import fake_inventory
from tests.fakes.world import FakeWorld, small_world
from tests.unit.rotate.test_engine import _engine, _select


@pytest.mark.parametrize(
    ("team", "plan", "builds", "per_day", "documented"),
    [
        ({"billing": {"plan": "hobby"}}, "hobby", 1, 100, True),
        ({"billing": {"plan": "pro"}}, "pro", 12, 6000, True),
        ({"billing": {"plan": "enterprise"}}, "enterprise", 12, 6000, False),
        ({"billing": None}, "unknown", 12, 6000, False),
        ({}, "unknown", 12, 6000, False),
    ],
)
def test_plan_figures(
    team: dict[str, object], plan: str, builds: int, per_day: int, documented: bool
) -> None:
    info = plan_info(team)
    assert (info.plan, info.concurrent_builds, info.deployments_per_day, info.documented) == (
        plan,
        builds,
        per_day,
        documented,
    )
    assert info.build_rounds(25) == -(-25 // builds)


async def test_time_queued_for_a_build_slot_does_not_count_towards_the_build_timeout() -> None:
    world = FakeWorld(build_s=0.05)
    p = world.add_project("p")
    d = world.deploy(p.id)
    d.queued_s = 0.6  # far longer than the build timeout below
    vercel = world.providers().vercel
    assert vercel is not None
    w = ReadyWatcher(vercel, BuildStats(0.05), poll_interval_s=0.01, timeout_s=0.3)
    seen = await w.wait({d.id: BuildWatch(time.time(), d.created_at)})
    assert seen[d.id].state == "READY", "queued 0.6 s, built 0.05 s: within a 0.3 s build timeout"
    assert w.builds.estimate_s < 0.3, "build time is measured from buildingAt, not from the request"
    stuck = world.deploy(p.id)
    stuck.queued_s, stuck.build_s = 0.05, 60.0
    seen = await w.wait({stuck.id: BuildWatch(time.time(), stuck.created_at)})
    assert seen[stuck.id].state == "TIMEOUT"
    await w.close()


@pytest.mark.parametrize(
    ("status", "code"), [(402, "api-deployments-free-per-day"), (429, "builds_rate_limited")]
)
async def test_a_spent_quota_is_not_retried(status: int, code: str) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            status,
            json={"error": {"code": code, "message": "Resource is limited - try again in 24 hours"}},
            headers={"Retry-After": "1"},
        )

    http = httpx.AsyncClient(base_url="https://api.vercel.test", transport=httpx.MockTransport(handler))

    async def no_sleep(_: float) -> None:
        return None

    client = VercelClient(http, team_id="team_x", retry=RetryPolicy(base_delay=0.0), sleep=no_sleep)

    with pytest.raises(QuotaExceededError) as info:
        await client.redeploy(Deployment(id="dpl_1", name="web", projectId="prj_1", target="production"))
    assert calls == 1
    assert info.value.code == code and info.value.status == status
    await http.aclose()


async def test_a_spent_quota_mid_run_pauses_without_rollback(tmp_path: Path, journal_key: JournalKey) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    # overlap strategies: a cutover whose reset came before the pause stays broken until resume
    # (preflight's quota check is what keeps a run from getting there)
    plan = _select(
        make_plan(inv, all_upstash=True, build_seconds_estimate=0.05),
        Strategy.REDIS_ACL,
        Strategy.QSTASH_SIGNING,
    )
    redeploys = 0

    def quota(_: object) -> None:
        nonlocal redeploys
        redeploys += 1
        if redeploys > 1:
            raise QuotaExceededError(
                "vercel: redeploy: HTTP 402 api-deployments-free-per-day",
                service="vercel",
                status=402,
                code="api-deployments-free-per-day",
            )

    world.vercel.on_redeploy = quota
    journal = Journal.open(tmp_path / "j.db", journal_key, create=True)
    engine = _engine(world, journal, h, accept_downtime=True)
    result = await engine.apply(plan, inventory=inv)
    assert result.state is RunState.WAITING
    assert "quota" in result.waiting and "paused" in result.waiting
    records = journal.step_records(result.run_id)
    assert not any(sid.endswith("/rollback") for sid in records), "no rollback storm"
    assert any(
        r.state is StepState.PENDING and "quota" in str(r.detail.get("waiting", "")) for r in records.values()
    )
    # the quota resets: resume finishes the run
    world.vercel.on_redeploy = None
    resumed = await _engine(world, journal, h, accept_downtime=True).resume(result.run_id)
    assert resumed.state is RunState.DONE, [(c.credential, c.state, c.error) for c in resumed.credentials]
    journal.close()
