"""The engine against stateful fakes: every strategy end to end, zero failed requests for the
overlap strategies, cutover failures only inside the measured window, rollback, consent, drift,
crash-and-resume at step boundaries."""

from __future__ import annotations

import dataclasses
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from keyroll.core.errors import ConsentRequired, UsageError
from keyroll.core.model import Plan, RunState, Step, StepState, Strategy
from keyroll.core.secret import Secret
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.rotate.engine import Engine, PlanDriftError, missing_consent
from keyroll.rotate.engine.preflight import refuse_unfinished
from keyroll.rotate.options import ApplyOptions
from keyroll.rotate.planner import make_plan
from tests.fakes.humans import HumanClicker, StaticSecretSource
from tests.fakes.inventory import fake_inventory
from tests.fakes.world import FakeWorld, small_world

FAST = {"poll_interval_s": 0.005, "health_path": "/"}


class Crash(BaseException):
    """Stands in for SIGKILL at a step boundary (the process stops; nothing is cleaned up)."""


def _engine(world: FakeWorld, journal: Journal, h: dict[str, Any], **opts: Any) -> Engine:
    human = opts.pop("human", HumanClicker(world, h["kv"], "icfg_upstash"))
    source = opts.pop("secret_source", None)
    hook = opts.pop("boundary_hook", None)
    options = ApplyOptions(**({"yes": True} | FAST | opts))
    kw: dict[str, Any] = {"human": human, "http": world.http_client(), "secret_source": source}
    if hook is not None:
        kw["boundary_hook"] = hook
    return Engine(world.providers(), journal, options, **kw)


def _select(plan: Plan, *strategies: Strategy, management: str | None = None) -> Plan:
    """Keep some credentials of a plan (dependencies on the others dropped)."""
    keep = [
        cp
        for cp in plan.credentials
        if cp.strategy in strategies
        and (management is None or cp.steps[0].params.get("group", {}).get("management") == management)
    ]
    ids = {s.id for cp in keep for s in cp.steps}
    keep = [
        dataclasses.replace(
            cp,
            steps=tuple(
                dataclasses.replace(s, depends_on=tuple(d for d in s.depends_on if d in ids))
                for s in cp.steps
            ),
        )
        for cp in keep
    ]
    return dataclasses.replace(plan, credentials=tuple(keep))


async def test_redis_default_user_overlap_has_zero_failed_requests(journal: Journal) -> None:
    world, h = small_world()
    cache = h["cache"]
    old = {"rest": cache.rest_token, "ro": cache.ro_token, "pw": cache.password}
    inv = fake_inventory(world)
    plan = _select(
        make_plan(inv, all_upstash=True, build_seconds_estimate=0.05), Strategy.REDIS_ACL, management="native"
    )
    env_ids = {
        e.id: (e.key, e.type, tuple(e.target), e.git_branch, e.comment)
        for p in world.projects.values()
        for e in p.env.values()
    }
    async with world.watch() as failures:
        result = await _engine(world, journal, h).apply(plan, inventory=inv)
    assert result.state is RunState.DONE, result
    assert failures == [] and world.requests > 0
    # the default password was reset: the old default tokens and password are dead
    assert cache.auth(old["rest"]) is None and cache.auth(old["ro"]) is None
    assert not cache.tcp_auth("default", old["pw"])
    assert world.developer.resets and len(world.developer.resets) == 1
    # every copy now holds keyroll-a credentials, vars updated in place (ids, type, scope, comment kept)
    web = world.projects["prj_web"]
    tok = next(e for e in web.env.values() if e.key == "UPSTASH_REDIS_REST_TOKEN")
    assert cache.auth(tok.value).name == "keyroll-a"
    ro = next(e for e in web.env.values() if e.key == "UPSTASH_REDIS_REST_READ_ONLY_TOKEN")
    assert cache.auth(ro.value).name == "keyroll-ro-a" and cache.auth(ro.value).readonly
    url = urllib.parse.urlsplit(next(e for e in web.env.values() if e.key == "REDIS_URL").value)
    assert url.username == "keyroll-a" and cache.tcp_auth(
        "keyroll-a", urllib.parse.unquote(url.password or "")
    )
    assert {
        e.id: (e.key, e.type, tuple(e.target), e.git_branch, e.comment)
        for p in world.projects.values()
        for e in p.env.values()
    } == env_ids
    assert cache.auth(world.github[("acme/web", "UPSTASH_REDIS_REST_TOKEN")]).name == "keyroll-a"
    # evidence in the journal
    records = journal.step_records(result.run_id)
    gid = plan.credentials[0].steps[0].id.split("/")[0]
    assert records[f"{gid}/revoke"].detail["gate"] == "passed"
    assert records[f"{gid}/verify-old"].detail["old_rejected"] is True
    assert all(d["ok"] for d in records[f"{gid}/probe"].detail["deployments"])
    assert journal.check_integrity() == []
    names = journal.secret_fingerprints(result.run_id)
    assert names[f"{gid}:new:rest_token"] == Secret(tok.value).fingerprint


