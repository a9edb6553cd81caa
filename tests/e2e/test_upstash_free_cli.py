"""A free Upstash database has no ACL: keyroll plans a cutover for it (never a mint that would
fail mid-run), asks for ``--accept-downtime``, shows the expected window, and the rotation works."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import UpstashState
from tests.sandbox_helpers import SandboxFactory

BUILD = 0.2

FLEET: dict[str, Any] = {
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {"redis": [{"name": "hobby", "free": True}], "qstash": None},
    "projects": [
        {
            "name": "site",
            "env": [
                {
                    "key": "UPSTASH_REDIS_REST_URL",
                    "value": "${redis:hobby:rest_url}",
                    "target": ["production"],
                },
                {
                    "key": "UPSTASH_REDIS_REST_TOKEN",
                    "value": "${redis:hobby:rest_token}",
                    "target": ["production"],
                },
                {"key": "REDIS_URL", "value": "${redis:hobby:redis_url}", "target": ["production"]},
            ],
            "deployments": [{"target": "production"}],
        }
    ],
}


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.setenv("COLUMNS", "250")
    return sandbox_factory(FLEET, build_seconds=BUILD, canaries=("templates",))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == code, out.err
    return json.loads(out.out)


def test_free_database_gets_a_consented_cutover(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = str(sandbox.state_dir / "sandbox.env")
    plan = _json(
        capsys, ["plan", "--env-file", env, "--all-upstash", "--json", "--build-seconds", str(BUILD)]
    )
    (cp,) = plan["credentials"]
    assert cp["strategy"] == "redis_cutover"
    assert cp["requires_downtime_consent"] is True and cp["expected_outage_s"] > 0
    assert any("no ACL" in w for w in cp["warnings"])
    actions = [s["params"].get("action") for s in cp["steps"]]
    assert "acl_mint" not in actions and actions[0] == "redis_reset"

    text = run(["plan", "--env-file", env, "--all-upstash", "--build-seconds", "30"])
    out = capsys.readouterr().out
    assert text == 0 and "redis_cutover" in out and "30 s" in out  # the expected window

    # no consent, no change
    assert run(["apply", "--env-file", env, "--all-upstash", "--yes"]) == 2
    assert "cutover" in capsys.readouterr().err
    state: UpstashState = sandbox.world.hooks["upstash.state"]()
    old = state.redis["hobby"].rest_token

    rc = run(
        ["apply", "--env-file", env, "--all-upstash", "--yes", "--accept-downtime", "--health-path", "/"]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    new = state.redis["hobby"].rest_token
    assert new != old
    url = sandbox.world.urls["redis-hobby"]
    assert httpx.post(url, json=["PING"], headers={"Authorization": f"Bearer {old}"}).status_code == 401
    vercel = sandbox.world.hooks["vercel.state"]()
    values = [
        v for p in vercel.projects.values() for v in p.env.values() if v.key == "UPSTASH_REDIS_REST_TOKEN"
    ]
    assert values and all(v.value == new for v in values)
    urls = [v for p in vercel.projects.values() for v in p.env.values() if v.key == "REDIS_URL"]
    assert urls and all(f":{state.redis['hobby'].password}@" in v.value for v in urls)


def test_strategy_table_accepts_redis_cutover(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # keyroll.toml is read from the working directory
    toml = tmp_path / "keyroll.toml"
    toml.write_text('[strategy]\nredis = "redis_cutover"\n')
    env = str(sandbox.state_dir / "sandbox.env")
    plan = _json(
        capsys,
        ["plan", "--env-file", env, "--all-upstash", "--json", "--build-seconds", "0.2"],
    )
    assert [cp["strategy"] for cp in plan["credentials"]] == ["redis_cutover"]
    # and redis_acl is refused for a database without ACL
    toml.write_text('[strategy]\nredis = "redis_acl"\n')
    rc = run(["plan", "--env-file", env, "--all-upstash", "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and "no ACL" in err, err
