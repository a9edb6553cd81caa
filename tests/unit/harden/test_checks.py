"""The eight checks on hand-built contexts: each raises with evidence, and nothing on a clean one."""

from __future__ import annotations

from collections import Counter

import pytest

from keyroll.core.model import (
    Credential,
    CredentialKind,
    Inventory,
    Location,
    LocationKind,
    Management,
    Product,
)
from keyroll.core.secret import Fingerprint, fingerprint_of
from keyroll.harden.analysis.model import CallSite, KeyShape, Route, SourceAnalysis, ValueWrite
from keyroll.harden.checks import run_checks
from keyroll.harden.context import AssetHit, DatabaseFacts, EnvFileHit, HardenContext, ProjectFacts
from keyroll.harden.findings import Rule, Severity

TOKEN = fingerprint_of("token-full-access-0001")
RO = fingerprint_of("token-read-only-00002")
QSTASH = fingerprint_of("qstash-token-0000003")


def cred(
    fp: str, kind: CredentialKind = CredentialKind.REST_TOKEN, product: Product = Product.REDIS
) -> Credential:
    return Credential(
        fingerprint=Fingerprint(fp),
        product=product,
        kind=kind,
        resource_id="db_1",
        resource_name="cache",
        management=Management.NATIVE,
        endpoint="https://cache.example",
    )


def env(
    fp: str,
    project: str,
    key: str,
    targets: tuple[str, ...] = ("production", "preview"),
    env_type: str = "sensitive",
    env_id: str = "",
    **kw: object,
) -> Location:
    return Location(
        kind=LocationKind.VERCEL_ENV,
        fingerprint=Fingerprint(fp),
        project_id=f"prj_{project}",
        project_name=project,
        env_id=env_id or f"env_{project}_{key}_{'_'.join(targets)}",
        key=key,
        targets=targets,
        env_type=env_type,
        **kw,  # type: ignore[arg-type]
    )


def analysis(
    *calls: CallSite, routes: tuple[Route, ...] = (), writes: tuple[ValueWrite, ...] = ()
) -> SourceAnalysis:
    a = SourceAnalysis(root="/src")
    a.files_scanned = 3
    a.calls.extend(calls)
    a.routes.extend(routes)
    a.writes.extend(writes)
    return a


def ctx(locations: list[Location], creds: list[Credential], **kw: object) -> HardenContext:
    projects = {
        loc.project_id: ProjectFacts(loc.project_id, loc.project_name) for loc in locations if loc.project_id
    }
    c = HardenContext(
        inventory=Inventory(credentials=tuple(creds), locations=tuple(locations)), projects=projects
    )
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def rules(findings) -> Counter[Rule]:
    return Counter(f.rule for f in findings)


