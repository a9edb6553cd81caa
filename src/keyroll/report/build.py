"""Build the incident record from evidence: the journal's run log, a verify result, an audit result.

:func:`build_report` is pure: it reads a :class:`~keyroll.journal.runlog.RunLog` (or none, when
the journal is missing), an optional :class:`~keyroll.verify.result.VerifyResult`, an
optional :class:`~keyroll.audit.run.AuditResult` and optional hardening evidence
(:class:`~keyroll.report.hardening.HardeningEvidence`), and decides each checklist item *by
evidence* — citing the journal entry, probe, API read or harden check and its time. Whatever
cannot be decided is UNKNOWN and listed in ``unknowns``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from keyroll.audit.run import AuditResult
from keyroll.core.model import (
    OVERLAP_STRATEGIES,
    Confidence,
    LocationKind,
    StepKind,
    StepState,
    Strategy,
)
from keyroll.journal.events import JournalEntry
from keyroll.journal.runlog import RunLog
from keyroll.report.model import (
    ChecklistItem,
    CredentialSection,
    Fact,
    IncidentReport,
    ItemStatus,
    MarkKind,
    OutageWindow,
    ProjectSection,
    RedeployRow,
    Risk,
    RunSummary,
    Summary,
    TimelineMark,
)
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, VerifyResult
from keyroll.verify.times import iso, parse_time

if TYPE_CHECKING:  # the harden package loads the code analysers: only the CLI needs them
    from keyroll.harden.findings import Finding
    from keyroll.report.hardening import HardeningEvidence

__all__ = ["CHECKLIST", "build_report"]

CHECKLIST: tuple[tuple[str, str, str], ...] = (
    ("inventory", "Inventory every copy of each credential", "Upstash, Vercel"),
    ("rotate_upstash", "Rotate the credentials in Upstash", "Upstash"),
    ("replace_vercel", "Replace the values in Vercel (every project, target, branch, shared var)", "Vercel"),
    ("redeploy_all", "Redeploy every affected deployment", "Vercel"),
    ("remove_stale", "Remove stale copies from .env files, CI secrets and docs", "Upstash, Vercel"),
    ("old_rejected", "Verify the old secrets are rejected", "Upstash"),
    ("review_logs", "Review activity logs (Vercel events, Upstash audit logs)", "Vercel, Upstash"),
    (
        "hardening",
        "Hardening follow-ups (read-only tokens, ACL user per service, sensitive vars)",
        "Upstash, Vercel",
    ),
)
"""(id, title, whose guidance) — the order the report lists them in."""

FOLLOW_UPS = frozenset({"hardening"})
"""Items that do not decide whether the rotation is complete."""

_FINISHED = (StepState.DONE, StepState.SKIPPED)


def _fact(ev: Evidence) -> Fact:
    return Fact(ev.source.value, ev.what, ev.at, ev.ref)


def _entry_fact(e: JournalEntry, text: str) -> Fact:
    return Fact("journal", f"{text} (seq {e.seq})", e.ts, e.step_id)


def _decide(checks: Sequence[Check]) -> ItemStatus:
    if any(c.status is CheckStatus.FAIL for c in checks):
        return ItemStatus.NOT_DONE
    if any(c.status is CheckStatus.UNKNOWN for c in checks):
        return ItemStatus.UNKNOWN
    return ItemStatus.DONE


def _check_facts(
    checks: Iterable[Check], *, only_problems: bool = False, limit: int = 12
) -> tuple[Fact, ...]:
    out: list[Fact] = []
    for c in checks:
        if only_problems and c.status in (CheckStatus.PASS, CheckStatus.WARN):
            continue
        ev = c.evidence[-1] if c.evidence else None
        out.append(
            Fact(
                ev.source.value if ev else "verify",
                f"[{c.status.value}] {c.title}",
                ev.at if ev else None,
                c.id,
            )
        )
        if len(out) >= limit:
            break
    return tuple(out)


def _stale_kind(c: Check) -> str:
    # ids look like stale:<fp>:<location kind>:…  (see keyroll.verify.stale)
    parts = c.id.split(":")
    return parts[3] if len(parts) > 3 and parts[1] == "sha256" else (parts[2] if len(parts) > 2 else "")


class _Builder:
    def __init__(
        self,
        log: RunLog | None,
        vr: VerifyResult | None,
        ar: AuditResult | None,
        journal_error: str,
        hardening: HardeningEvidence | None = None,
        runs: Sequence[RunLog] = (),
        whole_journal: bool = False,
    ):
        self.all_runs = tuple(runs)
        self.whole_journal = whole_journal
        self.log = log
        self.vr = vr
        self.ar = ar
        self.journal_error = journal_error
        self.hardening = hardening
        self.unknowns: list[str] = []
        self.fps: tuple[str, ...] = log.credentials() if log is not None and log.run is not None else ()

    # -- helpers ---------------------------------------------------------------------------
    def checks(self, *categories: CheckCategory) -> list[Check]:
        if self.vr is None:
            return []
        return [c for c in self.vr.checks if c.category in categories]

    def steps_complete(self, kind: StepKind) -> tuple[bool | None, list[str], list[Fact]]:
        """(all planned steps of kind finished?, problems, evidence) over every credential."""
        assert self.log is not None
        problems: list[str] = []
        facts: list[Fact] = []
        planned_any = False
        for fp in self.fps:
            done = self.log.kinds_complete(fp, kind)
            if done is None:
                continue
            planned_any = True
            states = self.log.step_states(fp)
            for s in self.log.steps(fp):
                if s.kind is kind and states.get(s.id) not in _FINISHED:
                    problems.append(f"{fp}: '{s.description}' is {states.get(s.id, StepState.PENDING).value}")
            last = [e for e in self.log.done(fp, kind)]
            if last:
                e = last[-1]
                facts.append(
                    _entry_fact(e, f"{fp}: {len(last)} {kind.value} step(s) done, last at {iso(e.ts)}")
                )
        if not planned_any:
            return None, problems, facts
        return not problems, problems, facts

    # -- checklist -------------------------------------------------------------------------
    def item(self, ident: str) -> ChecklistItem:
        title, guidance = {i: (t, g) for i, t, g in CHECKLIST}[ident]
        status, facts, missing, hint = getattr(self, f"_item_{ident}")()
        return ChecklistItem(ident, title, guidance, status, tuple(facts), tuple(missing), hint)

    def _no_run(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        why = self.journal_error or "the journal holds no rotation run"
        return ItemStatus.UNKNOWN, [], [why], "run keyroll apply (the journal is the evidence)"

    def _item_inventory(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        if self.log is None or self.log.run is None:
            return self._no_run()
        inv = self.log.inventory
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

    def _item_rotate_upstash(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        """Minting the new values and revoking the old ones at the provider — REVOKE steps,
        destructive resets and key rolls, and dashboard (human) resets all count."""
        if self.log is None or self.log.run is None:
            return self._no_run()
        if not self.fps:
            return ItemStatus.UNKNOWN, [], ["the plan lists no credential"], ""
        problems: list[str] = []
        facts: list[Fact] = []
        for fp in self.fps:
            states = self.log.step_states(fp)
            for s in self.log.steps(fp):
                if s.kind in (StepKind.MINT, StepKind.REVOKE, StepKind.HUMAN) or s.destructive:
                    st = states.get(s.id, StepState.PENDING)
                    if st not in _FINISHED:
                        what = "dashboard step" if s.kind is StepKind.HUMAN else s.kind.value
                        problems.append(f"{fp}: {what} '{s.description}' is {st.value}")
            finished = [
                e
                for e in self.log.done(fp)
                if self.log.kind_of(e) in (StepKind.MINT, StepKind.REVOKE, StepKind.HUMAN)
            ]
            revoked = self.log.revoked_at(fp)
            if finished:
                e = finished[-1]
                text = f"{fp}: {len(finished)} mint/revoke step(s) done"
                text += f", old value revoked at {iso(revoked)}" if revoked else ""
                facts.append(_entry_fact(e, text))
        return (ItemStatus.NOT_DONE if problems else ItemStatus.DONE), facts, problems, "keyroll resume"

    def _item_replace_vercel(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        if self.log is None or self.log.run is None:
            return self._no_run()
        ok, problems, facts = self.steps_complete(StepKind.WRITE_ENV)
        if ok is False:
            return ItemStatus.NOT_DONE, facts, problems, "keyroll resume"
        stale = [c for c in self.checks(CheckCategory.STALE) if _stale_kind(c).startswith("vercel")]
        facts += _check_facts(stale, only_problems=True)
        if self.vr is None:
            if ok is None:
                return ItemStatus.UNKNOWN, facts, ["no env write was planned or journaled"], "keyroll verify"
            return ItemStatus.DONE, facts, ["not re-read since (run keyroll verify)"], ""
        status = _decide(stale)
        if ok is None and not stale:
            return ItemStatus.UNKNOWN, facts, ["no env write was planned and nothing was re-read"], ""
        if status is ItemStatus.DONE:
            facts.append(
                Fact(
                    "api", f"{len(stale)} Vercel location(s) re-read: no old value left", self.vr.finished_at
                )
            )
        missing = [c.title for c in stale if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)]
        return status, facts, missing, "keyroll resume, then keyroll verify"

    def _item_redeploy_all(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        if self.log is None or self.log.run is None:
            return self._no_run()
        problems: list[str] = []
        facts: list[Fact] = []
        planned = False
        for kind in (StepKind.REDEPLOY, StepKind.AWAIT_READY):
            ok, probs, fs = self.steps_complete(kind)
            planned = planned or ok is not None
            problems += probs
            facts += fs
        if problems:
            return ItemStatus.NOT_DONE, facts, problems, "keyroll resume"
        live = [
            c
            for c in self.checks(CheckCategory.FRESHNESS, CheckCategory.ROLLBACK)
            if c.status is not CheckStatus.WARN
        ]
        if self.vr is None:
            if not planned:
                return ItemStatus.UNKNOWN, facts, ["no redeploy was planned or journaled"], "keyroll verify"
            return ItemStatus.DONE, facts, ["serving deployments not re-read since (run keyroll verify)"], ""
        facts += _check_facts(live, only_problems=True)
        status = _decide(live)
        if status is ItemStatus.DONE:
            if not live and not planned:
                return ItemStatus.UNKNOWN, facts, ["no affected deployment was found"], ""
            facts.append(Fact("api", f"{len(live)} serving deployment check(s) passed", self.vr.finished_at))
        missing = [c.title for c in live if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)]
        return status, facts, missing, "redeploy what is listed, then keyroll verify"

    def _file_facts(self) -> list[Fact]:
        """What ``--rewrite-files`` did to each file: new value (configuration) or redacted."""
        if self.log is None or self.log.run is None:
            return []
        facts: list[Fact] = []
        for fp in self.fps:
            for f in self.log.file_writes(fp):
                if f["redacted"]:
                    what = (
                        f"{fp}: {f['path']} redacted ({f['kind']}; not configuration): "
                        f"{f['replacements']} cop(ies) of the old value replaced by a placeholder, no new value written"
                    )
                else:
                    what = f"{fp}: {f['path']} rewritten with the new value ({f['replacements']} cop(ies))"
                facts.append(Fact("journal", what, f["at"], f["path"]))
        return facts

    def _item_remove_stale(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        status, facts, missing, hint = self._remove_stale()
        return status, [*self._file_facts(), *facts], missing, hint

    def _remove_stale(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        if self.vr is None:
            return (
                ItemStatus.UNKNOWN,
                [],
                ["files and CI secrets were not re-checked"],
                "keyroll verify --path …",
            )
        local = [
            c
            for c in self.checks(CheckCategory.STALE)
            if _stale_kind(c) in ("file", "github_secret", "inventory", "upstash")
        ]
        facts = list(_check_facts(local))
        status = _decide(local)
        missing = [c.title for c in local if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)]
        searched = self.vr.searched
        if searched:
            facts.append(Fact("verify", f"searched {', '.join(searched)}", self.vr.finished_at))
        if status is not ItemStatus.NOT_DONE and not searched:
            return (
                ItemStatus.UNKNOWN,
                facts,
                [*missing, "no local file, git repository or GitHub repository was searched"],
                "keyroll verify --path DIR --git-repo DIR (and GITHUB_REPOS)",
            )
        if status is ItemStatus.DONE:
            facts.append(Fact("verify", f"{len(local)} file/CI location(s) checked", self.vr.finished_at))
        return status, facts, missing, "remove them, then keyroll verify"

    def _journal_old_rejected(self) -> tuple[ItemStatus, list[Fact], list[str]]:
        assert self.log is not None
        facts: list[Fact] = []
        missing: list[str] = []
        for fp in self.fps:
            revoked = self.log.revoked_at(fp)
            proofs = [
                e
                for e in self.log.probe_entries(fp)
                if revoked is not None and e.ts >= revoked and _says_old_rejected(e)
            ]
            if proofs:
                facts.append(_entry_fact(proofs[-1], f"{fp}: old value rejected after revoke"))
            else:
                missing.append(f"{fp}: no probe of the old value after revoke")
        status = ItemStatus.DONE if self.fps and not missing else ItemStatus.UNKNOWN
        return status, facts, missing

    def _item_old_rejected(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        checks = self.checks(CheckCategory.OLD_REJECTED)
        if checks:
            status = _decide(checks)
            missing = [c.title for c in checks if c.status is not CheckStatus.PASS]
            return (
                status,
                list(_check_facts(checks)),
                missing,
                "revoke what is still accepted (keyroll resume)",
            )
        if self.log is None or self.log.run is None:
            return self._no_run()
        status, facts, missing = self._journal_old_rejected()
        return status, facts, missing, "keyroll verify"

    def _item_review_logs(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        if self.ar is None:
            return ItemStatus.UNKNOWN, [], ["activity logs were not read"], "keyroll audit"
        ar = self.ar
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

    def _item_hardening(self) -> tuple[ItemStatus, list[Fact], list[str], str]:
        """Open harden findings (info-level advice aside) fail the item; none passes it."""
        h = self.hardening
        if h is None or h.result is None:
            why = h.reason if h is not None else "the harden checks were not run for this record"
            return ItemStatus.UNKNOWN, [], [why], "keyroll harden (or keyroll report without --offline)"
        result = h.result
        at = h.checked_at
        how = (
            "checked for this record"
            if h.origin == "live"
            else f"latest keyroll harden result ({h.stored_path})"
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
        finished = self.log.finished_at() if self.log is not None and self.log.run is not None else None
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

    # -- sections --------------------------------------------------------------------------
    def credential(self, fp: str) -> CredentialSection:
        assert self.log is not None
        log = self.log
        cp = log.credential_plan(fp)
        cred = log.inventory.credential(fp) if log.inventory is not None else None
        states = log.step_states(fp)
        counts = Counter(s.value for s in states.values())
        state = _credential_state(states.values())
        strategy = cp.strategy if cp is not None else (cred.strategy if cred is not None else None)
        revoked = log.revoked_at(fp)
        window = log.window_s(fp)
        forced = log.forced_revoke(fp)
        notes: list[str] = []
        outage: float | None
        if strategy in OVERLAP_STRATEGIES:
            outage, basis = 0.0, "overlap"
            if forced:
                outage, basis = None, "forced revoke: not measured"
        elif window is not None:
            outage, basis = window, "measured"
        elif revoked is not None:
            outage, basis = None, "not measured"
            notes.append("a cutover happened but no window was journaled")
        else:
            outage, basis = (None, "not cut over") if strategy is not None else (None, "unknown")
        slugs = log.inventory.custom_environment_slugs() if log.inventory is not None else {}
        rds = tuple(
            RedeployRow(
                r.project_id,
                r.new_id,
                r.old_id,
                slugs.get(r.target, r.target),
                r.started_at,
                r.ready_at,
                r.state,
            )
            for r in log.redeploys(fp)
        )
        checks: tuple[tuple[str, int], ...] = ()
        if self.vr is not None:
            c = Counter(ch.status.value for ch in self.vr.for_credential(fp))
            checks = tuple(sorted(c.items()))
        if cp is not None:
            notes += list(cp.warnings)
        notes += [f"{e.step_id} failed at {iso(e.ts)}: {err}" for e, err in log.errors(fp)]
        notes += list(log.consents(fp))
        return CredentialSection(
            fingerprint=fp,
            product=(cred.adapter or cred.product.value) if cred else "",  # an adapter names its provider
            kind=cred.kind.value if cred else "",
            resource=(cred.resource_name or cred.resource_id) if cred else "",
            management=cred.management.value if cred else "",
            strategy=strategy.value if isinstance(strategy, Strategy) else "",
            state=state,
            started_at=log.started_at(fp),
            finished_at=max((e.ts for e in log.entries_for(fp)), default=None),
            revoked_at=revoked,
            new_fingerprints=log.new_fingerprints(fp),
            outage_s=outage,
            outage_basis=basis,
            forced_revoke=forced or (log.run_forced() and revoked is not None and state != "done"),
            projects=log.affected_projects(fp),
            redeploys=rds,
            steps=tuple(sorted(counts.items())),
            checks=checks,
            notes=tuple(notes),
        )

    def project_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        if self.log is not None and self.log.inventory is not None:
            for loc in self.log.inventory.locations:
                if loc.project_id and loc.project_name:
                    names.setdefault(loc.project_id, loc.project_name)
        return names

    def projects(self, sections: Sequence[CredentialSection]) -> list[ProjectSection]:
        assert self.log is not None
        names = self.project_names()
        out: list[ProjectSection] = []
        by_project: dict[str, list[str]] = {}
        for s in sections:
            for p in s.projects:
                by_project.setdefault(p, []).append(s.fingerprint)
        for pid, fps in by_project.items():
            written = [self.log.env_written_at(fp, pid) for fp in fps]
            notes: list[str] = []
            missing_writes = [fp for fp, w in zip(fps, written, strict=True) if w is None]
            if missing_writes:
                notes.append(f"no env write journaled for {', '.join(missing_writes)}")
            redeployed = sum(
                1 for s in sections for r in s.redeploys if r.project_id == pid and r.state == "READY"
            )
            checks = [c for c in (self.vr.checks if self.vr else ()) if c.project_id == pid]
            failing = [c for c in checks if c.status is CheckStatus.FAIL]
            unknown = [c for c in checks if c.status is CheckStatus.UNKNOWN]
            notes += [c.title for c in failing[:5]]
            if failing or missing_writes:
                status = "attention"
            elif unknown:
                status = "unknown"
                notes += [c.title for c in unknown[:3]]
            elif self.vr is None:
                status = "ok" if redeployed or not any(s.redeploys for s in sections) else "unknown"
                notes.append("not re-verified (run keyroll verify)")
            else:
                status = "ok"
            out.append(
                ProjectSection(
                    project_id=pid,
                    name=names.get(pid, ""),
                    credentials=tuple(fps),
                    env_written_at=max((w for w in written if w is not None), default=None),
                    redeployed=redeployed,
                    status=status,
                    notes=tuple(notes),
                )
            )
        return out

    def timeline(self) -> tuple[list[TimelineMark], list[OutageWindow]]:
        assert self.log is not None
        log = self.log
        marks: list[TimelineMark] = []
        for fp in self.fps:
            projects = log.affected_projects(fp)
            for e in log.entries_for(fp):
                if e.phase != "outcome":
                    continue
                kind = log.kind_of(e)
                targets = (e.project_id,) if e.project_id else projects
                if e.state is StepState.FAILED:
                    marks += [
                        TimelineMark(
                            e.ts, MarkKind.FAILURE, p, fp, f"{kind.value if kind else 'step'} failed"
                        )
                        for p in targets
                    ]
                    continue
                if e.state is not StepState.DONE or kind is None:
                    continue
                mk = {
                    StepKind.WRITE_ENV: MarkKind.ENV_WRITE,
                    StepKind.PROBE: MarkKind.VERIFY,
                    StepKind.REVOKE: MarkKind.REVOKE,
                }.get(kind)
                if kind is StepKind.WRITE_ENV:
                    if log.write_target(e) not in ("vercel", "shared"):
                        continue
                    targets = log.project_targets(e, fp)
                revoked = e.detail.get("revoked_at")
                if isinstance(revoked, (int, float)) and kind is not StepKind.REVOKE:
                    # a cutover reset or a key roll revokes inside a mint/human step
                    marks += [
                        TimelineMark(float(revoked), MarkKind.REVOKE, p, fp, e.step_id) for p in projects
                    ]
                if mk is not None:
                    at = (
                        float(revoked)
                        if mk is MarkKind.REVOKE and isinstance(revoked, (int, float))
                        else e.ts
                    )
                    marks += [TimelineMark(at, mk, p, fp, kind.value) for p in targets]
            for r in log.redeploys(fp):
                if r.started_at is not None:
                    marks.append(TimelineMark(r.started_at, MarkKind.BUILD, r.project_id, fp, r.new_id))
                if r.ready_at is not None:
                    marks.append(TimelineMark(r.ready_at, MarkKind.READY, r.project_id, fp, r.new_id))
        windows: list[OutageWindow] = []
        for fp in self.fps:
            window = log.cutover_window(fp)
            if window is not None and window[1] > window[0]:
                windows.append(OutageWindow(fp, window[0], window[1], log.affected_projects(fp)))
        marks.sort(key=lambda m: (m.at, m.project_id))
        return marks, windows

    def incident_runs(self) -> tuple[list[RunSummary], list[CredentialSection]]:
        """Every run of the incident and a section for each credential only earlier runs handled.

        With ``whole_journal`` every run of the journal belongs to the incident (one journal per
        incident). Otherwise (``--run``) a run belongs to it when it handled one of its
        credentials: the selected run's, their old and new values (a second rotation starts from
        the first one's new value), and so on transitively. A credential the selected run does not
        handle is reported from the latest run that did, with that run's outcome (a rolled-back
        one stays an open risk).
        """
        log = self.log
        if log is None or log.run is None:
            return [], []
        others = {r.run_id: r for r in self.all_runs if r.run is not None and r.run_id != log.run_id}
        linked = {log.run_id: log}

        def keys(r: RunLog) -> set[str]:
            out: set[str] = set()
            for fp in r.credentials():
                out |= {fp, *r.old_fingerprints(fp), *r.new_fingerprints(fp)}
            return out

        scope = keys(log)
        changed = True
        while changed:
            changed = False
            for run_id, r in list(others.items()):
                if self.whole_journal or keys(r) & scope:
                    linked[run_id] = others.pop(run_id)
                    scope |= keys(r)
                    changed = True
        ordered = sorted(linked.values(), key=lambda r: r.run.started_at if r.run else 0.0)
        rows: list[RunSummary] = []
        latest_for: dict[str, RunLog] = {}
        for r in ordered:
            assert r.run is not None
            states = tuple((fp, _credential_state(r.step_states(fp).values())) for fp in r.credentials())
            rows.append(
                RunSummary(
                    r.run_id,
                    r.run.state.value,
                    r.run.started_at,
                    r.run.finished_at,
                    states,
                    selected=r.run_id == log.run_id,
                )
            )
            for fp in r.credentials():
                latest_for[fp] = r
        sections: list[CredentialSection] = []
        for fp, r in latest_for.items():
            if fp in self.fps or r.run_id == log.run_id:
                continue
            section = _Builder(r, None, None, "").credential(fp)
            note = (
                f"handled in run {r.run_id} ({r.run.state.value if r.run else '?'}), not in run {log.run_id}"
            )
            sections.append(dataclasses.replace(section, notes=(note, *section.notes)))
        return rows, sections

    def risks(self, sections: Sequence[CredentialSection]) -> list[Risk]:
        risks: list[Risk] = []
        log = self.log
        for problem in log.integrity if log is not None else ():
            risks.append(Risk(f"integrity:{len(risks)}", "high", "journal integrity problem", problem))
        risks.extend(_closing_risks(log))
        for s in sections:
            if s.forced_revoke:
                risks.append(
                    Risk(
                        f"forced:{s.fingerprint}",
                        "high",
                        f"{s.fingerprint} was revoked with --force-revoke",
                        "a gate failed (not every deployment was READY with the new value, or a probe failed)",
                        s.fingerprint,
                    )
                )
            if s.state in ("failed", "rolled_back", "partial"):
                risks.append(
                    Risk(
                        f"state:{s.fingerprint}",
                        "high",
                        f"{s.fingerprint}: rotation {s.state.replace('_', ' ')}",
                        "the old value may still be in use and valid",
                        s.fingerprint,
                    )
                )
        if self.vr is not None:
            for c in self.vr.checks:
                if c.status is CheckStatus.PASS or c.category is CheckCategory.RUN:
                    continue  # unfinished runs are reported from the journal's own state
                if c.status is CheckStatus.FAIL:
                    sev = "high"
                elif c.status is CheckStatus.UNKNOWN:
                    sev = "medium"
                else:
                    sev = "low" if c.category is CheckCategory.HISTORY else "medium"
                risks.append(
                    Risk(
                        c.id,
                        sev,
                        c.title,
                        c.hint,
                        c.credential,
                        c.project_id,
                        tuple(_fact(e) for e in c.evidence[:5]),
                    )
                )
        elif log is not None and log.inventory is not None:
            risks += self._inventory_risks()
        if self.ar is not None and self.ar.flagged:
            fl = self.ar.flagged
            risks.append(
                Risk(
                    "audit:flagged",
                    "medium",
                    f"{len(fl)} unusual activity event(s)",
                    "unknown actors or writes keyroll did not make — review each",
                    evidence=tuple(
                        Fact(
                            "audit",
                            f"{e.source} {e.type} by {e.actor or '?'} ({', '.join(e.reasons)})",
                            e.at,
                            e.id,
                        )
                        for e in fl[:20]
                    ),
                )
            )
        order = {"high": 0, "medium": 1, "low": 2}
        risks.sort(key=lambda r: order.get(r.severity, 3))
        return risks

    def _inventory_risks(self) -> list[Risk]:
        assert self.log is not None and self.log.inventory is not None
        inv = self.log.inventory
        fps = set(self.fps)
        for fp in self.fps:
            cred = inv.credential(fp)
            if cred is not None:
                fps.update(cred.related)
        out: list[Risk] = []
        old_deps = [
            d
            for d in inv.deployments
            if not d.serving
            and d.project_id in {p for fp in self.fps for p in self.log.affected_projects(fp)}
        ]
        if old_deps:
            out.append(
                Risk(
                    "inventory:old-deployments",
                    "medium",
                    f"{len(old_deps)} older deployment(s) still answer with the old credential",
                    "they fail once the old value is revoked; redeploy or delete them",
                    evidence=tuple(
                        Fact(
                            "journal",
                            f"{d.deployment_id} ({d.project_id})",
                            d.created_at / 1000.0 or None,
                            d.deployment_id,
                        )
                        for d in old_deps[:10]
                    ),
                )
            )
        history = [
            loc for loc in inv.locations if loc.kind is LocationKind.GIT_COMMIT and loc.fingerprint in fps
        ]
        if history:
            out.append(
                Risk(
                    "inventory:git-history",
                    "low",
                    f"{len(history)} copy(ies) in git history",
                    "history is not rewritten; the values are dead once revoked",
                    evidence=tuple(
                        Fact("git", loc.describe(), parse_time(loc.author_date), loc.commit)
                        for loc in history[:10]
                    ),
                )
            )
        unreadable = [
            loc for loc in inv.locations if loc.confidence is not Confidence.EXACT and loc.fingerprint in fps
        ]
        if unreadable:
            out.append(
                Risk(
                    "inventory:unverifiable",
                    "medium",
                    f"{len(unreadable)} location(s) could not be read back",
                    "sensitive vars and CI secrets cannot be read: only keyroll's own writes prove they changed",
                    evidence=tuple(Fact("journal", loc.describe()) for loc in unreadable[:10]),
                )
            )
        return out

    def build(self, now: float, tool_version: str, journal_path: str) -> IncidentReport:
        log = self.log
        if log is None:
            self.unknowns.append(self.journal_error or "no journal: nothing about the rotation is known")
        elif log.run is None:
            self.unknowns.append("the journal holds no rotation run")
        else:
            if log.plan is None:
                self.unknowns.append("the plan could not be read: steps not yet started are not known")
            if log.inventory is None:
                self.unknowns.append(
                    "no inventory in the journal: products, endpoints and copies are not known"
                )
        if log is not None:
            self.unknowns += [f"journal: {p}" for p in log.problems]
        if self.vr is None:
            self.unknowns.append(
                "not verified: no probe of the old/new values and no re-read of deployments (keyroll verify)"
            )
        else:
            self.unknowns += [f"verify: {n}" for n in self.vr.notes]
        if self.ar is None:
            self.unknowns.append("activity logs not reviewed (keyroll audit)")
        else:
            self.unknowns += [f"audit: {n}" for n in self.ar.notes]
        sections = [self.credential(fp) for fp in self.fps] if log is not None and log.run else []
        run_rows, earlier = self.incident_runs()
        sections += earlier
        projects = self.projects(sections) if log is not None and log.run else []
        marks, windows = self.timeline() if log is not None and log.run else ([], [])
        for s in sections:
            if s.state == "not_started":
                self.unknowns.append(f"{s.fingerprint}: rotation not started")
        checklist = tuple(self.item(i) for i, _, _ in CHECKLIST)
        risks = self.risks(sections)
        core = [c for c in checklist if c.id not in FOLLOW_UPS]
        if any(c.status is ItemStatus.NOT_DONE for c in core) or any(r.severity == "high" for r in risks):
            status = "incomplete"
        elif all(c.status is ItemStatus.DONE for c in core):
            status = "complete"
        else:
            status = "unknown"
        outages = [s.outage_s for s in sections if s.outage_s is not None]
        summary = Summary(
            status=status,
            credentials_total=len(sections),
            credentials_done=sum(1 for s in sections if s.state == "done"),
            projects=len(projects),
            deployments_redeployed=sum(1 for s in sections for r in s.redeploys if r.state == "READY"),
            max_outage_s=max(outages) if outages else None,
            open_risks=len(risks),
            checklist_done=sum(1 for c in checklist if c.status is ItemStatus.DONE),
            checklist_total=len(checklist),
            started_at=min(
                (t for t in (*(r.started_at for r in run_rows), log.started_at()) if t is not None),
                default=None,
            )
            if log is not None and log.run
            else None,
            finished_at=log.finished_at() if log is not None and log.run else None,
        )
        return IncidentReport(
            generated_at=now,
            summary=summary,
            checklist=checklist,
            credentials=tuple(sections),
            projects=tuple(projects),
            risks=tuple(risks),
            unknowns=tuple(dict.fromkeys(self.unknowns)),
            integrity=log.integrity if log is not None else (),
            marks=tuple(marks),
            windows=tuple(windows),
            run_id=log.run_id if log is not None else "",
            run_state=log.run.state.value if log is not None and log.run else "",
            runs=tuple(run_rows),
            run_options=_safe_options(log.run.options) if log is not None and log.run else None,
            journal=journal_path,
            tool_version=tool_version,
            verify=self.vr,
            audit=self.ar,
        )


def _closing_risks(log: RunLog | None) -> list[Risk]:
    """A run closed by ``keyroll abandon`` (its reason, what was never done) and rollback residue
    (what a person must still remove), from the journal's entries."""
    out: list[Risk] = []
    for e in log.entries if log is not None else ():
        if e.step_id == "run/abandon":
            for r in e.detail.get("residue") or []:
                out.append(
                    Risk(
                        f"abandoned:{r.get('credential', '')}",
                        "high",
                        f"run {e.run_id} was abandoned: {e.detail.get('reason', '')}",
                        f"{r.get('credential', '')} ({r.get('state', '')}) — not done: "
                        f"{'; '.join(r.get('not_done') or []) or '-'}; {r.get('do', '')}",
                        str(r.get("credential", "")),
                    )
                )
        elif e.step_id.endswith("/rollback") and e.phase == "outcome":
            for i, r in enumerate(e.detail.get("residue") or []):
                out.append(
                    Risk(
                        f"residue:{e.step_id}:{i}",
                        "high",
                        f"left after rollback: {r.get('what', '')}",
                        str(r.get("do", "")),
                        e.credential,
                    )
                )
    return out


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


