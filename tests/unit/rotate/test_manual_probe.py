"""The manual strategy's revoke gate and a provider adapter's probe: a credential an adapter
recognised (but cannot mint) is probed through that adapter, so ``--health-path`` is not needed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from keyroll.adapters.interface import (
    AdapterContext,
    CredentialRef,
    Detection,
    ProbeResult,
    ProviderAdapter,
    Verdict,
)
from keyroll.adapters.registry import load_registry
from keyroll.core.model import (
    Credential,
    CredentialKind,
    Inventory,
    Location,
    LocationKind,
    Product,
    Strategy,
)
from keyroll.core.secret import Fingerprint, Secret
from keyroll.core.steps import GroupSpec
from keyroll.rotate.gates import probe_values
from keyroll.rotate.planner import make_plan
from keyroll.rotate.strategies.manual import needs_probe


class ProbeOnly(ProviderAdapter):
    """An adapter that can tell whether a key works but cannot mint one."""

    name = "probe-only"
    kinds = ("api_key",)

    def detect(self, value: str, *, key: str = "") -> Detection | None:
        return None

    async def probe(self, cred: CredentialRef, ctx: AdapterContext) -> ProbeResult:
        ok = cred.secret.reveal() == "the-good-new-key-0123"
        return ProbeResult(Verdict.ACCEPTED if ok else Verdict.REJECTED, "GET /v1/me")


@dataclass
class EP:
    name: str
    value: str
    obj: Any = None

    def load(self) -> Any:
        return self.obj


def _inventory(adapter: str) -> Inventory:
    fp = Fingerprint("sha256:5e5e5e5e")
    cred = Credential(
        fingerprint=fp,
        product=Product.OTHER,
        kind=CredentialKind.API_KEY,
        strategy=Strategy.MANUAL,
        service="stripe",
        adapter=adapter,
        adapter_kind="api_key" if adapter else "",
    )
    loc = Location(
        kind=LocationKind.VERCEL_ENV,
        fingerprint=fp,
        project_id="prj_1",
        project_name="shop",
        env_id="env_1",
        key="STRIPE_SECRET_KEY",
        targets=("production",),
        env_type="encrypted",
    )
    return Inventory(credentials=(cred,), locations=(loc,), generated_at="2026-12-06T00:00:00+00:00")


def test_without_an_adapter_only_the_health_path_can_probe() -> None:
    plan = make_plan(_inventory(""), credentials=["sha256:5e5e5e5e"])
    assert plan.credentials[0].strategy is Strategy.MANUAL
    assert needs_probe(plan) == ["sha256:5e5e5e5e"]


def test_an_adapters_probe_gates_the_manual_revoke(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyroll.adapters import registry as registry_mod

    reg = load_registry([EP("probe-only", "", ProbeOnly)])
    monkeypatch.setattr(registry_mod, "get_registry", lambda: reg)
    plan = make_plan(_inventory("probe-only"), credentials=["sha256:5e5e5e5e"])
    (cp,) = plan.credentials
    assert cp.strategy is Strategy.MANUAL  # the adapter cannot mint
    spec = GroupSpec.from_dict(cp.steps[0].params["group"])
    assert spec.adapter == "probe-only"
    assert needs_probe(plan) == []  # no --health-path needed
    rt = SimpleNamespace(providers=SimpleNamespace(config=None), http=None, note=lambda m: None)
    good = asyncio.run(probe_values(rt, spec, {"value": Secret("the-good-new-key-0123")}))  # type: ignore[arg-type]
    bad = asyncio.run(probe_values(rt, spec, {"value": Secret("a-wrong-new-key-0123")}))  # type: ignore[arg-type]
    assert [p["result"] for p in good] == ["accepted"]
    assert [p["result"] for p in bad] == ["rejected"]