async def test_second_rotation_alternates_users_without_a_reset(journal: Journal, tmp_path: Path) -> None:
    world, h = small_world()
    cache = h["cache"]
    plan = _select(
        make_plan(fake_inventory(world), all_upstash=True), Strategy.REDIS_ACL, management="native"
    )
    await _engine(world, journal, h).apply(plan, inventory=fake_inventory(world))
    inv2 = fake_inventory(world, generated_at="2026-02-01")
    creds = tuple(
        dataclasses.replace(
            c,
            acl_user=cache.auth(c.value.reveal()).name
            if c.value and cache.auth(c.value.reveal())
            else c.acl_user,
        )
        for c in inv2.credentials
    )
    inv2 = dataclasses.replace(inv2, credentials=creds)
    a_token = next(
        e.value for e in world.projects["prj_web"].env.values() if e.key == "UPSTASH_REDIS_REST_TOKEN"
    )
    plan2 = make_plan(inv2, credentials=[Secret(a_token).fingerprint])
    async with world.watch() as failures:
        result = await _engine(world, journal, h).apply(plan2, inventory=inv2)
    assert result.state is RunState.DONE, [c.error for c in result.credentials]
    assert failures == []
    assert "keyroll-a" not in cache.users and "keyroll-b" in cache.users
    assert len(world.developer.resets) == 1  # no second reset


async def test_integration_database_waits_for_the_human_and_the_resync(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="vercel-integration")
    # without a person the run stops at the human step; nothing is revoked
    first = await _engine(world, journal, h, human=None).apply(plan, inventory=inv)
    assert first.state is RunState.WAITING and "Reset Credentials" in first.waiting
    planned = {cp.credential for cp in plan.credentials}
    olds = [c.value.reveal() for c in inv.credentials if c.fingerprint in planned and c.value is not None]
    users = [h["kv"].auth(v) for v in olds]
    assert users and all(u is not None and u.name == "default" for u in users), "nothing was revoked"
    clicker = HumanClicker(world, h["kv"], "icfg_upstash")
    async with world.watch() as failures:
        result = await _engine(world, journal, h, human=clicker).resume()
    assert result.state is RunState.DONE, result
    assert clicker.calls and failures == []
    shop = world.projects["prj_shop"]
    token = next(e for e in shop.env.values() if e.key == "KV_REST_API_TOKEN")
    assert token.value == h["kv"].rest_token  # Vercel resynced the new default token, and it was redeployed
    serving = [d for d in world.serving() if d.project_id == "prj_shop"]
    assert serving and all(d.env["KV_REST_API_TOKEN"] == h["kv"].rest_token for d in serving)


async def test_signing_keys_double_roll_without_failures(journal: Journal) -> None:
    world, h = small_world()
    q = h["q"]
    leaked = {q["current"], q["next"]}
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.QSTASH_SIGNING)
    async with world.watch() as failures:
        result = await _engine(world, journal, h).apply(plan, inventory=inv)
    assert result.state is RunState.DONE, result
    assert failures == []
    assert world.qstash.rolls == 2
    assert not leaked & {q["current"], q["next"]}
    assert set(world.env_values("QSTASH_CURRENT_SIGNING_KEY")) == {q["current"]}
    assert set(world.env_values("QSTASH_NEXT_SIGNING_KEY")) == {q["next"]}


