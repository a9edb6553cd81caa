"""``keyroll preflight`` (and the preflight ``plan`` / ``apply`` run) in-process against the sandbox."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.vercel.state import VercelState
from tests.sandbox_helpers import SandboxFactory


def _env_file(sb: Sandbox) -> str:
    return str(sb.state_dir / "sandbox.env")


def _state(sb: Sandbox) -> VercelState:
    state: VercelState = sb.world.hooks["vercel.state"]()
    return state


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, Any, str]:
    rc = run(argv)
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if out.out.strip().startswith("{") else out.out), out.err


@pytest.fixture
def pro(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory("small", canaries=())


def spend_deployments(sb: Sandbox, n: int) -> None:
    """``n`` more deployments today (of the paused ``docs`` project, so nothing in scope changes)."""
    state = _state(sb)
    docs = state.project("docs")
    assert docs is not None
    for _ in range(n):
        state.create_deployment(
            docs, target=None, git_branch="old", custom_env_id=None, meta={}, source="git", ready_now=True
        )


@pytest.fixture
def hobby_spent(sandbox_factory: SandboxFactory) -> Sandbox:
    # Hobby: 100 deployments a day; the small fleet seeds 6, 90 more leave 4 — far fewer than a
    # rotation and its rollback reserve need
    sb = sandbox_factory("small", vercel_plan="hobby", canaries=())
    spend_deployments(sb, 90)
    return sb


def test_preflight_reads_plan_and_quota(pro: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc, err = _run(capsys, ["preflight", "--env-file", _env_file(pro), "--json"])
    assert rc == 0, err
    assert doc["ok"] is True
    assert doc["facts"]["vercel.plan"] == "pro"
    assert doc["facts"]["vercel.concurrent_builds"] == 12
    assert doc["facts"]["vercel.deployments_last_24h"] == len(_state(pro).deployments)
    checks = {r["check"]: r for r in doc["risks"]}
    assert checks["vercel.plan-tier"]["data"]["redeploys"] > 0
    assert checks["vercel.quota"]["severity"] == "info"


def test_preflight_table(pro: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = _run(capsys, ["preflight", "--env-file", _env_file(pro)])
    assert rc == 0, err
    assert "vercel.plan-tier" in out and "nothing blocks" in out


def test_quota_blocks_preflight_and_apply_writes_nothing(
    hobby_spent: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _state(hobby_spent)
    rc, doc, err = _run(capsys, ["preflight", "--env-file", _env_file(hobby_spent), "--json"])
    assert rc == 1, err
    quota = next(r for r in doc["risks"] if r["check"] == "vercel.quota")
    assert quota["severity"] == "block"
    assert quota["data"]["left"] == 4 and "2 redeploy(s) fit" in quota["message"]
    assert doc["facts"]["vercel.plan"] == "hobby" and doc["facts"]["vercel.concurrent_builds"] == 1

    deployments = len(state.deployments)
    env_updates = {ev.id: ev.updated_at for p in state.projects.values() for ev in p.env.values()}
    rc, _, err = _run(capsys, ["apply", "--env-file", _env_file(hobby_spent), "--all-upstash", "--yes"])
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "2 redeploy(s) fit" in err and "--project" in err
    assert len(state.deployments) == deployments, "nothing was redeployed"
    after = {ev.id: ev.updated_at for p in state.projects.values() for ev in p.env.values()}
    assert after == env_updates, "nothing was written"


def test_plan_and_dry_run_show_preflight(hobby_spent: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc, err = _run(capsys, ["plan", "--env-file", _env_file(hobby_spent), "--all-upstash", "--json"])
    assert rc == 0, err
    assert doc["preflight"]["ok"] is False
    rc, out, err = _run(
        capsys,
        ["apply", "--env-file", _env_file(hobby_spent), "--all-upstash", "--dry-run", "--accept-downtime"],
    )
    assert rc == 0, err
    assert "vercel.quota" in out and "blocks apply" in out


def test_dry_run_takes_build_parallelism_from_the_plan(
    hobby_spent: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["apply", "--env-file", _env_file(hobby_spent), "--all-upstash", "--dry-run", "--accept-downtime"]
    rc, doc, err = _run(capsys, [*argv, "--json"])
    assert rc == 0, err
    assert doc["settings"]["max_parallel_builds"] == {"value": 1, "source": "Vercel plan hobby"}
    rc, doc, err = _run(capsys, [*argv, "--json", "--max-parallel-builds", "3"])
    assert doc["settings"]["max_parallel_builds"] == {"value": 3, "source": "--max-parallel-builds"}


def test_a_402_mid_run_pauses_then_resume_finishes(
    tmp_path: Path, journal_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # keyroll knows Hobby's 100 a day, so preflight lets the run start; the sandbox's cap of 8 (6 seeded)
    # is hit after two redeploys
    with Sandbox(
        tmp_path / "sb", fleet="small", build_seconds=0.2, vercel_plan="hobby", builds_per_day=8
    ) as sb:
        _, doc, _ = _run(capsys, ["plan", "--env-file", _env_file(sb), "--all-upstash", "--json"])
        fp = next(
            cp["credential"]
            for cp in doc["credentials"]
            if cp["strategy"] == "redis_acl"
            and cp["steps"][0]["params"]["group"].get("management") == "native"
        )
        rc, _, err = _run(capsys, ["apply", "--env-file", _env_file(sb), "--credential", fp, "--yes"])
        assert rc == 4, err  # waiting (the run is paused, not failed)
        assert "waiting:" in err and "daily deployment quota is spent" in err and "keyroll resume" in err
        assert "rolled back" not in err.replace("nothing was rolled back", "")
        rc, status, err = _run(capsys, ["status", "--env-file", _env_file(sb), "--json"])
        assert [c["state"] for c in status["credentials"]] == ["waiting"]
        state = _state(sb)
        state.limits = replace(state.limits, deployments_per_day=None)  # the day has passed
        rc, _, err = _run(capsys, ["resume", "--env-file", _env_file(sb), "--yes"])
        assert rc == 0, err
