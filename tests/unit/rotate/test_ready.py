"""Waiting for builds with few reads (ReadyWatcher), urgent work first (priority), the revoke
gate's cheap evidence, and cutovers that open their window when no other build queues."""

from __future__ import annotations

import asyncio
import time

import pytest

from keyroll.core.model import RunState, StepKind, Strategy
from keyroll.core.priority import PrioritySemaphore, urgent
from keyroll.journal.store import Journal
from keyroll.providers.http import TokenBucket
from keyroll.rotate.buildstats import BuildStats
from keyroll.rotate.planner import make_plan
from keyroll.rotate.ready import BuildWatch, ReadyWatcher
from tests.fakes.inventory import fake_inventory
from tests.fakes.world import FakeWorld, small_world
from tests.unit.rotate.test_engine import _engine, _select


def _watcher(world: FakeWorld, estimate: float = 0.05) -> ReadyWatcher:
    vercel = world.providers().vercel
    assert vercel is not None
    return ReadyWatcher(vercel, BuildStats(estimate), poll_interval_s=0.005, timeout_s=5.0)


def _builds(world: FakeWorld, projects: int, per_project: int = 2, **kw: object) -> dict[str, BuildWatch]:
    out = {}
    for i in range(projects):
        p = world.add_project(f"p{i}")
        for j in range(per_project):
            d = world.deploy(p.id, target="production" if j == 0 else None, **kw)  # type: ignore[arg-type]
            out[d.id] = BuildWatch(time.time(), d.created_at)
    return out


async def test_one_listing_answers_for_builds_of_many_projects() -> None:
    world = FakeWorld(build_s=0.05)
    builds = _builds(world, projects=20)
    w = _watcher(world)
    seen = await w.wait(builds)
    assert {s.state for s in seen.values()} == {"READY"}
    vercel = world.vercel
    # 40 builds of 20 projects: a handful of team-wide listings, no per-deployment reads
    assert vercel.calls["get_deployment"] == 0
    assert 1 <= vercel.calls["list_deployments"] <= 12 < len(builds)
    assert w.builds.samples == len(builds)
    await w.close()


async def test_failed_builds_are_results_and_unknown_creation_times_are_read_singly() -> None:
    world = FakeWorld(build_s=0.02)
    p = world.add_project("p")
    bad = world.deploy(p.id, outcome="ERROR")
    unknown = world.deploy(p.id)
    w = _watcher(world)
    seen = await w.wait({bad.id: BuildWatch(time.time(), bad.created_at)})
    assert seen[bad.id].state == "ERROR" and not seen[bad.id].ready
    assert world.vercel.calls["get_deployment"] == 0
    seen = await w.wait({unknown.id: BuildWatch(time.time(), 0)})
    assert seen[unknown.id].state == "READY"
    # no creation time: no listing can be bounded by it, so the build is read on its own
    assert world.vercel.calls["get_deployment"] >= 1
    await w.close()


async def test_a_build_seen_once_answers_at_once_and_a_stuck_one_times_out() -> None:
    world = FakeWorld(build_s=0.02)
    builds = _builds(world, projects=1, per_project=1)
    w = _watcher(world)
    await w.wait(builds)
    before = world.vercel.total
    again = await w.wait(builds)
    assert world.vercel.total == before and next(iter(again.values())).ready
    stuck = world.deploy(world.add_project("slow").id)
    stuck.build_s = 60.0
    w.timeout_s = 0.1
    seen = await w.wait({stuck.id: BuildWatch(time.time(), stuck.created_at)})
    assert seen[stuck.id].state == "TIMEOUT"
    await w.close()


async def test_an_error_of_the_watcher_reaches_every_waiter() -> None:
    world = FakeWorld(build_s=0.02)
    builds = _builds(world, projects=2, per_project=1)

    async def broken(*a: object, **k: object) -> list[object]:
        raise RuntimeError("listing broke")

    w = _watcher(world)
    w.vercel.list_deployments = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="listing broke"):
        await asyncio.wait_for(w.wait(builds), 5)
    await w.close()


async def test_priority_semaphore_serves_urgent_waiters_first() -> None:
    sem = PrioritySemaphore(1)
    await sem.acquire()
    order: list[str] = []

    async def take(name: str, is_urgent: bool) -> None:
        with urgent(is_urgent):
            await sem.acquire()
        order.append(name)
        sem.release()

    tasks = [asyncio.create_task(take(f"normal{i}", False)) for i in range(3)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(take("urgent", True)))
    await asyncio.sleep(0)
    sem.release()
    await asyncio.gather(*tasks)
    assert order == ["urgent", "normal0", "normal1", "normal2"]


