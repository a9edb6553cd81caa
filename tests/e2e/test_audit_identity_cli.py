"""Issue 17 item 9: ``keyroll audit`` tells keyroll's own writes by identity (the ids the run
wrote, inside the step's journaled window), never by time: a person's env-var delete on the
same project seconds before the run is flagged, keyroll's own env writes are not."""

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
def sandbox(sandbox_factory: SandboxFactory, tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    sb = sandbox_factory("small", build_seconds=0.2)
    yield sb, write_env_file(tmp_path / "sandbox.env", sb.env())


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == code, out.err
    return json.loads(out.out)


def test_a_persons_delete_just_before_the_run_is_not_keyrolls(
    sandbox: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sb, env = sandbox
    e = sb.env()
    api = httpx.Client(
        base_url=e["KEYROLL_VERCEL_API_URL"],
        params={"teamId": e["VERCEL_TEAM_ID"]},
        headers={"Authorization": f"Bearer {e['VERCEL_TOKEN']}"},
    )
    plan = _json(capsys, ["plan", "--env-file", str(env), "--all-upstash", "--json"], 0)
    fp = next(
        cp["credential"]
        for cp in plan["credentials"]
        if cp["strategy"] == "redis_acl"
        and cp["steps"][0]["params"].get("group", {}).get("management") == "native"
    )
    # a person deletes a var of project web, the project keyroll is about to write to
    envs = api.get("/v10/projects/web/env").json()["envs"]
    victim = next(v for v in envs if v["key"] == "NEXT_PUBLIC_SITE_NAME")
    assert api.delete(f"/v9/projects/web/env/{victim['id']}").status_code == 200
    rc = run(["apply", "--env-file", str(env), "-c", fp, "--yes", "-q", "--build-seconds", "0.2"])
    capsys.readouterr()
    assert rc == 0
    doc = _json(capsys, ["audit", "--env-file", str(env), "--json", "--since", "1h"], 1)
    events = doc["events"]
    delete = next(
        ev for ev in events if ev["type"] == "env-variable-delete" and ev["entity_id"] == victim["id"]
    )
    assert not delete["own"], "a person's delete was credited to keyroll"
    assert delete["unusual"]
    assert any("not made by keyroll" in r for r in delete["reasons"])
    # keyroll's own env writes on web are its own (matched by the var ids it wrote)
    own_writes = [
        ev
        for ev in events
        if ev["type"] in ("env-variable-edit", "env-variable-add") and ev["project_id"] and ev["own"]
    ]
    assert own_writes
    assert not [
        ev for ev in events if ev["type"] in ("env-variable-edit", "env-variable-add") and not ev["own"]
    ]