async def test_cutover_needs_consent_and_fails_only_inside_its_window(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.INDEX_RESET, Strategy.QSTASH_TOKEN)
    old_token = h["vec"].token
    with pytest.raises(ConsentRequired, match="cutover with a short outage"):
        await _engine(world, journal, h).apply(plan, inventory=inv)
    assert h["vec"].token == old_token and journal.runs() == []
    async with world.watch() as failures:
        result = await _engine(world, journal, h, accept_downtime=True).apply(plan, inventory=inv)
    assert result.state is RunState.DONE, result
    windows = []
    records = journal.step_records(result.run_id)
    for cp in plan.credentials:
        probe = records[next(s.id for s in cp.steps if s.params.get("cutover"))].detail
        windows.append((probe["window_start"], probe["window_end"]))
        assert probe["window_s"] >= 0
    assert all(o.window_s is not None for o in result.credentials)
    assert failures, "a cutover has an outage: the load saw it"
    for f in failures:
        assert any(start - 0.01 <= f["t"] <= end + 0.05 for start, end in windows), f


async def test_failed_build_rolls_back_and_the_app_keeps_serving(journal: Journal) -> None:
    world, h = small_world()
    cache = h["cache"]
    old_rest = cache.rest_token
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="native")
    world.vercel.fail_builds.add("prj_api")
    async with world.watch() as failures:
        result = await _engine(world, journal, h).apply(plan, inventory=inv)
    assert result.state is RunState.ROLLED_BACK, result
    assert "ERROR" in result.credentials[0].error
    assert failures == []
    assert cache.auth(old_rest) is not None  # nothing revoked
    assert "keyroll-a" not in cache.users  # the minted user is gone
    assert set(world.env_values("UPSTASH_REDIS_REST_TOKEN")) == {old_rest}
    assert world.github[("acme/web", "UPSTASH_REDIS_REST_TOKEN")] == old_rest
    assert journal.latest_run().state is RunState.ROLLED_BACK


async def test_partial_failed_items_are_retried(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="native")
    world.vercel.partial_failures = 1
    world.vercel.edit_failures = {
        next(e.id for e in world.projects["prj_web"].env.values() if e.key == "REDIS_URL"): 1
    }
    result = await _engine(world, journal, h).apply(plan, inventory=inv)
    assert result.state is RunState.DONE, result
    assert world.vercel.calls["upsert_env"] >= 1
    rec = [r for sid, r in journal.step_records(result.run_id).items() if "/env/" in sid]
    assert any(r.detail.get("retried") for r in rec)


async def test_drift_is_refused_before_anything_changes(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = make_plan(inv, all_upstash=True)
    world.add_env(
        world.projects["prj_shop"], "UPSTASH_REDIS_REST_TOKEN", h["cache"].rest_token, target=["production"]
    )
    before = h["cache"].rest_token
    with pytest.raises(PlanDriftError, match="drift"):
        await _engine(world, journal, h, accept_downtime=True).apply(plan, inventory=fake_inventory(world))
    assert h["cache"].rest_token == before and journal.runs() == []


async def test_destructive_steps_need_consent(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL)
    with pytest.raises(ConsentRequired, match="need consent"):
        await _engine(world, journal, h, yes=False).apply(plan, inventory=inv)
    assert journal.runs() == []


async def test_dry_run_changes_nothing(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = make_plan(inv, all_upstash=True)
    result = await _engine(world, journal, h, dry_run=True, accept_downtime=True).apply(plan, inventory=inv)
    assert result.dry_run and result.extra["steps"] == len(plan.steps)
    assert result.state is RunState.DONE and "would_fail" not in result.extra, result.extra
    # the walk reads (ACL WHOAMI with the admin token) but changes nothing
    assert journal.runs() == [] and world.developer.resets == []
    assert not any(u.startswith("keyroll-") for db in world.dbs.values() for u in db.users)


async def test_missing_github_scope_is_bad_input_before_any_change(journal: Journal) -> None:
    from keyroll.core.errors import AuthError

    world, h = small_world()
    world.gh.denied.add("acme/web")
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="native")
    with pytest.raises(AuthError):
        await _engine(world, journal, h).apply(plan, inventory=inv)
    assert journal.runs() == [] and world.redis.total == 0


CRASH_POINTS = [
    "after:mint:{g}/mint",
    "before:write_env:{g}/env/prj_web",
    "after:redeploy:{g}/redeploy/prj_api",
    "after:revoke:{g}/revoke",
]


@pytest.mark.parametrize("point", CRASH_POINTS)
async def test_crash_at_a_boundary_then_resume_reaches_done(
    tmp_path: Path, point: str, canary, journal_key: JournalKey
) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="native")
    gid = plan.credentials[0].steps[0].id.split("/")[0]
    target = point.format(g=gid)
    path = tmp_path / "j.db"
    canary.watch(tmp_path)

    def hook(_plan: Plan, phase: str, step: Step) -> None:
        if f"{phase}:{step.kind.value}:{step.id}" == target:
            raise Crash(target)

    j1 = Journal.open(path, journal_key, create=True)
    async with world.watch() as failures:
        with pytest.raises(Crash):
            await _engine(world, j1, h, boundary_hook=hook).apply(plan, inventory=inv)
        j1.close()
        j2 = Journal.open(path, journal_key)
        result = await _engine(world, j2, h).resume()
    assert result.state is RunState.DONE, result
    assert failures == []
    assert len(world.developer.resets) == 1  # a retry never resets twice
    assert world.env_values("UPSTASH_REDIS_REST_TOKEN") and all(
        h["cache"].auth(v).name == "keyroll-a" for v in world.env_values("UPSTASH_REDIS_REST_TOKEN")
    )
    if point.startswith("after:redeploy"):
        # the deployments created before the crash were adopted, not built twice
        rec = j2.step_records(result.run_id)[f"{gid}/redeploy/prj_api"]
        assert rec.detail.get("reconciled") and all(d.get("adopted") for d in rec.detail["deployments"])
    assert j2.check_integrity() == []
    j2.close()


