"""The provider-adapter registry: entry points are loaded, validated and ordered; broken plug-ins
are reported, never fatal; the built-in Upstash strategies arrive through the same interface."""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

import pytest

from keyroll.adapters.interface import (
    AdapterContext,
    CredentialRef,
    Detection,
    Minted,
    ProbeResult,
    ProviderAdapter,
    Setting,
    StrategySet,
    Verdict,
)
from keyroll.adapters.registry import GROUP, get_registry, load_registry
from keyroll.adapters.upstash import UpstashAdapter
from keyroll.core.errors import ConfigError
from keyroll.core.model import Strategy
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec


class TokenAdapter(ProviderAdapter):
    """A minimal third-party adapter: tokens that start with ``tok_``."""

    name = "token"
    title = "Example tokens"
    kinds = ("example_token",)
    settings = (Setting("EXAMPLE_API_KEY", "admin key"),)

    def detect(self, value: str, *, key: str = "") -> Detection | None:
        if not value.startswith("tok_"):
            return None
        return Detection(self.name, "example_token", Secret(value), principal=key)

    async def probe(self, cred: CredentialRef, ctx: AdapterContext) -> ProbeResult:
        return ProbeResult(Verdict.ACCEPTED if cred.secret.reveal().endswith("ok") else Verdict.REJECTED)


class MintingAdapter(TokenAdapter):
    name = "minting"
    priority = 5

    def detect(self, value: str, *, key: str = "") -> Detection | None:
        found = super().detect(value, key=key)
        return None if found is None else Detection(self.name, "example_token", found.secret)

    async def mint(
        self, cred: CredentialRef, ctx: AdapterContext, *, proposed: Secret | None = None
    ) -> Minted:
        return Minted(Secret("tok_new_ok"))


class Exploding(TokenAdapter):
    name = "exploding"
    priority = 50

    def detect(self, value: str, *, key: str = "") -> Detection | None:
        raise RuntimeError("plug-in bug")


class Greedy(TokenAdapter):
    """Tries to replace a built-in strategy: the built-in must win."""

    name = "greedy"

    def strategies(self) -> StrategySet:
        return StrategySet(
            builders={Strategy.REDIS_ACL: lambda ctx: None}, actions={"acl_add_password": None}
        )


