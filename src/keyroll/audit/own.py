"""keyroll's own actions, from the journal, so that audit can tell them from everybody else's.

Every write keyroll makes is journaled (intent before, outcome after) with its time, project
and the ids it touched (env var ids written or deleted, deployment ids created, the Upstash
resource it reset). An activity event is keyroll's own only by identity: it names one of those
ids, is of a kind that step does to that id (an env var delete is keyroll's only when keyroll
deleted that var), and falls inside that step's journaled window (intent … outcome, give or
take :data:`CLOCK_SKEW_S`). Time and project alone never make an event keyroll's: a person
editing another variable of the same project seconds before a run is that person's (issue 17).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyroll.audit.events import AuditEvent, EventCategory
from keyroll.core.model import StepKind
from keyroll.journal.events import Phase
from keyroll.journal.runlog import RunLog
from keyroll.verify.times import parse_time

__all__ = ["OwnAction", "OwnActions", "own_actions"]

_CATEGORY_KINDS: dict[EventCategory, frozenset[StepKind]] = {
    EventCategory.ENV_CHANGE: frozenset({StepKind.WRITE_ENV}),
    EventCategory.DEPLOYMENT: frozenset({StepKind.REDEPLOY, StepKind.AWAIT_READY}),
    EventCategory.CREDENTIAL: frozenset({StepKind.MINT, StepKind.REVOKE, StepKind.HUMAN}),
    EventCategory.INTEGRATION: frozenset({StepKind.HUMAN, StepKind.REVOKE, StepKind.MINT}),
}
"""Which journaled step kinds can explain an event of each category (keyroll never creates tokens or members)."""

CLOCK_SKEW_S = 10.0
"""How far a provider's event time may lie outside a step's journaled window (clock differences)."""


@dataclass(frozen=True)
class OwnAction:
    """One journaled step: kind, window, projects and the ids it touched."""

    kind: StepKind
    at: float
    """when its first entry (the intent) was journaled"""
    run_id: str
    step_id: str
    projects: tuple[str, ...] = ()
    ids: frozenset[str] = frozenset()
    """env var / deployment ids the step wrote or created"""
    end: float | None = None
    """when its last entry (the outcome) was journaled (``at`` when unknown)"""
    deleted: frozenset[str] = frozenset()
    """env var ids the step deleted (duplicates an upsert created)"""
    resources: frozenset[str] = frozenset()
    """the Upstash resource (id and name) the step's credential belongs to, and the Vercel
    integration configuration that owns its copies"""

    def covers(self, at: float) -> bool:
        """True when ``at`` lies inside the step's journaled window, give or take the clock skew."""
        return self.at - CLOCK_SKEW_S <= at <= (self.end if self.end is not None else self.at) + CLOCK_SKEW_S

    def names(self, event: AuditEvent) -> bool:
        """True when ``event`` acts on something this step touched, in a way this step acts on it."""
        entity = event.entity_id
        if event.category is EventCategory.ENV_CHANGE:
            if "delete" in event.type or "remove" in event.type:
                return entity in self.deleted
            return (
                entity in self.ids or entity in self.deleted
            )  # an upsert's duplicate: created, then deleted
        if event.category in (EventCategory.CREDENTIAL, EventCategory.INTEGRATION):
            return entity in self.resources or entity in self.ids
        return entity in self.ids


_ID_KEYS = frozenset({"id", "uid", "env_id", "deployment_id", "new", "old", "shared_env_id"})


def _ids_in(detail: Any, depth: int = 0) -> set[str]:
    """Ids keyroll touched, from a detail dict (``written[].env_id``, ``deployments[].new`` …)."""
    out: set[str] = set()
    if depth > 3:
        return out
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in _ID_KEYS and isinstance(value, str) and value and not value.startswith("sha256:"):
                out.add(value)
            elif isinstance(value, (dict, list)):
                out |= _ids_in(value, depth + 1)
    elif isinstance(detail, list):
        for item in detail:
            out |= _ids_in(item, depth + 1)
    return out


