"""``keyroll sandbox``: fleets listing, bad input (one line, exit 2), and ``up`` in a real process."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.config import parse_env_file


def test_fleets_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sandbox", "fleets", "--json"]) == 0
    fleets = {f["name"]: f for f in json.loads(capsys.readouterr().out)["fleets"]}
    assert fleets["small"]["projects"] == 3 and fleets["incident"]["projects"] >= 25


def test_fleets_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["sandbox", "fleets"]) == 0
    out = capsys.readouterr().out
    assert "small" in out and "incident" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--fleet", "nope"], "unknown fleet 'nope'"),
        (["--faults", "bogus=1"], "--faults: unknown fault 'bogus'"),
        (["--faults", "error_rate=lots"], "--faults"),
        (["--vercel-plan", "free"], "--vercel-plan: unknown plan 'free'"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    code = run(["sandbox", "up", "--state-dir", str(tmp_path / "sb"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "sb" / "sandbox.env").exists()


def test_bad_fleet_file_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "fleet.yaml"
    bad.write_text("projects:\n  - name: web\n    env:\n      - {key: A, value: x, target: [nowhere]}\n")
    assert run(["sandbox", "up", "--state-dir", str(tmp_path / "sb"), "--fleet", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "fleet.yaml: projects.0.env.0.target" in err and "Traceback" not in err


def test_up_serves_until_interrupted(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "keyroll",
            "sandbox",
            "up",
            "--state-dir",
            str(state),
            "--build-seconds",
            "0.1",
            "--no-tls",
            "--vercel-plan",
            "hobby",
            "--builds-per-day",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VERCEL_", "KEYROLL_", "UPSTASH_", "QSTASH_"))
        },
    )
    try:
        env_file = state / "sandbox.env"
        deadline = time.monotonic() + 60
        while not env_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert env_file.exists(), "sandbox.env was written"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((state / "sandbox.json").stat().st_mode) == 0o600
        values, _ = parse_env_file(env_file)
        r = httpx.get(
            f"{values['KEYROLL_VERCEL_API_URL']}/v10/projects",
            params={"teamId": values["VERCEL_TEAM_ID"]},
            headers={"Authorization": f"Bearer {values['VERCEL_TOKEN']}"},
        )
        assert r.status_code == 200 and len(r.json()["projects"]) == 3
        info = json.loads((state / "sandbox.json").read_text())
        assert info["vercel"]["plan"] == {"plan": "hobby", "concurrent_builds": 1, "deployments_per_day": 50}
        r = httpx.get(
            f"{values['KEYROLL_GITHUB_API_URL']}/repos/acme/web/actions/secrets",
            headers={"Authorization": f"Bearer {values['GITHUB_TOKEN']}"},
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "env file:" in out and str(env_file) in out and "vercel" in out
    assert "sandbox stopped" in err
    snapshot = json.loads((state / "vercel-state.json").read_text())
    assert {p["name"] for p in snapshot["projects"]} == {"web", "api", "docs"}
    assert all(e["fingerprint"].startswith("sha256:") for p in snapshot["projects"] for e in p["env"])
