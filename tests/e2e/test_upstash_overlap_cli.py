"""The ACL overlap rests on an undocumented assumption (a password reset leaves ACL users
working). keyroll probes the ACL token right after the reset; if it died, the emergency cutover
laid out in the plan runs (the new default credentials everywhere, all redeploys at once), loudly.
The sandbox can emulate either behaviour (``reset_drops_acl_users``)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import UpstashState
from tests import canary
from tests.sandbox_helpers import SandboxFactory


def fleet(drops: bool) -> dict[str, Any]:
    return {
        "team": {"id": "team_sandbox", "slug": "acme"},
        "upstash": {"redis": [{"name": "cache", "reset_drops_acl_users": drops}], "qstash": None},
        "projects": [
            {
                "name": "web",
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
                    {"key": "REDIS_URL", "value": "${redis:cache:redis_url}", "target": ["production"]},
                ],
                "deployments": [{"target": "production"}],
            }
        ],
    }


@pytest.fixture(params=[False, True], ids=["acl-survives", "acl-dies"])
def sandbox(request: pytest.FixtureRequest, sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(fleet(request.param), canaries=("templates",))


def test_reset_is_followed_by_an_acl_probe_and_emergency_cutover_when_needed(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    env = str(sandbox.state_dir / "sandbox.env")
    state: UpstashState = sandbox.world.hooks["upstash.state"]()
    drops = state.redis["cache"].reset_drops_acl_users
    rc = run(["plan", "--env-file", env, "--all-upstash", "--json", "--build-seconds", "0.2"])
    plan = json.loads(capsys.readouterr().out)
    assert rc == 0
    (cp,) = plan["credentials"]
    assert cp["strategy"] == "redis_acl" and any("emergency cutover" in w for w in cp["warnings"])
    emergency = [s for s in cp["steps"] if s["params"].get("when")]
    assert emergency and {s["kind"] for s in emergency} >= {"write_env", "redeploy", "await_ready", "probe"}

    rc = run(["apply", "--env-file", env, "--all-upstash", "--yes", "--health-path", "/"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    db = state.redis["cache"]
    for value in (db.password, db.rest_token, db.readonly_token):
        canary.register(value)
    vercel = sandbox.world.hooks["vercel.state"]()
    (project,) = vercel.projects.values()
    token = next(v.value for v in project.env.values() if v.key == "UPSTASH_REDIS_REST_TOKEN")
    redis_url = next(v.value for v in project.env.values() if v.key == "REDIS_URL")
    status = json.loads(_out(capsys, ["status", "--env-file", env, "--json"]))
    assert status["run"]["state"] == "done"
    if drops:
        assert "EMERGENCY" in out.err  # said loudly
        assert token == db.rest_token and f"default:{db.password}@" in redis_url
    else:
        assert "EMERGENCY" not in out.err
        assert token != db.rest_token and "keyroll-a" in redis_url  # still the ACL user's
    ping = httpx.post(
        sandbox.world.urls["redis-cache"], json=["PING"], headers={"Authorization": f"Bearer {token}"}
    )
    assert ping.json() == {"result": "PONG"}


def _out(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out.out
