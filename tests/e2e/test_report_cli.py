"""``keyroll verify``, ``keyroll report`` and ``keyroll audit`` in-process: exit codes, outputs, no values.

The module's sandbox runs a small fleet; the engine rotates its Redis database (ACL overlap)
and its Vector index (cutover) into a journal, then the commands are run as a user would, with
``--env-file``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keyroll.cli.main import run
from keyroll.config import load_config
from keyroll.core.model import CredentialKind, Product, RunState
from keyroll.core.secret import Secret
from keyroll.inventory import options_from_config, take_inventory
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.providers.factory import open_providers
from keyroll.rotate.engine import Engine
from keyroll.rotate.options import ApplyOptions
from keyroll.rotate.planner import make_plan
from tests import canary as canary_mod
from tests.sandbox_helpers import register_api_tokens, register_template_secrets, write_env_file

pytest.importorskip("keyroll.sandbox.upstash")
from keyroll.sandbox.server import Sandbox

PASSPHRASE = "report-cli-journal-passphrase-0123456789abcdef"

FLEET = {
    "name": "report-e2e",
    "team": {"id": "team_sandbox", "slug": "acme"},
    "upstash": {
        "redis": [{"name": "cache"}],
        "vector": [{"name": "emb", "dimension": 4}],
        "search": [],
        "qstash": {},
    },
    "projects": [
        {
            "name": "shop",
            "repo": "acme/shop",
            "env": [
                {
                    "key": "UPSTASH_REDIS_REST_URL",
                    "value": "${redis:cache:rest_url}",
                    "target": ["production", "preview"],
                },
                {
                    "key": "UPSTASH_REDIS_REST_TOKEN",
                    "value": "${redis:cache:rest_token}",
                    "target": ["production", "preview"],
                },
                {"key": "UPSTASH_VECTOR_REST_URL", "value": "${vector:emb:url}", "target": ["production"]},
                {
                    "key": "UPSTASH_VECTOR_REST_TOKEN",
                    "value": "${vector:emb:token}",
                    "target": ["production"],
                },
            ],
            "deployments": [{"target": "production"}, {"target": "preview", "git_branch": "feat"}],
        },
        {
            "name": "blog",
            "env": [
                {
                    "key": "UPSTASH_REDIS_REST_URL",
                    "value": "${redis:cache:rest_url}",
                    "target": ["production"],
                },
                {
                    "key": "UPSTASH_REDIS_REST_TOKEN",
                    "value": "${redis:cache:rest_token}",
                    "target": ["production"],
                    "type": "sensitive",
                },
            ],
            "deployments": [{"target": "production"}],
        },
    ],
    "shared_env": [],
    "github": {
        "repos": [
            {
                "name": "acme/shop",
                "secrets": [{"name": "UPSTASH_REDIS_REST_TOKEN", "value": "${redis:cache:rest_token}"}],
            }
        ],
        "orgs": [],
    },
}


@dataclass
class Setup:
    sb: Sandbox
    env_file: Path
    dir: Path
    old_token: str
    redis_fp: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    d = tmp_path_factory.mktemp("report-cli")
    with Sandbox(d / "sb", fleet=FLEET, build_seconds=0.2) as sb:
        register_template_secrets(sb)
        register_api_tokens(sb)
        values = {
            **sb.env(),
            "GITHUB_REPOS": "acme/shop",
            "KEYROLL_JOURNAL": str(d / "journal.db"),
            "KEYROLL_JOURNAL_KEY": PASSPHRASE,
        }
        cfg = load_config(None, environ=values)

        async def rotate() -> tuple[str, RunState]:
            async with open_providers(cfg) as p:
                inv = await take_inventory(p, options_from_config(cfg))
                wanted = [
                    c.fingerprint
                    for c in inv.credentials
                    if c.resource_id
                    and (c.product, c.kind)
                    in (
                        (Product.REDIS, CredentialKind.REST_TOKEN),
                        (Product.VECTOR, CredentialKind.INDEX_TOKEN),
                    )
                ]
                plan = make_plan(inv, credentials=wanted, build_seconds_estimate=0.2)
                journal = Journal.open(
                    d / "journal.db", JournalKey.from_passphrase(Secret(PASSPHRASE)), create=True
                )
                try:
                    options = ApplyOptions(yes=True, accept_downtime=True, poll_interval_s=0.05)
                    result = await Engine(p, journal, options).apply(plan, inventory=inv)
                finally:
                    journal.close()
                redis_fp = next(fp for fp in wanted if inv.credential(fp).product is Product.REDIS)  # type: ignore[union-attr]
                return redis_fp, result.state

        redis_fp, state = asyncio.run(rotate())
        assert state is RunState.DONE
        yield Setup(
            sb,
            write_env_file(d / "keyroll.env", values),
            d,
            sb.world.templates["redis:cache:rest_token"],
            redis_fp,
        )


def test_verify_passes_and_speaks_json(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["verify", "--env-file", str(setup.env_file)]) == 0
    out = capsys.readouterr().out
    assert "passed" in out and "0 failed" in out
    assert (
        run(["verify", "--env-file", str(setup.env_file), "--json", "--credential", setup.redis_fp[7:13]])
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "keyroll.verify" and data["passed"] is True
    assert data["credentials"] == [setup.redis_fp]
    github = [c for c in data["checks"] if ":github_secret:" in c["id"]]
    assert github and github[0]["status"] == "pass" and "updated after the rotation" in github[0]["title"]
    assert any(s.startswith("github:acme/shop") for s in data["searched"])


def test_verify_finds_a_stale_local_copy(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / ".env.local").write_text(f"UPSTASH_REDIS_REST_TOKEN={setup.old_token}\n")
    assert run(["verify", "--env-file", str(setup.env_file), "--path", str(app), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    stale = [c for c in data["checks"] if c["status"] == "fail"]
    assert len(stale) == 1 and stale[0]["category"] == "stale" and ".env.local" in stale[0]["title"]
    assert data["passed"] is False
    (app / ".env.local").write_text("UPSTASH_REDIS_REST_TOKEN=\n")
    assert run(["verify", "--env-file", str(setup.env_file), "--path", str(app)]) == 0


def test_verify_bad_input(setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["verify", "--env-file", str(setup.env_file), "--credential", "sha256:ffffffff"]) == 2
    assert "not part of this run" in capsys.readouterr().err
    assert run(["verify", "--env-file", str(setup.env_file), "--path", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(["verify", "--env-file", str(setup.env_file), "--run", "run-none"]) == 2
    assert "no run" in capsys.readouterr().err


def test_report_html_written_after_success(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str], canary: canary_mod.Canary
) -> None:
    out = tmp_path / "incident.html"
    code = run(["report", "--env-file", str(setup.env_file), "--format", "html", "--out", str(out)])
    err = capsys.readouterr().err
    assert f"wrote {out}" in err
    text = out.read_text()
    assert "<svg" in text and 'data-item="old_rejected" data-status="done"' in text
    assert setup.redis_fp in text
    # the GitHub repo holding a copy was re-read: every item but the hardening follow-ups is done
    assert 'data-item="remove_stale" data-status="done"' in text and ">COMPLETE<" in text
    assert code == 0
    canary.watch(out)


def test_report_json_and_markdown_on_stdout(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["report", "--env-file", str(setup.env_file), "--format", "json", "--offline"])
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1 and data["kind"] == "keyroll.incident-report"
    assert data["verify"] is None and data["audit"] is None
    assert any("not verified" in u for u in data["unknowns"])
    assert code == 1  # offline: journal evidence only
    assert run(["report", "--env-file", str(setup.env_file), "--offline"]) == 1
    md = capsys.readouterr().out
    assert md.startswith("# Incident record") and "## Checklist" in md


def test_report_bad_input_writes_nothing(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.md"
    assert run(["report", "--env-file", str(setup.env_file), "--run", "run-none", "--out", str(out)]) == 2
    assert "no run" in capsys.readouterr().err and not out.exists()
    assert run(["report", "--env-file", str(setup.env_file), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert run(["report", "--env-file", str(setup.env_file), "--format", "pdf"]) == 2
    assert run(["report", "--env-file", str(setup.env_file), "--since", "tomorrow", "--out", str(out)]) == 2
    assert not out.exists()


def test_audit_cli(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["audit", "--env-file", str(setup.env_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "keyroll.audit" and data["flagged"] == 0
    assert data["counts"]["env_change"] >= 1 and set(data["sources"]) == {"vercel", "upstash"}
    assert run(["audit", "--env-file", str(setup.env_file), "--since", "1h"]) == 0
    assert "flagged" in capsys.readouterr().out
    assert run(["audit", "--env-file", str(setup.env_file), "--since", "soon"]) == 2


def test_missing_and_corrupted_journal(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = dict(line.split("=", 1) for line in setup.env_file.read_text().splitlines())
    missing = write_env_file(
        tmp_path / "missing.env", {**values, "KEYROLL_JOURNAL": str(tmp_path / "none.db")}
    )
    out = tmp_path / "r.md"
    assert run(["verify", "--env-file", str(missing)]) == 2
    assert run(["report", "--env-file", str(missing), "--out", str(out)]) == 2
    assert "no journal at" in capsys.readouterr().err and not out.exists()
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a journal at all" * 100)
    broken = write_env_file(tmp_path / "broken.env", {**values, "KEYROLL_JOURNAL": str(bad)})
    assert run(["verify", "--env-file", str(broken)]) == 2
    assert "cannot be read" in capsys.readouterr().err
    assert run(["report", "--env-file", str(broken), "--offline", "--out", str(out)]) == 1
    text = out.read_text()
    assert "the journal cannot be read" in text and "**Status: UNKNOWN**" in text


def test_tampered_journal_is_reported_not_trusted(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str], canary: canary_mod.Canary
) -> None:
    import shutil
    import sqlite3

    copy = tmp_path / "journal.db"
    shutil.copy(setup.dir / "journal.db", copy)
    for suffix in ("-wal", "-shm"):
        src = setup.dir / f"journal.db{suffix}"
        if src.exists():
            shutil.copy(src, tmp_path / f"journal.db{suffix}")
    conn = sqlite3.connect(copy)
    conn.execute("UPDATE entries SET detail = '{\"old_rejected\": true}' WHERE seq = 5")
    conn.commit()
    conn.close()
    values = dict(line.split("=", 1) for line in setup.env_file.read_text().splitlines())
    env = write_env_file(tmp_path / "tampered.env", {**values, "KEYROLL_JOURNAL": str(copy)})
    out = tmp_path / "r.json"
    assert run(["report", "--env-file", str(env), "--offline", "--format", "json", "--out", str(out)]) == 1
    data = json.loads(out.read_text())
    assert any("entry 5" in p and "edited" in p for p in data["integrity"])
    assert data["summary"]["status"] == "incomplete"
    assert any(r["severity"] == "high" and "integrity" in r["title"] for r in data["risks"])
    canary.watch(out)
