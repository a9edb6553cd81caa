"""keyroll's own actions, from the journal, so that audit can tell them from everybody else's.

Every write keyroll makes is journaled (intent before, outcome after) with its time, project
and — where the engine records them — the ids it touched (env var ids, deployment ids). An
activity event is keyroll's own when it names one of those ids, or when it is of a matching
kind, on a matching project, within ``tolerance_s`` of a journaled action.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyroll.audit.events import AuditEvent, EventCategory
from keyroll.core.model import StepKind
from keyroll.verify.runlog import RunLog
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
"""How far a provider's event time may precede keyroll's journaled intent (clock differences)."""


@dataclass(frozen=True)
class OwnAction:
    """One journaled action: kind, time, projects and ids it touched."""

    kind: StepKind
    at: float
    run_id: str
    step_id: str
    projects: tuple[str, ...] = ()
    ids: frozenset[str] = frozenset()


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
        return frozenset(i for a in self.actions for i in a.ids)

    def match(self, event: AuditEvent) -> OwnAction | None:
        """The journaled action that explains ``event``, if any."""
        if event.entity_id and event.entity_id in self.ids:
            for a in self.actions:
                if event.entity_id in a.ids:
                    return a
        kinds = _CATEGORY_KINDS.get(event.category)
        if not kinds:
            return None
        best: OwnAction | None = None
        for a in self.actions:
            if a.kind not in kinds:
                continue
            if event.project_id and a.projects and event.project_id not in a.projects:
                continue
            # the provider records the action after keyroll journaled its intent
            if not (-CLOCK_SKEW_S <= event.at - a.at <= self.tolerance_s):
                continue
            if best is None or abs(event.at - a.at) < abs(event.at - best.at):
                best = a
        return best

    def in_read_window(self, at: float) -> bool:
        """True when ``at`` falls inside one of keyroll's journaled inventory reads."""
        return any(start <= at <= end for start, end in self.read_windows)


def own_actions(runlogs: Sequence[RunLog], *, tolerance_s: float = 120.0) -> OwnActions:
    """Collect keyroll's actions from every run of the journal."""
    out = OwnActions(tolerance_s=tolerance_s)
    for log in runlogs:
        for e in log.entries:
            step = log.step(e.step_id)
            kind = e.kind or (step.kind if step is not None else None)
            if kind is None or e.phase == "note":
                continue
            projects: Iterable[str] = (e.project_id,) if e.project_id else log.affected_projects(e.credential)
            out.actions.append(
                OwnAction(
                    kind=kind,
                    at=e.ts,
                    run_id=e.run_id,
                    step_id=e.step_id,
                    projects=tuple(projects),
                    ids=frozenset(_ids_in(e.detail)),
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
