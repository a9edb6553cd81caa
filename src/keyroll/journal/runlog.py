"""The journal's read model: what the journal says about one rotation run, read once and queried many times.

:class:`RunLog` (loaded by :func:`keyroll.journal.read.load_runlog`) is a read-only snapshot of a run: its record, plan, inventory, entries and the
journal's integrity problems. ``verify``, ``audit`` and ``report`` ask it questions ("when was
project P's env written for credential C?", "which deployments replaced which?") instead of
reading the journal themselves. Reading never raises on a damaged journal: what could not be
read is listed in :attr:`RunLog.problems`, so a report can say exactly what is not known.

The ``detail`` keys the engine writes are documented in ``docs/journal.md``; the readers
below also accept the older spellings listed next to each key.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from keyroll.core.model import (
    ActionName,
    CredentialPlan,
    Inventory,
    LocationKind,
    Plan,
    RunRecord,
    Step,
    StepKind,
    StepState,
)
from keyroll.core.steps import GroupSpec, LocationSpec, WriteParams, group_spec_of, locations_of
from keyroll.journal.events import JournalEntry, Phase

__all__ = ["EnvWrite", "Redeploy", "RunLog"]


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
    fingerprint: str = ""
    """fingerprint of the value written (the new one)"""


_NO_SPEC = LocationSpec(kind=LocationKind.VERCEL_ENV)
"""stands for a written var whose location spec the plan does not hold"""


def _locations_of(step: Step | None) -> tuple[LocationSpec, ...]:
    """The copies a step of the journaled plan writes; none when the plan's objects are damaged
    (a read model reads what it can)."""
    if step is None:
        return ()
    try:
        return locations_of(step)
    except (TypeError, ValueError, AttributeError):
        return ()


def _write_params(step: Step | None) -> WriteParams | None:
    """The parameters of a ``write`` step of the journaled plan (None for other steps, or damaged ones)."""
    if step is None or step.action != ActionName.WRITE:
        return None
    try:
        return WriteParams.of(step)
    except (TypeError, ValueError, AttributeError):
        return None


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
    secret_fps: dict[str, str] = field(default_factory=dict)
    """journal secret name (``<gid>:<set>:<role>``) → fingerprint, for this run"""

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

    def kind_of(self, e: JournalEntry) -> StepKind | None:
        """The step kind of an entry (from the entry, else from its planned step)."""
        return self._kind(e)

    def _kind(self, e: JournalEntry) -> StepKind | None:
        if e.kind is not None:
            return e.kind
        st = self.step(e.step_id)
        return st.kind if st else None

    def step_state(self, step_id: str) -> StepState:
        """The last journaled state of a step (PENDING when never started)."""
        state = StepState.PENDING
        for e in self.entries:
            if e.step_id == step_id and e.phase in (Phase.INTENT, Phase.OUTCOME):
                state = e.state
        return state

    def step_states(self, fp: str | None = None) -> dict[str, StepState]:
        """Last state of every planned step (and of journaled steps missing from the plan)."""
        out: dict[str, StepState] = {s.id: StepState.PENDING for s in self.steps(fp)}
        for e in self.entries:
            if e.phase not in (Phase.INTENT, Phase.OUTCOME) or not e.step_id:
                continue
            if fp is not None and e.credential and e.credential != fp:
                continue
            out[e.step_id] = e.state
        return out

    def done(self, fp: str | None = None, kind: StepKind | None = None) -> tuple[JournalEntry, ...]:
        """Outcome entries in state DONE (of one credential / step kind)."""
        return tuple(
            e
            for e in self.entries_for(fp, kind=kind)
            if e.phase is Phase.OUTCOME and e.state is StepState.DONE
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

    def write_target(self, e: JournalEntry) -> str:
        """Where a write_env step wrote: ``vercel``, ``shared``, ``github`` or ``files``."""
        params = _write_params(self.step(e.step_id))
        target = (params.target if params is not None else None) or e.detail.get("target")
        if isinstance(target, str) and target:
            return target
        return "vercel" if e.project_id else ""

    def _locations(self, e: JournalEntry) -> tuple[LocationSpec, ...]:
        return _locations_of(self.step(e.step_id))

    def _entry_projects(self, e: JournalEntry, fp: str) -> tuple[str, ...]:
        """Projects whose deployments a write reaches (none for GitHub and file writes)."""
        target = self.write_target(e)
        if target in ("github", "files"):
            return ()
        if e.project_id:
            return (e.project_id,)
        st = self.step(e.step_id)
        if st is not None and st.project_id:
            return (st.project_id,)
        out: dict[str, None] = {}
        for spec in self._locations(e):
            if spec.project_id:
                out[spec.project_id] = None
            for p in spec.linked_project_ids:
                out[p] = None
        if out:
            return tuple(out)
        return self.affected_projects(fp) if target == "shared" else ()

    def project_targets(self, e: JournalEntry, fp: str) -> tuple[str, ...]:
        """Projects whose deployments a write_env entry reaches."""
        return self._entry_projects(e, fp)

    def env_written_at(self, fp: str, project_id: str) -> float | None:
        """When the last Vercel env write of ``fp`` reaching ``project_id`` completed (None: never)."""
        return self.env_written_projects(fp).get(project_id)

    def env_written_projects(self, fp: str) -> dict[str, float]:
        """Project id → when its last Vercel env write (project or linked shared var) completed."""
        out: dict[str, float] = {}
        for e in self.done(fp, StepKind.WRITE_ENV):
            if self.write_target(e) not in ("vercel", "shared"):
                continue
            for p in self._entry_projects(e, fp):
                # env_written_at: when the write landed (the outcome is journaled just after)
                at = _as_float(e.detail.get("env_written_at")) or e.ts
                out[p] = max(out.get(p, 0.0), at)
        return out

    def env_writes(self, fp: str) -> tuple[EnvWrite, ...]:
        """Every Vercel env var the run wrote for ``fp`` (project and shared vars), with its time."""
        out: list[EnvWrite] = []
        for e in self.done(fp, StepKind.WRITE_ENV):
            target = self.write_target(e)
            if target not in ("vercel", "shared"):
                continue
            specs = {x.env_id: x for x in self._locations(e)}
            written = e.detail.get("written")
            rows = (
                [w for w in written if isinstance(w, dict)]
                if isinstance(written, list)
                else [x.to_dict() for x in specs.values()]
            )
            for w in rows:
                env_id = str(w.get("env_id") or "")
                spec = specs.get(env_id, _NO_SPEC)
                out.append(
                    EnvWrite(
                        credential=fp,
                        at=e.ts,
                        project_id=str(spec.project_id or w.get("project_id") or e.project_id or ""),
                        env_id=env_id,
                        key=str(w.get("key") or spec.key or ""),
                        shared=target == "shared",
                        fingerprint=str(w.get("fp") or ""),
                    )
                )
        return tuple(out)

    def file_writes(self, fp: str) -> tuple[dict[str, Any], ...]:
        """Every local file the run changed for ``fp``: ``{path, replacements, redacted, kind}``
        (``redacted``: the old value was replaced by a placeholder, not by the new value)."""
        out: dict[str, dict[str, Any]] = {}
        for e in self.done(fp, StepKind.WRITE_ENV):
            if self.write_target(e) != "files":
                continue
            for f in e.detail.get("files") or ():
                if isinstance(f, dict) and f.get("path") and not f.get("restored"):
                    out[str(f["path"])] = {
                        "path": str(f["path"]),
                        "replacements": int(f.get("replacements") or 0),
                        "redacted": bool(f.get("redacted")),
                        "kind": str(f.get("kind") or ""),
                        "at": e.ts,
                    }
        return tuple(out.values())

    def gid(self, fp: str) -> str:
        """The group id of a credential plan (the prefix of its step ids)."""
        for s in self.steps(fp):
            return s.id.split("/", 1)[0]
        return fp.split(":", 1)[-1]

    def group_spec(self, fp: str) -> GroupSpec:
        """The group spec the strategy stored on its first step (product, endpoint, resource, ACL user)."""
        return next((g for s in self.steps(fp) if (g := group_spec_of(s)) is not None), GroupSpec())

    def value_fingerprints(self, fp: str, value_set: str) -> dict[str, str]:
        """``role → fingerprint`` of a journaled value set (``old``, ``new`` …; no key needed)."""
        prefix = f"{self.gid(fp)}:{value_set}:"
        return {n[len(prefix) :]: f for n, f in self.secret_fps.items() if n.startswith(prefix)}

    def secret_name_of(self, fp: str, value_fp: str) -> str:
        """The journal name (``<gid>:<set>:<role>``) holding ``value_fp``, '' when none does."""
        prefix = f"{self.gid(fp)}:"
        for name, f in sorted(self.secret_fps.items()):
            if f == value_fp and name.startswith(prefix):
                return name
        return ""

    def distributed(self, fp: str) -> dict[str, tuple[str, str, float, str]]:
        """Location → (fingerprint, role, time, value set) of the last value keyroll (or a resync) put there."""
        out: dict[str, tuple[str, str, float, str]] = {}
        for e in self.done(fp, StepKind.WRITE_ENV):
            params = _write_params(self.step(e.step_id))
            value_set = params.values if params is not None else ""
            rows = [*(e.detail.get("written") or []), *(e.detail.get("resynced") or [])]
            for w in rows:
                if not isinstance(w, dict) or not str(w.get("fp", "")).startswith("sha256:"):
                    continue
                where = str(w.get("env_id") or "/".join(str(w.get(k, "")) for k in ("repo", "scope", "name")))
                if where not in out or out[where][2] <= e.ts:
                    out[where] = (str(w["fp"]), str(w.get("role") or ""), e.ts, value_set)
        return out

    def new_fingerprints(self, fp: str) -> tuple[str, ...]:
        """Fingerprints of the values that now stand where ``fp`` was: the last value written at
        each location — for a ``redis://`` URL, the password inside it. Before any write: the
        minted ``new`` set."""
        old = set(self.old_fingerprints(fp))
        out: dict[str, None] = {}
        for value_fp, role, _, value_set in self.distributed(fp).values():
            if role == "username":  # a login name written next to a password: not a credential
                continue
            if role == "url":
                value_fp = self.value_fingerprints(fp, value_set or "new").get("password", "")
            if value_fp and value_fp not in old:
                out[value_fp] = None
        if not out:
            for role, value_fp in self.value_fingerprints(fp, "new").items():
                if role != "username" and value_fp not in old:
                    out[value_fp] = None
        return tuple(out)

    def minted_users(self, fp: str) -> dict[str, str]:
        """Fingerprint of a minted password or token → the ACL user it belongs to (mint details)."""
        out: dict[str, str] = {}
        for e in self.done(fp, StepKind.MINT):
            for u in e.detail.get("users") or []:
                if isinstance(u, dict) and u.get("user"):
                    for key in ("password_fp", "rest_token_fp"):
                        if isinstance(u.get(key), str):
                            out[u[key]] = str(u["user"])
        return out

    def old_fingerprints(self, fp: str) -> tuple[str, ...]:
        """Fingerprints of the values being replaced: the credential, its journaled ``old`` set and its group."""
        out: dict[str, None] = {fp: None}
        for role, f in self.value_fingerprints(fp, "old").items():
            if role != "username":
                out[f] = None
        cp = self.credential_plan(fp)
        for s in cp.steps if cp is not None else ():
            for spec in _locations_of(s):
                if spec.old_fp:
                    out[spec.old_fp] = None
        if self.inventory is not None:
            cred = self.inventory.credential(fp)
            if cred is not None:
                out.update(dict.fromkeys(cred.related))
        return tuple(out)

    def revoked_at(self, fp: str) -> float | None:
        """When the old value was last revoked: ``revoked_at`` of any finished step (a cutover's
        reset, a signing-key roll, a dashboard reset), else the REVOKE step's outcome time."""
        ts: list[float] = []
        for e in self.done(fp):
            t = _as_float(e.detail.get("revoked_at"))
            if t is not None:
                ts.append(t)
            elif self.kind_of(e) is StepKind.REVOKE:
                ts.append(e.ts)
        return max(ts) if ts else None

    def revoke_intent_at(self, fp: str) -> float | None:
        """When the first revoke/reset started (``revoke_started_at``, else a REVOKE intent)."""
        starts = [_as_float(e.detail.get("revoke_started_at")) for e in self.done(fp)]
        known = [t for t in starts if t is not None]
        if known:
            return min(known)
        ts = [e.ts for e in self.entries_for(fp, kind=StepKind.REVOKE) if e.phase is Phase.INTENT]
        return min(ts) if ts else None

    def cutover_window(self, fp: str) -> tuple[float, float] | None:
        """(start, end) of a measured cutover window (``window_start``/``window_end`` or ``window_s``)."""
        for e in reversed(self.done(fp)):
            start = _as_float(e.detail.get("window_start"))
            end = _as_float(e.detail.get("window_end"))
            if start is not None and end is not None:
                return start, end
        w = self.window_s(fp)
        begin = self.revoke_intent_at(fp)
        if w is not None and begin is not None:
            return begin, begin + w
        return None

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
        """Deployments the run created: REDEPLOY outcomes (``deployments``) joined with AWAIT_READY (``ready``)."""
        rows: dict[str, Redeploy] = {}
        for e in self.done(fp, StepKind.REDEPLOY):
            deps = e.detail.get("deployments")
            for d in deps if isinstance(deps, list) else []:
                if not isinstance(d, dict) or not d.get("new"):
                    continue
                new_id = str(d["new"])
                started = (
                    _as_float(d.get("started_at")) or _as_float(e.detail.get("redeploy_started")) or e.ts
                )
                rows[new_id] = Redeploy(
                    project_id=e.project_id,
                    credential=e.credential,
                    new_id=new_id,
                    old_id=str(d.get("old") or ""),
                    target=str(d.get("target") or d.get("custom_environment_id") or ""),
                    started_at=started,
                )
        for e in self.entries_for(fp, kind=StepKind.AWAIT_READY):
            if e.phase is not Phase.OUTCOME:
                continue
            ready = e.detail.get("ready")
            for d in ready if isinstance(ready, list) else []:
                if not isinstance(d, dict) or not d.get("new"):
                    continue
                new_id = str(d["new"])
                cur = rows.get(new_id) or Redeploy(
                    project_id=e.project_id,
                    credential=e.credential,
                    new_id=new_id,
                    old_id=str(d.get("old") or ""),
                )
                state = str(d.get("state") or "")
                rows[new_id] = replace(
                    cur,
                    state=state,
                    ready_at=(_as_float(d.get("ready_at")) or e.ts) if state == "READY" else cur.ready_at,
                )
        return tuple(rows.values())

    def errors(self, fp: str) -> tuple[tuple[JournalEntry, str], ...]:
        """Failed outcomes of the credential's steps with their (value-free) error line."""
        return tuple(
            (e, str(e.detail.get("error") or e.detail.get("error_type") or "failed"))
            for e in self.entries_for(fp)
            if e.phase is Phase.OUTCOME and e.state is StepState.FAILED
        )

    def consents(self, fp: str) -> tuple[str, ...]:
        """How each destructive step was consented to (``--yes``, ``interactive``, forced …)."""
        out: dict[str, None] = {}
        for e in self.entries_for(fp):
            if e.phase is Phase.INTENT and e.detail.get("destructive"):
                how = str(e.detail.get("consent") or "unrecorded")
                source = str(e.detail.get("accept_downtime_source") or "")
                extra = (
                    (f", downtime accepted ({source})" if source else ", downtime accepted")
                    if e.detail.get("accept_downtime")
                    else ""
                )
                out[f"{e.step_id}: consent {how}{extra}"] = None
        return tuple(out)

    def probe_entries(self, fp: str) -> tuple[JournalEntry, ...]:
        """Outcome entries of probe steps (the engine's own verification evidence)."""
        return tuple(e for e in self.entries_for(fp, kind=StepKind.PROBE) if e.phase is Phase.OUTCOME)
