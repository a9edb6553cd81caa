"""``--value-file FP=PATH`` (the new value of a ``manual`` credential): the value is the file's text
without surrounding white space; a missing or empty file is one line, exit 2, before anything is
written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.vercel.state import VercelState
from tests.sandbox_helpers import SandboxFactory

BUILD = 0.2
NEW_VALUE = "brand-new-manual-value-0123456789"


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory("small", build_seconds=BUILD, canaries=())


def _manual_plan(sb: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, Path]:
    """A plan that rotates the sandbox's Redis ACL password with the ``manual`` strategy."""
    env = str(sb.state_dir / "sandbox.env")
    everything = tmp_path / "all.json"
    assert run(["plan", "--env-file", env, "--all-upstash", "--json", "--out", str(everything)]) == 0
    doc = json.loads(everything.read_text())
    fp = next(cp["credential"] for cp in doc["credentials"] if cp["strategy"] == "redis_acl_password")
    plan = tmp_path / "plan.json"
    argv = ["plan", "--env-file", env, "--credential", fp, "--strategy", f"{fp}=manual", "--out", str(plan)]
    assert run(argv) == 0
    capsys.readouterr()
    return fp, plan


def _values(sb: Sandbox) -> list[str]:
    state: VercelState = sb.world.hooks["vercel.state"]()
    return [str(e.value) for p in state.projects.values() for e in p.env.values()]


def test_value_file_is_stripped_of_the_trailing_newline_and_spaces(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fp, plan = _manual_plan(sandbox, tmp_path, capsys)
    value = tmp_path / "new.txt"
    value.write_text(f"{NEW_VALUE}  \n\n")
    env = str(sandbox.state_dir / "sandbox.env")
    # a made-up value cannot pass a probe: --force-revoke lets the run reach the (manual) revoke step
    argv = ["apply", str(plan), "--env-file", env, "--value-file", f"{fp}={value}", "--yes", "--force-revoke"]
    rc = run(argv)
    out = capsys.readouterr()
    # the run goes as far as the manual revoke, which is a person's step
    assert rc not in (0, 2) and "waiting for a person" in out.out + out.err, out.err
    values = _values(sandbox)
    assert NEW_VALUE in values, "the new value was written"
    assert not [v for v in values if NEW_VALUE in v and v != NEW_VALUE], "written without white space"
    assert NEW_VALUE not in out.out + out.err


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "cannot read"), ("", "is empty"), ("  \n\n", "is empty")],
    ids=["missing", "empty", "blank"],
)
def test_missing_or_empty_value_file_is_exit_2_before_any_write(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    needle: str,
) -> None:
    fp, plan = _manual_plan(sandbox, tmp_path, capsys)
    value = tmp_path / "new.txt"
    if content is not None:
        value.write_text(content)
    before = sorted(_values(sandbox))
    env = str(sandbox.state_dir / "sandbox.env")
    rc = run(["apply", str(plan), "--env-file", env, "--value-file", f"{fp}={value}", "--yes"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert needle in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert sorted(_values(sandbox)) == before, "nothing was written"
    assert not (tmp_path / "journal.db").exists(), "no run was started"
