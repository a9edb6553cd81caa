"""The incident checklist: each item, the rule that decides it by evidence, listed in one table.

:data:`CHECKLIST` is the whole list, in the order the report shows it: each
:class:`ChecklistRule` names the item, its title, whose guidance it follows and the function that
decides it from the :class:`~keyroll.report.evidence.ReportEvidence` — citing the journal entry,
probe, API read or harden check and its time. A rule returns a :data:`Decision`: the status, the
facts, what is missing (why it is not done or not known) and a hint for the next command.
Whatever cannot be decided is UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from keyroll.core.model import Confidence, StepKind, StepState
from keyroll.journal.events import JournalEntry
from keyroll.report.evidence import (
    FINISHED,
    ReportEvidence,
    check_facts,
    decide,
    entry_fact,
    stale_kind,
)
from keyroll.report.model import ChecklistItem, Fact, ItemStatus
from keyroll.verify.result import CheckCategory, CheckStatus
from keyroll.verify.times import iso, parse_time

if TYPE_CHECKING:  # the harden package loads the code analysers: only the CLI needs them
    from keyroll.harden.findings import Finding

__all__ = ["CHECKLIST", "FOLLOW_UPS", "ChecklistRule", "Decision", "decide_item"]

Decision = tuple[ItemStatus, list[Fact], list[str], str]
"""(status, facts, missing, hint) — what a rule decides for its item"""


def _no_run(ev: ReportEvidence) -> Decision:
    why = ev.journal_error or "the journal holds no rotation run"
    return ItemStatus.UNKNOWN, [], [why], "run keyroll apply (the journal is the evidence)"


def _item_inventory(ev: ReportEvidence) -> Decision:
    if ev.log is None or ev.log.run is None:
        return _no_run(ev)
    inv = ev.log.inventory
    if inv is None:
        return (
            ItemStatus.UNKNOWN,
            [],
            ["no inventory snapshot recorded in the journal"],
            "run keyroll inventory",
        )
    unverified = [loc for loc in inv.locations if loc.confidence is not Confidence.EXACT]
    fact = Fact(
        "journal",
        f"inventory: {len(inv.credentials)} credential(s), {len(inv.locations)} location(s), "
        f"{len(inv.deployments)} deployment(s), {len(unverified)} not readable, {len(inv.unknowns)} unknown area(s)",
        parse_time(inv.generated_at),
    )
    missing = []
    if unverified or inv.unknowns:
        missing.append(
            f"{len(unverified)} location(s) could not be read and {len(inv.unknowns)} area(s) could not be listed"
        )
    return ItemStatus.DONE, [fact], missing, ""


def _item_rotate_upstash(ev: ReportEvidence) -> Decision:
    """Minting the new values and revoking the old ones at the provider — REVOKE steps,
    destructive resets and key rolls, and dashboard (human) resets all count."""
    if ev.log is None or ev.log.run is None:
        return _no_run(ev)
    if not ev.fps:
        return ItemStatus.UNKNOWN, [], ["the plan lists no credential"], ""
    problems: list[str] = []
    facts: list[Fact] = []
    for fp in ev.fps:
        states = ev.log.step_states(fp)
        for s in ev.log.steps(fp):
            if s.kind in (StepKind.MINT, StepKind.REVOKE, StepKind.HUMAN) or s.destructive:
                st = states.get(s.id, StepState.PENDING)
                if st not in FINISHED:
                    what = "dashboard step" if s.kind is StepKind.HUMAN else s.kind.value
                    problems.append(f"{fp}: {what} '{s.description}' is {st.value}")
        finished = [
            e
            for e in ev.log.done(fp)
            if ev.log.kind_of(e) in (StepKind.MINT, StepKind.REVOKE, StepKind.HUMAN)
        ]
        revoked = ev.log.revoked_at(fp)
        if finished:
            e = finished[-1]
            text = f"{fp}: {len(finished)} mint/revoke step(s) done"
            text += f", old value revoked at {iso(revoked)}" if revoked else ""
            facts.append(entry_fact(e, text))
    return (ItemStatus.NOT_DONE if problems else ItemStatus.DONE), facts, problems, "keyroll resume"


def _item_replace_vercel(ev: ReportEvidence) -> Decision:
    if ev.log is None or ev.log.run is None:
        return _no_run(ev)
    ok, problems, facts = ev.steps_complete(StepKind.WRITE_ENV)
    if ok is False:
        return ItemStatus.NOT_DONE, facts, problems, "keyroll resume"
    stale = [c for c in ev.checks(CheckCategory.STALE) if stale_kind(c).startswith("vercel")]
    facts += check_facts(stale, only_problems=True)
    if ev.vr is None:
        if ok is None:
            return ItemStatus.UNKNOWN, facts, ["no env write was planned or journaled"], "keyroll verify"
        return ItemStatus.DONE, facts, ["not re-read since (run keyroll verify)"], ""
    status = decide(stale)
    if ok is None and not stale:
        return ItemStatus.UNKNOWN, facts, ["no env write was planned and nothing was re-read"], ""
    if status is ItemStatus.DONE:
        facts.append(
            Fact("api", f"{len(stale)} Vercel location(s) re-read: no old value left", ev.vr.finished_at)
        )
    missing = [c.title for c in stale if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)]
    return status, facts, missing, "keyroll resume, then keyroll verify"


def _item_redeploy_all(ev: ReportEvidence) -> Decision:
    if ev.log is None or ev.log.run is None:
        return _no_run(ev)
    problems: list[str] = []
    facts: list[Fact] = []
    planned = False
    for kind in (StepKind.REDEPLOY, StepKind.AWAIT_READY):
        ok, probs, fs = ev.steps_complete(kind)
        planned = planned or ok is not None
        problems += probs
        facts += fs
    if problems:
        return ItemStatus.NOT_DONE, facts, problems, "keyroll resume"
    live = [
        c
        for c in ev.checks(CheckCategory.FRESHNESS, CheckCategory.ROLLBACK)
        if c.status is not CheckStatus.WARN
    ]
    if ev.vr is None:
        if not planned:
            return ItemStatus.UNKNOWN, facts, ["no redeploy was planned or journaled"], "keyroll verify"
        return ItemStatus.DONE, facts, ["serving deployments not re-read since (run keyroll verify)"], ""
    facts += check_facts(live, only_problems=True)
    status = decide(live)
    if status is ItemStatus.DONE:
        if not live and not planned:
            return ItemStatus.UNKNOWN, facts, ["no affected deployment was found"], ""
        facts.append(Fact("api", f"{len(live)} serving deployment check(s) passed", ev.vr.finished_at))
    missing = [c.title for c in live if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)]
    return status, facts, missing, "redeploy what is listed, then keyroll verify"


def _file_facts(ev: ReportEvidence) -> list[Fact]:
    """What ``--rewrite-files`` did to each file: new value (configuration) or redacted."""
    if ev.log is None or ev.log.run is None:
        return []
    facts: list[Fact] = []
    for fp in ev.fps:
        for f in ev.log.file_writes(fp):
            if f["redacted"]:
                what = (
                    f"{fp}: {f['path']} redacted ({f['kind']}; not configuration): "
                    f"{f['replacements']} cop(ies) of the old value replaced by a placeholder, no new value written"
                )
            else:
                what = f"{fp}: {f['path']} rewritten with the new value ({f['replacements']} cop(ies))"
            facts.append(Fact("journal", what, f["at"], f["path"]))
    return facts


def _item_remove_stale(ev: ReportEvidence) -> Decision:
    status, facts, missing, hint = _remove_stale(ev)
    return status, [*_file_facts(ev), *facts], missing, hint


def _remove_stale(ev: ReportEvidence) -> Decision:
    if ev.vr is None:
        return (
            ItemStatus.UNKNOWN,
            [],
            ["files and CI secrets were not re-checked"],
            "keyroll verify --path …",
        )
    local = [
        c
        for c in ev.checks(CheckCategory.STALE)
        if stale_kind(c) in ("file", "github_secret", "inventory", "upstash")
    ]
    facts = list(check_facts(local))
    status = decide(local)
    missing = [c.title for c in local if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)]
    searched = ev.vr.searched
    if searched:
        facts.append(Fact("verify", f"searched {', '.join(searched)}", ev.vr.finished_at))
    if status is not ItemStatus.NOT_DONE and not searched:
        return (
            ItemStatus.UNKNOWN,
            facts,
            [*missing, "no local file, git repository or GitHub repository was searched"],
            "keyroll verify --path DIR --git-repo DIR (and GITHUB_REPOS)",
        )
    if status is ItemStatus.DONE:
        facts.append(Fact("verify", f"{len(local)} file/CI location(s) checked", ev.vr.finished_at))
    return status, facts, missing, "remove them, then keyroll verify"


def _journal_old_rejected(ev: ReportEvidence) -> tuple[ItemStatus, list[Fact], list[str]]:
    assert ev.log is not None
    facts: list[Fact] = []
    missing: list[str] = []
    for fp in ev.fps:
        revoked = ev.log.revoked_at(fp)
        proofs = [
            e
            for e in ev.log.probe_entries(fp)
            if revoked is not None and e.ts >= revoked and _says_old_rejected(e)
        ]
        if proofs:
            facts.append(entry_fact(proofs[-1], f"{fp}: old value rejected after revoke"))
        else:
            missing.append(f"{fp}: no probe of the old value after revoke")
    status = ItemStatus.DONE if ev.fps and not missing else ItemStatus.UNKNOWN
    return status, facts, missing


def _item_old_rejected(ev: ReportEvidence) -> Decision:
    checks = ev.checks(CheckCategory.OLD_REJECTED)
    if checks:
        status = decide(checks)
        missing = [c.title for c in checks if c.status is not CheckStatus.PASS]
        return (
            status,
            list(check_facts(checks)),
            missing,
            "revoke what is still accepted (keyroll resume)",
        )
    if ev.log is None or ev.log.run is None:
        return _no_run(ev)
    status, facts, missing = _journal_old_rejected(ev)
    return status, facts, missing, "keyroll verify"


def _item_review_logs(ev: ReportEvidence) -> Decision:
    if ev.ar is None:
        return ItemStatus.UNKNOWN, [], ["activity logs were not read"], "keyroll audit"
    ar = ev.ar
    counts = ", ".join(f"{n} {c}" for c, n in ar.counts().items() if n)
    facts = [
        Fact(
            "audit",
            f"{len(ar.events)} event(s) from {', '.join(ar.sources) or 'no source'} "
            f"between {iso(ar.since)} and {iso(ar.until)}" + (f": {counts}" if counts else ""),
            ar.read_at,
        )
    ]
    missing = list(ar.notes)
    flagged = ar.flagged
    if flagged:
        missing.append(f"{len(flagged)} unusual event(s) need a human look")
        facts += [
            Fact("audit", f"{e.source} {e.type} by {e.actor or '?'}: {', '.join(e.reasons)}", e.at, e.id)
            for e in flagged[:8]
        ]
    status = ItemStatus.DONE if not missing and ar.sources else ItemStatus.UNKNOWN
    return (
        status,
        facts,
        missing,
        "look at each flagged event; rotate again if a credential was read by an unknown actor",
    )


def _item_hardening(ev: ReportEvidence) -> Decision:
    """Open harden findings (info-level advice aside) fail the item; none passes it."""
    h = ev.hardening
    if h is None or h.result is None:
        why = h.reason if h is not None else "the harden checks were not run for this record"
        return ItemStatus.UNKNOWN, [], [why], "keyroll harden (or keyroll report without --offline)"
    result = h.result
    at = h.checked_at
    how = (
        "checked for this record" if h.origin == "live" else f"latest keyroll harden result ({h.stored_path})"
    )
    fixed = len(result.findings) - len(result.open_findings)
    facts = [
        Fact(
            "harden",
            f"{how}: {len(result.projects)} project(s), {len(result.open_findings)} open finding(s)"
            + (f", {fixed} fixed by keyroll harden --fix" if fixed else ""),
            at,
        )
    ]
    if h.carried:
        facts.append(
            Fact(
                "harden",
                f"{len(h.carried)} open code finding(s) from keyroll harden --source",
                h.carried_at,
            )
        )
    open_ = h.open_findings
    failing = [f for f in open_ if f.severity.value != "info"]
    facts += _rule_facts(open_, at)
    missing = [_finding_text(f) for f in failing[:_LISTED_FINDINGS]]
    if len(failing) > _LISTED_FINDINGS:
        missing.append(f"… and {len(failing) - _LISTED_FINDINGS} more open finding(s) (keyroll harden)")
    if h.reason:
        missing.append(h.reason)
    if not failing:
        missing += [f"harden: {u}" for u in result.unknowns]
    if not h.code_analysed:
        missing.append(
            "source code not analysed: read-only-suffices, no-rate-limit and no-app-encryption "
            "need keyroll harden --source"
        )
    finished = ev.log.finished_at() if ev.log is not None and ev.log.run is not None else None
    if h.origin == "stored" and at is not None and finished is not None and at < finished:
        missing.append(
            f"checked at {iso(at)}, before the rotation finished ({iso(finished)}): rerun keyroll harden"
        )
    if failing:
        status = ItemStatus.NOT_DONE
    elif result.unknowns:
        status = ItemStatus.UNKNOWN
    else:
        status = ItemStatus.DONE
    return (
        status,
        facts,
        missing,
        "keyroll harden --fix for what keyroll can fix; the rest by hand (keyroll harden lists how)",
    )


_LISTED_FINDINGS = 20
"""open harden findings listed one by one in the hardening item (the rest are counted)"""


def _finding_text(f: Finding) -> str:
    where = f" ({f.project})" if f.project and f.project not in f.title else ""
    return f"[{f.severity.value}] {f.rule.value}{where}: {f.title}"


def _rule_facts(findings: Sequence[Finding], at: float | None) -> list[Fact]:
    """One fact per rule with open findings: how many, how severe, which projects."""
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule.value, []).append(f)
    out = []
    for rule, fs in by_rule.items():
        severity = min((f.severity for f in fs), key=lambda sev: sev.rank).value
        projects = sorted({f.project or "team-wide" for f in fs})
        advice = " (advice)" if severity == "info" else ""
        text = f"{rule}: {len(fs)} open [{severity}]{advice} in {', '.join(projects)}"
        out.append(Fact("harden", text, at, rule))
    return out


def _says_old_rejected(e: JournalEntry) -> bool:
    d = e.detail
    for key in ("old_rejected", "old_invalid"):
        if d.get(key) is True:
            return True
    for key in ("old", "old_verdict", "old_result"):
        if str(d.get(key, "")).lower() in ("rejected", "invalid"):
            return True
    probe = d.get("probe")
    if isinstance(probe, dict):
        return str(probe.get("old", "")).lower() in ("rejected", "invalid")
    return False


@dataclass(frozen=True)
class ChecklistRule:
    """One checklist item and the function that decides it."""

    id: str
    title: str
    guidance: str
    """whose guidance the item follows"""
    decide: Callable[[ReportEvidence], Decision]


CHECKLIST: tuple[ChecklistRule, ...] = (
    ChecklistRule("inventory", "Inventory every copy of each credential", "Upstash, Vercel", _item_inventory),
    ChecklistRule("rotate_upstash", "Rotate the credentials in Upstash", "Upstash", _item_rotate_upstash),
    ChecklistRule(
        "replace_vercel",
        "Replace the values in Vercel (every project, target, branch, shared var)",
        "Vercel",
        _item_replace_vercel,
    ),
    ChecklistRule("redeploy_all", "Redeploy every affected deployment", "Vercel", _item_redeploy_all),
    ChecklistRule(
        "remove_stale",
        "Remove stale copies from .env files, CI secrets and docs",
        "Upstash, Vercel",
        _item_remove_stale,
    ),
    ChecklistRule("old_rejected", "Verify the old secrets are rejected", "Upstash", _item_old_rejected),
    ChecklistRule(
        "review_logs",
        "Review activity logs (Vercel events, Upstash audit logs)",
        "Vercel, Upstash",
        _item_review_logs,
    ),
    ChecklistRule(
        "hardening",
        "Hardening follow-ups (read-only tokens, ACL user per service, sensitive vars)",
        "Upstash, Vercel",
        _item_hardening,
    ),
)
"""every checklist item, in the order the report lists them"""

FOLLOW_UPS = frozenset({"hardening"})
"""Items that do not decide whether the rotation is complete."""


def decide_item(rule: ChecklistRule, ev: ReportEvidence) -> ChecklistItem:
    """Decide one item from the evidence."""
    status, facts, missing, hint = rule.decide(ev)
    return ChecklistItem(rule.id, rule.title, rule.guidance, status, tuple(facts), tuple(missing), hint)