async def test_crash_after_a_roll_never_rolls_twice(tmp_path: Path, journal_key: JournalKey) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.QSTASH_SIGNING)
    gid = plan.credentials[0].steps[0].id.split("/")[0]

    def hook(_plan: Plan, phase: str, step: Step) -> None:
        if phase == "after" and step.id == f"{gid}/roll1":
            raise Crash("roll1")

    path = tmp_path / "j.db"
    j1 = Journal.open(path, journal_key, create=True)
    with pytest.raises(Crash):
        await _engine(world, j1, h, boundary_hook=hook).apply(plan, inventory=inv)
    j1.close()
    assert world.qstash.rolls == 1
    j2 = Journal.open(path, journal_key)
    result = await _engine(world, j2, h).resume()
    assert result.state is RunState.DONE
    assert world.qstash.rolls == 2
    assert j2.step_records(result.run_id)[f"{gid}/roll1"].detail.get("reconciled")
    j2.close()


async def test_rollback_command_restores_an_interrupted_run(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="vercel-integration")
    kv_old = h["kv"].rest_token
    first = await _engine(world, journal, h, human=None).apply(plan, inventory=inv)
    assert first.state is RunState.WAITING
    assert "keyroll-a" in h["kv"].users
    result = await _engine(world, journal, h).rollback()
    assert result.state is RunState.ROLLED_BACK, result
    assert "keyroll-a" not in h["kv"].users
    shop = world.projects["prj_shop"]
    assert next(e for e in shop.env.values() if e.key == "KV_REST_API_TOKEN").value == kv_old


async def test_rewrite_files_keeps_the_form_and_a_private_backup(journal: Journal, tmp_path: Path) -> None:
    world, h = small_world()
    cache = h["cache"]
    env_file = tmp_path / "app" / ".env.local"
    env_file.parent.mkdir()
    env_file.write_text(f'# local\nUPSTASH_REDIS_REST_TOKEN="{cache.rest_token}"\nOTHER=1\n')
    inv = fake_inventory(world, files=[(str(env_file), 2, cache.rest_token)])
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="native")
    seen_backup: list[int] = []

    def hook(_plan: Plan, phase: str, step: Step) -> None:
        if phase == "after" and step.id.endswith("/files"):
            backups = list(env_file.parent.glob(".env.local.keyroll-*.bak"))
            seen_backup.extend(b.stat().st_mode & 0o777 for b in backups)

    result = await _engine(world, journal, h, rewrite_files=True, boundary_hook=hook).apply(
        plan, inventory=inv
    )
    assert result.state is RunState.DONE, result
    text = env_file.read_text()
    assert (
        cache.rest_token not in text
        and text.startswith('# local\nUPSTASH_REDIS_REST_TOKEN="')
        and text.endswith("OTHER=1\n")
    )
    new = text.split('"')[1]
    assert cache.auth(new).name == "keyroll-a"
    assert seen_backup == [0o600]
    assert not list(env_file.parent.glob("*.bak"))  # removed once the rotation was done


