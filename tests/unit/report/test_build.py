"""The incident record decides each checklist item by evidence, and says what it does not know."""

from __future__ import annotations

from keyroll.core.model import RunState
from keyroll.report.build import build_report
from keyroll.report.checklist import CHECKLIST
from keyroll.report.model import ItemStatus, MarkKind
from keyroll.verify.result import Check, CheckCategory, CheckStatus
from tests.unit.report import report_samples as S

NOW = S.NOW
_verify = S.verify_result
_audit = S.audit_result


def _items(report):
    return {i.id: i for i in report.checklist}


def test_complete_run_with_verify_and_audit_is_complete() -> None:
    report = build_report(S.runlog(), _verify(), _audit(), now=NOW, tool_version="0.1.0", journal_path="j.db")
    items = _items(report)
    assert [i.id for i in report.checklist] == [rule.id for rule in CHECKLIST]
    for ident in (
        "inventory",
        "rotate_upstash",
        "replace_vercel",
        "redeploy_all",
        "remove_stale",
        "old_rejected",
        "review_logs",
    ):
        assert items[ident].status is ItemStatus.DONE, (ident, items[ident])
    assert items["hardening"].status is ItemStatus.UNKNOWN
    assert report.summary.status == "complete"
    assert report.summary.credentials_done == 2 and report.summary.credentials_total == 2
    assert report.summary.deployments_redeployed == 3
    assert report.summary.max_outage_s == 3.2
    by_fp = {c.fingerprint: c for c in report.credentials}
    assert by_fp[S.FP_REDIS].outage_s == 0.0 and by_fp[S.FP_REDIS].outage_basis == "overlap"
    assert by_fp[S.FP_QSTASH].outage_s == 3.2 and by_fp[S.FP_QSTASH].outage_basis == "measured"
    assert S.NEW_REST.fingerprint in by_fp[S.FP_REDIS].new_fingerprints
    assert {r.new_id for r in by_fp[S.FP_REDIS].redeploys} == {"dpl_web_new", "dpl_api_new"}
    assert all(r.state == "READY" and r.ready_at for r in by_fp[S.FP_REDIS].redeploys)
    # every checklist item that is done cites evidence with a time
    for item in report.checklist:
        if item.status is ItemStatus.DONE:
            assert item.evidence and all(f.at for f in item.evidence), item.id
    projects = {p.project_id: p for p in report.projects}
    assert projects["prj_web"].name == "web" and projects["prj_web"].status == "ok"
    assert projects["prj_api"].env_written_at == S.T0 + 7.5
    # git history warning is an open risk, not a failure
    assert any(r.id.startswith("history:") and r.severity == "low" for r in report.risks)


def test_timeline_marks_and_cutover_window() -> None:
    report = build_report(S.runlog(), None, None, now=NOW)
    kinds = {(m.project_id, m.kind) for m in report.marks}
    for kind in (MarkKind.ENV_WRITE, MarkKind.BUILD, MarkKind.READY, MarkKind.VERIFY, MarkKind.REVOKE):
        assert ("prj_api", kind) in kinds
    assert ("prj_web", MarkKind.READY) in kinds
    (window,) = report.windows
    assert window.credential == S.FP_QSTASH and window.projects == ("prj_api",)
    assert abs((window.end - window.start) - 3.2) < 1e-6
    # github writes are not project events
    assert not any(m.project_id == "" for m in report.marks)


def test_partial_rotation_says_what_is_not_done_and_not_known() -> None:
    report = build_report(S.runlog(stop_after=5.5), None, None, now=NOW)
    items = _items(report)
    assert items["rotate_upstash"].status is ItemStatus.NOT_DONE
    assert any("revoke" in m and "pending" in m for m in items["rotate_upstash"].missing)
    assert items["replace_vercel"].status is ItemStatus.NOT_DONE  # the QStash write never happened
    assert items["old_rejected"].status is ItemStatus.UNKNOWN
    assert items["remove_stale"].status is ItemStatus.UNKNOWN
    assert items["review_logs"].status is ItemStatus.UNKNOWN
    assert report.summary.status == "incomplete"
    states = {c.fingerprint: c.state for c in report.credentials}
    assert states == {S.FP_REDIS: "partial", S.FP_QSTASH: "not_started"}
    text = " ".join(report.unknowns)
    assert (
        "not verified" in text and "activity logs" in text and f"{S.FP_QSTASH}: rotation not started" in text
    )
    assert any(r.id == f"state:{S.FP_REDIS}" and r.severity == "high" for r in report.risks)
    # without verify, the journal's inventory still names the open risks
    ids = {r.id for r in report.risks}
    assert {"inventory:old-deployments", "inventory:git-history", "inventory:unverifiable"} <= ids