@dataclass
class OwnActions:
    """All of keyroll's journaled actions, plus the windows in which it read env values."""

    actions: list[OwnAction] = field(default_factory=list)
    read_windows: list[tuple[float, float]] = field(default_factory=list)
    """(start, end) of inventories recorded in the journal; reads by a known actor in them are keyroll's"""
    tolerance_s: float = 120.0

    @property
    def ids(self) -> frozenset[str]:
        """Every id keyroll's actions touched."""
        return frozenset(i for a in self.actions for i in (*a.ids, *a.deleted))

    def match(self, event: AuditEvent) -> OwnAction | None:
        """The journaled step that explains ``event`` by identity, if any (see the module doc)."""
        if not event.entity_id:
            return None
        kinds = _CATEGORY_KINDS.get(event.category)
        for a in self.actions:
            if kinds is not None and a.kind not in kinds:
                continue
            if a.names(event) and a.covers(event.at):
                return a
        return None

    def in_read_window(self, at: float) -> bool:
        """True when ``at`` falls inside one of keyroll's journaled inventory reads."""
        return any(start <= at <= end for start, end in self.read_windows)


def _resources(log: RunLog, fp: str) -> frozenset[str]:
    """The Upstash resource (id, name) of a credential: from its group spec, else the run's inventory."""
    if not fp:
        return frozenset()
    spec = log.group_spec(fp)
    out = {v for v in (spec.resource_id, spec.resource_name) if v}
    inv = log.inventory
    cred = inv.credential(fp) if inv is not None else None
    if cred is not None:
        out |= {v for v in (cred.resource_id, cred.resource_name) if v}
    if inv is not None:  # a dashboard reset of an integration store names its configuration
        out |= {
            loc.configuration_id for loc in inv.locations if loc.fingerprint == fp and loc.configuration_id
        }
    return frozenset(out)


@dataclass
class _Step:
    """What the journal says about one step so far (entries are folded in order)."""

    kind: StepKind
    start: float
    end: float
    fp: str = ""
    projects: dict[str, None] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    deleted: set[str] = field(default_factory=set)


def own_actions(runlogs: Sequence[RunLog], *, tolerance_s: float = 120.0) -> OwnActions:
    """Collect keyroll's journaled steps (one :class:`OwnAction` each) from every run."""
    out = OwnActions(tolerance_s=tolerance_s)
    for log in runlogs:
        steps: dict[str, _Step] = {}
        for e in log.entries:
            step = log.step(e.step_id)
            kind = e.kind or (step.kind if step is not None else None)
            if kind is None or e.phase == Phase.NOTE:
                continue
            acc = steps.setdefault(e.step_id or f"entry-{e.seq}", _Step(kind, e.ts, e.ts))
            acc.start, acc.end = min(acc.start, e.ts), max(acc.end, e.ts)
            acc.fp = acc.fp or e.credential
            projects: Iterable[str] = (e.project_id,) if e.project_id else log.affected_projects(e.credential)
            acc.projects.update(dict.fromkeys(projects))
            detail = e.detail if isinstance(e.detail, dict) else {}
            acc.deleted |= _ids_in(detail.get("deleted"))
            acc.ids |= _ids_in({k: v for k, v in detail.items() if k != "deleted"})
        for step_id, acc in steps.items():
            out.actions.append(
                OwnAction(
                    kind=acc.kind,
                    at=acc.start,
                    end=acc.end,
                    run_id=log.run_id,
                    step_id=step_id,
                    projects=tuple(acc.projects),
                    ids=frozenset(acc.ids),
                    deleted=frozenset(acc.deleted),
                    resources=_resources(log, acc.fp),
                )
            )
        if log.inventory is not None:
            t = parse_time(log.inventory.generated_at)
            if t is not None:
                # inventory reads happen in the minutes before the snapshot is stamped
                out.read_windows.append((t - 900.0, t + tolerance_s))
        start = log.started_at()
        end = log.finished_at()
        if start is not None and end is not None:
            out.read_windows.append((start - tolerance_s, end + tolerance_s))
    return out
