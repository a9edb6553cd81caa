"""take_inventory against the sandbox (real HTTP on loopback, real redis-server).

Copies of credentials are planted in every kind of location — prefixed names, a URL with the
password, base64, a team shared var, branch-scoped and custom-environment vars, a sensitive
var, integration-managed vars, GitHub repo/environment/org secrets, local files and git
history — and the inventory must find every one of them.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyroll.config import load_config
from keyroll.core.model import (
    Confidence,
    CredentialKind,
    Form,
    Inventory,
    Location,
    LocationKind,
    Management,
    Strategy,
)
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.inventory import InventoryOptions, digest, inventory_from_json, inventory_to_json, take_inventory
from keyroll.providers.factory import open_providers
from keyroll.providers.vercel.models import EnvVarInput
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import register_template_secrets

K = CredentialKind


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sandbox"), fleet="small", build_seconds=0.2) as sb:
        register_template_secrets(sb)
        yield sb


def t(sb: Sandbox, name: str) -> str:
    """A template value (``redis:cache:rest_token`` …)."""
    return sb.world.templates[name]


@pytest.fixture(scope="module")
def planted(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Extra copies: a base64 var (through the real API), files and a git history."""
    import asyncio

    rest = t(sandbox, "redis:cache:rest_token")

    async def plant() -> None:
        cfg = load_config(None, environ=sandbox.env())
        async with open_providers(cfg) as p:
            assert p.vercel is not None
            projects = {pr.name: pr.id for pr in await p.vercel.list_projects()}
            blob = base64.b64encode(f'{{"token": "{rest}"}}'.encode()).decode()
            await p.vercel.upsert_env(
                projects["api"],
                [EnvVarInput(key="CACHE_CONFIG_B64", value=Secret(blob), target=["preview"])],
            )

    asyncio.run(plant())
    root = tmp_path_factory.mktemp("local")
    files = root / "files"
    (files / ".vercel").mkdir(parents=True)
    (files / ".vercel" / ".env.production.local").write_text(f'UPSTASH_REDIS_REST_TOKEN="{rest}"\n')
    (files / "notes.md").write_text(
        f"connect with rediss://default:{t(sandbox, 'redis:cache:password')}@host:6379\n"
    )
    repo = root / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
    }

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-C", str(repo), *args],
            check=True,
            capture_output=True,
            env={**env, "PATH": "/usr/bin:/bin"},
        )

    git("init", "-q")
    (repo / "config.js").write_text(f"export const token = '{t(sandbox, 'qstash:token')}'\n")
    git("add", ".")
    git("commit", "-q", "-m", "leak")
    return {"files": files, "repo": repo}


@pytest.fixture(scope="module")
def inventory(sandbox: Sandbox, planted: dict[str, Path]) -> Inventory:
    return _take(sandbox, _planted_options(planted))


def _planted_options(planted: dict[str, Path]) -> InventoryOptions:
    """Every place the planted fleet holds copies: GitHub repos and org, files, git history."""
    return InventoryOptions(
        github_repos=("acme/web", "acme/api"),
        github_orgs=("acme",),
        paths=(planted["files"],),
        git_repos=(planted["repo"],),
    )


def _take(sb: Sandbox, options: InventoryOptions | None = None) -> Inventory:
    import asyncio

    async def run() -> Inventory:
        async with open_providers(load_config(None, environ=sb.env())) as p:
            return await take_inventory(p, options or InventoryOptions())

    return asyncio.run(run())


def where(inv: Inventory, value: str, kind: LocationKind | None = None) -> list[Location]:
    return [loc for loc in inv.locations_of(fingerprint_of(value)) if kind is None or loc.kind is kind]


def keys(locs: list[Location]) -> set[tuple[str, str]]:
    return {(loc.project_name, loc.key) for loc in locs}


