"""Reading a journaled run once, for verify, audit and report.

:func:`load_runlog` reads one run through the read side of the journal
(:class:`JournalReader`, which :class:`keyroll.journal.store.Journal` implements and tests fake)
into a :class:`~keyroll.journal.runlog.RunLog`. Reading never raises on a damaged journal: what
could not be read is listed in ``RunLog.problems``, so a report can say exactly what is not known.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from keyroll.core.errors import KeyrollError, UsageError
from keyroll.core.model import Inventory, Plan, RunRecord
from keyroll.core.secret import Secret
from keyroll.journal.events import JournalEntry
from keyroll.journal.runlog import RunLog

__all__ = ["JournalReader", "load_runlog", "read_secrets"]


class JournalReader(Protocol):
    """The read side of :class:`keyroll.journal.store.Journal` that verify/report/audit use."""

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        ...

    def entries(self, run_id: str | None = None) -> list[JournalEntry]:
        """Entries of one run (all runs when ``None``), in sequence order."""
        ...

    def plan(self, run_id: str) -> Plan:
        """The plan a run executed."""
        ...

    def inventory(self, run_id: str) -> Inventory | None:
        """The inventory the plan was made from, when recorded."""
        ...

    def check_integrity(self) -> list[str]:
        """Problems found (corruption, tampering); empty when sound."""
        ...

    def get_secret(self, run_id: str, name: str) -> Secret:
        """A journaled secret (needs the journal key)."""
        ...

    def secret_fingerprints(self, run_id: str) -> dict[str, str]:
        """``name → fingerprint`` of the run's journaled secrets (no key needed)."""
        ...


def _read(problems: list[str], what: str, fn: Any, default: Any) -> Any:
    try:
        return fn()
    except KeyrollError as exc:
        problems.append(f"{what}: {exc.message}")
    except Exception as exc:  # a damaged journal must not crash the report
        problems.append(f"{what}: {type(exc).__name__}")
    return default


def _pick_run(runs: Sequence[RunRecord], run_id: str | None) -> RunRecord | None:
    if run_id:
        matches = [r for r in runs if r.id == run_id or r.id.startswith(run_id)]
        if len(matches) != 1:
            known = ", ".join(r.id for r in runs[-5:]) or "none"
            raise UsageError(f"no run {run_id!r} in the journal", hint=f"recent runs: {known}")
        return matches[0]
    return max(runs, key=lambda r: r.started_at) if runs else None


def load_runlog(journal: JournalReader, run_id: str | None = None, *, path: str = "") -> RunLog:
    """Read one run (the latest when ``run_id`` is None) into a :class:`RunLog`.

    :raises UsageError: ``run_id`` names no run (or several).
    """
    problems: list[str] = []
    integrity = tuple(_read(problems, "integrity check", journal.check_integrity, []))
    runs: Iterable[RunRecord] = _read(problems, "runs", journal.runs, [])
    runs_t = tuple(runs)
    run = _pick_run(runs_t, run_id)
    if run is None:
        return RunLog(path=path, runs=runs_t, integrity=integrity, problems=tuple(problems))
    entries = tuple(_read(problems, "entries", lambda: journal.entries(run.id), []))
    plan = _read(problems, "plan", lambda: journal.plan(run.id), None)
    inventory = _read(problems, "inventory", lambda: journal.inventory(run.id), None)
    secret_fps = _read(problems, "secret names", lambda: dict(journal.secret_fingerprints(run.id)), {})
    return RunLog(
        path=path,
        run=run,
        runs=runs_t,
        plan=plan,
        inventory=inventory,
        entries=entries,
        integrity=integrity,
        problems=tuple(problems),
        secret_fps=secret_fps,
    )


def read_secrets(journal: JournalReader, run_id: str, names: Iterable[str]) -> tuple[Secret, ...]:
    """The journaled secrets under ``names`` that can be decrypted (others are skipped)."""
    out: list[Secret] = []
    for name in names:
        with contextlib.suppress(KeyrollError):
            out.append(journal.get_secret(run_id, name))
    return tuple(out)
