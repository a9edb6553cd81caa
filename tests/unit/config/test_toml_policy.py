"""keyroll.toml ``[strategy]`` and ``[policy]``: checked at load, turned into plan choices and
ApplyOptions, with CLI flags > file > built-in defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyroll.app.options import apply_options, effective_policy
from keyroll.config import Config, load_config
from keyroll.config.policy import (
    effective_strategies,
    non_sensitive_writes,
    plan_strategies,
    strategy_key,
    strategy_sources,
)
from keyroll.core.errors import ConfigError, UsageError
from keyroll.core.model import (
    Credential,
    CredentialKind,
    CredentialPlan,
    Management,
    Plan,
    Product,
    Step,
    StepKind,
    Strategy,
)
from keyroll.rotate.planner import make_plan
from tests.fakes.inventory import fake_inventory
from tests.fakes.world import small_world


def _cfg(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "keyroll.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(None, environ={}, toml_path=path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[strategy]\nredis = "redis_acl_password"\n', "[strategy] redis = 'redis_acl_password'"),
        ('[strategy]\nvector = "qstash_token"\n', "[strategy] vector"),
        ('[strategy]\nsearch = "nope"\n', "[strategy] search = 'nope'"),
        ('[strategy]\ndefault = "redis_acl"\n', "[strategy] default"),
        ("[strategy]\nqstash_token = 3\n", "[strategy] qstash_token = int"),
        ('[policy]\naccept_downtime = "yes"\n', "[policy] accept_downtime must be true or false"),
        ("[policy]\nrequire_sensitive = 1\n", "[policy] require_sensitive must be true or false"),
        (
            "[policy]\nmax_parallel_builds = 0\n",
            "[policy] max_parallel_builds must be an integer from 1 to 1000",
        ),
        ("[policy]\nmax_parallel_builds = 2.5\n", "[policy] max_parallel_builds"),
        ("[policy]\nmax_parallel_builds = true\n", "[policy] max_parallel_builds"),
        ("[policy]\nbuild_timeout_s = 0.5\n", "[policy] build_timeout_s must be a number of seconds from 1"),
        ("[policy]\nbuild_timeout_s = 100000\n", "[policy] build_timeout_s"),
        ("[policy]\nbuild_timeout_s = nan\n", "[policy] build_timeout_s"),
    ],
)
def test_bad_values_fail_at_load_naming_file_table_and_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        _cfg(tmp_path, text)
    message = err.value.format_message()
    assert str(tmp_path / "keyroll.toml") in message and needle in message
    assert "\n" not in message


def test_good_values_are_parsed_with_their_source(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        '[strategy]\nvector = "manual"\nredis = "redis_acl"\n'
        "[policy]\naccept_downtime = true\nmax_parallel_builds = 4\nbuild_timeout_s = 90\n",
    )
    assert cfg.strategy == {"vector": Strategy.MANUAL, "redis": Strategy.REDIS_ACL}
    assert cfg.policy.accept_downtime is True and cfg.policy.require_sensitive is None
    assert cfg.policy.max_parallel_builds == 4 and cfg.policy.build_timeout_s == 90.0
    path = str(tmp_path / "keyroll.toml")
    assert cfg.sources["policy.accept_downtime"] == path and cfg.sources["strategy.vector"] == path
    assert "policy.require_sensitive" not in cfg.sources


def _cred(
    product: Product, kind: CredentialKind, user: str = "", strategy: Strategy | None = None
) -> Credential:
    return Credential("sha256:0000aaaa", product, kind, acl_user=user, strategy=strategy)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cred", "key"),
    [
        (_cred(Product.REDIS, CredentialKind.REST_TOKEN, "default"), "redis"),
        (_cred(Product.REDIS, CredentialKind.URL_WITH_PASSWORD), "redis"),
        (_cred(Product.REDIS, CredentialKind.ACL_REST_TOKEN, "keyroll-ro-a"), "redis"),
        (_cred(Product.REDIS, CredentialKind.ACL_PASSWORD, "worker"), "redis_acl"),
        (_cred(Product.QSTASH, CredentialKind.QSTASH_TOKEN), "qstash_token"),
        (_cred(Product.QSTASH, CredentialKind.SIGNING_KEY_NEXT), "qstash_signing"),
        (_cred(Product.VECTOR, CredentialKind.INDEX_READONLY_TOKEN), "vector"),
        (_cred(Product.SEARCH, CredentialKind.INDEX_TOKEN), "search"),
        (_cred(Product.REDIS, CredentialKind.REST_TOKEN, strategy=Strategy.MANUAL), None),
    ],
)
def test_each_credential_class_has_its_key(cred: Credential, key: str | None) -> None:
    assert strategy_key(cred) == key


def _strategies(plan: Plan) -> dict[str, Strategy]:
    return {cp.credential: cp.strategy for cp in plan.credentials}


def test_toml_strategy_changes_the_plan_and_a_flag_beats_it(tmp_path: Path) -> None:
    world, _ = small_world()
    inv = fake_inventory(world)
    vector = next(c for c in inv.credentials if c.kind is CredentialKind.INDEX_TOKEN)
    built_in = _strategies(make_plan(inv, all_upstash=True))
    assert built_in[vector.fingerprint] is Strategy.INDEX_RESET

    cfg = _cfg(tmp_path, '[strategy]\nvector = "manual"\n')
    plan = make_plan(inv, all_upstash=True, strategies=plan_strategies(cfg, inv))
    chosen = _strategies(plan)
    vector_plans = {fp for fp, s in chosen.items() if s is Strategy.MANUAL}
    assert vector.fingerprint in vector_plans
    # only the Vector class moved
    assert {s for fp, s in chosen.items() if fp not in vector_plans} == set(built_in.values()) - {
        Strategy.INDEX_RESET
    }
    sources = strategy_sources(cfg, inv, plan)
    assert sources[vector.fingerprint] == f"{tmp_path / 'keyroll.toml'} [strategy] vector"
    assert {sources[fp] for fp in chosen if fp not in vector_plans} == {"default"}

    # --strategy (a fingerprint prefix) wins over the file for that credential
    cli = {vector.fingerprint[:12]: Strategy.INDEX_RESET}
    plan = make_plan(inv, all_upstash=True, strategies=plan_strategies(cfg, inv, cli))
    assert _strategies(plan)[vector.fingerprint] is Strategy.INDEX_RESET
    assert strategy_sources(cfg, inv, plan, cli)[vector.fingerprint] == "--strategy"
    # ... for its whole unit: the read-only twin is reset with it, not left to the file's manual
    readonly = next(c for c in inv.credentials if c.kind is CredentialKind.INDEX_READONLY_TOKEN)
    unit = next(cp for cp in plan.credentials if cp.credential == vector.fingerprint)
    assert readonly.fingerprint in unit.steps[0].params["group"]["fingerprints"]
    assert all(cp.strategy is not Strategy.MANUAL for cp in plan.credentials)


def test_default_covers_classes_without_a_key_of_their_own(tmp_path: Path) -> None:
    world, _ = small_world()
    inv = fake_inventory(world)
    cfg = _cfg(tmp_path, '[strategy]\ndefault = "manual"\nredis = "redis_acl"\n')
    plan = make_plan(inv, all_upstash=True, strategies=plan_strategies(cfg, inv))
    by_product = {}
    for cp in plan.credentials:
        by_product.setdefault(cp.steps[0].params["group"]["product"], set()).add(cp.strategy)
    assert by_product["redis"] == {Strategy.REDIS_ACL}
    assert by_product["qstash"] == {Strategy.MANUAL} and by_product["vector"] == {Strategy.MANUAL}
    shown = effective_strategies(cfg)
    assert shown["redis"].value == "redis_acl" and shown["vector"].value == "manual"
    assert shown["vector"].source.endswith("[strategy] default")


def test_a_flag_strategy_that_cannot_rotate_is_still_bad_input(tmp_path: Path) -> None:
    world, _ = small_world()
    inv = fake_inventory(world)
    cfg = _cfg(tmp_path, '[strategy]\nvector = "manual"\n')
    vector = next(c for c in inv.credentials if c.kind is CredentialKind.INDEX_TOKEN)
    with pytest.raises(UsageError, match="cannot rotate"):
        make_plan(
            inv,
            all_upstash=True,
            strategies=plan_strategies(cfg, inv, {vector.fingerprint: Strategy.REDIS_ACL}),
        )


def test_policy_precedence_flag_over_file_over_default(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "[policy]\naccept_downtime = true\nmax_parallel_builds = 4\nbuild_timeout_s = 90\n")
    where = f"{tmp_path / 'keyroll.toml'} [policy]"
    opts = apply_options(effective_policy(cfg), yes=True)
    assert (opts.accept_downtime, opts.max_parallel_builds, opts.build_timeout_s, opts.yes) == (
        True,
        4,
        90.0,
        True,
    )
    assert opts.sources == {"accept_downtime": where, "max_parallel_builds": where, "build_timeout_s": where}

    flags = effective_policy(cfg, accept_downtime=False, max_parallel_builds=2, build_timeout_s=30.0)
    opts = apply_options(flags)
    assert (opts.accept_downtime, opts.max_parallel_builds, opts.build_timeout_s) == (False, 2, 30.0)
    assert opts.sources == {
        "accept_downtime": "--no-accept-downtime",
        "max_parallel_builds": "--max-parallel-builds",
        "build_timeout_s": "--build-timeout",
    }

    bare = apply_options(effective_policy(load_config(None, environ={})))
    assert (bare.accept_downtime, bare.max_parallel_builds, bare.build_timeout_s) == (False, 100, 1800.0)
    assert bare.sources == {}
    assert effective_policy(load_config(None, environ={}), accept_downtime=True)[
        "accept_downtime"
    ].source == ("--accept-downtime")


def _write_plan(*locations: dict[str, object]) -> Plan:
    step = Step(
        "g/env/prj_web",
        StepKind.WRITE_ENV,
        "sha256:0000aaaa",
        "write",
        params={"action": "write", "locations": list(locations)},
    )
    # the Vercel integration writes these: keyroll only waits for them
    resync = Step(
        "g/resync",
        StepKind.WRITE_ENV,
        "sha256:0000aaaa",
        "wait for the integration",
        params={"action": "resync_wait", "locations": [{**locations[0], "key": "INTEGRATION_TOKEN"}]},
    )
    cp = CredentialPlan("sha256:0000aaaa", Strategy.REDIS_ACL, (step, resync))
    return Plan("plan-x", "", "sha256:00", (cp,))


def test_non_sensitive_writes_name_the_vars_that_could_be_sensitive() -> None:
    plan = _write_plan(
        {
            "kind": "vercel_env",
            "project_name": "web",
            "key": "TOKEN",
            "type": "encrypted",
            "targets": ["production"],
        },
        {
            "kind": "vercel_env",
            "project_name": "web",
            "key": "SAFE",
            "type": "sensitive",
            "targets": ["production"],
        },
        {
            "kind": "vercel_env",
            "project_name": "web",
            "key": "DEV",
            "type": "encrypted",
            "targets": ["development"],
        },
        {
            "kind": "vercel_env",
            "project_name": "api",
            "key": "STAGING",
            "type": "plain",
            "targets": [],
            "custom_environment_ids": ["env_1"],
        },
        {
            "kind": "vercel_shared_env",
            "key": "SHARED",
            "type": "encrypted",
            "targets": ["preview", "development"],
        },
        {"kind": "github_secret", "repo": "acme/web", "name": "TOKEN"},
    )
    assert non_sensitive_writes(plan) == [
        "web TOKEN [production] (encrypted)",
        "api STAGING [custom] (plain)",
        "shared SHARED [preview,development] (encrypted)",
    ]


def test_require_sensitive_only_when_the_file_says_so(tmp_path: Path) -> None:
    assert effective_policy(load_config(None, environ={}))["require_sensitive"].value is False
    cfg = _cfg(tmp_path, "[policy]\nrequire_sensitive = true\n")
    assert effective_policy(cfg)["require_sensitive"].value is True


def test_management_does_not_change_the_class() -> None:
    cred = Credential(
        "sha256:0000bbbb",  # type: ignore[arg-type]
        Product.QSTASH,
        CredentialKind.QSTASH_TOKEN,
        management=Management.VERCEL_INTEGRATION,
    )
    assert strategy_key(cred) == "qstash_token"