def test_redis_rest_token_everywhere(sandbox: Sandbox, inventory: Inventory) -> None:
    rest = t(sandbox, "redis:cache:rest_token")
    cred = inventory.credential(fingerprint_of(rest))
    assert cred is not None
    assert (cred.kind, cred.management, cred.strategy) == (
        K.REST_TOKEN,
        Management.NATIVE,
        Strategy.REDIS_ACL,
    )
    assert cred.value is not None and cred.value.reveal() == rest
    env = where(inventory, rest, LocationKind.VERCEL_ENV)
    assert keys(env) == {
        ("web", "UPSTASH_REDIS_REST_TOKEN"),
        ("web", "MYAPP_UPSTASH_REDIS_REST_TOKEN"),
        ("api", "CACHE_CONFIG_B64"),
    }
    prefixed = next(loc for loc in env if loc.key == "MYAPP_UPSTASH_REDIS_REST_TOKEN")
    assert prefixed.git_branch == "feat-x" and prefixed.confidence is Confidence.EXACT
    assert next(loc for loc in env if loc.key == "CACHE_CONFIG_B64").form is Form.BASE64
    sensitive = [loc for loc in env if loc.env_type == "sensitive"]
    assert len(sensitive) == 1 and sensitive[0].confidence is Confidence.PROBABLE
    assert sensitive[0].targets == ("production",)
    gh = where(inventory, rest, LocationKind.GITHUB_SECRET)
    assert [(loc.repo, loc.secret_scope, loc.secret_name) for loc in gh] == [
        ("acme/web", "repo", "UPSTASH_REDIS_REST_TOKEN")
    ]
    assert gh[0].confidence is Confidence.PROBABLE and gh[0].updated_at
    files = where(inventory, rest, LocationKind.FILE)
    assert [(Path(loc.path).name, loc.form) for loc in files] == [(".env.production.local", Form.QUOTED)]
    # every serving web deployment that was built with it: production (sensitive), feat-x preview
    deps = where(inventory, rest, LocationKind.DEPLOYMENT)
    serving = {(loc.project_name, loc.targets[0], loc.git_branch) for loc in deps if loc.serving}
    assert ("web", "preview", "feat-x") in serving
    assert any(name == "web" and target == "production" for name, target, _ in serving)


def test_password_in_url_and_custom_environment(sandbox: Sandbox, inventory: Inventory) -> None:
    pw = t(sandbox, "redis:cache:password")
    (loc,) = where(inventory, pw, LocationKind.VERCEL_ENV)
    assert (loc.key, loc.form) == ("REDIS_URL", Form.URL)
    assert loc.custom_environment_ids and not loc.targets
    deps = where(inventory, pw, LocationKind.DEPLOYMENT)
    assert any(d.serving and d.custom_environment_ids == loc.custom_environment_ids for d in deps)
    assert [Path(f.path).name for f in where(inventory, pw, LocationKind.FILE)] == ["notes.md"]
    cred = inventory.credential(fingerprint_of(pw))
    assert cred is not None and fingerprint_of(t(sandbox, "redis:cache:rest_token")) in cred.related


def test_team_shared_var_and_history(sandbox: Sandbox, inventory: Inventory) -> None:
    qtok = t(sandbox, "qstash:token")
    (shared,) = where(inventory, qtok, LocationKind.VERCEL_SHARED_ENV)
    assert shared.key == "QSTASH_TOKEN" and len(shared.linked_project_ids) == 2
    names = {d.project_name for d in where(inventory, qtok, LocationKind.DEPLOYMENT)}
    assert names == {"web", "api"}
    gh = where(inventory, qtok, LocationKind.GITHUB_SECRET)
    assert [(g.repo, g.secret_scope) for g in gh] == [("acme/web", "env:production")]
    (commit,) = where(inventory, qtok, LocationKind.GIT_COMMIT)
    assert commit.path == "config.js" and commit.line == 1 and len(commit.commit) == 40
    cred = inventory.credential(fingerprint_of(qtok))
    assert cred is not None and cred.strategy is Strategy.QSTASH_TOKEN


