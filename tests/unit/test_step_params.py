"""core.steps: every step of a plan reads back into its typed parameters and writes the same JSON."""

from __future__ import annotations

import pytest

from keyroll.core.model import ActionName, Step, StepKind, Strategy
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