@dataclass
class EP:
    name: str
    value: str
    obj: Any = None
    error: Exception | None = None

    def load(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.obj


def test_loads_valid_adapters_and_reports_broken_ones() -> None:
    reg = load_registry(
        [
            EP("token", "x:TokenAdapter", TokenAdapter),
            EP("minting", "x:MintingAdapter", MintingAdapter()),  # an instance works too
            EP("missing", "nowhere:Thing", error=ImportError("No module named 'nowhere'")),
            EP("misnamed", "x:TokenAdapter", TokenAdapter),
            EP("notone", "x:object", object),
        ],
        builtins=False,
    )
    assert sorted(reg.adapters) == ["minting", "token"]
    assert set(reg.broken) == {"missing", "misnamed", "notone"}
    assert "ImportError" in reg.broken["missing"]
    assert "'token'" in reg.broken["misnamed"]
    assert "not a keyroll ProviderAdapter" in reg.broken["notone"]
    with pytest.raises(ConfigError, match="failed to load"):
        reg.get("missing")
    with pytest.raises(
        ConfigError, match=r"no provider adapter named 'stripe' is installed \(installed: minting, token\)"
    ):
        reg.get("stripe")


def test_duplicate_names_keep_the_first_and_say_so() -> None:
    reg = load_registry(
        [EP("token", "a:TokenAdapter", TokenAdapter), EP("token", "b:TokenAdapter", TokenAdapter)],
        builtins=False,
    )
    assert list(reg.adapters) == ["token"]
    assert any("another package registers the same name" in why for why in reg.broken.values())


def test_detection_follows_priority_and_survives_a_buggy_plugin() -> None:
    reg = load_registry(
        [EP("token", "", TokenAdapter), EP("minting", "", MintingAdapter), EP("exploding", "", Exploding)],
        builtins=False,
    )
    assert [a.name for a in reg.ordered()] == ["exploding", "minting", "token"]
    found = reg.detect("tok_abc", key="API_TOKEN")
    assert found is not None and found.adapter == "minting"
    assert reg.detect("tok_abc", skip=["minting"]) == Detection(
        "token", "example_token", Secret("tok_abc"), principal=""
    )
    assert reg.detect("plain words") is None
    assert reg.for_kind("example_token") is reg.get("exploding")
    assert reg.setting_names() == frozenset({"EXAMPLE_API_KEY"})


def test_capabilities_follow_what_the_subclass_implements() -> None:
    assert not TokenAdapter().can_mint and not TokenAdapter().can_revoke
    assert MintingAdapter().can_mint and not MintingAdapter().can_revoke
    assert MintingAdapter().describe() == {
        "name": "minting",
        "title": "Example tokens",
        "kinds": ["example_token"],
        "mint": True,
        "revoke": False,
        "settings": ["EXAMPLE_API_KEY"],
    }


def test_builtin_fallback_provides_upstash_without_metadata() -> None:
    reg = load_registry([])
    assert isinstance(reg.get("upstash"), UpstashAdapter)
    assert reg.origin["upstash"] == "builtin"


def test_keyroll_registers_upstash_as_an_entry_point() -> None:
    names = {ep.name: ep.value for ep in importlib.metadata.entry_points(group=GROUP)}
    assert names.get("upstash") == "keyroll.adapters.upstash:UpstashAdapter"
    assert get_registry().origin["upstash"] == "entry point"


def test_upstash_strategies_reach_the_engine_through_the_adapter() -> None:
    from keyroll.rotate import strategies

    contributed = UpstashAdapter().strategies()
    # every Upstash strategy of the enum arrives (found by module name, so new ones need no wiring)
    from keyroll.adapters.upstash import UPSTASH_STRATEGY_MODULES

    assert {s for s in Strategy if s.value in UPSTASH_STRATEGY_MODULES} == set(contributed.builders)
    assert set(contributed.builders) >= {
        Strategy.REDIS_ACL,
        Strategy.REDIS_ACL_PASSWORD,
        Strategy.QSTASH_SIGNING,
        Strategy.QSTASH_TOKEN,
        Strategy.INDEX_RESET,
    }
    for strategy, build in contributed.builders.items():
        assert strategies.BUILDERS[strategy] is build
    assert strategies.BUILDERS[Strategy.MANUAL] is not None
    assert strategies.BUILDERS[Strategy.ADAPTER] is not None
    assert {"acl_add_password", "acl_remove_password", "manual_value", "adapter_mint"} <= set(
        strategies.ACTIONS
    )
    assert Strategy.REDIS_ACL in strategies.RESTORE_ON_FAILURE
    assert Strategy.QSTASH_TOKEN not in strategies.RESTORE_ON_FAILURE
    assert set(strategies.UNDO_MINT) >= {Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD, Strategy.ADAPTER}


def test_a_plugin_cannot_replace_a_builtin_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyroll.adapters import registry as registry_mod
    from keyroll.rotate import strategies

    reg = load_registry([EP("greedy", "", Greedy)])
    monkeypatch.setattr(registry_mod, "get_registry", lambda: reg)
    tables = strategies.StrategyTables()
    assert tables.builders[Strategy.REDIS_ACL] is UpstashAdapter().strategies().builders[Strategy.REDIS_ACL]
    assert tables.actions["acl_add_password"] is not None


def test_upstash_detect_wraps_the_inventory_classifier() -> None:
    adapter = UpstashAdapter()
    found = adapter.detect("rediss://default:AbCdEf0123456789xyzPASSWORD@eu1-fine-cat-1234.upstash.io:6379")
    assert found is not None
    assert (found.adapter, found.kind, found.principal, found.product, found.in_url) == (
        "upstash",
        "password",
        "default",
        "redis",
        True,
    )
    assert found.secret == Secret("AbCdEf0123456789xyzPASSWORD")
    assert adapter.detect("just some words") is None


async def test_upstash_probe_is_unknown_without_clients() -> None:
    ref = CredentialRef("upstash", "rest_token", Secret("AXsomething0000000000000000000000"), product="redis")
    result = await UpstashAdapter().probe(ref, AdapterContext())
    assert result.verdict is Verdict.UNKNOWN
    bogus = CredentialRef("upstash", "nonsense", Secret("x" * 20), product="redis")
    assert (
        await UpstashAdapter().probe(bogus, AdapterContext(providers=object()))
    ).verdict is Verdict.UNKNOWN


async def test_verify_probes_ask_the_credentials_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyroll.adapters import registry as registry_mod
    from keyroll.config import Config
    from keyroll.core.model import Credential, CredentialKind, Product
    from keyroll.providers.factory import Providers
    from keyroll.verify.probes import descriptor_for, probe_credential
    from keyroll.verify.result import Verdict as VerifyVerdict

    reg = load_registry([EP("token", "", TokenAdapter)], builtins=False)
    monkeypatch.setattr(registry_mod, "get_registry", lambda: reg)
    providers = Providers(config=Config())
    cred = Credential(Secret("tok_x").fingerprint, Product.OTHER, CredentialKind.PASSWORD, adapter="token")
    good = await probe_credential(providers, cred, Secret("tok_ok"))
    bad = await probe_credential(providers, cred, Secret("tok_revoked"))
    assert (good.verdict, bad.verdict) == (VerifyVerdict.VALID, VerifyVerdict.INVALID)
    gone = Credential(cred.fingerprint, Product.OTHER, CredentialKind.PASSWORD, adapter="uninstalled")
    outcome = await probe_credential(providers, gone, Secret("tok_ok"))
    assert outcome.verdict is VerifyVerdict.UNKNOWN and "uninstalled" in outcome.what
    # a journaled value of an adapter group is probed as that adapter's credential, as its new login
    spec = GroupSpec(
        product="other", adapter="token", adapter_kind="example_token", acl_user="old", endpoint="e"
    )
    d = descriptor_for(spec, "password", "sha256:00000000", user="new")
    assert d is not None and (d.adapter, d.adapter_kind, d.acl_user, d.endpoint) == (
        "token",
        "example_token",
        "new",
        "e",
    )