def test_integration_managed_redis(sandbox: Sandbox, inventory: Inventory) -> None:
    kv = t(sandbox, "redis:kv:rest_token")
    cred = inventory.credential(fingerprint_of(kv))
    assert cred is not None
    assert cred.management is Management.VERCEL_INTEGRATION
    assert cred.endpoint.rstrip("/") == t(sandbox, "redis:kv:rest_url").rstrip("/")
    ro = fingerprint_of(t(sandbox, "redis:kv:readonly_rest_token"))
    assert ro in cred.related
    locs = where(inventory, kv, LocationKind.VERCEL_ENV)
    assert {loc.configuration_id for loc in locs} == {"icfg_upstash"}


def test_acl_user_token_signing_keys_and_indexes(sandbox: Sandbox, inventory: Inventory) -> None:
    worker = inventory.credential(fingerprint_of(t(sandbox, "redis:cache:acl:worker:rest_token")))
    assert worker is not None
    assert (worker.kind, worker.acl_user, worker.strategy) == (
        K.ACL_REST_TOKEN,
        "worker",
        Strategy.REDIS_ACL_PASSWORD,
    )
    cur = inventory.credential(fingerprint_of(t(sandbox, "qstash:current_signing_key")))
    nxt = fingerprint_of(t(sandbox, "qstash:next_signing_key"))
    assert cur is not None and cur.strategy is Strategy.QSTASH_SIGNING and nxt in cur.related
    vec = t(sandbox, "vector:embeddings:token")
    assert [g.repo for g in where(inventory, vec, LocationKind.GITHUB_SECRET)] == ["acme/api"]
    search = t(sandbox, "search:docs:token")
    assert {loc.project_name for loc in where(inventory, search, LocationKind.VERCEL_ENV)} == {"api", "docs"}
    assert [g.repo for g in where(inventory, search, LocationKind.GITHUB_SECRET)] == ["org:acme"]


def test_deployments_and_completeness(inventory: Inventory) -> None:
    serving = [d for d in inventory.deployments if d.serving]
    assert {d.target for d in serving} >= {"production", "preview"}
    assert any(d.custom_environment_id for d in serving)
    # the sensitive var and the GitHub secrets cannot be read back: the inventory says so
    assert not inventory.complete
    assert all(loc.reason for loc in inventory.locations if loc.confidence is not Confidence.EXACT)


def test_json_round_trip_and_digest_stable(
    sandbox: Sandbox, planted: dict[str, Path], inventory: Inventory
) -> None:
    back = inventory_from_json(inventory_to_json(inventory))
    assert digest(back) == digest(inventory)
    assert digest(_take(sandbox, _planted_options(planted))) == digest(inventory)


def _shape(inv: Inventory) -> list[tuple[str, ...]]:
    """Value-independent shape of the Vercel locations (values differ between sandboxes)."""
    return sorted(
        (
            loc.kind.value,
            loc.project_name,
            loc.key,
            loc.form.value,
            loc.confidence.value,
            ",".join(loc.targets),
        )
        for loc in inv.locations
        if loc.kind in (LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV)
    )


@pytest.mark.parametrize("faults", ["storm=1.5", "error_rate=0.25,seed=7"])
def test_429_storms_and_5xx_are_retried_to_the_same_result(tmp_path: Path, faults: str) -> None:
    with Sandbox(tmp_path / "clean", fleet="small", build_seconds=0.2) as clean:
        expected = _shape(_take(clean))
    # a short rate window: the storm's 429s announce a reset at the end of the window
    with Sandbox(tmp_path / "faulty", fleet="small", build_seconds=0.2, faults=faults, rate_window_s=2) as sb:
        register_template_secrets(sb)
        inv = _take(sb)
    assert inv.unknowns == ()
    assert _shape(inv) == expected
