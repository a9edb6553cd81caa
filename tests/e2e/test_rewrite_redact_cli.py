"""Issue 17 item 6: ``apply --rewrite-files`` gives the new value to configuration files only;
shell history, Markdown, notebooks and logs are redacted (the old value replaced by a
placeholder, never the new one), and the incident report lists what was redacted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.rotate.files import REDACTED, redact_only
from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import SandboxFactory, write_env_file


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    sb = sandbox_factory("small", build_seconds=0.2)
    yield sb, write_env_file(tmp_path / "sandbox.env", sb.env())


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == code, out.err
    return json.loads(out.out)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        (".env", ""),
        (".env.production", ""),
        ("config.yaml", ""),
        ("docker-compose.yml", ""),
        (".bash_history", "shell history"),
        (".zsh_history", "shell history"),
        ("fish_history", "shell history"),
        (".python_history", "shell history"),
        (".zhistory", "shell history"),
        (".psql_history", "shell history"),
        ("README.md", "documentation"),
        ("notes.txt", "documentation"),
        ("analysis.ipynb", "notebook"),
        ("app.log", "log"),
        ("app.log.1", "log"),
    ],
)
def test_which_files_are_redacted(name: str, kind: str) -> None:
    assert redact_only(Path("/w") / name) == kind


def test_history_docs_notebooks_logs_are_redacted_not_given_the_new_value(
    sandbox: tuple[Sandbox, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb, env = sandbox
    old = sb.world.templates["redis:cache:rest_token"]
    work = tmp_path / "work"
    work.mkdir()
    files = {
        ".env": f"UPSTASH_REDIS_REST_TOKEN={old}\n",
        ".bash_history": f"ls\nexport UPSTASH_REDIS_REST_TOKEN={old}\ncurl -H 'Authorization: Bearer {old}' x\n",
        "SETUP.md": f"Set `UPSTASH_REDIS_REST_TOKEN={old}` in Vercel.\n",
        "explore.ipynb": json.dumps({"cells": [{"source": [f"token = '{old}'"]}]}),
        "server.log": f"2026-04-20 connecting with UPSTASH_REDIS_REST_TOKEN={old}\n",
    }
    for name, text in files.items():
        (work / name).write_text(text)
    inv = _json(capsys, ["inventory", "--env-file", str(env), "--path", str(work), "--json"], 1)
    native = next(
        c["fingerprint"]
        for c in inv["credentials"]
        if c["product"] == "redis" and c["kind"] == "rest_token" and c["management"] == "native"
    )
    held = {
        Path(loc["path"]).name
        for loc in inv["locations"]
        if loc["kind"] == "file" and loc["fingerprint"] == native
    }
    assert held == set(files)
    argv = ["apply", "--env-file", str(env), "-c", native, "--path", str(work), "--rewrite-files", "--yes"]
    rc = run([*argv, "-q", "--build-seconds", "0.2"])
    capsys.readouterr()
    assert rc == 0
    config = (work / ".env").read_text().strip().split("=", 1)[1]
    assert config not in (old, REDACTED)  # configuration got the new value
    for name in (".bash_history", "SETUP.md", "explore.ipynb", "server.log"):
        text = (work / name).read_text()
        assert old not in text, name
        assert config not in text, f"{name} received the new secret"
        assert REDACTED in text, name
    assert "ls\n" in (work / ".bash_history").read_text()  # the rest of the file is kept
    report = _json(capsys, ["report", "--env-file", str(env), "--format", "json", "--offline"], 1)
    facts = json.dumps(report)
    for name in (".bash_history", "SETUP.md", "explore.ipynb", "server.log"):
        assert f"{work / name} redacted" in facts, name
    assert f"{work / '.env'} rewritten with the new value" in facts
