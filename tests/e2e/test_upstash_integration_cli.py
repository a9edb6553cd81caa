"""Vector/Search created through the Vercel integration: a guided reset (a person resets it in
the console), then keyroll takes the new value from Vercel — or, where Vercel still shows the old
one, asks for it (``--value-file``, never argv) — writes it, redeploys, verifies. A cutover,
stated as one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import UpstashState
from tests import canary
from tests.sandbox_helpers import SandboxFactory

CFG = "icfg_upstash"


def _vars(kind: str, name: str) -> list[dict[str, Any]]:
    up = kind.upper()
    return [
        {
            "key": f"UPSTASH_{up}_REST_URL",
            "value": f"${{{kind}:{name}:url}}",
            "target": ["production"],
            "configuration_id": CFG,
        },
        {
            "key": f"UPSTASH_{up}_REST_TOKEN",
            "value": f"${{{kind}:{name}:token}}",
            "target": ["production"],
            "configuration_id": CFG,
        },
    ]


FLEET: dict[str, Any] = {
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {
        "vector": [{"name": "emb", "managed_by": "vercel-integration", "configuration_id": CFG}],
        # the console reset does not reach Vercel here (that it does is unconfirmed)
        "search": [
            {"name": "docs", "managed_by": "vercel-integration", "configuration_id": CFG, "resync": False}
        ],
        "qstash": None,
    },
    "integrations": [{"id": CFG, "slug": "upstash"}],
    "projects": [
        {"name": "ai", "env": _vars("vector", "emb"), "deployments": [{"target": "production"}]},
        {"name": "docs", "env": _vars("search", "docs"), "deployments": [{"target": "production"}]},
    ],
}


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(FLEET, build_seconds=0.2, canaries=("templates",))


def test_guided_reset_takes_or_asks_for_the_new_value(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = str(sandbox.state_dir / "sandbox.env")
    state: UpstashState = sandbox.world.hooks["upstash.state"]()
    emb, docs = state.vector["emb"], state.search["docs"]
    old = {"emb": emb.token, "docs": docs.token}

    rc = run(["plan", "--env-file", env, "--all-upstash", "--json", "--build-seconds", "0.2"])
    out = capsys.readouterr()
    assert rc == 0, out.err  # was exit 2 before: no strategy for integration-created indexes
    plan = json.loads(out.out)
    assert sorted(cp["strategy"] for cp in plan["credentials"]) == ["integration_reset", "integration_reset"]
    for cp in plan["credentials"]:
        assert cp["requires_downtime_consent"] is True
        assert any("not an overlap" in w for w in cp["warnings"]) and cp["human_steps"]

    rc = run(["preflight", "--env-file", env, "--json"])
    pre = json.loads(capsys.readouterr().out)
    stated = [r for r in pre["risks"] if r["check"] == "upstash.integration-reset"]
    assert rc in (0, 1) and len(stated) == 2 and all("not an overlap" in r["message"] for r in stated)

    # no person at the terminal: keyroll waits for the console reset, nothing is reset by it
    rc = run(["apply", "--env-file", env, "--all-upstash", "--yes", "--accept-downtime"])
    out = capsys.readouterr()
    assert rc != 0 and "waiting" in out.err
    assert (emb.token, docs.token) == (old["emb"], old["docs"])

    # the person resets both in the (sandbox) console
    admin = sandbox.world.urls["admin"]
    for kind, name in (("vector", "emb"), ("search", "docs")):
        assert httpx.post(f"{admin}/_sandbox/upstash/{kind}/{name}/reset").status_code == 200
    for value in (emb.token, emb.readonly_token, docs.token, docs.readonly_token):
        canary.register(value)
    vercel = sandbox.world.hooks["vercel.state"]()
    shown = {v.key: v.value for p in vercel.projects.values() for v in p.env.values()}
    assert shown["UPSTASH_VECTOR_REST_TOKEN"] == emb.token  # resynced
    assert shown["UPSTASH_SEARCH_REST_TOKEN"] == old["docs"]  # not resynced

    # resume: the vector token comes from Vercel, the search token from the person (a file)
    value_file = tmp_path / "docs-token"
    value_file.write_text(docs.token + "\n")
    value_file.chmod(0o600)
    fp = str(fingerprint_of(old["docs"]))
    rc = run(
        ["resume", "--env-file", env, "--yes", "--accept-downtime", "--value-file", f"{fp}={value_file}"]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    shown = {v.key: v.value for p in vercel.projects.values() for v in p.env.values()}
    assert (
        shown["UPSTASH_SEARCH_REST_TOKEN"] == docs.token and shown["UPSTASH_VECTOR_REST_TOKEN"] == emb.token
    )
    search = sandbox.world.urls["search-docs"]
    assert httpx.post(f"{search}/info", headers={"Authorization": f"Bearer {docs.token}"}).status_code == 200
    assert httpx.post(f"{search}/info", headers={"Authorization": f"Bearer {old['docs']}"}).status_code == 401


PREFIXED: dict[str, Any] = {
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {
        "redis": [
            {
                "name": "store",
                "managed_by": "vercel-integration",
                "configuration_id": CFG,
                "env_prefix": "REDIS",
            }
        ],
        "qstash": None,
    },
    "integrations": [{"id": CFG, "slug": "upstash"}],
    "projects": [
        {
            "name": "shop",
            "env": [
                {
                    "key": f"REDIS_{k}",
                    "value": f"${{redis:store:{t}}}",
                    "target": ["production"],
                    "configuration_id": CFG,
                }
                for k, t in (
                    ("REST_API_URL", "rest_url"),
                    ("REST_API_TOKEN", "rest_token"),
                    ("REST_API_READ_ONLY_TOKEN", "readonly_rest_token"),
                )
            ],
            "deployments": [{"target": "production"}],
        }
    ],
}


def test_custom_prefix_integration_vars_are_recognised_and_rotated(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(PREFIXED, canaries=("templates",))
    env = str(sb.state_dir / "sandbox.env")
    t = sb.world.templates
    rc = run(["inventory", "--env-file", env, "--json"])
    out = capsys.readouterr()
    assert rc in (0, 1), out.err
    inv = json.loads(out.out)
    creds = {c["fingerprint"]: c for c in inv["credentials"]}
    token = creds[str(fingerprint_of(t["redis:store:rest_token"]))]
    assert (token["product"], token["kind"], token["management"]) == (
        "redis",
        "rest_token",
        "vercel-integration",
    )
    assert token["endpoint"].rstrip("/") == t["redis:store:rest_url"].rstrip("/")  # from REDIS_REST_API_URL
    ro = creds[str(fingerprint_of(t["redis:store:readonly_rest_token"]))]
    assert ro["kind"] == "readonly_rest_token"


NO_RESYNC: dict[str, Any] = {
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {
        "redis": [
            {"name": "kv", "managed_by": "vercel-integration", "configuration_id": CFG, "resync": False}
        ],
        "qstash": None,
    },
    "integrations": [{"id": CFG, "slug": "upstash"}],
    "projects": [
        {
            "name": "admin",
            "env": [
                {
                    "key": "KV_REST_API_URL",
                    "value": "${redis:kv:rest_url}",
                    "target": ["production"],
                    "configuration_id": CFG,
                },
                {
                    "key": "KV_REST_API_TOKEN",
                    "value": "${redis:kv:rest_token}",
                    "target": ["production"],
                    "configuration_id": CFG,
                },
            ],
            "deployments": [{"target": "production"}],
        }
    ],
}


def test_redis_console_reset_without_resync_asks_for_the_new_token(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(NO_RESYNC, canaries=("templates",))
    env = str(sb.state_dir / "sandbox.env")
    state: UpstashState = sb.world.hooks["upstash.state"]()
    kv = state.redis["kv"]
    old = kv.rest_token
    rc = run(["apply", "--env-file", env, "--all-upstash", "--yes"])
    out = capsys.readouterr()
    assert rc != 0 and "waiting" in out.err  # the person's console reset
    admin = sb.world.urls["admin"]
    assert httpx.post(f"{admin}/_sandbox/upstash/redis/kv/reset").json()["resynced"] == 0
    canary.register(kv.rest_token)
    canary.register(kv.password)
    value_file = tmp_path / "kv-token"
    value_file.write_text(kv.rest_token)
    fp = str(fingerprint_of(old))
    rc = run(["resume", "--env-file", env, "--yes", "--value-file", f"{fp}={value_file}"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    vercel = sb.world.hooks["vercel.state"]()
    shown = {v.key: v.value for p in vercel.projects.values() for v in p.env.values()}
    assert shown["KV_REST_API_TOKEN"] == kv.rest_token  # written by keyroll, then redeployed
    ping = httpx.post(sb.world.urls["redis-kv"], json=["PING"], headers={"Authorization": f"Bearer {old}"})
    assert ping.status_code == 401
