"""keyroll against a Vercel that behaves like the real one (reference notes §12): it sees the
platform's traps before writing anything, and plans around them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.core.model import StepState
from keyroll.journal.store import Journal
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.vercel.state import VercelState
from tests.integration.test_sandbox_vercel_realities import BYPASS, realities_fleet
from tests.sandbox_helpers import SandboxFactory

COMMAND = "git diff --quiet HEAD^ HEAD ./"


def _state(sb: Sandbox) -> VercelState:
    state: VercelState = sb.world.hooks["vercel.state"]()
    return state


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, Any, str]:
    rc = run(argv)
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if out.out.strip().startswith("{") else out.out), out.err


@pytest.fixture
def sb(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(realities_fleet(), build_seconds=0.3, canaries=())


def _env(sb: Sandbox) -> str:
    return str(sb.state_dir / "sandbox.env")


def _native_redis(capsys: pytest.CaptureFixture[str], sb: Sandbox) -> dict[str, Any]:
    rc, doc, err = _run(capsys, ["plan", "--env-file", _env(sb), "--all-upstash", "--json"])
    assert rc == 0, err
    cp: dict[str, Any] = next(
        cp
        for cp in doc["credentials"]
        if cp["strategy"] == "redis_acl" and cp["steps"][0]["params"]["group"].get("management") == "native"
    )
    return cp


def test_ignored_build_step_refused_then_bypassed_and_restored(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _state(sb)
    web = state.project("web")
    assert web is not None
    rc, doc, _ = _run(capsys, ["preflight", "--env-file", _env(sb), "--json"])
    assert rc == 1
    risk = next(r for r in doc["risks"] if r["check"] == "vercel.ignored-build-step")
    assert risk["severity"] == "block" and risk["subject"] == "web"

    fp = _native_redis(capsys, sb)["credential"]
    before = {ev.id: ev.updated_at for ev in web.env.values()}
    deployments = len(state.deployments)
    rc, _, err = _run(capsys, ["apply", "--env-file", _env(sb), "--credential", fp, "--yes"])
    assert rc == 2 and "web" in err and "--bypass-ignored-build-step" in err
    assert {ev.id: ev.updated_at for ev in web.env.values()} == before and len(
        state.deployments
    ) == deployments

    rc, _, err = _run(
        capsys, ["apply", "--env-file", _env(sb), "--credential", fp, "--yes", "--bypass-ignored-build-step"]
    )
    assert rc == 0, err
    assert web.command_for_ignoring_build_step == COMMAND, "the exact previous value is back"
    new = [d for d in state.deployments.values() if d.project_id == web.id and d.source == "redeploy"]
    assert new and all(d.canceled_at is None for d in new), "redeploys built while the setting was cleared"
    with Journal.open(tmp_path / "journal.db") as reader:
        run_id = reader.runs()[-1].id
        rec = reader.step_records(run_id)[f"vercel/ignored-build-step/{web.id}"]
    assert rec.state is StepState.DONE and rec.detail["restored"] and rec.detail["previous"] == COMMAND


def test_hidden_vars_make_the_inventory_incomplete(sb: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    rc, doc, err = _run(capsys, ["inventory", "--env-file", _env(sb), "--json"])
    assert rc == 1, err
    hidden = [u for u in doc["unknowns"] if "hiddenProductionEnvCount" in u["reason"]]
    assert len(hidden) == 1 and hidden[0]["where"] == "vercel project api"
    assert hidden[0]["reason"].startswith("2 production env var(s) hidden")
    rc, doc, _ = _run(capsys, ["preflight", "--env-file", _env(sb), "--json", "--bypass-ignored-build-step"])
    assert any(r["check"] == "vercel.hidden-env" and r["subject"] == "api" for r in doc["risks"])


def test_staging_is_redeployed_as_staging_and_protected_probes_warn(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = _state(sb)
    api = state.project("api")
    assert api is not None
    staging_before = api.staging_id
    rc, doc, _ = _run(capsys, ["preflight", "--env-file", _env(sb), "--json", "--bypass-ignored-build-step"])
    assert rc == 0
    checks = {(r["check"], r["subject"]): r for r in doc["risks"]}
    assert checks[("vercel.staging-target", "api")]["severity"] == "info"
    assert checks[("vercel.protection", "web")]["severity"] == "warn"
    assert checks[("vercel.ignored-build-step", "web")]["severity"] == "warn"

    fp = _native_redis(capsys, sb)["credential"]
    rc, _, err = _run(
        capsys,
        [
            "apply",
            "--env-file",
            _env(sb),
            "--credential",
            fp,
            "--yes",
            "--bypass-ignored-build-step",
            "--health-path",
            "/",
        ],
    )
    assert rc == 0, err
    with Journal.open(tmp_path / "journal.db") as reader:
        run_id = reader.runs()[-1].id
        probes = [
            d
            for sid, r in reader.step_records(run_id).items()
            if sid.endswith("/probe")
            for d in r.detail.get("deployments", [])
        ]
    web = state.project("web")
    assert web is not None
    protected = [p for p in probes if p["project_id"] == web.id and p.get("protected")]
    assert protected and all(p["probed"] is False and "not probed: protected" in p["note"] for p in protected)
    assert all(p["status"] == 200 for p in probes if p["project_id"] == api.id)

    # the QStash signing keys reach api's Preview vars, so its staging deployment is redeployed
    _, doc, _ = _run(capsys, ["plan", "--env-file", _env(sb), "--all-upstash", "--json"])
    signing = next(cp for cp in doc["credentials"] if cp["strategy"] == "qstash_signing")
    assert any(d["target"] == "staging" for d in signing["deployments"])
    rc, _, err = _run(
        capsys, ["apply", "--env-file", _env(sb), "--credential", signing["credential"], "--yes"]
    )
    assert rc == 0, err
    assert api.staging_id != staging_before, "a new staging build took the staging alias"
    new_staging = state.deployments[api.staging_id or ""]
    assert new_staging.target == "staging" and new_staging.source == "redeploy"


def test_a_bypass_secret_lets_probes_through(
    sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERCEL_AUTOMATION_BYPASS_SECRET", BYPASS)
    rc, doc, _ = _run(capsys, ["preflight", "--env-file", _env(sb), "--json", "--bypass-ignored-build-step"])
    assert next(r for r in doc["risks"] if r["check"] == "vercel.protection")["severity"] == "info"
    fp = _native_redis(capsys, sb)["credential"]
    argv = ["apply", "--env-file", _env(sb), "--credential", fp, "--yes", "--bypass-ignored-build-step"]
    rc, _, err = _run(capsys, [*argv, "--health-path", "/"])
    assert rc == 0, err
    with Journal.open(tmp_path / "journal.db") as reader:
        run_id = reader.runs()[-1].id
        probes = [
            d
            for sid, r in reader.step_records(run_id).items()
            if sid.endswith("/probe")
            for d in r.detail.get("deployments", [])
        ]
    assert probes and all(p["status"] == 200 and not p.get("protected") for p in probes)
