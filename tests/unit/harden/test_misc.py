"""Renderers, source mapping, env-file and asset search, journal read-back, move helpers."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from keyroll.config import load_config
from keyroll.core.errors import UsageError
from keyroll.core.model import StepState
from keyroll.core.secret import Secret
from keyroll.harden.analysis.keys import AclRules
from keyroll.harden.collect import SourceSpec, _scan_assets, _scan_env_files, database_facts, map_sources
from keyroll.harden.findings import Evidence, Finding, FixOutcome, Rule, Severity
from keyroll.harden.journal import HardenJournal, written_values
from keyroll.harden.move_fix import probe_command
from keyroll.harden.moves import Move, user_name
from keyroll.harden.render import HardenFormat
from keyroll.harden.run import HardenResult
from keyroll.providers.vercel.models import Project
from keyroll.scan.known import KnownValues

TOKEN = "AXtoken-for-harden-misc-tests-000001"


def _result() -> HardenResult:
    f = Finding(
        id="client-exposure:abc",
        rule=Rule.CLIENT_EXPOSURE,
        severity=Severity.CRITICAL,
        title="project [web] leaks",
        evidence=(Evidence("env NEXT_PUBLIC_X [production] holds sha256:1234abcd", "vercel env"),),
        fix="rotate",
        project="web",
        details={"snippet": "const x = 1;"},
    )
    return HardenResult(
        findings=(f,),
        fixes=(FixOutcome("client-exposure:abc", False, "nothing", dry_run=True),),
        unknowns=("x",),
    )


@pytest.mark.parametrize("fmt", list(HardenFormat))
def test_every_format_renders(fmt: HardenFormat) -> None:
    text = fmt.renderer().render(_result())
    assert "leaks" in text and "sha256:1234abcd" in text


def test_json_is_versioned_and_table_keeps_brackets() -> None:
    doc = json.loads(HardenFormat.JSON.renderer().render(_result()))
    assert doc["version"] == 1 and doc["summary"]["by_severity"] == {"critical": 1}
    assert doc["findings"][0]["rule"] == "client-exposure"
    table = HardenFormat.TABLE.renderer().render(_result())
    assert "[production]" in table and "[web]" in table  # rich markup is escaped


def test_map_sources(tmp_path: Path) -> None:
    projects = [Project(id="prj_1", name="web"), Project(id="prj_2", name="api")]
    linked = tmp_path / "a"
    (linked / ".vercel").mkdir(parents=True)
    (linked / ".vercel" / "project.json").write_text(json.dumps({"projectId": "prj_2", "orgId": "team"}))
    by_pkg = tmp_path / "b"
    by_pkg.mkdir()
    (by_pkg / "package.json").write_text(json.dumps({"name": "@acme/web"}))
    by_dir = tmp_path / "api"
    by_dir.mkdir()
    nowhere = tmp_path / "zzz"
    nowhere.mkdir()
    mapping, unmapped = map_sources(
        [
            SourceSpec(linked),
            SourceSpec(by_pkg),
            SourceSpec(by_dir),
            SourceSpec(nowhere),
            SourceSpec(nowhere, "web"),
        ],
        projects,
    )
    assert mapping == {"prj_2": [linked, by_dir], "prj_1": [by_pkg, nowhere]}
    assert unmapped == [str(nowhere)]
    with pytest.raises(UsageError):
        map_sources([SourceSpec(nowhere, "nope")], projects)


def test_source_spec_parse(tmp_path: Path) -> None:
    assert SourceSpec.parse(f"web={tmp_path}") == SourceSpec(tmp_path, "web")
    assert SourceSpec.parse(str(tmp_path)) == SourceSpec(tmp_path)
    with pytest.raises(UsageError):
        SourceSpec.parse(str(tmp_path / "missing"))


def test_env_files_and_assets(tmp_path: Path) -> None:
    (tmp_path / ".env.local").write_text(f"# c\nVITE_UPSTASH_REDIS_REST_TOKEN={TOKEN}\nOTHER=1\n")
    (tmp_path / ".env.example").write_text(f"UPSTASH_REDIS_REST_TOKEN={TOKEN}\n")
    (tmp_path / ".env.broken").write_text('A="unterminated\n')
    (tmp_path / "dist" / "assets").mkdir(parents=True)
    (tmp_path / "dist" / "assets" / "index.js").write_text("x;\n" + f'const t="{TOKEN}";')
    matcher = KnownValues([Secret(TOKEN)])
    hits, bad = _scan_env_files(tmp_path, matcher, "prj")
    assert [(h.path, h.line, h.key) for h in hits] == [(".env.local", 2, "VITE_UPSTASH_REDIS_REST_TOKEN")]
    assert bad == 1
    assets = _scan_assets(tmp_path, matcher, "prj")
    assert [(a.path, a.line, a.column) for a in assets] == [("dist/assets/index.js", 2, 10)]


def test_database_facts_flags() -> None:
    db = SimpleNamespace(
        database_id="db_1",
        database_name="cache",
        endpoint="x.upstash.io",
        rest_url="https://x.upstash.io",
        model_extra={"prod_pack_enabled": True, "credential_protection": "false"},
        password=Secret("p" * 20),
        rest_token=None,
        read_only_rest_token=None,
    )
    f = database_facts(db)
    assert (f.credential_protection, f.protection_supported, f.rest_url) == (
        False,
        True,
        "https://x.upstash.io",
    )
    assert f.fingerprints == (Secret("p" * 20).fingerprint,)


def test_journal_records_writes_and_keeps_secrets_encrypted(tmp_path: Path) -> None:
    cfg = load_config(
        None, environ={"KEYROLL_JOURNAL": str(tmp_path / "j.db"), "KEYROLL_JOURNAL_KEY": "k" * 40}
    )
    j = HardenJournal.open(cfg)
    minted = Secret("minted-token-value-000000000001")
    j.put_secret("svc-web:rest_token", minted)
    j.note("s", StepState.RUNNING, {"rest_token_fingerprint": minted.fingerprint})
    j.written("s", "prj", "env_1", "TOKEN", "sha256:aaaa0000")
    j.written("s", "prj", "env_1", "TOKEN", "sha256:bbbb1111")
    j.finish(True)
    writes, fps = written_values(cfg)
    assert writes["env_1"]["fingerprint"] == "sha256:bbbb1111" and fps == {minted.fingerprint}
    assert minted.reveal().encode() not in (tmp_path / "harden.db").read_bytes()


def _move(commands: tuple[str, ...], patterns: tuple[str, ...] = ("cache:*",)) -> Move:
    return Move(
        "prj",
        "web",
        "db",
        "cache",
        "https://x",
        "sha256:1",
        AclRules("u", patterns, commands, True, True),
        (),
    )


@pytest.mark.parametrize(
    ("commands", "patterns", "probe"),
    [
        ((), ("*",), ["PING"]),
        (("get", "mget"), ("cache:*",), ["GET", "cache:keyroll-probe"]),
        (("hgetall",), ("user\\[1\\]",), ["HGETALL", "user[1]"]),
        (("set",), ("jobs:*",), None),
    ],
)
def test_probe_command(commands: tuple[str, ...], patterns: tuple[str, ...], probe: list[str] | None) -> None:
    assert probe_command(_move(commands, patterns)) == probe


def test_user_names() -> None:
    assert user_name("My App_2", read_only=True) == "svc-my-app-2-ro"
    assert user_name("api", read_only=False) == "svc-api"


def test_selected_takes_id_prefixes() -> None:
    from keyroll.harden.run import selected

    findings = list(_result().findings)
    assert selected(findings, ["client-exposure:a"]) == findings
    assert selected(findings, ["not-sensitive"]) == []
