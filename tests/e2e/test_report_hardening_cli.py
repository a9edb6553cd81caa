"""``keyroll report``'s hardening item through the CLI: unknown offline with no harden result, failing
with the problem named, passing after ``keyroll harden --fix`` — live and from the stored result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.journal.store import Journal
from tests import canary as canary_mod
from tests.integration.test_harden_sandbox import clean_fleet
from tests.sandbox_helpers import register_api_tokens, register_template_secrets, write_env_file

pytest.importorskip("keyroll.sandbox.upstash")
from keyroll.sandbox.server import Sandbox


def fixable_fleet() -> dict[str, Any]:
    """One project whose token var is readable (encrypted): harden's not-sensitive finding, which
    ``--fix`` converts in place."""
    fleet = clean_fleet()
    (token,) = [e for e in fleet["projects"][0]["env"] if e["key"] == "UPSTASH_REDIS_REST_TOKEN"]
    token["type"] = "encrypted"
    return fleet


def _hardening(out: Path) -> dict[str, Any]:
    doc = json.loads(out.read_text())
    item: dict[str, Any] = next(c for c in doc["checklist"] if c["id"] == "hardening")
    return item


def test_hardening_item_follows_the_evidence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], canary: canary_mod.Canary
) -> None:
    with Sandbox(tmp_path / "sb", fleet=fixable_fleet(), build_seconds=0.2) as sb:
        register_template_secrets(sb)
        register_api_tokens(sb)
        journal = tmp_path / "journal.db"
        Journal.open(journal, create=True).close()  # a journal without a run: only hardening is decided
        env = write_env_file(
            tmp_path / "keyroll.env",
            {
                **sb.env(),
                "KEYROLL_JOURNAL": str(journal),
                "KEYROLL_JOURNAL_KEY": "report-hardening-journal-passphrase-0123456789",
            },
        )
        base = ["--env-file", str(env)]
        stored = tmp_path / "harden-latest.json"
        out = tmp_path / "report.json"

        def report(*extra: str) -> dict[str, Any]:
            assert run(["report", *base, "--format", "json", "--out", str(out), *extra]) == 1
            canary.watch(out)
            return _hardening(out)

        offline = report("--offline")
        assert offline["status"] == "unknown" and offline["evidence"] == []
        assert offline["missing"] == [
            f"the harden checks were not run (offline) and no keyroll harden result is stored at {stored}"
        ]

        live = report()
        assert live["status"] == "not_done"
        problem = "[high] not-sensitive: project shop env UPSTASH_REDIS_REST_TOKEN: a credential in a readable (encrypted) variable"
        assert problem in live["missing"]
        assert not stored.exists()  # the report reads the stored result; it never writes one

        assert run(["harden", *base, "--fix", "--yes", "--format", "json"]) == 0
        fixed = json.loads(capsys.readouterr().out)
        assert [f["rule"] for f in fixed["findings"] if f["fixed"]] == ["not-sensitive"]
        assert stored.exists() and stored.stat().st_mode & 0o777 == 0o600
        canary.watch(stored)

        after = report("--offline")
        assert after["status"] == "done", after
        assert after["evidence"][0]["text"] == (
            f"latest keyroll harden result ({stored}): 1 project(s), 0 open finding(s), 1 fixed by keyroll harden --fix"
        )
        assert report()["status"] == "done"

        # a narrowed run (one rule) is not kept: it says nothing about the other rules
        before = stored.read_bytes()
        assert run(["harden", *base, "--rule", "no-rate-limit", "--format", "json"]) == 0
        assert stored.read_bytes() == before
