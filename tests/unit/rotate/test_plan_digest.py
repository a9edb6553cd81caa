"""Plan files are sealed with a digest; any edit is named (issue #17, case 8)."""

from __future__ import annotations

import copy

import pytest

from keyroll.rotate.plan_digest import PlanTampered, seal, verify

DOC = {
    "id": "plan-1",
    "inventory_digest": "sha256:00",
    "credentials": [
        {
            "credential": "sha256:aa",
            "strategy": "redis_acl",
            "steps": [{"id": "aa/mint", "params": {"user": "keyroll-a"}}, {"id": "aa/revoke", "params": {}}],
        }
    ],
    "scope": {"projects": []},
}


def test_a_sealed_plan_verifies() -> None:
    verify(seal(DOC), "plan.json")
    assert seal(DOC)["digest"] == seal(seal(DOC))["digest"]  # sealing again is stable


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda d: d["credentials"][0]["steps"][0]["params"].update(user="root"), "changed step:aa/mint"),
        (lambda d: d["credentials"][0]["steps"].pop(), "removed step:aa/revoke"),
        (lambda d: d["credentials"][0]["steps"].append({"id": "aa/x"}), "added step:aa/x"),
        (lambda d: d["scope"].update(projects=["p"]), "changed scope"),
        (lambda d: d["credentials"][0].update(strategy="manual"), "changed credential:sha256:aa"),
        (lambda d: d.update(digest="sha256:0"), "the digest itself"),
    ],
)
def test_every_edit_is_refused_and_named(edit, named) -> None:  # type: ignore[no-untyped-def]
    doc = copy.deepcopy(seal(DOC))
    edit(doc)
    with pytest.raises(PlanTampered, match="modified after") as info:
        verify(doc, "plan.json")
    assert named in str(info.value)
    assert info.value.exit_code == 2


def test_a_plan_without_digest_is_refused() -> None:
    with pytest.raises(PlanTampered, match="no digest"):
        verify(copy.deepcopy(DOC), "plan.json")
