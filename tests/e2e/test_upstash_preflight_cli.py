"""``keyroll preflight`` on Upstash realities: databases without ACL, the unconfirmed overlap
assumption and ``--scratch-database`` (checked on a database the user names, recorded, then shown
by ``plan``), QStash regions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import UpstashState
from tests.sandbox_helpers import SandboxFactory


def _vars(db: str) -> list[dict[str, Any]]:
    return [
        {"key": "UPSTASH_REDIS_REST_URL", "value": f"${{redis:{db}:rest_url}}", "target": ["production"]},
        {"key": "UPSTASH_REDIS_REST_TOKEN", "value": f"${{redis:{db}:rest_token}}", "target": ["production"]},
    ]


FLEET: dict[str, Any] = {
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {
        "redis": [
            {"name": "hobby", "free": True},
            {"name": "cache"},
            {"name": "scratch"},
            {"name": "strict", "reset_drops_acl_users": True},
        ],
        "qstash": None,
    },
    "projects": [
        {"name": "site", "env": _vars("hobby"), "deployments": [{"target": "production"}]},
        {"name": "web", "env": _vars("cache"), "deployments": [{"target": "production"}]},
    ],
}


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(FLEET, build_seconds=0.2, canaries=("templates",))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], codes: tuple[int, ...] = (0, 1)) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc in codes, out.err
    return json.loads(out.out)


def _risks(doc: dict[str, Any], check: str) -> list[dict[str, Any]]:
    return [r for r in doc["risks"] if r["check"] == check]


def test_preflight_reports_no_acl_and_the_overlap_assumption(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = str(sandbox.state_dir / "sandbox.env")
    state: UpstashState = sandbox.world.hooks["upstash.state"]()
    doc = _json(capsys, ["preflight", "--env-file", env, "--json"])
    (no_acl,) = _risks(doc, "upstash.redis-no-acl")
    assert no_acl["severity"] == "warn" and "hobby" in no_acl["subject"] and "outage" in no_acl["message"]
    (assumption,) = _risks(doc, "upstash.acl-overlap-assumption")
    assert assumption["severity"] == "warn" and "not checked" in assumption["message"]
    assert "--scratch-database" in assumption["fix"]
    assert doc["facts"]["upstash.acl_overlap_checked"] == "no"

    # check it on a scratch database: the ACL user survives the reset there; recorded
    scratch = state.redis["scratch"]
    old_token = scratch.rest_token
    doc = _json(capsys, ["preflight", "--env-file", env, "--json", "--scratch-database", scratch.id])
    (checked,) = _risks(doc, "upstash.scratch-database")
    assert checked["severity"] == "info" and checked["data"]["held"] is True
    assert scratch.rest_token != old_token  # it really reset the scratch database
    assert all(not u.startswith("keyroll-preflight") for u in _acl_users(sandbox, "scratch"))  # cleaned up
    record = json.loads((tmp_path / "upstash-assumptions.json").read_text())
    assert record[state.email]["reset_keeps_acl_users"]["database_id"] == scratch.id

    # plan (which runs preflight) now says it was checked on this account
    plan = _json(
        capsys, ["plan", "--env-file", env, "--all-upstash", "--json", "--build-seconds", "0.2"], (0,)
    )
    pre = plan["preflight"]
    assert pre["facts"]["upstash.acl_overlap_checked"] == "held"
    (info,) = _risks(pre, "upstash.acl-overlap-assumption")
    assert info["severity"] == "info" and scratch.id in info["message"]

    # a database where the reset kills ACL users: recorded as failed, and plan warns
    strict = state.redis["strict"]
    doc = _json(capsys, ["preflight", "--env-file", env, "--json", "--scratch-database", strict.id])
    (failed,) = _risks(doc, "upstash.scratch-database")
    assert failed["severity"] == "warn" and failed["data"]["held"] is False
    assert doc["facts"]["upstash.acl_overlap_checked"] == "failed"
    (warn,) = _risks(doc, "upstash.acl-overlap-assumption")
    assert warn["severity"] == "warn" and "emergency cutover" in warn["message"]


def test_scratch_database_bad_input(sandbox: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    env = str(sandbox.state_dir / "sandbox.env")
    assert run(["preflight", "--env-file", env, "--scratch-database", " "]) == 2
    err = capsys.readouterr().err
    assert "--scratch-database" in err and "Traceback" not in err


def _acl_users(sb: Sandbox, name: str) -> list[str]:
    import httpx

    state: UpstashState = sb.world.hooks["upstash.state"]()
    db = state.redis[name]
    r = httpx.post(
        sb.world.urls[f"redis-{name}"],
        json=["ACL", "USERS"],
        headers={"Authorization": f"Bearer {db.rest_token}"},
    )
    return list(r.json()["result"])


INDEXES: dict[str, Any] = {
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {"vector": [{"name": "seen"}, {"name": "derived"}], "qstash": None},
    "projects": [
        {
            "name": "ai",
            "env": [
                {"key": "UPSTASH_VECTOR_REST_URL", "value": "${vector:seen:url}", "target": ["production"]},
                {
                    "key": "UPSTASH_VECTOR_REST_TOKEN",
                    "value": "${vector:seen:token}",
                    "target": ["production"],
                },
                # no URL var next to this one: keyroll derives the data-plane URL from the API's slug
                {
                    "key": "RECS_UPSTASH_VECTOR_REST_TOKEN",
                    "value": "${vector:derived:token}",
                    "target": ["production"],
                },
            ],
            "deployments": [{"target": "production"}],
        }
    ],
}


def test_data_plane_urls_seen_beat_derived_and_a_dead_one_blocks(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(INDEXES, canaries=("templates",))
    env_path = sb.state_dir / "sandbox.env"
    doc = _json(capsys, ["preflight", "--env-file", str(env_path), "--json"])
    assert _risks(doc, "upstash.data-plane-url") == []  # both answer (the derived one through the map)
    # break the map for every vector host: the seen URL (a Vercel var) still works, the derived one does not
    lines = env_path.read_text().splitlines()
    broken = []
    for line in lines:
        if line.startswith("KEYROLL_UPSTASH_HOSTS="):
            pairs = [p.split("=", 1) for p in line.split("=", 1)[1].split(",")]
            line = "KEYROLL_UPSTASH_HOSTS=" + ",".join(
                f"{h}={'http://127.0.0.1:9' if h.endswith('-vector.upstash.io') else o}" for h, o in pairs
            )
        broken.append(line)
    bad_env = tmp_path / "broken.env"
    bad_env.write_text("\n".join(broken) + "\n")
    bad_env.chmod(0o600)
    doc = _json(capsys, ["preflight", "--env-file", str(bad_env), "--json"], (1,))
    (risk,) = _risks(doc, "upstash.data-plane-url")
    assert risk["severity"] == "block" and "derived" in risk["subject"]
