"""Issue 17 item 10 (report part): ``keyroll report`` covers the incident — every run of the
journal, each credential with the outcome of the run that handled it — not only the latest run;
``--run`` narrows it to that run and the runs of its credentials."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import SandboxFactory, write_env_file


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    sb = sandbox_factory("small", build_seconds=0.2)
    yield sb, write_env_file(tmp_path / "sandbox.env", sb.env())


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int | None = 0) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    if code is not None:
        assert rc == code, out.err
    return json.loads(out.out)


def test_report_covers_every_run_of_the_incident(
    sandbox: tuple[Sandbox, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = sandbox
    plan = _json(capsys, ["plan", "--env-file", str(env), "--all-upstash", "--json"])
    redis = next(
        cp["credential"]
        for cp in plan["credentials"]
        if cp["strategy"] == "redis_acl"
        and cp["steps"][0]["params"].get("group", {}).get("management") == "native"
    )
    worker = next(cp["credential"] for cp in plan["credentials"] if cp["strategy"] == "redis_acl_password")
    runs = []
    for fp in (redis, worker):
        doc = _json(
            capsys, ["apply", "--env-file", str(env), "-c", fp, "--yes", "--json", "--build-seconds", "0.2"]
        )
        assert doc["state"] == "done"
        runs.append(doc["run_id"])
    report = _json(capsys, ["report", "--env-file", str(env), "--format", "json", "--offline"], code=None)
    assert [r["run_id"] for r in report["runs"]] == runs
    assert report["runs"][-1]["selected"] and not report["runs"][0]["selected"]
    sections = {c["fingerprint"]: c for c in report["credentials"]}
    assert {redis, worker} <= set(sections), "the first run's credential is missing from the report"
    assert sections[redis]["state"] == "done"
    assert any(runs[0] in n for n in sections[redis]["notes"])
    assert report["summary"]["credentials_total"] >= 2
    md = tmp_path / "incident.md"
    run(["report", "--env-file", str(env), "--offline", "--format", "markdown", "--out", str(md)])
    capsys.readouterr()
    text = md.read_text()
    assert "## Runs of this incident" in text and runs[0] in text and runs[1] in text
    # --run narrows to that run and the runs of its credentials (the two runs share none)
    only = _json(
        capsys, ["report", "--env-file", str(env), "--format", "json", "--offline", "--run", runs[1]], None
    )
    assert [r["run_id"] for r in only["runs"]] == [runs[1]]
    assert redis not in {c["fingerprint"] for c in only["credentials"]}
