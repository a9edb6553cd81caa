"""``keyroll plan / apply / status / resume / rollback`` in-process against the sandbox, plus
crash injection: ``keyroll apply`` in a subprocess killed (SIGKILL) at a step boundary, then
``keyroll resume`` reaches done with a consistent state and no secret lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.core.model import Plan
from keyroll.core.serde import from_dict
from keyroll.rotate.crash import boundaries
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import JOURNAL_PASSPHRASE, SandboxFactory

BUILD = 0.2


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory("small", build_seconds=BUILD, canaries=())


def _env_file(sb: Sandbox) -> str:
    return str(sb.state_dir / "sandbox.env")


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == code, out.err
    return json.loads(out.out) if out.out.strip() else None


def _native_redis_fp(capsys: pytest.CaptureFixture[str], sb: Sandbox) -> str:
    doc = _json(
        capsys,
        ["plan", "--env-file", _env_file(sb), "--all-upstash", "--json", "--build-seconds", str(BUILD)],
    )
    for cp in doc["credentials"]:
        group = cp["steps"][0]["params"].get("group", {})
        if cp["strategy"] == "redis_acl" and group.get("management") == "native":
            return str(cp["credential"])
    raise AssertionError("no native Redis credential in the sandbox plan")


def _plan_file(capsys: pytest.CaptureFixture[str], sb: Sandbox, tmp_path: Path, fp: str) -> Path:
    path = tmp_path / "plan.json"
    rc = run(
        [
            "plan",
            "--env-file",
            _env_file(sb),
            "--credential",
            fp,
            "--out",
            str(path),
            "--build-seconds",
            str(BUILD),
        ]
    )
    capsys.readouterr()
    assert rc == 0
    return path


def test_plan_apply_status(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fp = _native_redis_fp(capsys, sandbox)
    plan_path = _plan_file(capsys, sandbox, tmp_path, fp)
    doc = json.loads(plan_path.read_text())
    assert doc["inventory_digest"].startswith("sha256:") and doc["credentials"][0]["credential"] == fp
    rc = run(["apply", str(plan_path), "--env-file", _env_file(sandbox), "--yes", "--health-path", "/"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "done" in out.out
    status = _json(capsys, ["status", "--env-file", _env_file(sandbox), "--json"])
    assert status["run"]["state"] == "done" and status["integrity"] == []
    assert status["credentials"][0]["state"] == "done"
    # nothing to roll back once revoked
    assert run(["rollback", "--env-file", _env_file(sandbox), "--yes"]) == 0
    assert "nothing to roll back" in capsys.readouterr().out


def test_bad_input_is_one_line_exit_2_and_nothing_changes(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env_file(sandbox)
    cases = [
        (["plan", "--env-file", env, "--credential", "sha256:00000000"], "no credential sha256:00000000"),
        (["plan", "--env-file", env], "choose what to rotate"),
        (["plan", "--env-file", env, "--all-upstash", "--strategy", "x=nope"], "unknown strategy"),
        (["apply", "--env-file", env, "--all-upstash", "--accept-downtime"], "need consent"),
        (["apply", "--env-file", env, "--all-upstash", "--yes"], "cutover"),
        (["status", "--env-file", env], "no journal"),
        (["apply", str(tmp_path / "missing.json"), "--env-file", env], "cannot read"),
    ]
    for argv, needle in cases:
        rc = run(argv)
        err = capsys.readouterr().err
        assert rc == 2, (argv, err)
        assert needle in err, (argv, err)
        assert "Traceback" not in err
    fp = _native_redis_fp(capsys, sandbox)
    rc = run(["plan", "--env-file", env, "--credential", fp, "--strategy", f"{fp}=qstash_token"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot rotate" in err and err.count("\n") <= 2, err
    # a dry run checks everything and changes nothing
    rc = run(["apply", "--env-file", env, "--credential", fp, "--dry-run", "--yes"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "dry run" in out.out and not (tmp_path / "journal.db").exists()
    assert _native_redis_fp(capsys, sandbox) == fp  # the credential is untouched


def test_drift_is_detected_before_acting(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fp = _native_redis_fp(capsys, sandbox)
    plan_path = _plan_file(capsys, sandbox, tmp_path, fp)
    env = sandbox.env()
    # someone copies the token into another project after the plan was made
    plan = from_dict(Plan, json.loads(plan_path.read_text()))
    project = plan.credentials[0].projects[0]
    headers = {"Authorization": f"Bearer {env['VERCEL_TOKEN']}"}
    resp = httpx.post(
        f"{env['KEYROLL_VERCEL_API_URL']}/v10/projects/{project}/env",
        params={"teamId": env["VERCEL_TEAM_ID"]},
        headers=headers,
        json={
            "key": "COPIED_TOKEN",
            "value": "not-the-token-but-a-new-var",
            "type": "encrypted",
            "target": ["preview"],
        },
    )
    assert resp.status_code in (200, 201), resp.text
    # a new var that holds no credential changes nothing; a copy of the credential does
    rc = run(["apply", str(plan_path), "--env-file", _env_file(sandbox), "--yes"])
    capsys.readouterr()
    assert rc == 0
    plan_path2 = _plan_file(capsys, sandbox, tmp_path, next(iter(_current_redis_token(capsys, sandbox))))
    _add_copy(sandbox, project)
    rc = run(["apply", str(plan_path2), "--env-file", _env_file(sandbox), "--yes"])
    err = capsys.readouterr().err
    assert rc == 2 and "drift" in err


def _current_redis_token(capsys: pytest.CaptureFixture[str], sb: Sandbox) -> list[str]:
    return [_native_redis_fp(capsys, sb)]


def _add_copy(sb: Sandbox, project: str) -> None:
    """Copy the serving REST token value into a new var (as someone might do by hand)."""
    env = sb.env()
    headers = {"Authorization": f"Bearer {env['VERCEL_TOKEN']}"}
    base = env["KEYROLL_VERCEL_API_URL"]
    params = {"teamId": env["VERCEL_TEAM_ID"]}
    envs = httpx.get(f"{base}/v10/projects/{project}/env", params=params, headers=headers).json()["envs"]
    src = next(e for e in envs if e["key"].endswith("REDIS_REST_TOKEN") and e["type"] != "sensitive")
    value = httpx.get(f"{base}/v1/projects/{project}/env/{src['id']}", params=params, headers=headers).json()[
        "value"
    ]
    resp = httpx.post(
        f"{base}/v10/projects/{project}/env",
        params=params,
        headers=headers,
        json={
            "key": "ANOTHER_REDIS_REST_TOKEN",
            "value": value,
            "type": "encrypted",
            "target": ["development"],
        },
    )
    assert resp.status_code in (200, 201), resp.status_code


# -- crash injection ----------------------------------------------------------------------------


def _subprocess_env(tmp_path: Path, crash_at: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEYROLL_", "VERCEL_", "UPSTASH_", "QSTASH_", "GITHUB_"))
    }
    env.update(
        KEYROLL_JOURNAL=str(tmp_path / "journal.db"),
        KEYROLL_JOURNAL_KEY=JOURNAL_PASSPHRASE,
        KEYROLL_CRASH_AT=crash_at,
    )
    return env


def _crash_and_resume(
    sb: Sandbox, tmp_path: Path, plan_path: Path, crash_at: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "keyroll",
            "-q",
            "apply",
            str(plan_path),
            "--env-file",
            _env_file(sb),
            "--yes",
        ],
        env=_subprocess_env(tmp_path, crash_at),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL, (crash_at, proc.returncode, proc.stderr.decode()[-500:])
    rc = run(["-q", "resume", "--env-file", _env_file(sb), "--yes"])
    out = capsys.readouterr()
    assert rc == 0, (crash_at, out.err)
    status = _json(capsys, ["status", "--env-file", _env_file(sb), "--json"])
    assert status["run"]["state"] == "done" and status["integrity"] == [], (crash_at, status)
    # consistent: the old credential is dead, the new one works, the apps serve; no secret lost
    from keyroll.core.secret import Secret
    from keyroll.journal.keys import JournalKey
    from keyroll.journal.store import Journal

    key = JournalKey.from_passphrase(Secret(JOURNAL_PASSPHRASE))
    with Journal.open(tmp_path / "journal.db", key) as j:
        run_id = j.latest_run().id
        plan = j.plan(run_id)
        names = j.secret_fingerprints(run_id)
        for name in names:
            assert j.get_secret(run_id, name).fingerprint == names[name]
        gid = plan.steps[0].id.split("/")[0]
        old, new = (
            j.get_secret(run_id, f"{gid}:old:rest_token"),
            j.get_secret(run_id, f"{gid}:new:rest_token"),
        )
    url = plan.steps[0].params["group"]["rest_url"]
    assert (
        httpx.post(url, json=["PING"], headers={"Authorization": f"Bearer {old.reveal()}"}).status_code == 401
    )
    assert (
        httpx.post(url, json=["PING"], headers={"Authorization": f"Bearer {new.reveal()}"}).status_code == 200
    )
    for dep in sb.world.hooks["vercel.serving_deployments"]():
        if dep["project_id"] in plan.credentials[0].projects:
            assert httpx.get(f"http://{dep['url']}/").status_code in (200, 503), dep[
                "id"
            ]  # 503: paused project


def _native_plan(sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    fp = _native_redis_fp(capsys, sandbox)
    return _plan_file(capsys, sandbox, tmp_path, fp)


@pytest.mark.parametrize("kind", ["mint", "redeploy", "revoke"])
def test_crash_then_resume_reaches_done(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    plan_path = _native_plan(sandbox, tmp_path, capsys)
    plan = from_dict(Plan, json.loads(plan_path.read_text()))
    point = next(b for b in boundaries(plan) if b.startswith(f"after:{kind}:"))
    _crash_and_resume(sandbox, tmp_path, plan_path, point, capsys)


@pytest.mark.slow
def test_crash_at_every_boundary_then_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The full matrix: one fresh sandbox per boundary of a small plan (run by ``make resilience``)."""
    monkeypatch.setenv("KEYROLL_JOURNAL_KEY", JOURNAL_PASSPHRASE)
    with Sandbox(tmp_path / "probe-sb", fleet="small", build_seconds=BUILD) as sb:
        monkeypatch.setenv("KEYROLL_JOURNAL", str(tmp_path / "probe.db"))
        plan_path = _native_plan(sb, tmp_path, capsys)
        count = len(boundaries(from_dict(Plan, json.loads(plan_path.read_text()))))
    for n in range(count):
        case = tmp_path / f"b{n}"
        case.mkdir()
        monkeypatch.setenv("KEYROLL_JOURNAL", str(case / "journal.db"))
        with Sandbox(case / "sb", fleet="small", build_seconds=BUILD) as sb:
            plan_path = _native_plan(sb, case, capsys)
            _crash_and_resume(sb, case, plan_path, f"boundary:{n}", capsys)
