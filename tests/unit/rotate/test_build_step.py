"""``--bypass-ignored-build-step``: the setting is cleared for the run (journaled first) and the exact
previous value restored on done, rollback and resume — even after a crash between the two."""

from __future__ import annotations

from pathlib import Path

from keyroll.core.errors import UnavailableError
from keyroll.core.model import RunState, StepState, Strategy
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.rotate.build_step import step_id
from keyroll.rotate.planner import make_plan
from tests.fakes.inventory import fake_inventory
from tests.fakes.world import small_world
from tests.unit.rotate.test_engine import _engine, _select

COMMAND = "npx turbo-ignore"


def _setup(tmp_path: Path, key: JournalKey):  # type: ignore[no-untyped-def]
    world, h = small_world()
    web = next(p for p in world.projects.values() if p.name == "web")
    web.ignored_build_step = COMMAND
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="native")
    assert any(s.project_id == web.id for s in plan.steps), "the plan redeploys web"
    return world, h, web, inv, plan, Journal.open(tmp_path / "j.db", key, create=True)


async def test_without_consent_the_redeploy_is_cancelled_and_rolled_back(
    tmp_path: Path, journal_key: JournalKey
) -> None:
    world, h, web, inv, plan, journal = _setup(tmp_path, journal_key)
    result = await _engine(world, journal, h).apply(plan, inventory=inv)
    assert result.state is RunState.ROLLED_BACK
    assert "CANCELED" in result.credentials[0].error
    assert web.ignored_build_step == COMMAND


async def test_bypass_clears_for_the_run_and_restores_the_exact_value(
    tmp_path: Path, journal_key: JournalKey
) -> None:
    world, h, web, inv, plan, journal = _setup(tmp_path, journal_key)
    seen: list[str | None] = []
    world.vercel.on_redeploy = lambda _dep: seen.append(web.ignored_build_step)
    result = await _engine(world, journal, h, bypass_ignored_build_step=True).apply(plan, inventory=inv)
    assert result.state is RunState.DONE
    assert seen and set(seen) == {None}, "cleared while redeploying"
    assert web.ignored_build_step == COMMAND
    entries = [e for e in journal.entries(result.run_id) if e.step_id == step_id(web.id)]
    assert [(e.phase, e.state) for e in entries] == [
        ("intent", StepState.RUNNING),
        ("outcome", StepState.DONE),
        ("outcome", StepState.DONE),
    ]
    assert entries[0].detail["previous"] == COMMAND and entries[-1].detail["restored"] is True


async def test_a_failed_run_is_rolled_back_with_the_setting_cleared_then_restored(
    tmp_path: Path, journal_key: JournalKey
) -> None:
    world, h, web, inv, plan, journal = _setup(tmp_path, journal_key)
    world.vercel.fail_builds.add(web.id)
    seen: list[str | None] = []
    world.vercel.on_redeploy = lambda _dep: seen.append(web.ignored_build_step)
    result = await _engine(world, journal, h, bypass_ignored_build_step=True).apply(plan, inventory=inv)
    assert result.state is RunState.ROLLED_BACK
    assert len(seen) >= 2 and set(seen) == {None}, "the rollback's redeploys ran cleared too"
    assert web.ignored_build_step == COMMAND


async def test_a_restore_that_failed_is_done_by_the_next_rollback_from_the_journal(
    tmp_path: Path, journal_key: JournalKey
) -> None:
    world, h, web, inv, plan, journal = _setup(tmp_path, journal_key)
    real = world.vercel.update_project
    calls = 0

    async def flaky(id_or_name: str, **settings: object):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if settings.get("commandForIgnoringBuildStep"):  # the restore: Vercel is down
            raise UnavailableError("vercel: HTTP 503", service="vercel", status=503)
        return await real(id_or_name, **settings)

    world.vercel.update_project = flaky  # type: ignore[method-assign]
    world.vercel.fail_builds.add(web.id)
    first = await _engine(world, journal, h, bypass_ignored_build_step=True).apply(plan, inventory=inv)
    assert first.state is RunState.ROLLED_BACK
    assert web.ignored_build_step is None, "not restored yet"
    rec = journal.step_records(first.run_id)[step_id(web.id)]
    assert not rec.detail.get("restored") and rec.detail["previous"] == COMMAND
    world.vercel.update_project = real  # type: ignore[method-assign]
    await _engine(world, journal, h).rollback(first.run_id)
    assert web.ignored_build_step == COMMAND, "taken from the journal: the project showed none"
    assert journal.step_records(first.run_id)[step_id(web.id)].detail["restored"] is True