async def test_token_bucket_gives_the_next_token_to_urgent_requests() -> None:
    bucket = TokenBucket(2, period=0.2)
    await bucket.acquire()  # the calibration probe
    bucket.settle()
    order: list[str] = []

    async def one(name: str, is_urgent: bool) -> None:
        with urgent(is_urgent):
            await bucket.acquire()
        order.append(name)
        bucket.settle()

    tasks = [asyncio.create_task(one(f"normal{i}", False)) for i in range(4)]
    await asyncio.sleep(0.01)
    tasks.append(asyncio.create_task(one("urgent", True)))
    await asyncio.gather(*tasks)
    # one token was left for the first normal request; the urgent one jumps the rest of the queue
    assert order.index("urgent") <= 1, order


async def test_cutover_opens_its_window_after_the_overlap_builds_and_the_gate_reads_little(
    journal: Journal,
) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, Strategy.INDEX_RESET)
    result = await _engine(world, journal, h, accept_downtime=True).apply(plan, inventory=inv)
    assert result.state is RunState.DONE, result
    entries = journal.entries(result.run_id)
    overlap = {s.id for cp in plan.credentials if not cp.requires_downtime_consent for s in cp.steps}
    last_build = max(
        e.ts
        for e in entries
        if e.step_id in overlap
        and e.phase == "outcome"
        and e.kind in (StepKind.REDEPLOY, StepKind.AWAIT_READY)
    )
    reset = next(s.id for cp in plan.credentials for s in cp.steps if s.params.get("cutover_reset"))
    opened = next(e.ts for e in entries if e.step_id == reset and e.phase == "intent")
    assert opened >= last_build
    # READY came from team-wide listings; the gate proved previews from them (no per-project listing)
    assert world.vercel.calls["get_deployment"] <= 2
    redeploys = sum(len(s.params.get("deployments", [])) for s in plan.steps if s.kind is StepKind.REDEPLOY)
    assert world.vercel.calls["list_deployments"] < redeploys


async def test_cutovers_sharing_a_project_share_its_build(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.INDEX_RESET, Strategy.QSTASH_TOKEN)
    refs = [
        (s.project_id, d["deployment_id"])
        for s in plan.steps
        if s.kind is StepKind.REDEPLOY
        for d in s.params.get("deployments", [])
    ]
    assert len(refs) > len(set(refs)), "the fixture must have two cutovers redeploying one deployment"
    # one cutover's write to the shared project is slow (a 500, retried): the other's redeploy of
    # it would start meanwhile, build without that write, and hold the slow one back a whole build
    shared = next(pid for pid, _ in refs if refs.count((pid, _)) > 1)
    writes = [
        loc["env_id"]
        for s in plan.steps
        if s.kind is StepKind.WRITE_ENV and s.project_id == shared
        for loc in s.params.get("locations", [])
    ]
    assert writes, "one cutover writes the shared project's own var (the other a linked team var)"
    slow = writes[0]
    world.vercel.edit_failures[slow] = 1
    result = await _engine(world, journal, h, accept_downtime=True).apply(plan, inventory=inv)
    assert result.state is RunState.DONE, result
    # the second writer's build was not waited for and then repeated: one build per deployment
    assert world.vercel.calls["redeploy"] == len(set(refs))


async def test_builds_queued_for_a_slot_cost_about_one_look_per_wave() -> None:
    """Twelve builds on two build slots run in six waves: a build seen QUEUED is not due before a
    build time after a running one frees its slot, so the watcher looks about once per wave instead
    of every eighth of a build while the queue drains."""
    build_s, slots, n = 0.2, 2, 12
    world = FakeWorld(build_s=build_s)
    p = world.add_project("p")
    builds = {}
    for i in range(n):
        d = world.deploy(p.id)
        d.queued_s = (i // slots) * build_s
        builds[d.id] = BuildWatch(time.time(), d.created_at)
    w = ReadyWatcher(world.vercel, BuildStats(build_s, samples=1), poll_interval_s=0.005, timeout_s=5.0)
    seen = await asyncio.wait_for(w.wait(builds), 10)
    assert {s.state for s in seen.values()} == {"READY"}
    waves = n // slots
    assert w.looks <= 2 * waves + 2, f"{w.looks} looks for {waves} waves"  # 38 before
    await w.close()


async def test_vercels_own_stamps_time_the_next_look() -> None:
    """With ``ready`` − ``buildingAt`` in the listing, the estimate is the build time itself (no
    look-lag in it), and a look falls due when a build should be done: about one look a wave."""
    build_s, slots, n = 0.3, 2, 12
    world = FakeWorld(build_s=build_s)
    p = world.add_project("p")
    builds = {}
    for i in range(n):
        d = world.deploy(p.id)
        d.queued_s = (i // slots) * build_s
        builds[d.id] = BuildWatch(time.time(), d.created_at)
    stats = BuildStats(build_s, samples=1)
    w = ReadyWatcher(world.vercel, stats, poll_interval_s=0.005, timeout_s=5.0)
    seen = await asyncio.wait_for(w.wait(builds), 10)
    assert {s.state for s in seen.values()} == {"READY"}
    assert stats.exact and abs(stats.estimate_s - build_s) < 0.05, stats
    assert w.looks <= n // slots + 4, f"{w.looks} looks for {n // slots} waves"
    await w.close()
