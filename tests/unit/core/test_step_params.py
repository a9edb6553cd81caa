"""core.steps: every step of a plan reads back into its typed parameters and writes the same JSON."""

from __future__ import annotations

import json

import pytest

from keyroll.core.model import ActionName, DeploymentRef, LocationKind, Step, StepKind, Strategy
from keyroll.core.steps import (
    AclAddPasswordParams,
    AclMintParams,
    AclRemovePasswordParams,
    AdapterMintParams,
    AdapterRevokeParams,
    AwaitParams,
    CutoverResetParams,
    DeluserParams,
    GroupSpec,
    GuidedResetParams,
    GuidedValuesParams,
    HumanParams,
    LocationSpec,
    ManualRevokeParams,
    ManualValueParams,
    ProbeNewParams,
    ProbeOldParams,
    RedeployParams,
    RescanParams,
    ResetDefaultParams,
    ResyncWaitParams,
    RollParams,
    StepParams,
    When,
    WriteParams,
    group_spec_of,
    locations_of,
)
from keyroll.rotate.planner import make_plan
from tests.fakes.inventory import fake_inventory
from tests.fakes.world import small_world

PARAMS: list[type[StepParams]] = [
    WriteParams,
    RedeployParams,
    AwaitParams,
    ProbeNewParams,
    ProbeOldParams,
    RescanParams,
    HumanParams,
    ResyncWaitParams,
    ManualValueParams,
    ManualRevokeParams,
    GuidedResetParams,
    GuidedValuesParams,
    AdapterMintParams,
    AdapterRevokeParams,
    AclMintParams,
    DeluserParams,
    ResetDefaultParams,
    AclAddPasswordParams,
    AclRemovePasswordParams,
    CutoverResetParams,
    RollParams,
]
BY_ACTION = {a: cls for cls in PARAMS for a in cls.ACTIONS}


def test_every_built_in_action_has_one_parameter_class() -> None:
    assert set(BY_ACTION) == set(ActionName)
    assert sum(len(cls.ACTIONS) for cls in PARAMS) == len(ActionName)


def _plans() -> list[list[Step]]:
    world, _ = small_world()
    inv = fake_inventory(world)
    plans = [make_plan(inv, all_upstash=True)]
    for cred in inv.credentials:
        for strategy in Strategy:
            try:
                plans.append(
                    make_plan(inv, credentials=[cred.fingerprint], strategies={cred.fingerprint: strategy})
                )
            except Exception:  # a strategy that does not fit the credential
                continue
    return [list(p.steps) for p in plans]


def test_plan_steps_round_trip_through_their_typed_parameters() -> None:
    seen: set[str] = set()
    for steps in _plans():
        for step in steps:
            params = BY_ACTION[ActionName(step.action)].of(step)
            assert params.to_params() == step.params, step.id
            assert list(params.to_params()) == list(step.params), step.id  # same key order in the file
            assert json.dumps(params.to_params()) == json.dumps(step.params), step.id  # nested too
            if isinstance(params, RedeployParams):
                assert all(isinstance(d, DeploymentRef) for d in params.deployments), step.id
            spec = group_spec_of(step)
            if spec is not None:
                assert spec.to_dict() == step.params["group"], step.id
                assert list(spec.to_dict()) == list(step.params["group"]), step.id
            seen.add(step.action)
    assert len(seen) >= 15


def test_optional_keys_are_written_only_when_set() -> None:
    assert ProbeOldParams().to_params() == {"action": "probe_old"}
    assert ProbeNewParams(values=None, phase=2).to_params() == {
        "action": "probe_new",
        "values": None,
        "phase": 2,
    }
    cond = ProbeNewParams(values="reset", phase=3, when=When("g/revoke", "acl_token_died")).to_params()
    assert cond["when"] == {"step": "g/revoke", "key": "acl_token_died"}
    assert RollParams(roll=2).to_params() == {"action": "roll", "roll": 2}
    assert GroupSpec(gid="g").to_dict().keys() >= {"gid", "credentials", "rest_url"}
    assert "host" not in GroupSpec(gid="g").to_dict() and GroupSpec(tls=False).to_dict()["tls"] is False


def test_reading_another_actions_step_is_refused() -> None:
    step = Step("g/probe", StepKind.PROBE, "sha256:x", "probe", params=ProbeOldParams().to_params())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WriteParams.of(step)


def test_location_specs_round_trip_with_the_same_json_for_every_kind() -> None:
    kinds: set[LocationKind] = set()
    for steps in _plans():
        for step in steps:
            raw = step.params.get("locations") or []
            typed = locations_of(step)
            assert len(typed) == len(raw), step.id
            for spec, data in zip(typed, raw, strict=True):
                assert spec == LocationSpec.from_dict(data)
                assert json.dumps(spec.to_dict()) == json.dumps(data), (
                    step.id
                )  # byte-identical, key order too
                assert spec.kind == data["kind"] and spec.role == data["role"]
                if spec.is_vercel:
                    assert (spec.project_id, spec.env_id, spec.key) == (
                        data["project_id"],
                        data["env_id"],
                        data["key"],
                    )
                    assert list(spec.targets) == data["targets"]
                kinds.add(spec.kind)
    assert kinds >= {LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV, LocationKind.GITHUB_SECRET}, (
        kinds
    )


def test_location_spec_writes_only_its_kinds_keys() -> None:
    gh = LocationSpec(
        kind=LocationKind.GITHUB_SECRET, role="token", repo="acme/web", scope="env:prod", name="T"
    )
    assert list(gh.to_dict()) == ["kind", "role", "form", "old_fp", "confidence", "repo", "scope", "name"]
    assert LocationSpec.from_dict(gh.to_dict()) == gh
    f = LocationSpec(kind=LocationKind.FILE, path=".env", line=3, column=7)
    assert f.to_dict()["line"] == 3 and "key" not in f.to_dict()
    shared = LocationSpec(
        kind=LocationKind.VERCEL_SHARED_ENV, linked_project_ids=("p1", "p2"), project_id="x"
    )
    assert shared.project_ids == ("p1", "p2") and shared.to_dict()["linked_project_ids"] == ["p1", "p2"]
    assert LocationSpec(kind=LocationKind.VERCEL_ENV, project_id="p").project_ids == ("p",)
    assert LocationSpec.from_dict({"kind": "vercel_env", "unknown": 1}).role == "value"
