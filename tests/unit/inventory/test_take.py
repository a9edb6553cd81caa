"""take_inventory against in-memory fakes: every kind of copy is found, nothing is skipped silently."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from keyroll.core.errors import AuthError, NotFoundError, RateLimitError, UsageError
from keyroll.core.model import (
    Confidence,
    CredentialKind,
    Form,
    Inventory,
    LocationKind,
    Management,
    Product,
    Strategy,
)
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.inventory import InventoryOptions, take_inventory
from tests.fakes.common import token
from tests.fakes.world import FakeWorld

K = CredentialKind
ALL = ["production", "preview", "development"]


class World:
    """A small team: two Redis databases, a QStash user, a Vector index, three projects."""

    def __init__(self) -> None:
        world = self.world = FakeWorld()
        self.vercel = world.vercel
        self.dev = world.developer
        self.qstash = world.qstash
        self.github = world.gh
        self.redis = world.redis
        self.cache = world.add_db("cache", host="eu1-cache.upstash.io").api()
        self.jobs = world.add_db("jobs", host="eu1-jobs.upstash.io").api()
        self.vec = world.add_index("embeddings", host="embeddings-eu1.upstash.io").api()
        world.add_qstash(read_only=False)
        self.user = world.qstash_user()
        assert self.user.token is not None
        self.web = world.add_project("web", link_repo="acme/web").id
        self.api = world.add_project("api").id
        self.old = world.add_project("legacy", paused=True).id

    def providers(self, **kw: object):  # type: ignore[no-untyped-def]
        return self.world.providers(**kw)

    async def run(self, **options: object) -> Inventory:
        return await take_inventory(self.providers(), InventoryOptions(**options))  # type: ignore[arg-type]


def reveal(s: Secret | None) -> str:
    assert s is not None
    return s.reveal()


def locs(inv: Inventory, fp: str, kind: LocationKind | None = None):  # type: ignore[no-untyped-def]
    return [loc for loc in inv.locations_of(fp) if kind is None or loc.kind is kind]


async def test_every_upstash_credential_is_listed_with_value_and_relations() -> None:
    w = World()
    inv = await w.run()
    by_fp = {c.fingerprint: c for c in inv.credentials}
    pw, rest, ro = w.cache.password, w.cache.rest_token, w.cache.read_only_rest_token
    assert pw and rest and ro
    cred = by_fp[rest.fingerprint]
    assert (cred.product, cred.kind, cred.management, cred.strategy) == (
        Product.REDIS,
        K.REST_TOKEN,
        Management.NATIVE,
        Strategy.REDIS_ACL,
    )
    assert (
        cred.value == rest
        and cred.resource_name == "cache"
        and cred.endpoint == "https://eu1-cache.upstash.io"
    )
    assert set(cred.related) == {pw.fingerprint, ro.fingerprint}
    assert by_fp[ro.fingerprint].kind is K.READONLY_REST_TOKEN
    assert by_fp[w.qstash.current.fingerprint].strategy is Strategy.QSTASH_SIGNING
    assert by_fp[w.qstash.current.fingerprint].related == (w.qstash.next.fingerprint,)
    assert by_fp[reveal(w.user.token) and w.user.token.fingerprint].strategy is Strategy.QSTASH_TOKEN  # type: ignore[union-attr]
    assert by_fp[w.vec.token.fingerprint].strategy is Strategy.INDEX_RESET  # type: ignore[union-attr]
    # each has its provider location; nothing in Vercel yet → complete
    assert locs(inv, rest.fingerprint, LocationKind.UPSTASH)
    assert inv.complete


async def test_vercel_copies_in_every_form_and_name() -> None:
    w = World()
    v = w.world
    rest, pw = reveal(w.cache.rest_token), reveal(w.cache.password)
    v.add_env(w.web, "UPSTASH_REDIS_REST_URL", "https://eu1-cache.upstash.io", ALL)
    v.add_env(w.web, "MYAPP_UPSTASH_REDIS_REST_TOKEN", rest, ["production"])
    v.add_env(w.web, "KV_REST_API_TOKEN", rest, ["preview"], git_branch="feat-x")
    v.add_env(w.web, "REDIS_URL", f"rediss://default:{pw}@eu1-cache.upstash.io:6379", ["production"])
    v.add_env(
        w.api, "CACHE_CONFIG_B64", base64.b64encode(json.dumps({"t": rest}).encode()).decode(), ["production"]
    )
    v.add_env(w.api, "SOME_UNRELATED_NAME", rest, [], custom_environment_ids=["env_staging"])
    v.add_env(w.api, "NODE_ENV", "production-mode", ["production"], type="plain")
    inv = await w.run()
    found = {
        (loc.project_name, loc.key): loc for loc in locs(inv, fingerprint_of(rest), LocationKind.VERCEL_ENV)
    }
    assert set(found) == {
        ("web", "MYAPP_UPSTASH_REDIS_REST_TOKEN"),
        ("web", "KV_REST_API_TOKEN"),
        ("api", "CACHE_CONFIG_B64"),
        ("api", "SOME_UNRELATED_NAME"),
    }
    assert found[("api", "CACHE_CONFIG_B64")].form is Form.BASE64
    assert found[("web", "KV_REST_API_TOKEN")].git_branch == "feat-x"
    assert found[("api", "SOME_UNRELATED_NAME")].custom_environment_ids == ("env_staging",)
    (url_loc,) = locs(inv, fingerprint_of(pw), LocationKind.VERCEL_ENV)
    assert (url_loc.key, url_loc.form, url_loc.confidence) == ("REDIS_URL", Form.URL, Confidence.EXACT)
    assert set(inv.affected_projects(fingerprint_of(rest))) == {w.web, w.api}
    # no credential was invented for the URL var or NODE_ENV
    assert all(c.product is not Product.OTHER for c in inv.credentials)


async def test_decrypt_reads_are_minimal_and_concurrent() -> None:
    w = World()
    v = w.vercel
    v.latency = 0.01
    for i in range(40):
        w.world.add_env(w.web, f"VAR_{i}", f"value-number-{i:04d}", ["production"])
    w.world.add_env(w.web, "PLAIN_ONE", "plain-value-visible", ["production"], type="plain")
    w.world.add_env(
        w.web, "UPSTASH_REDIS_REST_TOKEN", reveal(w.cache.rest_token), ["production"], type="sensitive"
    )
    inv = await w.run(concurrency=8, include_deployments=False)
    assert v.calls["get_env"] == 40  # plain values come with the list; sensitive ones are never requested
    assert v.calls["list_env"] == 3
    assert 1 < v.peak <= 8
    assert inv is not None


async def test_sensitive_var_is_linked_by_its_url_sibling_or_reported() -> None:
    w = World()
    v = w.world
    v.add_env(w.web, "UPSTASH_REDIS_REST_URL", "https://eu1-jobs.upstash.io", ["production"])
    v.add_env(w.web, "UPSTASH_REDIS_REST_TOKEN", reveal(w.jobs.rest_token), ["production"], type="sensitive")
    v.add_env(w.api, "QSTASH_CURRENT_SIGNING_KEY", "whatever-it-is-1234", ["production"], type="sensitive")
    inv = await w.run()
    assert w.jobs.rest_token is not None
    (loc,) = locs(inv, w.jobs.rest_token.fingerprint, LocationKind.VERCEL_ENV)
    assert loc.confidence is Confidence.PROBABLE and loc.form is Form.UNKNOWN
    assert "sensitive" in loc.reason and "jobs" in loc.reason
    (unknown,) = [u for u in inv.unknowns if u.key == "QSTASH_CURRENT_SIGNING_KEY"]
    assert unknown.project_id == w.api and unknown.targets == ("production",)
    assert not inv.complete


async def test_integration_managed_credentials_unknown_to_the_developer_api() -> None:
    w = World()
    v = w.world
    kv = v.add_db("kv", Management.VERCEL_INTEGRATION, host="eu2-vercel-kv.upstash.io")
    tok, ro, pw = kv.rest_token, kv.ro_token, kv.password
    common = {"configuration_id": "icfg_upstash"}
    v.add_env(w.web, "KV_REST_API_URL", "https://eu2-vercel-kv.upstash.io", ALL, **common)
    v.add_env(w.web, "KV_REST_API_TOKEN", tok, ALL, **common)
    v.add_env(w.web, "KV_REST_API_READ_ONLY_TOKEN", ro, ALL, **common)
    v.add_env(w.web, "KV_URL", f"rediss://default:{pw}@eu2-vercel-kv.upstash.io:6379", ALL, **common)
    v.add_env(w.api, "KV_REST_API_TOKEN", tok, ["production"], type="sensitive", **common)
    inv = await w.run()
    by_fp = {c.fingerprint: c for c in inv.credentials}
    cred = by_fp[fingerprint_of(tok)]
    assert cred.management is Management.VERCEL_INTEGRATION
    assert cred.endpoint == "https://eu2-vercel-kv.upstash.io"
    assert (cred.kind, cred.strategy, cred.acl_user) == (K.REST_TOKEN, Strategy.REDIS_ACL, "default")
    assert set(cred.related) == {fingerprint_of(ro), fingerprint_of(pw)}
    assert by_fp[fingerprint_of(pw)].kind is K.PASSWORD
    assert by_fp[fingerprint_of(ro)].kind is K.READONLY_REST_TOKEN
    sensitive = [loc for loc in locs(inv, cred.fingerprint) if loc.project_id == w.api]
    assert sensitive and sensitive[0].confidence is Confidence.PROBABLE
    assert "integration" in sensitive[0].reason


async def test_acl_user_tokens_are_identified() -> None:
    w = World()
    acl = w.world.dbs[w.cache.database_id].add_user("worker")
    w.world.add_env(w.web, "UPSTASH_REDIS_REST_URL", "https://eu1-cache.upstash.io", ["production"])
    w.world.add_env(w.web, "UPSTASH_REDIS_REST_TOKEN", acl, ["production"])
    stale = token("AX")
    w.world.add_env(w.api, "UPSTASH_REDIS_REST_URL", "https://eu1-cache.upstash.io", ["production"])
    w.world.add_env(w.api, "UPSTASH_REDIS_REST_TOKEN", stale, ["production"])
    inv = await w.run()
    by_fp = {c.fingerprint: c for c in inv.credentials}
    worker = by_fp[fingerprint_of(acl)]
    assert (worker.kind, worker.acl_user, worker.strategy) == (
        K.ACL_REST_TOKEN,
        "worker",
        Strategy.REDIS_ACL_PASSWORD,
    )
    assert worker.resource_name == "cache" and worker.management is Management.NATIVE
    assert worker.fingerprint not in by_fp[w.cache.rest_token.fingerprint].related  # type: ignore[union-attr]
    assert any("rejects" in n for n in by_fp[fingerprint_of(stale)].notes)


async def test_team_shared_vars_reach_linked_projects() -> None:
    w = World()
    qtok = reveal(w.user.token)
    w.world.add_shared("QSTASH_TOKEN", qtok, [w.web, w.api])
    w.world.deploy(w.web, target="production", created_at=100)
    w.world.deploy(w.api, target="production", created_at=100)
    inv = await w.run()
    fp = fingerprint_of(qtok)
    (shared,) = locs(inv, fp, LocationKind.VERCEL_SHARED_ENV)
    assert set(shared.linked_project_ids) == {w.web, w.api}
    assert set(inv.affected_projects(fp)) == {w.web, w.api}
    assert {loc.project_id for loc in locs(inv, fp, LocationKind.DEPLOYMENT)} == {w.web, w.api}


async def test_serving_and_older_deployments_and_what_they_were_built_with() -> None:
    w = World()
    v = w.world
    rest, ro = reveal(w.cache.rest_token), reveal(w.cache.read_only_rest_token)
    v.add_env(w.web, "UPSTASH_REDIS_REST_TOKEN", rest, ["production", "preview"])
    v.add_env(w.web, "UPSTASH_REDIS_REST_TOKEN", ro, ["preview"], git_branch="feat-x")
    v.add_env(w.web, "KV_REST_API_TOKEN", rest, [], custom_environment_ids=["env_staging"])
    old_prod = v.deploy(w.web, target="production", created_at=100, promote=False).id
    prod = v.deploy(w.web, target="production", created_at=200).id
    staged = v.deploy(w.web, target="production", created_at=300, promote=False).id
    main_old = v.deploy(w.web, git_branch="main", created_at=110).id
    main_new = v.deploy(w.web, git_branch="main", created_at=210).id
    feat = v.deploy(w.web, git_branch="feat-x", created_at=220).id
    staging = v.deploy(w.web, custom_environment_id="env_staging", created_at=230).id
    v.deploy(w.web, target="production", created_at=400, outcome="ERROR", promote=False)
    inv = await w.run()
    serving = {d.deployment_id for d in inv.deployments if d.serving}
    older = {d.deployment_id for d in inv.deployments if not d.serving}
    assert serving == {prod, main_new, feat, staging}
    assert older == {old_prod, staged, main_old}
    rest_deps = {
        loc.deployment_id for loc in locs(inv, fingerprint_of(rest), LocationKind.DEPLOYMENT) if loc.serving
    }
    assert rest_deps == {prod, main_new, staging}  # feat-x is shadowed by its branch-scoped var
    ro_deps = {loc.deployment_id for loc in locs(inv, fingerprint_of(ro), LocationKind.DEPLOYMENT)}
    assert ro_deps == {feat}


async def test_project_var_shadows_shared_var_in_deployments() -> None:
    w = World()
    rest, jobs = reveal(w.cache.rest_token), reveal(w.jobs.rest_token)
    w.world.add_shared("UPSTASH_REDIS_REST_TOKEN", rest, [w.web, w.api], target=["production"])
    w.world.add_env(w.web, "UPSTASH_REDIS_REST_TOKEN", jobs, ["production"])
    web_prod = w.world.deploy(w.web, target="production", created_at=1).id
    api_prod = w.world.deploy(w.api, target="production", created_at=1).id
    inv = await w.run()
    assert {loc.deployment_id for loc in locs(inv, fingerprint_of(rest), LocationKind.DEPLOYMENT)} == {
        api_prod
    }
    assert {loc.deployment_id for loc in locs(inv, fingerprint_of(jobs), LocationKind.DEPLOYMENT)} == {
        web_prod
    }


async def test_failures_become_unknowns_not_crashes() -> None:
    w = World()
    v = w.vercel
    w.world.add_env(w.web, "UPSTASH_REDIS_REST_TOKEN", reveal(w.cache.rest_token), ["production"])
    env_id = w.world.add_env(w.web, "SOMETHING_ELSE", "a-value-we-cannot-read", ["production"]).id
    v.failures[("list_env", w.api)] = AuthError("vercel: HTTP 403 forbidden", service="vercel", status=403)
    v.failures[("list_env", w.old)] = NotFoundError(
        "vercel: HTTP 404 not_found", service="vercel", status=404
    )
    v.failures[("get_env", env_id)] = AuthError(
        "vercel: HTTP 403 challenge_required", service="vercel", status=403, code="challenge_required"
    )
    stormed = w.world.add_env(w.web, "STILL_LIMITED", "another-unreadable-value", ["preview"]).id
    deleted = w.world.add_env(w.web, "DELETED_MEANWHILE", "a-value-that-is-gone", ["preview"]).id
    v.failures[("get_env", deleted)] = NotFoundError(
        "vercel: HTTP 404 not_found", service="vercel", status=404
    )
    v.failures[("get_env", stormed)] = RateLimitError(
        "vercel: HTTP 429 rate_limited", service="vercel", status=429
    )
    w.dev.failures[("list_vector", "")] = AuthError("upstash: HTTP 401", service="upstash", status=401)
    inv = await w.run()
    where = {u.where: u for u in inv.unknowns}
    assert "403" in where["vercel project api"].reason
    assert "404" in where["vercel project legacy"].reason
    assert "step-up" in next(u.reason for u in inv.unknowns if u.key == "SOMETHING_ELSE")
    assert "upstash vector indexes" in where
    assert "429" in next(u.reason for u in inv.unknowns if u.key == "STILL_LIMITED")
    # a var deleted between the listing and the read is no longer anywhere: neither unknown nor location
    assert not any(u.key == "DELETED_MEANWHILE" for u in inv.unknowns)
    assert not any(loc.key == "DELETED_MEANWHILE" for loc in inv.locations)
    # the readable copy is still found
    assert locs(inv, w.cache.rest_token.fingerprint, LocationKind.VERCEL_ENV)  # type: ignore[union-attr]
    assert not inv.complete


async def test_project_filter_and_paused() -> None:
    w = World()
    rest = reveal(w.cache.rest_token)
    for pid in (w.web, w.api, w.old):
        w.world.add_env(pid, "UPSTASH_REDIS_REST_TOKEN", rest, ["production"])
    inv = await w.run(projects=("web", w.old))
    assert set(inv.affected_projects(fingerprint_of(rest))) == {w.web, w.old}
    assert w.vercel.calls["list_projects"] == 0
    inv = await w.run(include_paused=False)
    assert set(inv.affected_projects(fingerprint_of(rest))) == {w.web, w.api}
    with pytest.raises(UsageError, match="nope"):
        await w.run(projects=("nope",))


async def test_github_secrets_by_name() -> None:
    w = World()
    rest, jobs = reveal(w.cache.rest_token), reveal(w.jobs.rest_token)
    w.world.add_env(w.web, "UPSTASH_REDIS_REST_TOKEN", rest, ["production"])
    w.world.add_env(w.api, "UPSTASH_REDIS_REST_TOKEN", jobs, ["production"])
    w.github.environments["acme/web"] = ["production"]
    for scope, name in [
        ("acme/web", "UPSTASH_REDIS_REST_TOKEN"),
        ("acme/web", "NPM_TOKEN"),
        ("acme/web env:production", "QSTASH_TOKEN"),
        ("acme/other", "UPSTASH_REDIS_REST_TOKEN"),
        ("org:acme", "UPSTASH_SEARCH_REST_TOKEN"),
    ]:
        w.world.github[(scope, name)] = token("gh_")  # GitHub never shows it
    inv = await w.run(github_repos=("acme/web", "acme/other"), github_orgs=("acme",))
    gh = [loc for loc in inv.locations if loc.kind is LocationKind.GITHUB_SECRET]
    web = [loc for loc in gh if loc.repo == "acme/web" and loc.secret_scope == "repo"]
    # acme/web is linked to the Vercel project "web", which uses the cache token
    assert [(loc.fingerprint, loc.confidence) for loc in web] == [(fingerprint_of(rest), Confidence.PROBABLE)]
    assert "UPSTASH_REDIS_REST_TOKEN" in web[0].reason and "updated 2026-04-01" in web[0].reason
    other = [loc for loc in gh if loc.repo == "acme/other"]
    assert {loc.fingerprint for loc in other} == {fingerprint_of(rest), fingerprint_of(jobs)}
    assert all(loc.confidence is Confidence.UNVERIFIED for loc in other)
    (env_secret,) = [loc for loc in gh if loc.secret_scope == "env:production"]
    assert env_secret.fingerprint == w.user.token.fingerprint  # type: ignore[union-attr]
    assert any(u.key == "UPSTASH_SEARCH_REST_TOKEN" for u in inv.unknowns)  # no Search index known
    assert not any(loc.secret_name == "NPM_TOKEN" for loc in gh)


async def test_github_not_configured_is_an_unknown() -> None:
    w = World()
    inv = await take_inventory(
        w.world.providers(only={"vercel", "upstash"}), InventoryOptions(github_repos=("acme/web",))
    )
    assert any(u.where == "github" for u in inv.unknowns)


async def test_bad_local_scope_is_rejected_before_any_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    w = World()
    with pytest.raises(UsageError, match="does not exist"):
        await w.run(paths=(tmp_path / "missing",))
    with pytest.raises(UsageError, match="not a git repository"):
        await w.run(git_repos=(tmp_path,))
    with pytest.raises(UsageError, match="owner/repo"):
        await w.run(github_repos=("not-a-repo",))
    assert w.vercel.total == 0 and w.dev.total == 0


async def test_extra_values_are_looked_for_everywhere() -> None:
    w = World()
    old = "old-leaked-token-" + secrets.token_hex(8)
    w.world.add_env(w.api, "LEFTOVER", f"Bearer {old}", ["development"])
    inv = await w.run(extra_values=(Secret(old),))
    (loc,) = locs(inv, fingerprint_of(old), LocationKind.VERCEL_ENV)
    assert loc.key == "LEFTOVER" and loc.targets == ("development",)
    assert inv.credential(fingerprint_of(old)) is not None


async def test_credential_protection_hides_values() -> None:
    w = World()
    w.world.dbs[w.cache.database_id].credential_protection = True
    inv = await w.run()
    assert any("credential protection" in u.reason for u in inv.unknowns)
    assert w.dev.calls["get_redis"] == 1
