"""``keyroll harden`` in-process: formats, exit codes 0/1/2, consent, dry run, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run

pytest.importorskip("keyroll.sandbox.upstash")

from keyroll.sandbox.server import Sandbox
from tests.integration.test_harden_sandbox import (
    SHOP_MAIN,
    clean_fleet,
    planted_fleet,
    quiet_httpx,  # noqa: F401  (autouse fixture)
    secrets_of,
    write_sources,
)
from tests.sandbox_helpers import SandboxFactory


@pytest.fixture
def planted(tmp_path: Path, sandbox_factory: SandboxFactory, canary: Any) -> list[str]:
    sb = sandbox_factory(planted_fleet(), canaries=())
    canary.register(*secrets_of(sb))
    roots = write_sources(tmp_path / "src", sb.world.templates)
    args = ["--env-file", str(tmp_path / "sb" / "sandbox.env")]
    for name, root in roots.items():
        args += ["--source", f"{name}={root}"]
    return args


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    out = capsys.readouterr().out
    return json.loads(out)


def test_findings_exit_1_with_json(planted: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["harden", *planted, "--format", "json"])
    doc = _json(capsys)
    assert code == 1
    assert doc["version"] == 1
    rules = {f["rule"] for f in doc["findings"]}
    assert {"client-exposure", "read-only-suffices", "shared-credential", "not-sensitive"} <= rules
    assert doc["summary"]["open"] == len(doc["findings"])
    assert {"get", "evalsha"} <= set(
        doc["sources"]["web"]["redis_commands"]
    )  # its own reads + the rate limiter's


def test_markdown_and_table(planted: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["harden", *planted, "--format", "md", "--rule", "shared-credential"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("# keyroll harden")
    assert "ACL SETUSER svc-api on ><token from ACL GENTOKEN> ~jobs:* -@all +get +incr +set" in md
    assert run(["harden", *planted, "--rule", "no-rate-limit"]) == 1
    table = capsys.readouterr().out
    assert "no-rate-limit" in table and "POST /jobs/{job_id}" in table


def test_fix_needs_consent_and_dry_run_changes_nothing(
    planted: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["harden", *planted, "--fix", "--rule", "not-sensitive"]) == 2  # no tty, no --yes
    err = capsys.readouterr().err
    assert "--yes" in err and "Traceback" not in err
    assert run(["harden", *planted, "--fix", "--dry-run", "--rule", "not-sensitive", "--format", "json"]) == 1
    doc = _json(capsys)
    assert doc["fixes"] and all(f["dry_run"] for f in doc["fixes"])
    assert all(not f["fixed"] for f in doc["findings"])
    assert run(["harden", *planted, "--rule", "not-sensitive", "--format", "json"]) == 1
    assert len(_json(capsys)["findings"]) == 1  # still there: nothing was changed


def test_fix_with_yes_converts_to_sensitive(planted: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["harden", *planted, "--fix", "--yes", "--rule", "not-sensitive", "--format", "json"]) == 0
    doc = _json(capsys)
    assert [f["fixed"] for f in doc["findings"]] == [True]
    assert doc["fixes"][0]["applied"]
    assert run(["harden", *planted, "--rule", "not-sensitive"]) == 0
    assert "0 open finding(s)" in capsys.readouterr().out


def test_clean_fleet_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Sandbox(tmp_path / "sb", fleet=clean_fleet(), build_seconds=0.2):
        shop = tmp_path / "shop"
        (shop / "app").mkdir(parents=True)
        (shop / "app" / "main.py").write_text(SHOP_MAIN)
        code = run(["harden", "--env-file", str(tmp_path / "sb" / "sandbox.env"), "--source", str(shop)])
    assert code == 0
    assert "0 open finding(s)" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--source", "/nonexistent/keyroll-src"], "does not exist"),
        (["--project", "no-such-project"], "unknown project"),
        (["--rule", "no-such-rule"], "unknown rule"),
        (["--source", "nope=/tmp"], "no project nope"),
    ],
)
def test_bad_input_exit_2(
    planted: list[str], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    env_file = planted[:2]
    assert run(["harden", *env_file, *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_bad_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["harden", "--format", "xml"]) == 2
