"""``keyroll demo`` in-process: the whole incident on the ``incident`` fleet, under load.

The demo must reach done, pass verify, count 0 failed requests during overlap rotations and
write its report — with no credential value in its output, its reports or (in plaintext) its
journal. Bad input exits 2 before anything starts. The failure attribution behind the
"0 failed requests" claim is tested on its own, without a sandbox.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.core.model import Strategy
from keyroll.core.secret import Secret
from keyroll.demo.attribution import GroupInfo, attribute_failures, deployment_fingerprints
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from tests import canary as canary_mod

FAST = ["--build-seconds", "0.3", "--latency-ms", "0", "--rps", "30", "--rate-window", "2"]
PUBLIC = ("url", "rest_url", "host", "port")


def _journal_values(state_dir: Path) -> list[str]:
    env = dict(
        line.split("=", 1) for line in (state_dir / "demo.env").read_text().splitlines() if "=" in line
    )
    key = JournalKey.from_passphrase(Secret(env["KEYROLL_JOURNAL_KEY"]))
    with Journal.open(state_dir / "journal.db", key) as j:
        run_id = j.runs()[-1].id
        return [j.get_secret(run_id, name).reveal() for name in j.secret_fingerprints(run_id)]


def test_demo_plays_the_incident_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], canary: canary_mod.Canary
) -> None:
    state_dir = tmp_path / "demo"
    code = run(["demo", "--state-dir", str(state_dir), "--json", *FAST])
    out, err = capsys.readouterr()
    assert out.strip(), f"exit {code}, no JSON summary; stderr ends with: {err[-2000:]}"
    summary: dict[str, Any] = json.loads(out)
    problems = (summary["groups"], summary["verify_problems"], summary["failures"]["samples"])
    if code != 0:  # the whole story, untruncated: which groups, which checks, which requests failed
        counts = {k: v for k, v in summary["failures"].items() if k != "samples"}
        pytest.fail(
            f"demo exit {code}; failures {json.dumps(counts)}; windows {json.dumps(summary['cutover_windows'])}; "
            f"verify problems {json.dumps(summary['verify_problems'])}; samples "
            + json.dumps(summary["failures"]["samples"][:10])
        )
    assert summary["ok"] and summary["run_state"] == "done" and summary["verify_passed"], problems
    assert summary["projects"] >= 25
    assert summary["credentials_rotated"] == summary["credentials_total"] > 10
    assert {g["strategy"] for g in summary["groups"]} >= {
        "redis_acl",
        "redis_acl_password",
        "qstash_signing",
        "qstash_token",
        "index_reset",
        "redis_cutover",
        "integration_reset",
    }
    assert summary["deployments_redeployed"] >= 25
    # the load generator ran the whole time; overlap rotations cost nothing
    assert summary["requests"] > 100
    assert summary["failures"]["overlap"] == 0 and summary["failures"]["unattributed"] == 0
    # cutovers were measured; their failures fall inside their windows
    windows = {w["strategy"] for w in summary["cutover_windows"]}
    assert windows == {"qstash_token", "index_reset", "redis_cutover", "integration_reset"}
    assert all(0 < w["window_s"] < 30 for w in summary["cutover_windows"])
    assert summary["failures"]["cutover_outside_window"] == 0
    # the integration-managed database was reset by pressing the (sandbox) dashboard button
    # (and the integration-created Vector index the same way: a guided cutover)
    assert sorted((c["kind"], c["name"]) for c in summary["human_steps"]) == [
        ("redis", "kv"),
        ("vector", "recs"),
    ]
    # both QStash regions were rotated, each in its own region
    assert sum(1 for g in summary["groups"] if g["strategy"] == "qstash_signing") == 2
    # the committed token is found in git history (reported, not rewritten); local files are cleaned
    kinds = {row["kind"]: row for row in summary["stale"]["by_kind"]}
    assert kinds["git_commit"]["found"] >= 1 and kinds["git_commit"]["not_rewritten"]
    assert kinds["file"]["found"] >= 3 and kinds["file"]["left"] == 0
    assert not list((state_dir / "app").rglob("*.bak"))
    # report written; nothing secret in it, in the summary, or in the journal in plaintext
    html, report_json = Path(summary["report_html"]), Path(summary["report_json"])
    assert html.stat().st_size > 10_000 and json.loads(report_json.read_text())
    canary.watch(html, report_json, state_dir / "summary.json")
    blob = (state_dir / "journal.db").read_bytes().decode("latin-1")
    values = _journal_values(state_dir)
    assert values, "the journal holds the new credentials (encrypted)"
    for value in values:
        if len(value) >= 12 and not value.startswith("http"):
            assert not any(f in blob for f in canary_mod.forms(value)), (
                "a credential reached the journal in plaintext"
            )


def test_demo_refuses_a_state_dir_that_is_not_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "something").write_text("x")
    assert run(["demo", "--state-dir", str(tmp_path), *FAST]) == 2
    err = capsys.readouterr().err
    assert "not empty" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["something"]


def test_demo_rejects_an_unknown_fleet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo", "--state-dir", str(tmp_path / "d"), "--fleet", "no-such-fleet"]) == 2
    assert "unknown fleet" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_demo_keep_leaves_the_sandbox_up_for_other_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "kept"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KEYROLL_", "VERCEL_", "UPSTASH_", "QSTASH_"))
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "keyroll", "demo", "--keep", "--state-dir", str(state_dir), *FAST],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "press Ctrl-C" in line or not line:
                break
        assert any("--env-file" in line and "demo.env" in line for line in lines), lines[-5:]
        # the sandbox still answers: another command works against it with the printed env file
        assert run(["status", "--env-file", str(state_dir / "demo.env"), "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
        assert status["run"]["state"] == "done"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert proc.returncode in (0, 1)  # 1 only when verify found something (listed in the summary)
    assert (state_dir / "sandbox" / "vercel-state.json").exists(), "the sandbox did not shut down cleanly"


# -- attribution (pure) --------------------------------------------------------------------------


def _groups() -> list[GroupInfo]:
    return [
        GroupInfo(
            "aaaa",
            "sha256:aaaa",
            Strategy.REDIS_ACL,
            "redis cache",
            frozenset({"sha256:old1", "sha256:new1"}),
            frozenset({("prj_web", "UPSTASH_REDIS_REST_TOKEN")}),
        ),
        GroupInfo(
            "bbbb",
            "sha256:bbbb",
            Strategy.QSTASH_TOKEN,
            "qstash",
            frozenset({"sha256:old2", "sha256:new2"}),
            frozenset({("prj_api", "QSTASH_TOKEN")}),
            window=(100.0, 103.0),
        ),
    ]


def _failure(t: float, dep: str, project: str, cause: str) -> dict[str, Any]:
    return {
        "t": t,
        "t_rel": t - 90,
        "kind": "http",
        "deployment": dep,
        "project": project,
        "status": 500,
        "cause": cause,
    }


def test_attribution_separates_overlap_failures_from_the_cutover_window() -> None:
    env = deployment_fingerprints(
        [
            {"id": "dpl_web", "env": {"UPSTASH_REDIS_REST_TOKEN": "old-token-value"}},
            {
                "id": "dpl_api",
                "env": {"QSTASH_TOKEN": "old-qstash-value", "REDIS_URL": "rediss://u:pw-in-url@h:1"},
            },
        ]
    )
    fp_web = next(iter(env["dpl_web"]["UPSTASH_REDIS_REST_TOKEN"]))
    fp_api = next(iter(env["dpl_api"]["QSTASH_TOKEN"]))
    groups = _groups()
    groups[0] = dataclasses.replace(groups[0], fingerprints=frozenset({fp_web}))
    groups[1] = dataclasses.replace(groups[1], fingerprints=frozenset({fp_api}))
    failures = [
        _failure(101.0, "dpl_api", "prj_api", "QSTASH_TOKEN: publish: HTTP 401 Unauthorized"),  # inside
        _failure(103.4, "dpl_api", "prj_api", "QSTASH_TOKEN: publish: HTTP 401 Unauthorized"),  # slack
        _failure(110.0, "dpl_api", "prj_api", "QSTASH_TOKEN: publish: HTTP 401 Unauthorized"),  # outside
        _failure(101.0, "dpl_web", "prj_web", "UPSTASH_REDIS_REST_TOKEN: HTTP 401 WRONGPASS"),  # overlap!
        _failure(101.0, "dpl_gone", "prj_x", "SOMETHING_ELSE: boom"),  # nobody's
    ]
    a = attribute_failures(failures, env, groups, slack_s=0.5)
    assert (a.total, a.overlap, a.cutover_in_window, a.cutover_outside_window, a.unattributed) == (
        5,
        1,
        2,
        1,
        1,
    )
    assert a.by_credential == {"sha256:bbbb": 3, "sha256:aaaa": 1}
    assert a.observed_span["sha256:bbbb"] == (101.0, 110.0)
    assert {s["attributed_to"] for s in a.samples} == {"sha256:aaaa", "sha256:bbbb", None}
    # a password inside a URL is fingerprinted too, and nothing keeps the values themselves
    assert len(env["dpl_api"]["REDIS_URL"]) == 2
    assert "pw-in-url" not in json.dumps(a.to_dict())


def test_attribution_falls_back_to_the_key_a_rotation_wrote() -> None:
    # the deployment is gone (no env snapshot): the (project, key) the rotation wrote decides
    a = attribute_failures(
        [_failure(101.0, "dpl_unknown", "prj_web", "UPSTASH_REDIS_REST_TOKEN: HTTP 401 WRONGPASS")],
        {},
        _groups(),
    )
    assert a.overlap == 1 and a.unattributed == 0


def test_attribution_reads_signing_key_delivery_failures() -> None:
    group = GroupInfo(
        "cccc",
        "sha256:cccc",
        Strategy.QSTASH_SIGNING,
        "qstash signing keys",
        frozenset(),
        frozenset({("prj_api", "QSTASH_CURRENT_SIGNING_KEY")}),
    )
    cause = "delivery: QSTASH_CURRENT_SIGNING_KEY/QSTASH_NEXT_SIGNING_KEY: signature rejected by both keys"
    a = attribute_failures([_failure(1.0, "dpl_x", "prj_api", cause)], {}, [group])
    assert a.overlap == 1 and a.by_credential == {"sha256:cccc": 1}
