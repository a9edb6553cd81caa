"""Core model: JSON round trips exclude secret values."""

from __future__ import annotations

import json

from keyroll.core import (
    Credential,
    CredentialKind,
    CredentialPlan,
    Form,
    Inventory,
    Location,
    LocationKind,
    Plan,
    Product,
    Secret,
    Step,
    StepKind,
    Strategy,
)
from keyroll.core.serde import dumps, from_dict, to_dict


def _inventory() -> Inventory:
    s = Secret("AXxxsecretvalueforroundtrip")
    c = Credential(
        s.fingerprint, Product.REDIS, CredentialKind.REST_TOKEN, "db1", value=s, strategy=Strategy.REDIS_ACL
    )
    loc = Location(
        LocationKind.VERCEL_ENV,
        s.fingerprint,
        Form.URL,
        project_id="prj_1",
        key="REDIS_URL",
        targets=("production",),
    )
    shared = Location(LocationKind.VERCEL_SHARED_ENV, s.fingerprint, linked_project_ids=("prj_2", "prj_1"))
    return Inventory(credentials=(c,), locations=(loc, shared), generated_at="now")


def test_inventory_round_trip_excludes_values() -> None:
    inv = _inventory()
    text = dumps(inv)
    assert "secretvalue" not in text
    back = from_dict(Inventory, json.loads(text))
    assert back.credentials[0].value is None
    assert back == Inventory(
        credentials=(inv.credentials[0].with_value(None),), locations=inv.locations, generated_at="now"
    )
    assert back.affected_projects(inv.credentials[0].fingerprint) == ("prj_1", "prj_2")


def test_plan_round_trip() -> None:
    fp = _inventory().credentials[0].fingerprint
    step = Step("s1", StepKind.MINT, fp, "mint", params={"user": "keyroll-a"})
    plan = Plan("p1", "now", "digest", (CredentialPlan(fp, Strategy.REDIS_ACL, (step,)),))
    back = from_dict(Plan, to_dict(plan))
    assert back == plan
    assert back.steps[0].params == {"user": "keyroll-a"}
