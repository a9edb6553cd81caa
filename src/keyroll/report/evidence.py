"""The evidence an incident record is built from, and the small readings every part shares.

:class:`ReportEvidence` holds what :func:`~keyroll.report.build.build_report` was given — the
journal's run log (or why there is none), a verify result, an audit result, hardening evidence and
the journal's other runs — and answers the questions the checklist, the sections and the risks all
ask of it (which checks of a category, are all planned steps of a kind finished). The functions
here turn journal entries and verify checks into the report's cited :class:`~keyroll.report.model.Fact`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from keyroll.audit.run import AuditResult
from keyroll.core.model import StepKind, StepState
from keyroll.journal.events import JournalEntry
from keyroll.journal.runlog import RunLog
from keyroll.report.model import Fact, ItemStatus
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, VerifyResult
from keyroll.verify.times import iso

if TYPE_CHECKING:  # the harden package loads the code analysers: only the CLI needs them
    from keyroll.report.hardening import HardeningEvidence

__all__ = [
    "FINISHED",
    "ReportEvidence",
    "check_facts",
    "decide",
    "entry_fact",
    "fact",
    "stale_kind",
]

FINISHED = (StepState.DONE, StepState.SKIPPED)
"""step states that count as finished"""


@dataclass
class ReportEvidence:
    """What one report is built from (see :func:`~keyroll.report.build.build_report`)."""

    log: RunLog | None
    vr: VerifyResult | None = None
    ar: AuditResult | None = None
    journal_error: str = ""
    hardening: HardeningEvidence | None = None
    all_runs: tuple[RunLog, ...] = ()
    whole_journal: bool = False
    fps: tuple[str, ...] = field(init=False)
    """the credentials of the selected run (empty without a run)"""

    def __post_init__(self) -> None:
        log = self.log
        self.fps = log.credentials() if log is not None and log.run is not None else ()

    def checks(self, *categories: CheckCategory) -> list[Check]:
        """The verify checks of these categories (none when not verified)."""
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
                if s.kind is kind and states.get(s.id) not in FINISHED:
                    problems.append(f"{fp}: '{s.description}' is {states.get(s.id, StepState.PENDING).value}")
            last = [e for e in self.log.done(fp, kind)]
            if last:
                e = last[-1]
                facts.append(
                    entry_fact(e, f"{fp}: {len(last)} {kind.value} step(s) done, last at {iso(e.ts)}")
                )
        if not planned_any:
            return None, problems, facts
        return not problems, problems, facts


def fact(ev: Evidence) -> Fact:
    """A verify evidence item as a report fact."""
    return Fact(ev.source.value, ev.what, ev.at, ev.ref)


def entry_fact(e: JournalEntry, text: str) -> Fact:
    """A journal entry as a report fact (citing its sequence number)."""
    return Fact("journal", f"{text} (seq {e.seq})", e.ts, e.step_id)


def decide(checks: Sequence[Check]) -> ItemStatus:
    """A failed check: not done; else an unknown one: unknown; else done."""
    if any(c.status is CheckStatus.FAIL for c in checks):
        return ItemStatus.NOT_DONE
    if any(c.status is CheckStatus.UNKNOWN for c in checks):
        return ItemStatus.UNKNOWN
    return ItemStatus.DONE


def check_facts(checks: Iterable[Check], *, only_problems: bool = False, limit: int = 12) -> tuple[Fact, ...]:
    """One fact per check (its status and title, cited by its last evidence), at most ``limit``."""
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


def stale_kind(c: Check) -> str:
    """The location kind a stale-copy check is about."""
    # ids look like stale:<fp>:<location kind>:…  (see keyroll.verify.stale)
    parts = c.id.split(":")
    return parts[3] if len(parts) > 3 and parts[1] == "sha256" else (parts[2] if len(parts) > 2 else "")
