"""make_plan: determinism, grouping, per-project pipelines, strategies, bad input."""

from __future__ import annotations

import dataclasses

import pytest

from keyroll.core.errors import UsageError
from keyroll.core.model import CredentialKind, StepKind, Strategy
from keyroll.inventory import digest
from keyroll.rotate.crash import boundaries
from keyroll.rotate.planner import make_plan, validate_plan
from tests.fakes.common import plan_json
from tests.fakes.inventory import fake_inventory
from tests.fakes.world import small_world


def _plan(**kw):
    world, h = small_world()
    inv = fake_inventory(world)
    return make_plan(inv, **({"all_upstash": True} | kw)), inv, h


def _cp(plan, strategy: Strategy, management: str | None = None):
    for cp in plan.credentials:
        spec = cp.steps[0].params.get("group", {})
        if cp.strategy is strategy and (management is None or spec.get("management") == management):
            return cp
    raise AssertionError(f"no {strategy} plan")


def test_same_inventory_same_plan_json() -> None:
    world, _ = small_world()
    inv = fake_inventory(world)
    a, b = make_plan(inv, all_upstash=True), make_plan(inv, all_upstash=True)
    assert plan_json(a) == plan_json(b)
    assert a.id == b.id and a.created_at == inv.generated_at
    assert a.inventory_digest == digest(inv)
    assert validate_plan(a) == []


def test_redis_database_rotates_as_one_unit_with_per_project_pipelines() -> None:
    plan, inv, h = _plan()
    cp = _cp(plan, Strategy.REDIS_ACL, "native")
    # password, REST token and read-only token of `cache` are one plan
    fps = set(cp.steps[0].params["group"]["fingerprints"])
    cache = {c.fingerprint for c in inv.credentials if c.resource_id == h["cache"].id}
    assert fps == cache and len(fps) == 3
    steps = {s.id: s for s in cp.steps}
    gid = cp.steps[0].id.split("/")[0]
    # each project's redeploy waits for that project's writes only (no global barrier)
    assert steps[f"{gid}/redeploy/prj_web"].depends_on == (f"{gid}/env/prj_web",)
    assert steps[f"{gid}/redeploy/prj_api"].depends_on == (f"{gid}/env/prj_api",)
    revoke = steps[f"{gid}/revoke"]
    assert revoke.destructive and revoke.params["action"] == "reset_default"
    assert set(steps[f"{gid}/probe"].depends_on) >= {
        f"{gid}/ready/prj_web",
        f"{gid}/ready/prj_api",
        f"{gid}/github",
    }
    # the URL var, the sensitive read-only var and the branch/custom-env scoped vars are all written
    written = {
        (loc["key"], loc["role"], loc["type"])
        for s in cp.steps
        for loc in s.params.get("locations", [])
        if "key" in loc
    }
    assert ("REDIS_URL", "url", "encrypted") in written
    assert ("UPSTASH_REDIS_REST_READ_ONLY_TOKEN", "readonly_rest_token", "sensitive") in written
    assert ("KV_REST_API_TOKEN", "rest_token", "encrypted") in written
    assert cp.expected_outage_s == 0 and not cp.requires_downtime_consent
    assert any("older deployment" in w for w in cp.warnings)
    assert any("rollback candidates" in w for w in cp.warnings)


def test_integration_database_gets_a_human_reset_and_a_resync_phase() -> None:
    plan, _, _ = _plan()
    cp = _cp(plan, Strategy.REDIS_ACL, "vercel-integration")
    kinds = [(s.kind, s.params.get("action")) for s in cp.steps]
    assert (StepKind.HUMAN, "human_reset") in kinds
    assert (StepKind.WRITE_ENV, "resync_wait") in kinds
    assert any(s.kind is StepKind.REDEPLOY and s.params.get("phase") == 2 for s in cp.steps)
    assert cp.human_steps and "Reset Credentials" in cp.human_steps[0]