async def test_manual_strategy_uses_the_supplied_value_and_a_confirmed_revoke(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    vec = next(c for c in inv.credentials if c.resource_id == h["vec"].id and c.kind.value == "index_token")
    plan = make_plan(inv, credentials=[vec.fingerprint], strategies={vec.fingerprint: Strategy.MANUAL})
    new_value = "a-new-manually-issued-token-value"
    h["vec"].token = new_value  # the user reset it at the issuer and pastes the new value
    result = await _engine(
        world,
        journal,
        h,
        human=HumanClicker(world, h["kv"], "unused"),
        secret_source=StaticSecretSource(new_value),
    ).apply(plan, inventory=inv)
    assert result.state is RunState.DONE, result
    assert world.env_values("UPSTASH_VECTOR_REST_TOKEN") == [new_value]
    gid = plan.credentials[0].steps[0].id.split("/")[0]
    assert journal.step_records(result.run_id)[f"{gid}/revoke"].state is StepState.DONE


async def test_a_crash_during_rollback_is_finished_by_resume_never_forward(
    tmp_path: Path, journal_key: JournalKey
) -> None:
    world, h = small_world()
    cache = h["cache"]
    old_rest = cache.rest_token
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="native")
    world.vercel.fail_builds.add("prj_api")
    calls = {"n": 0}
    first_round = sum(
        len(s.params["deployments"])
        for s in plan.steps
        if s.kind.value == "redeploy" and not s.params.get("when")  # not the (skipped) emergency ones
    )

    def crash_in_rollback(_dep: Any) -> None:
        calls["n"] += 1
        if calls["n"] > first_round:  # the rollback's redeploys
            raise Crash("power cut during rollback")

    world.vercel.on_redeploy = crash_in_rollback
    path = tmp_path / "j.db"
    j1 = Journal.open(path, journal_key, create=True)
    with pytest.raises(Crash):
        await _engine(world, j1, h).apply(plan, inventory=inv)
    j1.close()
    world.vercel.on_redeploy = None
    j2 = Journal.open(path, journal_key)
    # a new apply is refused while this run is unfinished
    with pytest.raises(UsageError, match="unfinished"):
        await _engine(world, j2, h).apply(plan, inventory=inv)
    async with world.watch() as failures:
        result = await _engine(world, j2, h).resume()
    assert result.state is RunState.ROLLED_BACK, result
    assert failures == []
    assert cache.auth(old_rest) is not None and "keyroll-a" not in cache.users
    assert set(world.env_values("UPSTASH_REDIS_REST_TOKEN")) == {old_rest}
    gid = plan.credentials[0].steps[0].id.split("/")[0]
    assert j2.step_records(result.run_id).get(f"{gid}/revoke") is None  # never went forward
    j2.close()


async def test_resume_without_a_person_settles_a_dashboard_reset_done_in_between(journal: Journal) -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="vercel-integration")
    first = await _engine(world, journal, h, human=None).apply(plan, inventory=inv)
    assert first.state is RunState.WAITING and "Reset Credentials" in first.waiting
    # a non-interactive resume before anyone pressed the button asks again and changes nothing
    again = await _engine(world, journal, h, human=None).resume()
    assert again.state is RunState.WAITING and "Reset Credentials" in again.waiting
    # the person presses it in the dashboard (outside keyroll); Vercel resyncs the vars
    await HumanClicker(world, h["kv"], "icfg_upstash").perform(plan.credentials[0].steps[0], "")
    async with world.watch() as failures:
        result = await _engine(world, journal, h, human=None).resume()
    assert result.state is RunState.DONE, result
    assert failures == []
    human = next(s for s in plan.credentials[0].steps if s.params.get("action") == "human_reset")
    detail = journal.step_records(result.run_id)[human.id].detail
    assert detail["old_probe"] == "rejected" and detail.get("reconciled") is True
    serving = [d for d in world.serving() if d.project_id == "prj_shop"]
    assert serving and all(d.env["KV_REST_API_TOKEN"] == h["kv"].rest_token for d in serving)


