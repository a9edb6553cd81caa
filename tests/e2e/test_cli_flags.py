"""Issue 17 items 11 (flags) and 12 (what is shown): ``-h`` everywhere, ``--out`` everywhere
(``scan --output`` kept), ``md`` and ``markdown`` both accepted, global flags after the command,
fingerprints in tables never cut, and nothing of a value shown beyond the documented 4 characters."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyroll.cli import common
from keyroll.cli.main import COMMANDS, hoist_global_flags, run
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import (
    PUBLIC_TEMPLATES,
    register_api_tokens,
    register_template_secrets,
    write_env_file,
)

PASSPHRASE = "a cli flags journal passphrase (32+ chars)"
SUBCOMMANDS = [["sandbox", "up"], ["config", "show"]]
WRITES_OUTPUT = [
    ["inventory"],
    ["plan"],
    ["apply"],
    ["resume"],
    ["rollback"],
    ["status"],
    ["verify"],
    ["report"],
    ["audit"],
    ["scan"],
    ["harden"],
    ["doctor"],
    ["demo"],
    ["config", "show"],
]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    d = tmp_path_factory.mktemp("flags")
    with Sandbox(d / "sb", fleet="small", build_seconds=0.2) as sb:
        register_template_secrets(sb)
        register_api_tokens(sb)
        yield sb, write_env_file(d / "sandbox.env", sb.env())


@pytest.mark.parametrize("argv", [[c] for c in sorted(COMMANDS)] + SUBCOMMANDS + [[]])
def test_dash_h_works_everywhere(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*argv, "-h"]) == 0
    assert "Usage" in capsys.readouterr().out


@pytest.mark.parametrize("command", WRITES_OUTPUT)
def test_out_everywhere(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "--out" in text and "-o" in text, command


def test_global_flags_after_the_command() -> None:
    assert hoist_global_flags(["inventory", "--json", "--debug", "-q"]) == [
        "--debug",
        "-q",
        "inventory",
        "--json",
    ]
    assert hoist_global_flags(["--quiet", "scan", "x"]) == ["--quiet", "scan", "x"]
    assert hoist_global_flags(["scan", "--", "--debug"]) == ["scan", "--", "--debug"]


def test_scan_out_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.py").write_text("print('hello')\n")
    for flag in ("--out", "--output", "-o"):
        target = tmp_path / f"report{flag.strip('-')}.json"
        assert run(["scan", str(src), "--format", "json", flag, str(target), "--quiet"]) == 0
        assert json.loads(target.read_text())
    capsys.readouterr()


def test_flags_against_the_sandbox(
    small: tuple[Sandbox, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, env = small
    monkeypatch.setenv("KEYROLL_JOURNAL", str(tmp_path / "journal.db"))
    monkeypatch.setenv("KEYROLL_JOURNAL_KEY", PASSPHRASE)
    # md and markdown, and a global flag after the command
    outputs = []
    for fmt in ("md", "markdown"):
        target = tmp_path / f"inv-{fmt}.md"
        assert run(["inventory", "--env-file", str(env), "--format", fmt, "--out", str(target), "-q"]) == 1
        outputs.append(re.sub(r"generated .*\n", "", target.read_text()))
    assert outputs[0].startswith("#") and outputs[0].count("sha256:") == outputs[1].count("sha256:")
    # doctor writes its report to --out (mode 0600), stdout stays empty
    target = tmp_path / "doctor.json"
    rc = run(["doctor", "--env-file", str(env), "--json", "--out", str(target), "--debug"])
    assert rc == 0
    assert capsys.readouterr().out == ""
    assert json.loads(target.read_text())["ok"] is True
    assert target.stat().st_mode & 0o777 == 0o600
    # apply (its --out comes from the registration) and config show
    target = tmp_path / "dry-run.json"
    argv = ["apply", "--env-file", str(env), "--all-upstash", "--dry-run", "--accept-downtime", "--json"]
    rc = run([*argv, "-o", str(target)])
    captured = capsys.readouterr()
    assert rc in (0, 1), captured.err
    assert captured.out == ""
    assert json.loads(target.read_text())["dry_run"] is True
    target = tmp_path / "config.json"
    assert run(["config", "show", "--env-file", str(env), "--json", "--out", str(target)]) == 0
    assert "VERCEL_TOKEN" in json.loads(target.read_text())["config"]
    capsys.readouterr()
    # report and harden: md and markdown are both choices (no journal yet: refused for that reason only)
    for fmt in ("md", "markdown"):
        assert (
            run(["report", "--env-file", str(env), "--offline", "-f", fmt, "-o", str(tmp_path / "r.md")]) == 2
        )
        err = capsys.readouterr().err
        assert "no journal" in err and "Invalid value" not in err, err
    for command in ("harden", "inventory", "report"):
        assert run([command, "-h"]) == 0
        choices = capsys.readouterr().out
        assert "md" in choices and "markdown" in choices, command


def test_fingerprints_in_narrow_tables_are_whole(
    small: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, env = small
    monkeypatch.setattr(common.out_console, "_width", 60)
    for argv in (["inventory", "--env-file", str(env)], ["plan", "--env-file", str(env), "--all-upstash"]):
        run([*argv, "-q"])
        out = capsys.readouterr().out
        fps = re.findall(r"sha256\S*", out)
        assert fps, argv
        assert all(re.fullmatch(r"sha256:[0-9a-f]{8}", fp) for fp in fps), (argv, fps)
    inv = json.loads(_stdout(capsys, ["inventory", "--env-file", str(env), "--json"]))
    listed = {c["fingerprint"] for c in inv["credentials"]}
    run(["inventory", "--env-file", str(env), "-q"])
    assert listed <= set(re.findall(r"sha256:[0-9a-f]{8}", capsys.readouterr().out))


def test_nothing_beyond_the_documented_characters_is_shown(
    small: tuple[Sandbox, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """README "Security": inventory shows a value's last 4 characters, scan its first and last 4."""
    sb, env = small
    secrets = [
        v
        for k, v in sb.world.templates.items()
        if k.rsplit(":", 1)[-1] not in PUBLIC_TEMPLATES
        and k.rsplit(":", 1)[-1].endswith(("token", "password"))
    ]
    secrets = [v for v in secrets if len(v) >= 20 and "://" not in v]
    assert secrets
    table = _stdout(capsys, ["inventory", "--env-file", str(env)])
    md = _stdout(capsys, ["inventory", "--env-file", str(env), "--format", "md"])
    inv = json.loads(_stdout(capsys, ["inventory", "--env-file", str(env), "--json"]))
    assert all(len(c.get("last4") or "") <= 4 for c in inv["credentials"])
    shown = 0
    for v in secrets:
        for text in (table, md):
            assert v[-5:] not in text and v[:5] not in text  # at most the last 4
        shown += f"…{v[-4:]}" in table
    assert shown  # the last 4 are what the README says is shown
    files = tmp_path / "leak"
    files.mkdir()
    (files / ".env").write_text("".join(f"UPSTASH_REDIS_REST_TOKEN={v}\n" for v in secrets))
    scan = _stdout(capsys, ["scan", str(files)], code=1)
    previews = 0
    for v in secrets:
        assert v[:5] not in scan and v[-5:] not in scan  # at most the first and last 4
        previews += f"{v[:4]}…{v[-4:]}" in scan
    assert previews


def _stdout(capsys: pytest.CaptureFixture[str], argv: list[str], code: int | None = None) -> str:
    rc = run(argv)
    out = capsys.readouterr().out
    if code is not None:
        assert rc == code
    return out