def test_signing_keys_roll_twice_and_the_token_waits_for_them() -> None:
    plan, _, _ = _plan()
    sign = _cp(plan, Strategy.QSTASH_SIGNING)
    rolls = [s for s in sign.steps if s.params.get("action") == "roll"]
    assert [s.params["roll"] for s in rolls] == [1, 2] and all(s.destructive for s in rolls)
    token = _cp(plan, Strategy.QSTASH_TOKEN)
    assert sign.steps[-1].id in token.steps[0].depends_on
    assert token.requires_downtime_consent and token.expected_outage_s > 0


def test_cutover_for_indexes() -> None:
    plan, _, _ = _plan(build_seconds_estimate=42.0)
    cp = _cp(plan, Strategy.INDEX_RESET)
    assert cp.requires_downtime_consent and cp.expected_outage_s == 42.0
    assert cp.steps[0].destructive and cp.steps[0].params["cutover_reset"]


def test_credential_selection_expands_to_the_whole_group() -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    ro = next(
        c
        for c in inv.credentials
        if c.kind is CredentialKind.READONLY_REST_TOKEN and c.resource_id == h["cache"].id
    )
    plan = make_plan(inv, credentials=[ro.fingerprint[7:13]])
    assert len(plan.credentials) == 1
    assert len(plan.credentials[0].steps[0].params["group"]["fingerprints"]) == 3


def test_alternation_uses_the_other_user_and_deletes_the_old_one() -> None:
    world, h = small_world()
    inv = fake_inventory(world)
    creds = tuple(
        dataclasses.replace(c, acl_user="keyroll-a") if c.resource_id == h["cache"].id else c
        for c in inv.credentials
    )
    inv = dataclasses.replace(inv, credentials=creds)
    plan = make_plan(inv, all_upstash=True)
    cp = next(
        cp
        for cp in plan.credentials
        if cp.steps[0].params.get("group", {}).get("resource_id") == h["cache"].id
    )
    assert cp.steps[0].params["user"] == "keyroll-b"
    revoke = next(s for s in cp.steps if s.id.endswith("/revoke"))
    assert revoke.params == {"action": "deluser", "users": ["keyroll-a", "keyroll-ro-a"]}


def test_bad_input_is_one_clear_usage_error() -> None:
    world, _ = small_world()
    inv = fake_inventory(world)
    with pytest.raises(UsageError, match="no credential sha256:deadbeef"):
        make_plan(inv, credentials=["sha256:deadbeef"])
    with pytest.raises(UsageError, match="choose what to rotate"):
        make_plan(inv)
    qtoken = next(c for c in inv.credentials if c.kind is CredentialKind.QSTASH_TOKEN)
    with pytest.raises(UsageError, match="cannot rotate"):
        make_plan(inv, credentials=[qtoken.fingerprint], strategies={qtoken.fingerprint: Strategy.REDIS_ACL})


def test_boundaries_cover_every_step_twice() -> None:
    plan, _, _ = _plan()
    names = boundaries(plan)
    assert len(names) == 2 * len(plan.steps)
    assert names[0].startswith("before:") and names[1].startswith("after:")
    assert any(n.startswith("after:write_env:") for n in names)


def test_a_credential_without_copies_still_runs_its_steps_in_order() -> None:
    """No location to write: the probe follows the mint/roll, the revoke follows the probe."""
    world, _ = small_world()
    inv = fake_inventory(world)
    inv = dataclasses.replace(inv, locations=tuple(loc for loc in inv.locations if "SIGNING" not in loc.key))
    creds = [c.fingerprint for c in inv.credentials if c.kind is CredentialKind.SIGNING_KEY_CURRENT]
    plan = make_plan(inv, credentials=creds)
    steps = {s.id.split("/", 1)[1]: s for s in plan.credentials[0].steps}
    gid = plan.credentials[0].steps[0].id.split("/")[0]
    assert steps["probe"].depends_on == (f"{gid}/roll1",)
    assert steps["roll2"].depends_on == (f"{gid}/probe",)
    assert steps["probe2"].depends_on == (f"{gid}/roll2",)
    assert any("no copy" in w for w in plan.credentials[0].warnings)
