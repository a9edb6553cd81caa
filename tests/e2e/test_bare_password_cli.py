"""Issue 17 item 12: a bare ``UPSTASH_REDIS_PASSWORD`` var (``AUTH <pw>`` as the default user,
no user name to switch to an ACL user) cannot overlap: it gets the new default password only
after the reset. The plan says so (an outage of about one build for the apps using it), the
write really comes after the reset, and the password it gets works over TCP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import SandboxFactory, write_env_file

BUILD = 0.2
FLEET = {
    "name": "bare-password",
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
                {"key": "UPSTASH_REDIS_HOST", "value": "${redis:cache:host}", "target": ["production"]},
                {
                    "key": "UPSTASH_REDIS_PASSWORD",
                    "value": "${redis:cache:password}",
                    "target": ["production"],
                },
            ],
            "deployments": [{"target": "production"}],
        }
    ],
    "shared_env": [],
    "github": {"repos": [], "orgs": []},
}


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    sb = sandbox_factory(FLEET, build_seconds=BUILD)
    yield sb, write_env_file(tmp_path / "sandbox.env", sb.env())


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == code, out.err
    return json.loads(out.out)


def test_bare_password_gets_the_new_password_after_the_reset(
    sandbox: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, env = sandbox
    old_password = sb.world.templates["redis:cache:password"]
    host, port = sb.world.templates["redis:cache:host"], int(sb.world.templates["redis:cache:port"])
    plan = _json(capsys, ["plan", "--env-file", str(env), "--all-upstash", "--json", "--build-seconds", "30"])
    (cp,) = [cp for cp in plan["credentials"] if cp["strategy"] == "redis_acl"]
    # the plan is honest: not an overlap for the bare password's apps, about one build
    assert cp["expected_outage_s"] == pytest.approx(30.0)
    assert any("bare password" in w and "after the reset" in w for w in cp["warnings"])
    steps = {s["id"]: s for s in cp["steps"]}
    revoke = next(s for s in cp["steps"] if s["kind"] == "revoke")
    bare_writes = [
        s
        for s in cp["steps"]
        if s["kind"] == "write_env"
        and any(loc.get("key") == "UPSTASH_REDIS_PASSWORD" for loc in s["params"].get("locations", []))
    ]
    assert bare_writes

    def after(step_id: str, target: str, seen: frozenset[str] = frozenset()) -> bool:
        deps = steps[step_id]["depends_on"]
        return target in deps or any(after(d, target, seen | {step_id}) for d in deps if d not in seen)

    assert all(after(s["id"], revoke["id"]) for s in bare_writes)  # written only after the reset
    argv = [
        "apply",
        "--env-file",
        str(env),
        "-c",
        cp["credential"],
        "--yes",
        "-q",
        "--build-seconds",
        str(BUILD),
    ]
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == 0, out.err
    # the old password is dead over TCP; the var holds the new default password, which works
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=host, port=port, password=old_password, socket_timeout=5).ping()
    new_password = _var(sb, "shop", "UPSTASH_REDIS_PASSWORD")
    assert new_password != old_password
    assert redis.Redis(host=host, port=port, password=new_password, socket_timeout=5).ping()


def _var(sb: Sandbox, project: str, key: str) -> str:
    import httpx

    e = sb.env()
    api = httpx.Client(
        base_url=e["KEYROLL_VERCEL_API_URL"],
        params={"teamId": e["VERCEL_TEAM_ID"]},
        headers={"Authorization": f"Bearer {e['VERCEL_TOKEN']}"},
    )
    var = next(v for v in api.get(f"/v10/projects/{project}/env").json()["envs"] if v["key"] == key)
    return str(api.get(f"/v1/projects/{project}/env/{var['id']}").json()["value"])
