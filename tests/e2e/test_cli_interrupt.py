"""Ctrl-C in any command: one line on stderr saying what was left behind, exit 130, no traceback —
in-process (``run``) and through the real ``keyroll`` console script."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import pytest
import typer

from keyroll.cli import main
from keyroll.cli.main import run

NOTHING_CHANGED = "interrupted — nothing was changed"
JOURNALED = "interrupted — state is journaled; see `keyroll status`, then `keyroll resume`"


def _interrupt(*args: Any, **kwargs: Any) -> NoReturn:
    raise KeyboardInterrupt


class _InterruptedProviders:
    """Stands in for ``open_providers(cfg)``: Ctrl-C arrives while the providers open, i.e.
    inside the command's ``asyncio.run``."""

    def __init__(self, *args: Any) -> None:
        pass

    async def __aenter__(self) -> NoReturn:
        raise KeyboardInterrupt

    async def __aexit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def vercel_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VERCEL_TOKEN", "vercel-token-for-interrupt-tests")
    # apply refuses to start without a journal key (exit 2, before it reads the team)
    monkeypatch.setenv("KEYROLL_JOURNAL_KEY", "journal-passphrase-for-interrupt-tests-0123456789")


def _one_interrupt_line(err: str) -> str:
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


async def _interrupt_async(*args: Any, **kwargs: Any) -> NoReturn:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("patched", "replacement", "args", "expected"),
    [
        # read-only, Ctrl-C in plain code
        ("keyroll.cli.scan_run._run", _interrupt, ["scan", "."], NOTHING_CHANGED),
        # read-only, Ctrl-C inside asyncio.run
        (
            "keyroll.app.session.open_providers",
            _InterruptedProviders,
            ["inventory", "--json"],
            NOTHING_CHANGED,
        ),
        (
            "keyroll.app.session.open_providers",
            _InterruptedProviders,
            ["plan", "--all-upstash"],
            NOTHING_CHANGED,
        ),
        # state-changing: one line (apply_cmd prints none of its own), pointing at status/resume
        (
            "keyroll.app.session.open_providers",
            _InterruptedProviders,
            ["apply", "--all-upstash", "--yes"],
            JOURNALED,
        ),
        (
            "keyroll.cli.harden_cmd.run_harden",
            _interrupt_async,
            ["-q", "harden", "--fix", "--yes"],
            "interrupted — some fixes may be applied already; run `keyroll harden` again to see what is open",
        ),
        (
            "keyroll.cli.harden_cmd.run_harden",
            _interrupt_async,
            ["-q", "harden", "--fix", "--dry-run"],
            NOTHING_CHANGED,
        ),
        ("keyroll.cli.harden_cmd.run_harden", _interrupt_async, ["-q", "harden"], NOTHING_CHANGED),
    ],
)
def test_ctrl_c_prints_one_line_for_the_command_and_exits_130(
    patched: str,
    replacement: Any,
    args: list[str],
    expected: str,
    vercel_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(patched, replacement)
    assert run(args) == 130
    captured = capsys.readouterr()
    assert _one_interrupt_line(captured.err) == expected
    assert captured.out == ""


@pytest.mark.parametrize("raised", [typer.Abort, EOFError])
def test_ctrl_c_or_end_of_input_at_a_prompt_is_an_interrupt(
    raised: type[BaseException],
    vercel_env: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # click's prompts turn Ctrl-C and end of input into Abort; a bare input() raises EOFError
    def abort(*a: Any, **kw: Any) -> NoReturn:
        raise raised()

    monkeypatch.setattr("keyroll.cli.scan_run._run", abort)
    assert run(["scan", "."]) == 130
    assert _one_interrupt_line(capsys.readouterr().err) == NOTHING_CHANGED


def test_exit_codes_a_command_chooses_are_not_interrupts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def exit_130(*a: Any, **kw: Any) -> NoReturn:
        raise typer.Exit(130)

    monkeypatch.setattr("keyroll.cli.scan_run._run", exit_130)
    assert run(["scan", str(tmp_path)]) == 130
    assert "interrupted" not in capsys.readouterr().err


def test_interrupt_message_names_what_each_command_leaves() -> None:
    assert main.interrupt_message(["--debug", "resume", "--yes"]) == JOURNALED
    assert main.interrupt_message(["rollback"]) == JOURNALED
    assert main.interrupt_message(["apply", "--all-upstash", "--dry-run"]) == NOTHING_CHANGED
    assert "demo's sandbox is stopped" in main.interrupt_message(["demo", "--fleet", "small"])
    for read_only in (["verify"], ["status"], ["report"], ["config", "show"], ["doctor"], ["--help"], []):
        assert main.interrupt_message(read_only) == NOTHING_CHANGED, read_only


def _keyroll_script() -> str:
    script = Path(sys.executable).parent / "keyroll"
    found = str(script) if script.exists() else shutil.which("keyroll")
    if found is None:
        pytest.skip("the keyroll console script is not installed")
    return found


def _wait_blocked_on_stdin(proc: subprocess.Popen[str], timeout: float) -> None:
    """Wait until ``proc`` sleeps in a pipe read (Linux /proc), i.e. ``scan --stdin`` is running."""
    wchan = Path(f"/proc/{proc.pid}/wchan")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if "pipe_read" in wchan.read_text():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"keyroll scan --stdin did not block on its input (exit {proc.poll()})")


@pytest.mark.skipif(not Path("/proc/self/wchan").exists(), reason="needs Linux /proc")
def test_sigint_to_the_console_script_prints_one_line_and_exits_130(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [_keyroll_script(), "scan", "--stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,  # a process group of its own: SIGINT it as a terminal's Ctrl-C would
        env={k: v for k, v in os.environ.items() if not k.startswith(("VERCEL_", "KEYROLL_", "UPSTASH_"))},
    )
    try:
        _wait_blocked_on_stdin(proc, timeout=15)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert _one_interrupt_line(err) == NOTHING_CHANGED
    assert out == ""
