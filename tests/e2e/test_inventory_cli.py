"""``keyroll inventory`` in-process: output formats, exit codes 0/1/2, no values anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyroll.cli.main import run
from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.server import Sandbox
from tests import canary
from tests.sandbox_helpers import register_api_tokens, register_template_secrets, write_env_file

CLEAN_FLEET = {
    "name": "clean",
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {"redis": [{"name": "cache"}], "vector": [], "search": [], "qstash": {}},
    "projects": [
        {
            "name": "shop",
            "env": [
                {
                    "key": "UPSTASH_REDIS_REST_URL",
                    "value": "${redis:cache:rest_url}",
                    "target": ["production"],
                },
                {
                    "key": "UPSTASH_REDIS_REST_TOKEN",
                    "value": "${redis:cache:rest_token}",
                    "target": ["production"],
                },
            ],
            "deployments": [{"target": "production"}],
        }
    ],
    "shared_env": [],
    "github": {"repos": [], "orgs": []},
}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    d = tmp_path_factory.mktemp("small")
    with Sandbox(d, fleet="small", build_seconds=0.2) as sb:
        register_template_secrets(sb)
        register_api_tokens(sb)
        yield sb, write_env_file(d / "sandbox.env", sb.env())


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    d = tmp_path_factory.mktemp("clean")
    with Sandbox(d, fleet=CLEAN_FLEET, build_seconds=0.2) as sb:
        register_template_secrets(sb)
        register_api_tokens(sb)
        yield sb, write_env_file(d / "sandbox.env", sb.env())


def test_json_on_small_fleet_exits_1_and_lists_unverified(
    small: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, env = small
    code = run(["inventory", "--env-file", str(env), "--json", "--github-repo", "acme/web"])
    out = capsys.readouterr().out
    assert code == 1
    data = json.loads(out)
    assert data["version"] == 1 and data["complete"] is False
    fp = fingerprint_of(sb.world.templates["redis:cache:rest_token"])
    (cred,) = [c for c in data["credentials"] if c["fingerprint"] == fp]
    assert cred["strategy"] == "redis_acl" and cred["blast_radius"]["ci_secrets"] == 1
    assert "web" in cred["blast_radius"]["projects"]
    assert data["summary"]["unverified_locations"] >= 1


def test_clean_fleet_exits_0_with_a_table(
    clean: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, env = clean
    code = run(["inventory", "--env-file", str(env)])
    out = capsys.readouterr().out
    assert code == 0
    assert fingerprint_of(sb.world.templates["redis:cache:rest_token"]) in out
    assert "complete" in out and "INCOMPLETE" not in out


def test_markdown_to_file(clean: tuple[Sandbox, Path], tmp_path: Path, canary: canary.Canary) -> None:
    _, env = clean
    out = tmp_path / "inventory.md"
    canary.watch(out)
    code = run(["inventory", "--env-file", str(env), "--format", "markdown", "--out", str(out)])
    assert code == 0
    text = out.read_text()
    assert text.startswith("# keyroll inventory") and "| credential |" in text


def test_unknown_project_is_bad_input(
    small: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = small
    code = run(["inventory", "--env-file", str(env), "--project", "does-not-exist"])
    err = capsys.readouterr().err
    assert code == 2 and "does-not-exist" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--path", "/nonexistent/keyroll"], "does not exist"),
        (["--git-repo", "/"], "not a git repository"),
        (["--format", "xml"], "xml"),
    ],
)
def test_bad_input_exits_2_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    env = tmp_path / "x.env"
    env.write_text("VERCEL_TOKEN=not-a-real-token-12345\nKEYROLL_VERCEL_API_URL=http://127.0.0.1:9\n")
    code = run(["inventory", "--env-file", str(env), *args])
    captured = capsys.readouterr()
    assert code == 2
    assert message in captured.err + captured.out
    assert "Traceback" not in captured.err


def test_missing_tokens_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = tmp_path / "x.env"
    env.write_text("UPSTASH_EMAIL=a@example.com\n")
    assert run(["inventory", "--env-file", str(env)]) == 2
    assert "VERCEL_TOKEN" in capsys.readouterr().err
    env.write_text("VERCEL_TOKEN=not-a-real-token-12345\n")
    assert run(["inventory", "--env-file", str(env), "--github-repo", "acme/web"]) == 2
    assert "GITHUB_TOKEN" in capsys.readouterr().err
