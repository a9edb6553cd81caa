"""What the journal says about one rotation run, read once and queried many times.

:class:`RunLog` is a read-only snapshot of a run: its record, plan, inventory, entries and the
journal's integrity problems. ``verify``, ``audit`` and ``report`` ask it questions ("when was
project P's env written for credential C?", "which deployments replaced which?") instead of
reading the journal themselves. Reading never raises on a damaged journal: what could not be
read is listed in :attr:`RunLog.problems`, so a report can say exactly what is not known.

The ``detail`` keys the engine writes are documented in ``docs/journal.md``; the readers
below also accept the older spellings listed next to each key.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from keyroll.core.errors import KeyrollError, UsageError
from keyroll.core.model import (
    CredentialPlan,
    Inventory,
    JournalEntry,
    Plan,
    RunRecord,
    Step,
    StepKind,
    StepState,
)
from keyroll.core.secret import Secret

__all__ = ["EnvWrite", "JournalReader", "Redeploy", "RunLog", "load_runlog", "read_secrets"]


class JournalReader(Protocol):
    """The read side of ``keyroll.rotate.journal.Journal`` that verify/report/audit use."""

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


@dataclass(frozen=True)
class Redeploy:
    """One deployment replaced during the run, as journaled."""

    project_id: str
    credential: str
    new_id: str = ""
    old_id: str = ""
    target: str = ""
    started_at: float | None = None
    ready_at: float | None = None
    state: str = ""
    """READY / ERROR / CANCELED / '' when the outcome was not journaled"""


@dataclass(frozen=True)
class EnvWrite:
    """One env var keyroll wrote (project var or shared var), as journaled."""

    credential: str
    at: float
    project_id: str = ""
    env_id: str = ""
    key: str = ""
    shared: bool = False


def _first(detail: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        v = detail.get(k)
        if v not in (None, "", [], {}):
            return v
    return None


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class RunLog:
    """A read-only snapshot of one run (or of an empty journal)."""

    path: str
    run: RunRecord | None = None
    runs: tuple[RunRecord, ...] = ()
    plan: Plan | None = None
    inventory: Inventory | None = None
    entries: tuple[JournalEntry, ...] = ()
    integrity: tuple[str, ...] = ()
    """problems ``check_integrity()`` reported"""
    problems: tuple[str, ...] = ()
    """parts of the journal that could not be read, and why"""

    # -- structure -------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """The run's id ('' when the journal holds no run)."""
        return self.run.id if self.run else ""

    def credentials(self) -> tuple[str, ...]:
        """Fingerprints the run rotated (plan order; from entries when the plan is unreadable)."""
        if self.plan is not None:
            return tuple(cp.credential for cp in self.plan.credentials)
        seen: dict[str, None] = {}
        for e in self.entries:
            if e.credential:
                seen[e.credential] = None
        return tuple(seen)

    def credential_plan(self, fp: str) -> CredentialPlan | None:
        """The plan for one credential, when the plan is readable."""
        if self.plan is None:
            return None
        for cp in self.plan.credentials:
            if cp.credential == fp:
                return cp
        return None

    def steps(self, fp: str | None = None) -> tuple[Step, ...]:
        """Planned steps (of one credential when ``fp`` is given)."""
        if self.plan is None:
            return ()
        return tuple(s for s in self.plan.steps if fp is None or s.credential == fp)

    def step(self, step_id: str) -> Step | None:
        """A planned step by id."""
        for s in self.steps():
            if s.id == step_id:
                return s
        return None

    def entries_for(self, fp: str | None = None, *, kind: StepKind | None = None) -> tuple[JournalEntry, ...]:
        """Entries about one credential (and step kind), in journal order."""
        out = []
        for e in self.entries:
            if fp is not None and e.credential != fp:
                continue
            if kind is not None and self._kind(e) is not kind:
                continue
            out.append(e)
        return tuple(out)

    def _kind(self, e: JournalEntry) -> StepKind | None:
        if e.kind is not None:
            return e.kind
        st = self.step(e.step_id)
        return st.kind if st else None

    def step_state(self, step_id: str) -> StepState:
        """The last journaled state of a step (PENDING when never started)."""
        state = StepState.PENDING
        for e in self.entries:
            if e.step_id == step_id and e.phase in ("intent", "outcome"):
                state = e.state
        return state

    def step_states(self, fp: str | None = None) -> dict[str, StepState]:
        """Last state of every planned step (and of journaled steps missing from the plan)."""
        out: dict[str, StepState] = {s.id: StepState.PENDING for s in self.steps(fp)}
        for e in self.entries:
            if e.phase not in ("intent", "outcome") or not e.step_id:
                continue
            if fp is not None and e.credential and e.credential != fp:
                continue
            out[e.step_id] = e.state
        return out

    def done(self, fp: str | None = None, kind: StepKind | None = None) -> tuple[JournalEntry, ...]:
        """Outcome entries in state DONE (of one credential / step kind)."""
        return tuple(
            e for e in self.entries_for(fp, kind=kind) if e.phase == "outcome" and e.state is StepState.DONE
        )

    def kinds_complete(self, fp: str, kind: StepKind) -> bool | None:
        """True when every planned step of ``kind`` is DONE (or SKIPPED); None when none is planned."""
        planned = [s for s in self.steps(fp) if s.kind is kind]
        if not planned:
            return None
        states = self.step_states(fp)
        return all(states.get(s.id) in (StepState.DONE, StepState.SKIPPED) for s in planned)

    # -- times -----------------------------------------------------------------------------
    def started_at(self, fp: str | None = None) -> float | None:
        """When work on the credential began (first entry), or the run's start."""
        ts = [e.ts for e in self.entries_for(fp)]
        if ts:
            return min(ts)
        return self.run.started_at if self.run else None

    def finished_at(self) -> float | None:
        """When the run finished (its record, else its last entry)."""
        if self.run and self.run.finished_at:
            return self.run.finished_at
        return max((e.ts for e in self.entries), default=None)

    def affected_projects(self, fp: str) -> tuple[str, ...]:
        """Projects the credential's plan touches (plan, then steps, then entries)."""
        out: dict[str, None] = {}
        cp = self.credential_plan(fp)
        if cp is not None:
            for p in cp.projects:
                out[p] = None
            for d in cp.deployments:
                out[d.project_id] = None
            for s in cp.steps:
                if s.project_id:
                    out[s.project_id] = None
        for e in self.entries_for(fp):
            if e.project_id:
                out[e.project_id] = None
        return tuple(out)

    def _entry_projects(self, e: JournalEntry, fp: str) -> tuple[str, ...]:
        if e.project_id:
            return (e.project_id,)
        listed = _first(e.detail, "projects", "project_ids", "linked_project_ids")
        st = self.step(e.step_id)
        if listed is None and st is not None:
            listed = _first(st.params, "projects", "project_ids", "linked_project_ids")
            if listed is None and st.project_id:
                return (st.project_id,)
        if isinstance(listed, (list, tuple)):
            return tuple(str(p) for p in listed)
        return self.affected_projects(fp)

    def env_written_at(self, fp: str, project_id: str) -> float | None:
        """When the last env write of ``fp`` that reaches ``project_id`` completed (None: never)."""
        best: float | None = None
        for e in self.done(fp, StepKind.WRITE_ENV):
            if project_id in self._entry_projects(e, fp):
                t = _as_float(_first(e.detail, "env_written", "env_written_at", "written_at")) or e.ts
                best = t if best is None else max(best, t)
        return best

    def env_written_projects(self, fp: str) -> dict[str, float]:
        """Project id → when its env write completed, for every project written."""
        out: dict[str, float] = {}
        for e in self.done(fp, StepKind.WRITE_ENV):
            t = _as_float(_first(e.detail, "env_written", "env_written_at", "written_at")) or e.ts
            for p in self._entry_projects(e, fp):
                out[p] = max(out.get(p, 0.0), t)
        return out

    def env_writes(self, fp: str) -> tuple[EnvWrite, ...]:
        """Every env var the run wrote for ``fp`` (from DONE write_env outcomes and their steps)."""
        out: list[EnvWrite] = []
        for e in self.done(fp, StepKind.WRITE_ENV):
            st = self.step(e.step_id)
            params = st.params if st is not None else {}
            at = _as_float(_first(e.detail, "env_written", "env_written_at", "written_at")) or e.ts
            shared = bool(_first(e.detail, "shared") or _first(params, "shared"))
            items = _first(e.detail, "items", "writes", "envs") or _first(params, "items", "writes", "envs")
            found = False
            if isinstance(items, list):
                for it in items:
                    if isinstance(it, dict):
                        found = True
                        out.append(
                            EnvWrite(
                                credential=fp,
                                at=at,
                                project_id=str(it.get("project_id") or it.get("projectId") or e.project_id),
                                env_id=str(it.get("env_id") or it.get("id") or ""),
                                key=str(it.get("key") or ""),
                                shared=bool(it.get("shared", shared)),
                            )
                        )
            ids = _first(e.detail, "env_ids", "env_id", "shared_env_ids", "shared_env_id") or _first(
                params, "env_ids", "env_id", "shared_env_ids", "shared_env_id"
            )
            keys = _first(e.detail, "keys", "key") or _first(params, "keys", "key")
            id_list = ids if isinstance(ids, list) else ([ids] if ids else [])
            key_list = keys if isinstance(keys, list) else ([keys] if keys else [])
            projects = self._entry_projects(e, fp)
            if id_list or key_list:
                found = True
                for p in projects or ("",):
                    for i in id_list or [""]:
                        for k in key_list or [""]:
                            out.append(EnvWrite(fp, at, p, str(i), str(k), shared))
            if not found:
                for p in projects:
                    out.append(EnvWrite(fp, at, p, shared=shared))
        return tuple(out)

    def revoked_at(self, fp: str) -> float | None:
        """When the old credential was revoked (the revoke/reset step's DONE outcome)."""
        ts = [
            _as_float(_first(e.detail, "revoked_at", "revoke", "reset_at")) or e.ts
            for e in self.done(fp, StepKind.REVOKE)
        ]
        return max(ts) if ts else None

    def revoke_intent_at(self, fp: str) -> float | None:
        """When the revoke/reset was started (its intent), for cutover windows."""
        ts = [e.ts for e in self.entries_for(fp, kind=StepKind.REVOKE) if e.phase == "intent"]
        return min(ts) if ts else None

    # -- evidence in detail ----------------------------------------------------------------
    def new_fingerprints(self, fp: str) -> tuple[str, ...]:
        """Fingerprints of the new values minted for ``fp`` (may be several: token + password)."""
        out: dict[str, None] = {}
        for e in self.entries_for(fp):
            if e.phase != "outcome":
                continue
            v = _first(e.detail, "new_fingerprint", "new_fp", "new_fingerprints")
            for item in v if isinstance(v, (list, tuple)) else [v]:
                if isinstance(item, str) and item.startswith("sha256:") and item != fp:
                    out[item] = None
            fps = e.detail.get("fingerprints")
            if isinstance(fps, dict):
                new = fps.get("new")
                for item in new if isinstance(new, (list, tuple)) else [new]:
                    if isinstance(item, str) and item.startswith("sha256:"):
                        out[item] = None
        return tuple(out)

    def secret_names(self, fp: str, which: str) -> tuple[str, ...]:
        """Names under which the journal stores the ``old`` or ``new`` values of ``fp``."""
        out: dict[str, None] = {}
        keys = (f"{which}_secret", f"{which}_secret_name", f"{which}_secrets", f"secret_{which}")
        for e in self.entries_for(fp):
            v = _first(e.detail, *keys)
            for item in v if isinstance(v, (list, tuple)) else [v]:
                if isinstance(item, str) and item:
                    out[item] = None
            names = e.detail.get("secrets")
            if isinstance(names, dict):
                v2 = names.get(which)
                for item in v2 if isinstance(v2, (list, tuple)) else [v2]:
                    if isinstance(item, str) and item:
                        out[item] = None
        return tuple(out)

    def window_s(self, fp: str) -> float | None:
        """The measured cutover window (largest ``window_s`` journaled), None when not measured."""
        values = [_as_float(e.detail.get("window_s")) for e in self.entries_for(fp)]
        measured = [v for v in values if v is not None]
        return max(measured) if measured else None

    def forced_revoke(self, fp: str) -> bool:
        """True when the revoke was forced past a failed gate (``--force-revoke``)."""
        return any(e.detail.get("force_revoke") or e.detail.get("forced") for e in self.entries_for(fp))

    def run_forced(self) -> bool:
        """True when the run was started with ``--force-revoke``."""
        return bool(self.run and self.run.options.get("force_revoke"))

    def redeploys(self, fp: str | None = None) -> tuple[Redeploy, ...]:
        """Deployments created by the run (redeploy + await_ready entries), one per new id."""
        by_new: dict[tuple[str, str], Redeploy] = {}
        order: list[tuple[str, str]] = []
        for e in self.entries_for(fp):
            kind = self._kind(e)
            if kind not in (StepKind.REDEPLOY, StepKind.AWAIT_READY) or e.phase == "intent":
                continue
            new_id = str(_first(e.detail, "new_deployment_id", "deployment_id", "new", "id") or "")
            old_id = str(_first(e.detail, "old_deployment_id", "from_deployment_id", "source", "old") or "")
            if not new_id:
                continue
            key = (e.credential, new_id)
            cur = by_new.get(key) or Redeploy(project_id=e.project_id, credential=e.credential, new_id=new_id)
            if key not in by_new:
                order.append(key)
            started = cur.started_at
            ready = cur.ready_at
            state = cur.state
            if kind is StepKind.REDEPLOY:
                started = _as_float(_first(e.detail, "redeploy_started", "started_at")) or e.ts
            if kind is StepKind.AWAIT_READY or _first(e.detail, "ready", "ready_at", "state"):
                st = str(_first(e.detail, "state", "ready_state", "readyState") or "")
                if e.state is StepState.DONE and not st and kind is StepKind.AWAIT_READY:
                    st = "READY"
                if st:
                    state = st
                if state == "READY":
                    ready = _as_float(_first(e.detail, "ready_at", "ready")) or e.ts
            by_new[key] = Redeploy(
                project_id=cur.project_id or e.project_id,
                credential=cur.credential,
                new_id=new_id,
                old_id=cur.old_id or old_id,
                target=cur.target or str(_first(e.detail, "target") or ""),
                started_at=started,
                ready_at=ready,
                state=state,
            )
        return tuple(by_new[k] for k in order)

    def probe_entries(self, fp: str) -> tuple[JournalEntry, ...]:
        """Outcome entries of probe steps (the engine's own verification evidence)."""
        return tuple(e for e in self.entries_for(fp, kind=StepKind.PROBE) if e.phase == "outcome")


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
    return RunLog(
        path=path,
        run=run,
        runs=runs_t,
        plan=plan,
        inventory=inventory,
        entries=entries,
        integrity=integrity,
        problems=tuple(problems),
    )


def read_secrets(journal: JournalReader, run_id: str, names: Iterable[str]) -> tuple[Secret, ...]:
    """The journaled secrets under ``names`` that can be decrypted (others are skipped)."""
    out: list[Secret] = []
    for name in names:
        with contextlib.suppress(KeyrollError):
            out.append(journal.get_secret(run_id, name))
    return tuple(out)
