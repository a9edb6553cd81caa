"""keyroll.toml ``[strategy]`` / ``[policy]`` through the CLI, in-process against the sandbox:
the plan's strategy comes from the file unless a flag says otherwise, a bad value is one line
and exit 2, ``accept_downtime`` lets a cutover apply and is journaled with its source,
``require_sensitive`` stops apply before any change, ``config show`` says where each came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import SandboxFactory

BUILD = 0.2


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    monkeypatch.chdir(tmp_path)  # keyroll.toml is read from the working directory
    return sandbox_factory("small", build_seconds=BUILD, canaries=())


def _toml(text: str) -> None:
    Path("keyroll.toml").write_text(text, encoding="utf-8")


def _call(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> tuple[Any, str]:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == code, out.err
    return (json.loads(out.out) if out.out.strip() else None), out.err


def _plan(capsys: pytest.CaptureFixture[str], sb: Sandbox, *extra: str) -> tuple[dict[str, Any], str]:
    env = str(sb.state_dir / "sandbox.env")
    argv = ["plan", "--env-file", env, "--all-upstash", "--json", "--build-seconds", str(BUILD), *extra]
    return _call(capsys, argv)  # type: ignore[return-value]


def _by_product(doc: dict[str, Any], product: str) -> dict[str, Any]:
    return next(cp for cp in doc["credentials"] if cp["steps"][0]["params"]["group"]["product"] == product)


def test_strategy_from_toml_flag_wins_bad_value_and_require_sensitive(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = str(sandbox.state_dir / "sandbox.env")
    doc, _ = _plan(capsys, sandbox)
    vector = _by_product(doc, "vector")
    assert vector["strategy"] == "index_reset" and doc["strategy_sources"][vector["credential"]] == "default"

    _toml('[strategy]\nvector = "manual"\n')
    doc, _ = _plan(capsys, sandbox)
    assert _by_product(doc, "vector")["strategy"] == "manual"
    assert doc["strategy_sources"][vector["credential"]] == "keyroll.toml [strategy] vector"
    assert _by_product(doc, "search")["strategy"] == "index_reset"  # another class: untouched

    doc, _ = _plan(capsys, sandbox, "--strategy", f"{vector['credential']}=index_reset")
    assert _by_product(doc, "vector")["strategy"] == "index_reset"
    assert doc["strategy_sources"][vector["credential"]] == "--strategy"

    # a value invalid for its class: one line, exit 2, before anything is read or written
    _toml('[strategy]\nsearch = "redis_acl"\n')
    for argv in (
        ["plan", "--env-file", env, "--all-upstash"],
        ["apply", "--env-file", env, "--all-upstash", "--yes"],
    ):
        rc = run(argv)
        out = capsys.readouterr()
        assert rc == 2 and out.out == ""
        assert out.err.count("\n") == 1 and "keyroll.toml: [strategy] search = 'redis_acl'" in out.err, (
            out.err
        )

    # require_sensitive: apply refuses a plan writing into readable vars; nothing changes
    _toml("[policy]\nrequire_sensitive = true\n")
    redis = _by_product(_plan(capsys, sandbox)[0], "redis")
    rc = run(["apply", "--env-file", env, "--credential", redis["credential"], "--yes"])
    err = capsys.readouterr().err
    assert rc == 2 and "keyroll.toml [policy] require_sensitive" in err and "(encrypted)" in err, err
    assert not (tmp_path / "journal.db").exists()
    again, note = _plan(capsys, sandbox)
    assert _by_product(again, "redis")["credential"] == redis["credential"]  # not rotated
    assert "apply will refuse" in note and again["settings"]["require_sensitive"]["value"] is True

    shown, _ = _call(capsys, ["config", "show", "--json"])
    assert shown["config"]["policy.require_sensitive"] == {"value": "true", "source": "keyroll.toml [policy]"}
    assert shown["config"]["strategy.vector"] == {"value": "index_reset", "source": "default"}


def test_accept_downtime_from_toml_applies_a_cutover_and_is_journaled(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = str(sandbox.state_dir / "sandbox.env")
    _toml("[policy]\naccept_downtime = true\nmax_parallel_builds = 3\nbuild_timeout_s = 120\n")
    doc, note = _plan(capsys, sandbox)
    assert doc["settings"]["accept_downtime"] == {"value": True, "source": "keyroll.toml [policy]"}
    assert "downtime accepted for" in note and "by keyroll.toml [policy]" in note
    vector = _by_product(doc, "vector")["credential"]

    # the flag beats the file: no consent, nothing changed
    rc = run(["apply", "--env-file", env, "--credential", vector, "--yes", "--no-accept-downtime"])
    err = capsys.readouterr().err
    assert rc == 2 and "cutover" in err and not (tmp_path / "journal.db").exists()

    rc = run(["apply", "--env-file", env, "--credential", vector, "--yes"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "downtime accepted by keyroll.toml [policy]" in out.err

    status, _ = _call(capsys, ["status", "--env-file", env, "--json"])
    options = status["run"]["options"]
    assert status["run"]["state"] == "done"
    assert (options["accept_downtime"], options["max_parallel_builds"], options["build_timeout_s"]) == (
        True,
        3,
        120.0,
    )
    assert options["sources"]["accept_downtime"] == "keyroll.toml [policy]"
    rc = run(["status", "--env-file", env])
    assert rc == 0 and "accept_downtime (keyroll.toml [policy])" in capsys.readouterr().out
    # the cutover reset's own journal entry names where the consent came from
    from keyroll.config import load_config
    from keyroll.journal.keys import JournalKey
    from keyroll.journal.store import Journal

    cfg = load_config(sandbox.state_dir / "sandbox.env")
    assert cfg.journal_key is not None
    with Journal.open(cfg.journal_path, JournalKey.from_passphrase(cfg.journal_key)) as j:
        latest = j.latest_run()
        assert latest is not None
        resets = [e for e in j.entries(latest.id) if e.phase == "intent" and e.detail.get("accept_downtime")]
    assert resets and {e.detail["accept_downtime_source"] for e in resets} == {"keyroll.toml [policy]"}
