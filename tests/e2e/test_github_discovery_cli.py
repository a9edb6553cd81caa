"""Issue 17 item 4: GitHub Actions secrets are found without ``GITHUB_REPOS`` (the Vercel
projects' git links name the repositories), what was not searched is an unknown, and ``verify``
does not pass while a GitHub secret still holds a revoked value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import SandboxFactory, write_env_file


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, tmp_path: Path) -> Iterator[tuple[Sandbox, Path, Path]]:
    sb = sandbox_factory("small", build_seconds=0.2)
    env = sb.env()
    assert "GITHUB_REPOS" not in env
    full = write_env_file(tmp_path / "full.env", env)
    no_github = write_env_file(tmp_path / "nogh.env", {k: v for k, v in env.items() if k != "GITHUB_TOKEN"})
    yield sb, full, no_github


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int | None) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert code is None or rc == code, out.err
    return json.loads(out.out)


def _github_locations(inv: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (loc["repo"], loc["secret_scope"], loc["key"])
        for loc in inv["locations"]
        if loc["kind"] == "github_secret"
    }


def test_linked_repositories_are_searched_without_github_repos(
    sandbox: tuple[Sandbox, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, full, _ = sandbox
    env = sb.env()
    listing = httpx.get(
        f"{env['KEYROLL_VERCEL_API_URL']}/v10/projects",
        params={"teamId": env["VERCEL_TEAM_ID"]},
        headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"},
    ).json()
    projects = {p["name"]: p for p in listing["projects"]}
    assert projects["web"]["link"]["type"] == "github"
    assert (projects["web"]["link"]["org"], projects["web"]["link"]["repo"]) == ("acme", "web")
    inv = _json(capsys, ["inventory", "--env-file", str(full), "--json"], 1)
    found = _github_locations(inv)
    assert ("acme/web", "repo", "UPSTASH_REDIS_REST_TOKEN") in found
    assert ("acme/web", "env:production", "QSTASH_TOKEN") in found
    assert ("acme/api", "repo", "UPSTASH_VECTOR_REST_TOKEN") in found
    # the org secret shared with the linked repositories, listed with repository access only
    assert ("org:acme", "org", "UPSTASH_SEARCH_REST_TOKEN") in found
    assert not [u for u in inv["unknowns"] if u["where"].startswith("github")]


def test_no_github_token_is_an_unknown_naming_the_linked_repositories(
    sandbox: tuple[Sandbox, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, no_github = sandbox
    inv = _json(capsys, ["inventory", "--env-file", str(no_github), "--json"], 1)
    assert not _github_locations(inv)
    (unknown,) = [u for u in inv["unknowns"] if u["where"] == "github"]
    assert "GITHUB_TOKEN is not set" in unknown["reason"]
    assert "acme/web" in unknown["reason"] and "acme/api" in unknown["reason"]
    assert inv["summary"]["complete"] is False


def test_verify_does_not_pass_while_a_github_secret_holds_the_revoked_value(
    sandbox: tuple[Sandbox, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, full, no_github = sandbox
    old = sb.world.templates["redis:cache:rest_token"]
    plan = _json(capsys, ["plan", "--env-file", str(no_github), "--all-upstash", "--json"], 0)
    fp = next(
        cp["credential"]
        for cp in plan["credentials"]
        if cp["strategy"] == "redis_acl"
        and cp["steps"][0]["params"].get("group", {}).get("management") == "native"
    )
    rc = run(["apply", "--env-file", str(no_github), "-c", fp, "--yes", "--build-seconds", "0.2", "-q"])
    capsys.readouterr()
    assert rc == 0
    from keyroll.sandbox.github import stored_secret

    assert stored_secret(sb.world, "UPSTASH_REDIS_REST_TOKEN", repo="acme/web") == old  # nobody wrote it
    # without a GitHub token: not searched → unknown, not passed
    doc = _json(capsys, ["verify", "--env-file", str(no_github), "--all", "--json"], 1)
    assert not doc["passed"]
    assert any(c["status"] == "unknown" and "github" in c["title"] for c in doc["checks"])
    # with the token (still no GITHUB_REPOS): the linked repository's stale secret fails
    doc = _json(capsys, ["verify", "--env-file", str(full), "--all", "--json"], 1)
    assert any(
        c["status"] == "fail" and "github acme/web repo UPSTASH_REDIS_REST_TOKEN" in c["title"]
        for c in doc["checks"]
    ), [c["title"] for c in doc["checks"]]


def test_plan_and_apply_take_the_inventory_scope_flags(
    sandbox: tuple[Sandbox, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, full, _ = sandbox
    for command in ("plan", "apply"):
        rc = run([command, "-h"])
        text = capsys.readouterr().out
        assert rc == 0
        for flag in (
            "--project",
            "--github-repo",
            "--github-org",
            "--path",
            "--git-repo",
            "--exclude-paused",
        ):
            assert flag in text, (command, flag)
    doc = _json(
        capsys,
        [
            "plan",
            "--env-file",
            str(full),
            "--all-upstash",
            "--json",
            "--github-org",
            "acme",
            "--exclude-paused",
        ],
        0,
    )
    assert doc["scope"]["github_orgs"] == ["acme"]
    assert doc["scope"]["include_paused"] is False
    assert "docs" not in {p for cp in doc["credentials"] for p in cp["projects"]}


def test_apply_updates_the_linked_repositorys_secret_and_verify_passes(
    sandbox: tuple[Sandbox, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, full, _ = sandbox
    from keyroll.sandbox.github import stored_secret

    old = sb.world.templates["redis:cache:rest_token"]
    plan = _json(capsys, ["plan", "--env-file", str(full), "--all-upstash", "--json"], 0)
    fp = next(
        cp["credential"]
        for cp in plan["credentials"]
        if cp["strategy"] == "redis_acl"
        and cp["steps"][0]["params"].get("group", {}).get("management") == "native"
    )
    rc = run(["apply", "--env-file", str(full), "-c", fp, "--yes", "--build-seconds", "0.2", "-q"])
    capsys.readouterr()
    assert rc == 0
    now = stored_secret(sb.world, "UPSTASH_REDIS_REST_TOKEN", repo="acme/web")
    assert now is not None and now != old  # found through the project's git link, and written
    doc = _json(capsys, ["verify", "--env-file", str(full), "--all", "--json"], None)
    github = [c for c in doc["checks"] if "github" in c["title"]]
    assert github and all(c["status"] == "pass" for c in github), github


def test_github_org_scope_searches_every_repository_of_the_org(
    sandbox: tuple[Sandbox, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, full, _ = sandbox
    state = sb.world.hooks["github.state"]()
    ops = state.add_repo("acme/ops")  # no Vercel project links it
    state.put(ops.scope, "UPSTASH_REDIS_REST_TOKEN", sb.world.templates["redis:cache:rest_token"])
    inv = _json(capsys, ["inventory", "--env-file", str(full), "--json"], 1)
    assert ("acme/ops", "repo", "UPSTASH_REDIS_REST_TOKEN") not in _github_locations(inv)
    inv = _json(capsys, ["inventory", "--env-file", str(full), "--json", "--github-org", "acme"], 1)
    assert ("acme/ops", "repo", "UPSTASH_REDIS_REST_TOKEN") in _github_locations(inv)
    inv = _json(capsys, ["inventory", "--env-file", str(full), "--json", "--github-org", "nobody"], 1)
    assert any(u["where"] == "github org:nobody repositories" for u in inv["unknowns"])
