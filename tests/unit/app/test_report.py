"""The report's evidence is collected once (``keyroll report`` and the demo): the journal's runs,
then verify (unless a result is given), the audit and the harden checks; the record says what the
journal could not tell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keyroll.app import report as app_report
from keyroll.app.journal import OpenedJournal
from keyroll.config import Config
from keyroll.core.errors import UsageError
from keyroll.providers.factory import Providers
from keyroll.verify.run import VerifyOptions
from tests.unit.report import report_samples as samples


def _cfg(tmp_path: Path, **kw: Any) -> Config:
    return Config(journal_path=tmp_path / "journal.db", **kw)


def _opened(tmp_path: Path, **kw: Any) -> OpenedJournal:
    return OpenedJournal(tmp_path / "journal.db", samples.FakeJournal(), **kw)  # type: ignore[arg-type]


def test_read_journal_reads_the_run_and_every_run(tmp_path: Path) -> None:
    evidence = app_report.read_journal(_opened(tmp_path, notes=("no journal key",)))
    assert evidence.log is not None and evidence.log.run_id == "run_1"
    assert [r.run_id for r in evidence.runs] == ["run_1"]
    assert evidence.journal_path == str(tmp_path / "journal.db")
    assert evidence.journal_error == "" and evidence.notes == ("no journal key",)
    with pytest.raises(UsageError):
        app_report.read_journal(_opened(tmp_path), "run_unknown")


def test_an_unreadable_journal_is_evidence_not_an_exception(tmp_path: Path) -> None:
    damaged = OpenedJournal(tmp_path / "journal.db", error="file is not a database")
    evidence = app_report.read_journal(damaged)
    assert evidence.log is None and evidence.runs == ()
    assert evidence.journal_error == "the journal cannot be read: file is not a database"
    with pytest.raises(UsageError, match="cannot look up run 'run_1'"):
        app_report.read_journal(damaged, "run_1")


def test_report_scope_parses_since_and_checks_paths(tmp_path: Path) -> None:
    scope = app_report.report_scope(_cfg(tmp_path), since="1d", paths=(tmp_path,), now=1_760_000_000.0)
    assert scope.audit.since == 1_760_000_000.0 - 86400
    assert scope.verify.paths == (tmp_path,) and scope.verify.run_id is None
    with pytest.raises(UsageError):
        app_report.report_scope(_cfg(tmp_path), paths=(tmp_path / "missing",), now=1_760_000_000.0)


class _Recorder:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.verified: list[VerifyOptions] = []
        self.audited: list[int] = []
        monkeypatch.setattr(app_report, "run_verify", self.verify)
        monkeypatch.setattr(app_report, "run_audit", self.audit)

    async def verify(self, cfg: Any, source: Any, options: VerifyOptions, progress: Any, **kw: Any) -> Any:
        self.verified.append(options)
        return samples.verify_result()

    async def audit(self, cfg: Any, options: Any, runlogs: Any, progress: Any, **kw: Any) -> Any:
        self.audited.append(len(runlogs))
        return samples.audit_result()


async def test_collect_evidence_verifies_the_reported_run_audits_and_checks_hardening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _Recorder(monkeypatch)
    cfg = _cfg(tmp_path)
    opened = _opened(tmp_path)
    scope = app_report.report_scope(cfg, now=1_760_000_000.0)
    evidence = await app_report.collect_evidence(
        cfg, app_report.read_journal(opened), opened.journal, scope, providers=Providers(config=cfg)
    )
    assert [o.run_id for o in calls.verified] == ["run_1"]  # the latest run, named
    assert calls.audited == [1]  # the audit knows every run's writes
    assert evidence.verify is not None and evidence.audit is not None
    assert evidence.hardening is not None and evidence.hardening.origin != "stored"


async def test_collect_evidence_takes_a_verify_result_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _Recorder(monkeypatch)
    cfg = _cfg(tmp_path)
    opened = _opened(tmp_path)
    given = samples.verify_result(fail_old=True)
    evidence = await app_report.collect_evidence(
        cfg,
        app_report.read_journal(opened, "run_1"),
        opened.journal,
        app_report.report_scope(cfg, now=1_760_000_000.0),
        verified=given,
        providers=Providers(config=cfg),
    )
    assert not calls.verified and evidence.verify is given and calls.audited == [1]


async def test_nothing_to_verify_without_a_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _Recorder(monkeypatch)
    cfg = _cfg(tmp_path)
    damaged = app_report.read_journal(OpenedJournal(cfg.journal_path, error="damaged"))
    evidence = await app_report.collect_evidence(
        cfg, damaged, None, app_report.report_scope(cfg, now=1.0e9), providers=Providers(config=cfg)
    )
    assert not calls.verified and evidence.verify is None and calls.audited == [0]


def test_offline_evidence_cites_the_stored_harden_result(tmp_path: Path) -> None:
    evidence = app_report.stored_evidence(_cfg(tmp_path), app_report.read_journal(_opened(tmp_path)))
    assert evidence.hardening is not None and evidence.hardening.result is None
    assert "no keyroll harden result is stored" in evidence.hardening.reason


def test_the_record_lists_what_the_journal_could_not_tell(tmp_path: Path) -> None:
    note = "no journal key (KEYROLL_JOURNAL_KEY or OS keyring): journaled values cannot be probed"
    evidence = app_report.read_journal(_opened(tmp_path, notes=(note,)))
    report = app_report.incident_report(evidence, whole_journal=True)
    assert report.unknowns.count(note) == 1
    damaged = app_report.read_journal(OpenedJournal(tmp_path / "journal.db", error="damaged"))
    record = app_report.incident_report(damaged, whole_journal=True)
    assert record.summary.status == "unknown"
    assert "the journal cannot be read: damaged" in record.unknowns