def _safe_options(options: dict[str, object]) -> dict[str, object]:
    """Run options for the report: only flags and numbers (never anything that could be a value)."""
    out: dict[str, object] = {
        k: v for k, v in options.items() if isinstance(v, (bool, int, float)) or v is None
    }
    sources = options.get("sources")
    if isinstance(sources, dict):  # where a flag came from: flag names and config file paths
        out["sources"] = {str(k): str(v) for k, v in sources.items()}
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


def _credential_state(states: Iterable[StepState]) -> str:
    st = list(states)
    if not st:
        return "unknown"
    if any(s is StepState.ROLLED_BACK for s in st):
        return "rolled_back"
    if any(s is StepState.FAILED for s in st):
        return "failed"
    if all(s in _FINISHED for s in st):
        return "done"
    if all(s is StepState.PENDING for s in st):
        return "not_started"
    return "partial"


def build_report(
    log: RunLog | None,
    verify: VerifyResult | None = None,
    audit: AuditResult | None = None,
    *,
    now: float,
    tool_version: str = "",
    journal_path: str = "",
    journal_error: str = "",
    hardening: HardeningEvidence | None = None,
    runs: Sequence[RunLog] = (),
    whole_journal: bool = False,
) -> IncidentReport:
    """Decide every checklist item and section from the evidence given.

    :param runs: every run of the journal; those that handled a credential of ``log``'s run (or
        its old/new values, transitively) are the incident's and are reported too;
        ``whole_journal``: all of them are.
    :param log: the run (None when the journal could not be opened: ``journal_error`` says why).
    :param verify: a verify result for the same run (None: not verified).
    :param audit: an audit result (None: logs not reviewed).
    :param hardening: harden checks run for this record or stored (None: not checked; the
        hardening item stays unknown).
    """
    builder = _Builder(log, verify, audit, journal_error, hardening, runs, whole_journal)
    return builder.build(now, tool_version, journal_path)
