"""The report's risks: what may still be exposed or undone, most severe first.

From the journal (integrity problems, abandoned runs, rollback residue, forced revokes, failed or
partial rotations), from verify's checks (or, unverified, from the inventory: older deployments,
git history, unreadable copies) and from audit's flagged events.
"""

from __future__ import annotations

from collections.abc import Sequence

from keyroll.core.model import Confidence, LocationKind
from keyroll.journal.events import Phase
from keyroll.journal.runlog import RunLog
from keyroll.report.evidence import ReportEvidence, fact
from keyroll.report.model import CredentialSection, Fact, Risk
from keyroll.verify.result import CheckCategory, CheckStatus
from keyroll.verify.times import parse_time

__all__ = ["risks"]


def risks(ev: ReportEvidence, sections: Sequence[CredentialSection]) -> list[Risk]:
    risks: list[Risk] = []
    log = ev.log
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
    if ev.vr is not None:
        for c in ev.vr.checks:
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
                    tuple(fact(e) for e in c.evidence[:5]),
                )
            )
    elif log is not None and log.inventory is not None:
        risks += _inventory_risks(ev)
    if ev.ar is not None and ev.ar.flagged:
        fl = ev.ar.flagged
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


def _inventory_risks(ev: ReportEvidence) -> list[Risk]:
    assert ev.log is not None and ev.log.inventory is not None
    inv = ev.log.inventory
    fps = set(ev.fps)
    for fp in ev.fps:
        cred = inv.credential(fp)
        if cred is not None:
            fps.update(cred.related)
    out: list[Risk] = []
    old_deps = [
        d
        for d in inv.deployments
        if not d.serving and d.project_id in {p for fp in ev.fps for p in ev.log.affected_projects(fp)}
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
    history = [loc for loc in inv.locations if loc.kind is LocationKind.GIT_COMMIT and loc.fingerprint in fps]
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
        elif e.step_id.endswith("/rollback") and e.phase == Phase.OUTCOME:
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
