"""The ``adapter`` strategy's plan: mint → writes → redeploys → probe → gated revoke → probe old →
rescan; URL copies rebuilt around the new login, a bare password copy warned about; an adapter
that cannot revoke gets a human step, one that cannot mint falls back to manual."""

from __future__ import annotations

import pytest

from keyroll.adapters import registry as registry_mod
from keyroll.adapters.interface import (
    AdapterContext,
    CredentialRef,
    Detection,
    ProbeResult,
    ProviderAdapter,
    Verdict,
)
from keyroll.adapters.registry import load_registry
from keyroll.core.errors import UsageError
from keyroll.core.model import (
    Credential,
    CredentialKind,
    DeploymentRef,
    Form,
    Inventory,
    Location,
    LocationKind,
    Product,
    StepKind,
    Strategy,
)
from keyroll.core.secret import Secret
from keyroll.rotate.planner import make_plan, validate_plan

PW = Secret("old-password-0123456789abcdef")


def _inventory(strategy: Strategy | None = None, adapter: str = "postgres") -> Inventory:
    fp = PW.fingerprint
    cred = Credential(
        fp,
        Product.OTHER,
        CredentialKind.PASSWORD,
        endpoint="postgres://db.example.com:5432/shop?sslmode=require",
        acl_user="shop",
        adapter=adapter,
        adapter_kind="postgres_password",
        strategy=strategy,
        value=PW,
    )
    env = dict(
        kind=LocationKind.VERCEL_ENV,
        fingerprint=fp,
        project_id="prj_1",
        project_name="shop",
        targets=("production",),
    )
    return Inventory(
        credentials=(cred,),
        locations=(
            Location(**env, form=Form.URL, env_id="env_1", key="DATABASE_URL", env_type="encrypted"),
            Location(**env, form=Form.PLAIN, env_id="env_2", key="PGPASSWORD", env_type="encrypted"),
        ),
        deployments=(DeploymentRef("prj_1", "dpl_1", target="production"),),
        generated_at="2026-12-06T00:00:00Z",
    )


def test_plan_mints_distributes_probes_then_revokes() -> None:
    inv = _inventory()
    assert inv.credentials[0].strategy is None
    plan = make_plan(inv, credentials=[PW.fingerprint])
    assert validate_plan(plan) == []
    (cp,) = plan.credentials
    assert cp.strategy is Strategy.ADAPTER and cp.expected_outage_s == 0
    actions = [(s.kind, s.params.get("action")) for s in cp.steps]
    assert actions == [
        (StepKind.MINT, "adapter_mint"),
        (StepKind.WRITE_ENV, "write"),
        (StepKind.REDEPLOY, "redeploy"),
        (StepKind.AWAIT_READY, "await"),
        (StepKind.PROBE, "probe_new"),
        (StepKind.REVOKE, "adapter_revoke"),
        (StepKind.PROBE, "probe_old"),
        (StepKind.RESCAN, "rescan"),
    ]
    revoke = next(s for s in cp.steps if s.kind is StepKind.REVOKE)
    assert revoke.destructive
    spec = cp.steps[0].params["group"]
    assert (spec["adapter"], spec["adapter_kind"], spec["acl_user"]) == (
        "postgres",
        "postgres_password",
        "shop",
    )
    assert (spec["scheme"], spec["host"], spec["port"], spec["path"], spec["query"]) == (
        "postgresql",
        "db.example.com",
        5432,
        "/shop",
        "sslmode=require",
    )
    roles = {loc["key"]: loc["role"] for s in cp.steps for loc in s.params.get("locations", [])}
    assert roles == {"DATABASE_URL": "url", "PGPASSWORD": "password"}
    assert any("PGPASSWORD" in w and "user-name variable" in w for w in cp.warnings)
    assert PW.reveal() not in repr(plan)


class ProbeOnly(ProviderAdapter):
    name = "probeonly"
    kinds = ("postgres_password",)

    def detect(self, value: str, *, key: str = "") -> Detection | None:
        return None

    async def probe(self, cred: CredentialRef, ctx: AdapterContext) -> ProbeResult:
        return ProbeResult(Verdict.UNKNOWN)


class MintOnly(ProbeOnly):
    name = "mintonly"

    async def mint(self, cred, ctx, *, proposed=None):  # type: ignore[no-untyped-def]
        raise AssertionError("not called while planning")


def test_capabilities_decide_the_strategy_and_the_revoke_step(monkeypatch: pytest.MonkeyPatch) -> None:
    class EP:
        def __init__(self, cls: type[ProviderAdapter]) -> None:
            self.name, self.value, self.cls = cls.name, "", cls

        def load(self) -> type[ProviderAdapter]:
            return self.cls

    reg = load_registry([EP(ProbeOnly), EP(MintOnly)])
    monkeypatch.setattr(registry_mod, "get_registry", lambda: reg)
    # cannot mint → manual (the user supplies the value), and the adapter strategy is refused
    plan = make_plan(_inventory(adapter="probeonly"), credentials=[PW.fingerprint])
    assert plan.credentials[0].strategy is Strategy.MANUAL
    assert (
        plan.credentials[0].steps[0].params["group"]["adapter"] == "probeonly"
    )  # its probe gates the revoke
    with pytest.raises(UsageError, match="cannot mint"):
        make_plan(
            _inventory(adapter="probeonly"),
            credentials=[PW.fingerprint],
            strategies={PW.fingerprint: Strategy.ADAPTER},
        )
    # mints but cannot revoke → a human revoke step
    (cp,) = make_plan(_inventory(adapter="mintonly"), credentials=[PW.fingerprint]).credentials
    assert cp.strategy is Strategy.ADAPTER
    human = next(s for s in cp.steps if s.kind is StepKind.HUMAN)
    assert human.params["action"] == "human_revoke" and human.destructive
    # an adapter that is not installed (any more)
    with pytest.raises(UsageError, match="not installed"):
        make_plan(
            _inventory(adapter="gone"),
            credentials=[PW.fingerprint],
            strategies={PW.fingerprint: Strategy.ADAPTER},
        )


def test_a_login_name_var_is_written_with_the_new_login_and_silences_the_warning() -> None:
    import dataclasses

    inv = _inventory()
    login = Location(
        kind=LocationKind.VERCEL_ENV,
        fingerprint=PW.fingerprint,
        form=Form.LOGIN,
        project_id="prj_1",
        project_name="shop",
        targets=("production",),
        env_id="env_3",
        key="PGUSER",
        env_type="plain",
    )
    inv = dataclasses.replace(inv, locations=(*inv.locations, login))
    (cp,) = make_plan(inv, credentials=[PW.fingerprint]).credentials
    roles = {loc["key"]: loc["role"] for s in cp.steps for loc in s.params.get("locations", [])}
    assert roles == {"DATABASE_URL": "url", "PGPASSWORD": "password", "PGUSER": "username"}
    assert not any("user-name variable" in w for w in cp.warnings)
