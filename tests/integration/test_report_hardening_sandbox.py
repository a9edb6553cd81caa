"""The report's hardening item against the sandbox: the small fleet's known problems fail it, by name."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from keyroll.cli.report_formats import ReportFormatChoice
from keyroll.config import load_config
from keyroll.providers.factory import open_providers
from keyroll.report.build import build_report
from keyroll.report.hardening import HardeningEvidence, check_hardening
from keyroll.report.model import ItemStatus
from tests import canary as canary_mod
from tests.sandbox_helpers import register_api_tokens, register_template_secrets

pytest.importorskip("keyroll.sandbox.upstash")
from keyroll.sandbox.server import Sandbox


def test_small_fleet_fails_the_hardening_item_naming_each_problem(
    tmp_path: Path, canary: canary_mod.Canary
) -> None:
    with Sandbox(tmp_path / "sb", fleet="small", build_seconds=0.2) as sb:
        register_template_secrets(sb)
        register_api_tokens(sb)
        cfg = load_config(None, environ=sb.env())

        async def check() -> HardeningEvidence:
            async with open_providers(cfg) as providers:
                return await check_hardening(providers, tmp_path / "harden-latest.json")

        evidence = asyncio.run(check())
    assert evidence.origin == "live" and evidence.result is not None
    report = build_report(None, now=time.time(), hardening=evidence)
    item = next(c for c in report.checklist if c.id == "hardening")
    assert item.status is ItemStatus.NOT_DONE
    # the small fleet plants readable (encrypted) credential vars and a production token in Development
    assert (
        "[high] not-sensitive: project api env UPSTASH_VECTOR_REST_TOKEN: a credential in a readable (encrypted) variable"
        in item.missing
    )
    assert (
        "[high] not-sensitive: shared env var QSTASH_TOKEN: a credential in a readable (encrypted) variable"
        in item.missing
    )
    assert any(m.startswith("[medium] prod-credential-in-development") and "(web)" in m for m in item.missing)
    rules = {f.ref: f.text for f in item.evidence[1:]}
    assert rules["not-sensitive"].startswith("not-sensitive: 14 open [high] in api, docs, team-wide, web")
    assert report.summary.status != "complete"  # no rotation recorded; hardening alone decides nothing
    for choice in ReportFormatChoice:
        out = tmp_path / f"report.{choice.value}"
        out.write_text(choice.to_format().format(report))
        assert "UPSTASH_VECTOR_REST_TOKEN" in out.read_text()
        canary.watch(out)
