"""The journal's one event type: what the writer appends and every reader gets back.

A run is told as a sequence of :class:`JournalEntry` lines. Each step writes an *intent*
before it acts and an *outcome* after; *notes* record everything else (the ``run`` step's
state changes, Ignored Build Step changes, harden's writes). The same dataclass is built by
:meth:`keyroll.journal.store.Journal.append`, read back by
:meth:`~keyroll.journal.store.Journal.entries`, and hashed into the chain by
:func:`chain_hash` — so the writer, the readers and the integrity check cannot disagree on
what a line holds.

``detail`` is the evidence (HTTP status, deployment ids, measured windows, fingerprints —
never a value); its keys are documented in ``docs/journal.md``.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from keyroll.core.model import StepKind, StepState

__all__ = [
    "GENESIS",
    "RUN_STEP",
    "JournalEntry",
    "Phase",
    "RunNote",
    "StepRecord",
    "canonical",
    "chain_hash",
    "fold_steps",
]

GENESIS = "0" * 64
"""``prev_hash`` of the first entry of a journal."""

RUN_STEP = "run"
"""The step id of a run's own notes (start, state changes)."""


class Phase(enum.StrEnum):
    """Where in a step's life an entry was written."""

    INTENT = "intent"
    """before the step acts"""
    OUTCOME = "outcome"
    """after it acted (DONE, FAILED, ROLLED_BACK …)"""
    NOTE = "note"
    """anything else: run state changes, side effects outside a step"""


def canonical(obj: Any) -> str:
    """The JSON text hashed and stored for ``detail`` (sorted keys, ASCII, no spaces)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def chain_hash(prev: str, fields: list[Any]) -> str:
    """``sha256(prev_hash + canonical(fields))``: the link of one entry in the hash chain."""
    return hashlib.sha256((prev + canonical(fields)).encode()).hexdigest()


@dataclass(frozen=True)
class JournalEntry:
    """One journal line: the intent before an action, its outcome after, or a note (no secret values).

    ``detail`` holds evidence: HTTP status, deployment ids, measured windows
    (``window_s``), probe results, fingerprints of old/new values — never a value.
    """

    seq: int
    ts: float
    """epoch seconds"""
    run_id: str
    step_id: str
    phase: Phase
    state: StepState
    kind: StepKind | None = None
    credential: str = ""
    project_id: str = ""
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        phase: Any = self.phase
        if not isinstance(phase, Phase):  # built from a stored or literal spelling
            object.__setattr__(self, "phase", Phase(phase))

    @property
    def is_run_note(self) -> bool:
        """True for the run's own notes (start and state changes)."""
        return self.step_id == RUN_STEP

    def chain_fields(self) -> list[Any]:
        """The values the hash chain covers, in their stored spelling."""
        return [
            self.seq,
            repr(self.ts),
            self.run_id,
            self.step_id,
            self.phase.value,
            self.state.value,
            self.kind.value if self.kind else None,
            self.credential,
            self.project_id,
            self.detail,
        ]

    def row(self) -> tuple[Any, ...]:
        """The ``entries`` columns ``seq … detail`` as stored."""
        return (
            self.seq,
            self.ts,
            self.run_id,
            self.step_id,
            self.phase.value,
            self.state.value,
            self.kind.value if self.kind else None,
            self.credential,
            self.project_id,
            canonical(self.detail),
        )

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> JournalEntry:
        """An entry from its stored columns ``seq … detail``; unknown states read as FAILED,
        unknown kinds as None, unknown phases as notes and unreadable detail as ``{"unreadable": True}``."""
        seq, ts, rid, sid, phase, state, kind, cred, pid, detail = row
        try:
            st = StepState(state)
        except ValueError:
            st = StepState.FAILED
        try:
            k = StepKind(kind) if kind else None
        except ValueError:
            k = None
        try:
            ph = Phase(phase)
        except ValueError:
            ph = Phase.NOTE
        try:
            d = json.loads(detail or "{}")
        except ValueError:
            d = {"unreadable": True}
        return cls(int(seq), float(ts), str(rid), str(sid), ph, st, k, str(cred or ""), str(pid or ""), d)


@dataclass(frozen=True)
class RunNote:
    """What a ``run`` note says: the run's state and, on its first note, the plan it sealed."""

    run_state: str = ""
    plan_sha256: str = ""

    @classmethod
    def of(cls, entry: JournalEntry) -> RunNote | None:
        """The run note an entry carries (None for step entries)."""
        if not entry.is_run_note:
            return None
        return cls.from_detail(entry.detail)

    @classmethod
    def from_detail(cls, detail: Any) -> RunNote:
        """Read a run note's ``detail`` (missing keys read as '')."""
        if not isinstance(detail, dict):
            return cls()
        return cls(str(detail.get("run_state") or ""), str(detail.get("plan_sha256") or ""))


@dataclass(frozen=True)
class StepRecord:
    """The latest known state of one step in a run, folded from its entries."""

    step_id: str
    state: StepState
    detail: dict[str, Any]
    """detail of the latest outcome (or intent when no outcome was written)"""
    intent_detail: dict[str, Any]
    ts: float


def fold_steps(entries: Iterable[JournalEntry]) -> dict[str, StepRecord]:
    """The latest state of every step from its intents and outcomes (notes excluded)."""
    out: dict[str, StepRecord] = {}
    intents: dict[str, dict[str, Any]] = {}
    for e in entries:
        if e.phase is Phase.INTENT:
            intents[e.step_id] = e.detail
            out[e.step_id] = StepRecord(e.step_id, StepState.RUNNING, e.detail, e.detail, e.ts)
        elif e.phase is Phase.OUTCOME:
            out[e.step_id] = StepRecord(e.step_id, e.state, e.detail, intents.get(e.step_id, {}), e.ts)
    return out