async def test_an_undo_that_cannot_run_is_residue_and_the_rollback_ends(journal: Journal) -> None:
    """Issue #17 case 3: the old values are restored, the ACL user cannot be deleted (the
    database refuses every command now): the rollback ends, the user is left for a person."""
    from keyroll.core.errors import ProviderError
    from keyroll.rotate.closing import abandon

    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="vercel-integration")
    kv_old = h["kv"].rest_token
    first = await _engine(world, journal, h, human=None).apply(plan, inventory=inv)
    assert first.state is RunState.WAITING and "keyroll-a" in h["kv"].users
    world.redis.failures[("command", h["kv"].url)] = ProviderError(
        "redis: HTTP 503", service="redis", status=503
    )
    result = await _engine(world, journal, h).rollback()
    assert result.state is RunState.ROLLED_BACK, result
    assert "residue" in result.credentials[0].error and "keyroll-a" in result.credentials[0].error
    shop = world.projects["prj_shop"]
    assert next(e for e in shop.env.values() if e.key == "KV_REST_API_TOKEN").value == kv_old
    rb = journal.step_records(result.run_id)[f"{plan.steps[0].id.split('/', 1)[0]}/rollback"]
    assert rb.detail["residue"] and "remove it by hand" in rb.detail["residue"][0]["do"]
    # the run has ended: a second rollback and a resume have nothing to do; abandon refuses
    again = await _engine(world, journal, h).rollback()
    assert again.state is RunState.ROLLED_BACK and again.extra.get("nothing_to_do")
    with pytest.raises(UsageError, match="nothing to abandon"):
        abandon(journal, result.run_id, "too late")


async def test_a_dashboard_reset_done_before_the_rollback_is_not_undone(journal: Journal) -> None:
    """The person reset the database while the run waited: the old values are dead, so rollback
    restores nothing and points to resume / abandon; abandon closes the run with the reason."""
    from keyroll.rotate.closing import abandon, closing_of

    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.REDIS_ACL, management="vercel-integration")
    first = await _engine(world, journal, h, human=None).apply(plan, inventory=inv)
    assert first.state is RunState.WAITING
    h["kv"].reset()  # the dashboard click, without telling keyroll
    result = await _engine(world, journal, h, human=None).rollback()
    assert result.state in (RunState.WAITING, RunState.FAILED), result
    shop = world.projects["prj_shop"]
    token = next(e for e in shop.env.values() if e.key == "KV_REST_API_TOKEN").value
    assert token != h["kv"].rest_token and h["kv"].auth(token) is not None  # keyroll-a's, still working
    record, residue = abandon(journal, result.run_id, "finished by hand in the dashboard")
    assert record.state is RunState.CLOSED and residue and residue[0]["not_done"]
    assert closing_of(journal, result.run_id)["reason"] == "finished by hand in the dashboard"
    assert journal.check_integrity() == []
    # a closed run blocks nothing: a new apply of the same plan passes the unfinished-run check
    refuse_unfinished(journal)


async def test_a_cutover_reset_that_never_happened_rolls_back_cleanly(journal: Journal) -> None:
    """Issue #17 case 3: the QStash reset failed before it reached Upstash; rollback used to say
    "no rollback (already revoked)" forever. The old token still works, so nothing changed."""
    from keyroll.core.errors import ProviderError

    world, h = small_world()
    inv = fake_inventory(world)
    plan = _select(make_plan(inv, all_upstash=True), Strategy.QSTASH_TOKEN)
    uid = world.qstash_state["user_id"]
    world.developer.failures[("rotate_qstash_token", uid)] = ProviderError(
        "upstash: HTTP 503", service="upstash", status=503
    )
    first = await _engine(world, journal, h, accept_downtime=True).apply(plan, inventory=inv)
    assert first.state in (RunState.FAILED, RunState.ROLLED_BACK), first
    result = await _engine(world, journal, h, accept_downtime=True).rollback()
    assert result.state is RunState.ROLLED_BACK, result
    rb = journal.step_records(result.run_id)[f"{plan.steps[0].id.split('/', 1)[0]}/rollback"]
    assert rb.detail.get("nothing_changed") is True


def test_missing_consent_names_what_each_consent_covers() -> None:
    world, _ = small_world()
    plan = make_plan(fake_inventory(world), all_upstash=True)
    cutovers = [cp for cp in plan.credentials if cp.requires_downtime_consent]
    assert cutovers and any(s.destructive for s in plan.steps)
    none = missing_consent(plan, accept_downtime=False, yes=False)
    assert list(none.cutovers) == cutovers and none.destructive == tuple(
        s for s in plan.steps if s.destructive
    )
    assert not missing_consent(plan, accept_downtime=True, yes=True)
    only_yes = missing_consent(plan, accept_downtime=False, yes=True)
    assert only_yes.cutovers and not only_yes.destructive
    # what a resumed run already did needs no consent again
    assert not missing_consent(plan, accept_downtime=False, yes=False, done={s.id for s in plan.steps})