def test_missing_journal_is_all_unknown() -> None:
    report = build_report(None, None, None, now=NOW, journal_error="no journal at .keyroll/journal.db")
    assert all(i.status is ItemStatus.UNKNOWN for i in report.checklist)
    assert report.summary.status == "unknown"
    assert report.credentials == () and report.marks == ()
    assert "no journal at .keyroll/journal.db" in report.unknowns


def test_integrity_problems_and_forced_revoke_are_high_risks() -> None:
    log = S.runlog(forced=True)
    from dataclasses import replace

    log = replace(log, integrity=("entry 7: content does not match its hash (edited)",))
    report = build_report(log, None, None, now=NOW)
    high = [r for r in report.risks if r.severity == "high"]
    assert any("integrity" in r.title and "edited" in r.detail for r in high)
    assert any(r.id == f"forced:{S.FP_REDIS}" for r in high)
    redis = next(c for c in report.credentials if c.fingerprint == S.FP_REDIS)
    assert redis.forced_revoke and redis.outage_s is None
    assert report.summary.status == "incomplete"
    assert report.integrity == log.integrity


def test_failed_verify_check_marks_item_not_done() -> None:
    report = build_report(S.runlog(), _verify(fail_old=True), _audit(), now=NOW)
    item = _items(report)["old_rejected"]
    assert item.status is ItemStatus.NOT_DONE
    assert report.summary.status == "incomplete"
    assert any(r.severity == "high" and r.credential == S.FP_REDIS for r in report.risks)


def test_journal_probe_after_revoke_proves_old_rejected_without_verify() -> None:
    report = build_report(S.runlog(), None, None, now=NOW)
    item = _items(report)["old_rejected"]
    # the QStash plan has no probe of the old token, so only the Redis part is proven
    assert item.status is ItemStatus.UNKNOWN
    assert any(S.FP_REDIS in f.text for f in item.evidence)
    assert any(S.FP_QSTASH in m for m in item.missing)


def test_flagged_audit_events_leave_review_open() -> None:
    report = build_report(S.runlog(), _verify(), _audit(flagged=True), now=NOW)
    item = _items(report)["review_logs"]
    assert item.status is ItemStatus.UNKNOWN
    assert any("1 unusual event" in m for m in item.missing)
    assert any(r.id == "audit:flagged" for r in report.risks)


def test_unverifiable_sensitive_var_is_unknown_not_pass() -> None:
    unknown = Check(
        f"stale:{S.FP_REDIS}:vercel_env:prj_api:env_a1",
        CheckCategory.STALE,
        CheckStatus.UNKNOWN,
        "unverifiable: vercel api UPSTASH_REDIS_REST_TOKEN",
        S.FP_REDIS,
        "prj_api",
    )
    report = build_report(S.runlog(), _verify(unknown), _audit(), now=NOW)
    assert _items(report)["replace_vercel"].status is ItemStatus.UNKNOWN
    assert report.summary.status == "unknown"
    assert {p.project_id: p.status for p in report.projects}["prj_api"] == "unknown"


def test_nothing_searched_leaves_stale_copies_unknown() -> None:
    from dataclasses import replace

    report = build_report(S.runlog(), replace(_verify(), searched=()), _audit(), now=NOW)
    item = _items(report)["remove_stale"]
    assert item.status is ItemStatus.UNKNOWN
    assert any("was searched" in m for m in item.missing)


def test_interrupted_run_state_is_reported() -> None:
    report = build_report(S.runlog(stop_after=5.5, state=RunState.INTERRUPTED), None, None, now=NOW)
    assert report.run_state == "interrupted"
    assert report.run_options == {"accept_downtime": True, "force_revoke": False, "yes": True}


def test_failures_and_consent_are_noted_per_credential() -> None:
    from dataclasses import replace

    from keyroll.core.model import StepKind, StepState
    from keyroll.journal.events import JournalEntry

    log = S.runlog()
    extra = (
        JournalEntry(
            90,
            S.T0 + 6.0,
            "run_1",
            f"{S.GID_R}/revoke",
            "intent",
            StepState.RUNNING,
            StepKind.REVOKE,
            S.FP_REDIS,
            detail={"destructive": True, "consent": "--yes"},
        ),
        JournalEntry(
            91,
            S.T0 + 20.0,
            "run_1",
            f"{S.GID_Q}/rescan",
            "outcome",
            StepState.FAILED,
            StepKind.RESCAN,
            S.FP_QSTASH,
            detail={"error": "Vercel answered 503 for project api", "error_type": "UnavailableError"},
        ),
    )
    report = build_report(replace(log, entries=log.entries + extra), None, None, now=NOW)
    by_fp = {c.fingerprint: c for c in report.credentials}
    assert any("revoke: consent --yes" in n for n in by_fp[S.FP_REDIS].notes)
    assert any("rescan failed" in n and "503" in n for n in by_fp[S.FP_QSTASH].notes)
    assert by_fp[S.FP_QSTASH].state == "failed"
    assert any(m.kind.value == "failure" for m in report.marks)
