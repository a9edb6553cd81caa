"""QStash regions end to end: each region has its own token and signing keys; keyroll finds
each credential's region (from the Developer API, or by asking each region), and rotation and
probes talk to that region only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.config import load_config
from keyroll.core.model import CredentialKind, Inventory
from keyroll.core.secret import fingerprint_of
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.providers.factory import open_providers
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import UpstashState
from tests import canary
from tests.sandbox_helpers import SandboxFactory

K = CredentialKind


def _app(name: str, region: str) -> dict[str, Any]:
    env = [
        {"key": "QSTASH_URL", "value": f"${{qstash:{region}:url}}", "target": ["production"]},
        {"key": "QSTASH_TOKEN", "value": f"${{qstash:{region}:token}}", "target": ["production"]},
        {
            "key": "QSTASH_CURRENT_SIGNING_KEY",
            "value": f"${{qstash:{region}:current_signing_key}}",
            "target": ["production"],
        },
        {
            "key": "QSTASH_NEXT_SIGNING_KEY",
            "value": f"${{qstash:{region}:next_signing_key}}",
            "target": ["production"],
        },
    ]
    return {"name": name, "env": env, "deployments": [{"target": "production"}]}


FLEET: dict[str, Any] = {
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {"qstash": [{"region": "eu-central-1"}, {"region": "us-east-1"}]},
    "projects": [_app("eu-app", "eu-central-1"), _app("us-app", "us-east-1")],
}


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(FLEET, build_seconds=0.2, canaries=("templates",))


def _inventory(env: dict[str, str]) -> Inventory:
    async def go() -> Inventory:
        async with open_providers(load_config(None, environ=env)) as p:
            return await take_inventory(p, InventoryOptions())

    return asyncio.run(go())


def test_inventory_finds_each_credentials_region(sandbox: Sandbox) -> None:
    t, urls = sandbox.world.templates, sandbox.world.urls
    inv = _inventory(sandbox.env())
    for region, service in (("eu-central-1", "qstash"), ("us-east-1", "qstash-us-east-1")):
        for field, kind in (
            ("token", K.QSTASH_TOKEN),
            ("current_signing_key", K.SIGNING_KEY_CURRENT),
            ("next_signing_key", K.SIGNING_KEY_NEXT),
        ):
            cred = inv.credential(fingerprint_of(t[f"qstash:{region}:{field}"]))
            assert cred is not None and cred.kind is kind, (region, field)
            assert cred.endpoint == urls[service], (region, field, cred.endpoint)

    # without the Developer API, the configured token's region is found by asking each region
    env = {k: v for k, v in sandbox.env().items() if k not in ("UPSTASH_EMAIL", "UPSTASH_API_KEY")}
    env["QSTASH_TOKEN"] = t["qstash:us-east-1:token"]
    env["KEYROLL_QSTASH_URL"] = urls["qstash"]  # the default (EU) origin: the wrong region for it
    inv = _inventory(env)
    cred = inv.credential(fingerprint_of(t["qstash:us-east-1:token"]))
    assert cred is not None and cred.endpoint == urls["qstash-us-east-1"]
    keys = inv.credential(fingerprint_of(t["qstash:us-east-1:current_signing_key"]))
    assert keys is not None and keys.endpoint == urls["qstash-us-east-1"]


def test_rotation_talks_to_each_credentials_region(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = str(sandbox.state_dir / "sandbox.env")
    state: UpstashState = sandbox.world.hooks["upstash.state"]()
    eu, us = state.qstash_regions["eu-central-1"], state.qstash_regions["us-east-1"]
    before = {
        r: (u.token, u.current_signing_key, u.next_signing_key) for r, u in state.qstash_regions.items()
    }
    rc = run(["plan", "--env-file", env_file, "--all-upstash", "--json", "--build-seconds", "0.2"])
    plan = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert sorted(cp["strategy"] for cp in plan["credentials"]) == [
        "qstash_signing",
        "qstash_signing",
        "qstash_token",
        "qstash_token",
    ]
    rc = run(
        ["apply", "--env-file", env_file, "--all-upstash", "--yes", "--accept-downtime", "--health-path", "/"]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    for user in (eu, us):
        for value in (user.token, user.readonly_token, user.current_signing_key, user.next_signing_key):
            canary.register(value)
    for region, user in state.qstash_regions.items():
        old_token, old_current, old_next = before[region]
        assert user.token != old_token, region
        # a double roll in its own region: both leaked keys are gone there
        assert {user.current_signing_key, user.next_signing_key}.isdisjoint({old_current, old_next}), region
    vercel = sandbox.world.hooks["vercel.state"]()
    for project, user in (("eu-app", eu), ("us-app", us)):
        env = {v.key: v.value for p in vercel.projects.values() if p.name == project for v in p.env.values()}
        assert env["QSTASH_TOKEN"] == user.token, project
        assert env["QSTASH_CURRENT_SIGNING_KEY"] == user.current_signing_key, project
