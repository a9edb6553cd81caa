"""The report's hardening item is decided by harden findings, and unknown only without any result."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from keyroll.core.errors import ConfigError
from keyroll.harden.findings import Evidence, Finding, Rule, Severity
from keyroll.harden.latest import is_full_run, latest_path, load_latest, save_latest
from keyroll.harden.run import HardenOptions, HardenResult
from keyroll.report import hardening as hardening_mod
from keyroll.report.build import build_report
from keyroll.report.hardening import HardeningEvidence, check_hardening, stored_hardening
from keyroll.report.model import ChecklistItem, ItemStatus
from tests.unit.report import report_samples as samples

NOW = samples.T0 + 3600


def finding(rule: Rule, severity: Severity, project: str = "web", *, fixed: bool = False) -> Finding:
    return Finding(
        id=f"{rule.value}:{project}",
        rule=rule,
        severity=severity,
        title=f"project {project}: {rule.value} problem",
        evidence=(Evidence("env UPSTASH_REDIS_REST_TOKEN [production]", "vercel"),),
        fix="fix it",
        project=project,
        fixed=fixed,
    )


def item(hardening: HardeningEvidence | None, log: Any = None) -> ChecklistItem:
    report = build_report(log, now=NOW, hardening=hardening)
    return next(c for c in report.checklist if c.id == "hardening")


def live(*findings: Finding, unknowns: tuple[str, ...] = (), **kw: Any) -> HardeningEvidence:
    result = HardenResult(findings=tuple(findings), unknowns=unknowns, projects=("api", "web"))
    return HardeningEvidence(result=result, checked_at=NOW - 5, origin="live", **kw)


def test_no_evidence_is_unknown_and_says_why() -> None:
    assert item(None).status is ItemStatus.UNKNOWN
    assert "not run" in item(None).missing[0]
    offline = HardeningEvidence(reason="the harden checks were not run (offline) and no result is stored")
    it = item(offline)
    assert it.status is ItemStatus.UNKNOWN and it.missing == (offline.reason,) and not it.evidence


def test_open_findings_fail_the_item_and_are_named() -> None:
    it = item(
        live(
            finding(Rule.NOT_SENSITIVE, Severity.HIGH, "api"),
            finding(Rule.SHARED_CREDENTIAL, Severity.MEDIUM, "web"),
            finding(Rule.NO_APP_ENCRYPTION, Severity.INFO, "web"),
            finding(Rule.CREDENTIAL_PROTECTION_OFF, Severity.LOW, "", fixed=True),
        )
    )
    assert it.status is ItemStatus.NOT_DONE
    assert "[high] not-sensitive: project api: not-sensitive problem" in it.missing
    assert any(m.startswith("[medium] shared-credential") for m in it.missing)
    assert not any(m.startswith("[info]") for m in it.missing)  # advice is evidence, not a failure
    texts = [f.text for f in it.evidence]
    assert (
        "checked for this record: 2 project(s), 3 open finding(s), 1 fixed by keyroll harden --fix" in texts
    )
    assert "not-sensitive: 1 open [high] in api" in texts
    assert "no-app-encryption: 1 open [info] (advice) in web" in texts
    assert all(f.source == "harden" and f.at == NOW - 5 for f in it.evidence)
    assert "keyroll harden --fix" in it.hint


def test_no_open_finding_passes_and_notes_unanalysed_code() -> None:
    it = item(
        live(
            finding(Rule.NOT_SENSITIVE, Severity.HIGH, fixed=True), finding(Rule.NO_RATE_LIMIT, Severity.INFO)
        )
    )
    assert it.status is ItemStatus.DONE
    assert any("source code not analysed" in m for m in it.missing)
    assert item(live(code_analysed=True)).missing == ()


def test_unknowns_without_failures_stay_unknown() -> None:
    it = item(live(unknowns=("project api: env vars could not be listed (403)",)))
    assert it.status is ItemStatus.UNKNOWN
    assert "harden: project api: env vars could not be listed (403)" in it.missing


def test_a_stored_result_older_than_the_rotation_says_so() -> None:
    log = samples.runlog()
    finished = log.finished_at()
    assert finished is not None
    stored = dataclasses.replace(
        live(), origin="stored", stored_path="/j/harden-latest.json", checked_at=finished - 60
    )
    it = item(stored, log)
    assert it.status is ItemStatus.DONE
    assert "latest keyroll harden result (/j/harden-latest.json)" in it.evidence[0].text
    assert any("before the rotation finished" in m for m in it.missing)


def test_latest_result_round_trip_and_damage(tmp_path: Path) -> None:
    path = latest_path(tmp_path / "journal.db")
    assert path == tmp_path / "harden-latest.json" and load_latest(path) is None
    result = HardenResult(findings=(finding(Rule.NOT_SENSITIVE, Severity.HIGH),), projects=("web",))
    save_latest(path, result, checked_at=NOW, sources=2)
    assert path.stat().st_mode & 0o777 == 0o600
    stored = load_latest(path)
    assert stored is not None and stored.result == result and stored.sources == 2 and stored.checked_at == NOW
    ev = stored_hardening(path)
    assert ev.origin == "stored" and ev.code_analysed and ev.result == result
    path.write_text(json.dumps({"kind": "something else"}))
    assert "is not a keyroll harden result" in stored_hardening(path).reason
    path.write_text("{not json")
    assert "cannot be read" in stored_hardening(path).reason and stored_hardening(path).result is None
    assert "no keyroll harden result is stored" in stored_hardening(tmp_path / "none.json").reason


def test_only_full_runs_are_stored() -> None:
    assert is_full_run(HardenOptions(fix=True, only=("not-sensitive",)))
    assert not is_full_run(HardenOptions(projects=("web",)))
    assert not is_full_run(HardenOptions(rules=(Rule.NOT_SENSITIVE,)))


async def test_live_check_carries_code_findings_and_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "harden-latest.json"
    code = finding(Rule.READ_ONLY_SUFFICES, Severity.MEDIUM, "web")
    config = finding(Rule.NOT_SENSITIVE, Severity.HIGH, "web")
    save_latest(path, HardenResult(findings=(code, config)), checked_at=NOW - 100, sources=1)
    now_clean = HardenResult(findings=(), projects=("web",))

    async def analyze_clean(*a: Any, **kw: Any) -> HardenResult:
        return now_clean

    monkeypatch.setattr(hardening_mod, "analyze", analyze_clean)
    ev = await check_hardening(None, path, clock=lambda: NOW)  # type: ignore[arg-type]
    # the stored config finding is re-checked live (gone); the code finding cannot be: carried
    assert ev.origin == "live" and ev.code_analysed and ev.carried == (code,) and ev.carried_at == NOW - 100
    it = item(ev)
    assert it.status is ItemStatus.NOT_DONE and any("read-only-suffices" in m for m in it.missing)
    assert not any("not-sensitive" in m for m in it.missing)

    async def analyze_fails(*a: Any, **kw: Any) -> HardenResult:
        raise ConfigError("VERCEL_TOKEN is not set")

    monkeypatch.setattr(hardening_mod, "analyze", analyze_fails)
    ev = await check_hardening(None, path)  # type: ignore[arg-type]
    assert ev.origin == "stored" and "VERCEL_TOKEN is not set" in ev.reason
    ev = await check_hardening(None, tmp_path / "none.json")  # type: ignore[arg-type]
    assert ev.result is None and item(ev).status is ItemStatus.UNKNOWN
    assert "could not run: VERCEL_TOKEN is not set" in item(ev).missing[0]
