"""``keyroll harden`` and Upstash Credential Protection end to end in the sandbox.

Fleet: ``pro`` has Prod Pack with protection off, ``free`` has no Prod Pack, ``locked`` already
has protection on. Only ``pro`` is reported. Credential Protection has no Developer API endpoint,
so the sandbox serves none (the invented ``enable-credential-protection`` route answers 404) and
``--fix`` leaves the finding to a person, with console instructions, changing nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run

pytest.importorskip("keyroll.sandbox.upstash")

from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import UpstashState
from tests.integration.test_harden_sandbox import quiet_httpx as quiet_httpx  # autouse fixture
from tests.integration.test_harden_sandbox import secrets_of
from tests.sandbox_helpers import SandboxFactory

RULE = "credential-protection-off"
CREDENTIAL_FIELDS = ("password", "rest_token", "read_only_rest_token")


def fleet() -> dict[str, Any]:
    return {
        "team": {"id": "team_sandbox", "slug": "acme"},
        "upstash": {
            "redis": [
                {"name": "pro", "prod_pack": True},
                {"name": "free"},
                {"name": "locked", "credential_protection": True},
            ]
        },
        "projects": [],
    }


@pytest.fixture
def sandbox(tmp_path: Path, sandbox_factory: SandboxFactory, canary: Any) -> tuple[Sandbox, list[str]]:
    sb = sandbox_factory(fleet(), canaries=())
    canary.register(*secrets_of(sb))
    return sb, ["--env-file", str(tmp_path / "sb" / "sandbox.env")]


def developer(sb: Sandbox) -> httpx.Client:
    env = sb.env()
    return httpx.Client(
        base_url=env["KEYROLL_UPSTASH_API_URL"], auth=(env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"])
    )


def db_ids(sb: Sandbox) -> dict[str, str]:
    state: UpstashState = sb.world.hooks["upstash.state"]()
    return {name: db.id for name, db in state.redis.items()}


def findings(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return [f for f in doc["findings"] if f["rule"] == RULE]


def test_prod_pack_is_rendered_and_required(sandbox: tuple[Sandbox, list[str]]) -> None:
    sb, _ = sandbox
    ids = db_ids(sb)
    with developer(sb) as api:
        rows = {d["database_name"]: d for d in api.get("/v2/redis/databases").json()}
        assert {n: rows[n]["prod_pack_enabled"] for n in ids} == {"pro": True, "free": False, "locked": True}
        assert all(f in rows["free"] for f in CREDENTIAL_FIELDS)
        assert not any(f in rows["locked"] for f in CREDENTIAL_FIELDS)
        for action in ("enable", "disable"):
            resp = api.post(f"/v2/redis/{action}-credential-protection/{ids['pro']}")
            assert resp.status_code == 404, action  # no such endpoint at Upstash
        assert all(f in api.get(f"/v2/redis/database/{ids['free']}").json() for f in CREDENTIAL_FIELDS)


def test_harden_reports_fixes_and_hides_credentials(
    sandbox: tuple[Sandbox, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, args = sandbox
    ids = db_ids(sb)
    with developer(sb) as api:
        before = api.get(f"/v2/redis/database/{ids['pro']}").json()
    assert before["prod_pack_enabled"] is True and all(f in before for f in CREDENTIAL_FIELDS)

    assert run(["harden", *args, "--format", "json"]) == 1
    found = findings(capsys)
    assert [f["details"]["database_id"] for f in found] == [ids["pro"]]

    (finding,) = found
    assert finding["fixable_by_keyroll"] is False
    assert "Upstash console" in finding["fix"] and "Credential Protection" in finding["fix"]

    # --fix has nothing it can apply for this rule: nothing changes
    run(["harden", *args, "--fix", "--yes", "--rule", RULE, "--format", "json"])
    fixed = findings(capsys)
    assert [(f["details"]["database_id"], f["fixed"]) for f in fixed] == [(ids["pro"], False)]
    with developer(sb) as api:
        after = api.get(f"/v2/redis/database/{ids['pro']}").json()
        assert all(f in after for f in CREDENTIAL_FIELDS)
        audit = [e["action_string"] for e in api.get("/auditlogs").json() if e["entity"] == "pro"]
        assert not any("Protection" in a for a in audit)
