"""Journaled runs after the fact: their status, the destructive steps a ``resume`` still needs
consent for, what a rollback left for a person, and closing a run that neither ``resume`` nor
``rollback`` can end (``abandon``).

These read the journal's entries, which need no key (values do): a run's state, where each
credential is in the rotation, steps waiting for a person, and the journal's integrity check.
A run recorded as ``running`` whose process holds no lock was interrupted. Abandoning changes
nothing at the providers; it records the reason and what is left undone. The journal is opened
without its key here (``keyroll.app.journal`` opens it with the key, for values).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keyroll.app.journal import open_journal_records
from keyroll.config import Config
from keyroll.core.errors import UsageError
from keyroll.core.model import Plan, RunRecord, RunState, Step
from keyroll.journal.events import StepRecord
from keyroll.rotate.closing import closing_of
from keyroll.rotate.engine import group_state

__all__ = [
    "AbandonOutcome",
    "RunStatus",
    "abandon_run",
    "pending_destructive",
    "require_journal",
    "rollback_residue",
    "run_status",
]


@dataclass(frozen=True)
class RunStatus:
    """One run as ``keyroll status`` shows it (the lists are the ``--json`` shapes)."""

    record: RunRecord
    state: str
    """the run's state, or ``interrupted`` for a ``running`` run no process holds"""
    live: bool
    """a process is running it now"""
    plan: Plan
    credentials: list[dict[str, str]]
    """``{credential, strategy, state}``: each credential's place in the rotation"""
    steps: list[dict[str, str]]
    """``{id, kind, state, error}``"""
    integrity: list[str]
    """the journal's integrity problems (empty: intact)"""
    waiting: list[dict[str, Any]]
    """``{step, credential, instructions, since}``: human steps the run waits for"""
    residue: list[dict[str, str]]
    """``{credential, what, do}``: what rollbacks left for a person"""
    closing: dict[str, Any]
    """how an abandoned run was closed (``{reason, abandoned_at, residue}``; empty otherwise)"""


@dataclass(frozen=True)
class AbandonOutcome:
    """A run closed unfinished, and per credential what is left undone."""

    record: RunRecord
    residue: list[dict[str, Any]]


def require_journal(cfg: Config, hint: str) -> None:
    """:raises UsageError: there is no journal (``hint`` says what that means for the command)."""
    if not cfg.journal_path.exists():
        raise UsageError(f"no journal at {cfg.journal_path}", hint=hint)


def pending_destructive(cfg: Config, run_id: str | None) -> list[Step]:
    """The destructive steps of a run that are not done yet (what ``resume`` needs consent for)."""
    with open_journal_records(cfg) as reader:
        run = reader.run(run_id)
        plan = reader.plan(run.id)
        records = reader.step_records(run.id)
    return [
        s
        for s in plan.steps
        if s.destructive and (s.id not in records or records[s.id].state.value != "done")
    ]


def _residue(plan: Plan, records: dict[str, StepRecord]) -> list[dict[str, str]]:
    """What the rollbacks of a run left for a person (``[{credential, what, do}]``)."""
    return [
        {"credential": cp.credential, "what": str(r.get("what", "")), "do": str(r.get("do", ""))}
        for cp in plan.credentials
        if (rb := records.get(f"{cp.steps[0].id.split('/', 1)[0]}/rollback")) is not None
        for r in rb.detail.get("residue") or []
    ]


def rollback_residue(cfg: Config, run_id: str) -> list[dict[str, str]]:
    """What rollbacks of a run left for a person (``[{credential, what, do}]``; none without a run)."""
    if not run_id or not cfg.journal_path.exists():
        return []
    with open_journal_records(cfg) as reader:
        plan = reader.plan(run_id)
        records = reader.step_records(run_id)
    return _residue(plan, records)


def run_status(cfg: Config, run_id: str | None) -> RunStatus:
    """The latest run (or ``run_id``) with its credentials, steps, waits, residue and integrity.

    :raises UsageError: no journal, or a journal without runs.
    :raises JournalError: no such run.
    """
    require_journal(cfg, "run `keyroll apply` first")
    with open_journal_records(cfg) as reader:
        problems = reader.check_integrity()
        live = reader.is_locked_by_other()
        record = reader.run(run_id) if reader.runs() else None
        if record is None:
            raise UsageError(f"journal {cfg.journal_path} has no runs")
        plan = reader.plan(record.id)
        records = reader.step_records(record.id)
        closing = closing_of(reader, record.id) if record.state is RunState.CLOSED else {}
    run_state = record.state.value
    if record.state is RunState.RUNNING and not live:
        run_state = "interrupted"
    waiting = [
        {
            "step": s.id,
            "credential": s.credential,
            "instructions": str(s.params.get("instructions") or s.description),
            "since": records[s.id].ts,
        }
        for s in plan.steps
        if s.id in records and records[s.id].state.value == "pending" and records[s.id].detail.get("waiting")
    ]
    creds = [
        {"credential": cp.credential, "strategy": cp.strategy.value, "state": group_state(cp, records)}
        for cp in plan.credentials
    ]
    step_rows = [
        {
            "id": s.id,
            "kind": s.kind.value,
            "state": records[s.id].state.value if s.id in records else "pending",
            "error": records[s.id].detail.get("error", "") if s.id in records else "",
        }
        for s in plan.steps
    ]
    return RunStatus(
        record, run_state, live, plan, creds, step_rows, problems, waiting, _residue(plan, records), closing
    )


def abandon_run(cfg: Config, run_id: str, reason: str) -> AbandonOutcome:
    """Close ``run_id`` unfinished with ``reason`` (journaled); nothing changes at the providers.

    :raises UsageError: no journal, no reason, or the run already ended.
    :raises JournalError: no such run, or another process is running it.
    """
    from keyroll.rotate.closing import abandon

    require_journal(cfg, "nothing to abandon")
    with open_journal_records(cfg) as journal:
        record, residue = abandon(journal, run_id, reason)
    return AbandonOutcome(record, residue)