def test_clean_context_has_no_findings() -> None:
    c = ctx([env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN")], [cred(TOKEN)])
    c.databases = [DatabaseFacts("db_1", "cache", credential_protection=True, protection_supported=True)]
    c.projects["prj_web"].analysis = analysis(
        CallSite("a.ts", 1, "set", (KeyShape("c:"),)),
        routes=(Route("r.ts", 1, "next-app", "/api/a", ("POST",), True, "ratelimit.limit()"),),
        writes=(ValueWrite("a.ts", 1, "set", True),),
    )
    assert run_checks(c) == []


def test_public_prefixed_var_is_critical_client_exposure() -> None:
    c = ctx([env(TOKEN, "web", "NEXT_PUBLIC_UPSTASH_REDIS_REST_TOKEN")], [cred(TOKEN)])
    (f,) = [f for f in run_checks(c) if f.rule is Rule.CLIENT_EXPOSURE]
    assert f.severity is Severity.CRITICAL and not f.fixable_by_keyroll
    assert f.credential == TOKEN and f.project == "web"
    assert any("NEXT_PUBLIC_UPSTASH_REDIS_REST_TOKEN" in e.fact and TOKEN in e.fact for e in f.evidence)


@pytest.mark.parametrize(
    "prefix", ["VITE_", "REACT_APP_", "PUBLIC_", "NUXT_PUBLIC_", "EXPO_PUBLIC_", "GATSBY_", "STORYBOOK_"]
)
def test_every_public_prefix(prefix: str) -> None:
    c = ctx([env(TOKEN, "web", f"{prefix}KV_REST_API_TOKEN")], [cred(TOKEN)])
    assert rules(run_checks(c))[Rule.CLIENT_EXPOSURE] == 1


def test_assets_and_env_files() -> None:
    c = ctx([env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN")], [cred(TOKEN)])
    c.asset_hits = [
        AssetHit("/src/web", ".next/static/chunks/a.js", 1, 200, TOKEN, "plain", "prj_web"),
        AssetHit("/src/web", "dist/b.js", 3, 5, TOKEN, "base64", "prj_web"),
    ]
    c.env_file_hits = [EnvFileHit("/src/web", ".env.local", 2, "VITE_UPSTASH_TOKEN", TOKEN, "prj_web")]
    found = [f for f in run_checks(c) if f.rule is Rule.CLIENT_EXPOSURE]
    assert len(found) == 2
    asset = next(f for f in found if "assets" in f.title)
    assert {e.source for e in asset.evidence} == {"file .next/static/chunks/a.js:1:200", "file dist/b.js:3:5"}


def test_not_sensitive_with_development_split() -> None:
    c = ctx(
        [
            env(
                TOKEN,
                "web",
                "UPSTASH_REDIS_REST_TOKEN",
                ("production", "preview", "development"),
                "encrypted",
            )
        ],
        [cred(TOKEN)],
    )
    found = [f for f in run_checks(c) if f.rule is Rule.NOT_SENSITIVE]
    assert len(found) == 1
    f = found[0]
    assert f.fixable_by_keyroll and f.details["split_development"] is True
    assert f.severity is Severity.HIGH


def test_not_sensitive_skips_dev_only_and_integration_vars_are_manual() -> None:
    c = ctx(
        [
            env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN", ("development",), "encrypted", env_id="e1"),
            env(
                TOKEN,
                "web",
                "KV_REST_API_TOKEN",
                ("production",),
                "encrypted",
                env_id="e2",
                configuration_id="icfg_1",
            ),
        ],
        [cred(TOKEN)],
    )
    found = [f for f in run_checks(c) if f.rule is Rule.NOT_SENSITIVE]
    assert [f.details["env_id"] for f in found] == ["e2"]
    assert not found[0].fixable_by_keyroll


def test_prod_in_development_and_local_files() -> None:
    c = ctx(
        [
            env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN", ("production",), env_id="p"),
            env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN", ("development",), "encrypted", env_id="d"),
        ],
        [cred(TOKEN)],
    )
    found = [f for f in run_checks(c) if f.rule is Rule.PROD_IN_DEVELOPMENT]
    assert len(found) == 1 and found[0].credential == TOKEN
    c2 = ctx([env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN", ("production",))], [cred(TOKEN)])
    c2.env_file_hits = [EnvFileHit("/src", ".env.local", 3, "UPSTASH_REDIS_REST_TOKEN", TOKEN, "prj_web")]
    (f,) = [f for f in run_checks(c2) if f.rule is Rule.PROD_IN_DEVELOPMENT]
    assert f.details["local_files"] == [".env.local:3"]


def test_read_only_suffices_only_with_complete_read_analysis() -> None:
    reads = analysis(
        CallSite("a.ts", 3, "get", (KeyShape("cache:"),)),
        CallSite("a.ts", 4, "mget", (KeyShape("cfg", exact=True),)),
    )
    c = ctx([env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN")], [cred(TOKEN)])
    c.projects["prj_web"].analysis = reads
    (f,) = [f for f in run_checks(c) if f.rule is Rule.READ_ONLY_SUFFICES]
    assert f.fixable_by_keyroll
    assert (
        f.details["acl_setuser"]
        == "ACL SETUSER svc-web-ro on ><token from ACL GENTOKEN> ~cache:* ~cfg -@all +get +mget"
    )
    assert any(e.source == "file a.ts:3" for e in f.evidence)
    # a write, an unknown call, or a skipped Redis file: no conclusion
    for spoil in ("write", "unknown", "skipped"):
        a = analysis(CallSite("a.ts", 3, "get", (KeyShape("cache:"),)))
        if spoil == "write":
            a.calls.append(CallSite("a.ts", 9, "set", (KeyShape("cache:"),)))
        elif spoil == "unknown":
            a.unknown_calls.append(CallSite("a.ts", 9, "?", via="client passed to x()"))
        else:
            a.skipped_with_redis_hints.append("b.ts (unparseable)")
        c.projects["prj_web"].analysis = a
        assert Rule.READ_ONLY_SUFFICES not in rules(run_checks(c)), spoil


def test_read_only_token_already_read_only_is_not_flagged() -> None:
    c = ctx([env(RO, "web", "KV_REST_API_READ_ONLY_TOKEN")], [cred(RO, CredentialKind.READONLY_REST_TOKEN)])
    c.projects["prj_web"].analysis = analysis(CallSite("a.ts", 3, "get", (KeyShape("cache:"),)))
    assert Rule.READ_ONLY_SUFFICES not in rules(run_checks(c))


def test_shared_credential_proposes_one_user_per_project() -> None:
    c = ctx(
        [env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN"), env(TOKEN, "api", "KV_REST_API_TOKEN")],
        [cred(TOKEN)],
    )
    c.projects["prj_web"].analysis = analysis(CallSite("a.ts", 1, "get", (KeyShape("cache:"),)))
    c.projects["prj_api"].analysis = analysis(
        CallSite("b.py", 1, "set", (KeyShape("jobs:"),)),
        CallSite("b.py", 2, "lpush", (KeyShape("queue", exact=True),)),
    )
    (f,) = [f for f in run_checks(c) if f.rule is Rule.SHARED_CREDENTIAL]
    lines = {a["project"]: a["line"] for a in f.details["acl"]}
    assert lines == {
        "web": "ACL SETUSER svc-web on ><token from ACL GENTOKEN> ~cache:* -@all +get",
        "api": "ACL SETUSER svc-api on ><token from ACL GENTOKEN> ~jobs:* ~queue -@all +lpush +set",
    }
    assert f.fixable_by_keyroll


def test_shared_through_team_shared_var_is_not_fixable() -> None:
    shared = Location(
        kind=LocationKind.VERCEL_SHARED_ENV,
        fingerprint=Fingerprint(TOKEN),
        env_id="shr_1",
        key="UPSTASH_REDIS_REST_TOKEN",
        targets=("production",),
        env_type="sensitive",
        linked_project_ids=("prj_web", "prj_api"),
    )
    c = ctx([shared], [cred(TOKEN)])
    c.projects = {"prj_web": ProjectFacts("prj_web", "web"), "prj_api": ProjectFacts("prj_api", "api")}
    (f,) = [f for f in run_checks(c) if f.rule is Rule.SHARED_CREDENTIAL]
    assert not f.fixable_by_keyroll
    assert all("shared variable" in b for a in f.details["acl"] for b in a["blockers"])


def test_qstash_token_shared_is_not_a_redis_acl_finding() -> None:
    q = cred(QSTASH, CredentialKind.QSTASH_TOKEN, Product.QSTASH)
    c = ctx([env(QSTASH, "web", "QSTASH_TOKEN"), env(QSTASH, "api", "QSTASH_TOKEN")], [q])
    assert Rule.SHARED_CREDENTIAL not in rules(run_checks(c))


def test_credential_protection_only_where_supported() -> None:
    c = ctx([], [])
    c.databases = [
        DatabaseFacts("db_1", "cache", credential_protection=False, protection_supported=True),
        DatabaseFacts("db_2", "free", credential_protection=False, protection_supported=False),
        DatabaseFacts("db_3", "unknown", credential_protection=None, protection_supported=None),
    ]
    (f,) = run_checks(c)
    assert (
        f.rule is Rule.CREDENTIAL_PROTECTION_OFF
        and f.details["database_id"] == "db_1"
        and not f.fixable_by_keyroll  # no Developer API endpoint: console steps
        and "Upstash console" in f.fix
    )


def test_rate_limit_snippet_by_language() -> None:
    c = ctx(
        [
            env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN"),
            env(TOKEN, "api", "UPSTASH_REDIS_REST_TOKEN", env_id="x"),
        ],
        [cred(TOKEN)],
    )
    c.projects["prj_web"].analysis = analysis(
        routes=(Route("app/api/a/route.ts", 2, "next-app", "/api/a", ("POST",)),)
    )
    c.projects["prj_api"].analysis = analysis(routes=(Route("main.py", 7, "fastapi", "/items", ("GET",)),))
    found = {f.project: f for f in run_checks(c, (Rule.NO_RATE_LIMIT,))}
    assert "@upstash/ratelimit" in found["web"].details["snippet"]
    assert "upstash_ratelimit" in found["api"].details["snippet"]
    assert found["web"].evidence[0].source == "file app/api/a/route.ts:2"


def test_rate_limit_not_raised_without_upstash_or_with_a_global_limit() -> None:
    c = ctx([], [])
    c.projects = {
        "prj_x": ProjectFacts(
            "prj_x", "x", analysis=analysis(routes=(Route("a.ts", 1, "express", "/a", ("GET",)),))
        )
    }
    assert run_checks(c) == []
    c2 = ctx([env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN")], [cred(TOKEN)])
    a = analysis(routes=(Route("a.ts", 1, "express", "/a", ("GET",)),))
    a.global_rate_limit = "middleware.ts ratelimit.limit()"
    c2.projects["prj_web"].analysis = a
    assert Rule.NO_RATE_LIMIT not in rules(run_checks(c2))


def test_app_encryption_is_advice() -> None:
    c = ctx([env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN")], [cred(TOKEN)])
    c.projects["prj_web"].analysis = analysis(
        writes=(ValueWrite("a.ts", 4, "set", False), ValueWrite("a.ts", 5, "hset", True))
    )
    (f,) = [f for f in run_checks(c) if f.rule is Rule.NO_APP_ENCRYPTION]
    assert f.severity is Severity.INFO and not f.fixable_by_keyroll
    assert [e.source for e in f.evidence] == ["file a.ts:4"]
    assert "application-level-encryption" in f.fix


def test_findings_are_sorted_and_ids_stable() -> None:
    locs = [
        env(TOKEN, "web", "NEXT_PUBLIC_X_TOKEN"),
        env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN", env_type="encrypted", env_id="e9"),
    ]
    a = run_checks(ctx(locs, [cred(TOKEN)]))
    b = run_checks(ctx(locs, [cred(TOKEN)]))
    assert [f.id for f in a] == [f.id for f in b]
    assert [f.severity for f in a] == sorted((f.severity for f in a), key=lambda s: s.rank)


def test_prod_pack_is_read_from_the_developer_api_model() -> None:
    """``prod_pack_enabled`` is a declared field of the client's model (not in ``model_extra``):
    the facts must see it, or credential protection is never checked against the real API."""
    from keyroll.harden.collect import database_facts
    from keyroll.providers.upstash.developer import RedisDatabase

    pro = RedisDatabase.model_validate(
        {
            "database_id": "db_1",
            "database_name": "cache",
            "prod_pack_enabled": True,
            "rest_token": "AX" + "y" * 40,
        }
    )
    free = RedisDatabase.model_validate(
        {"database_id": "db_2", "prod_pack_enabled": False, "password": "p" * 32}
    )
    assert database_facts(pro).protection_supported is True
    assert database_facts(pro).credential_protection is False  # the read returned credentials
    assert database_facts(free).protection_supported is False
