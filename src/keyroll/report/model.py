"""The incident record: what a report says, independent of its format.

:class:`IncidentReport` is built by :func:`keyroll.report.build.build_report` from evidence
only — the journal, a ``verify`` run (probes and API reads) and an ``audit`` run — and
rendered by the formats in this package. Every claim carries :class:`Fact` objects naming their
source and time; what is not known is said (``unknowns``), never guessed. No secret values:
credentials appear as fingerprints.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from keyroll.audit.run import AuditResult
from keyroll.verify.result import VerifyResult

__all__ = [
    "REPORT_KIND",
    "REPORT_VERSION",
    "ChecklistItem",
    "CredentialSection",
    "Fact",
    "IncidentReport",
    "ItemStatus",
    "MarkKind",
    "OutageWindow",
    "ProjectSection",
    "RedeployRow",
    "Risk",
    "Summary",
    "TimelineMark",
]

REPORT_VERSION = 1
"""Version of the report's JSON format; bumped (with an upgrade note in docs/report.md) on change."""

REPORT_KIND = "keyroll.incident-report"


class ItemStatus(enum.StrEnum):
    """A checklist item's state, decided by evidence."""

    DONE = "done"
    NOT_DONE = "not_done"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Fact:
    """One piece of evidence: its source, a value-free statement, and when it was observed."""

    source: str
    """``journal``, ``probe``, ``api``, ``file``, ``git``, ``audit`` or ``harden``"""
    text: str
    at: float | None = None
    """epoch seconds; None when the source records no time"""
    ref: str = ""


@dataclass(frozen=True)
class ChecklistItem:
    """One item of the Upstash/Vercel incident guidance, with its status and evidence."""

    id: str
    title: str
    guidance: str
    """whose guidance asks for it (``Upstash``, ``Vercel``)"""
    status: ItemStatus
    evidence: tuple[Fact, ...] = ()
    missing: tuple[str, ...] = ()
    """what is not done or not known"""
    hint: str = ""


class MarkKind(enum.StrEnum):
    """Marks on the timeline chart."""

    ENV_WRITE = "env_write"
    BUILD = "build"
    READY = "ready"
    VERIFY = "verify"
    REVOKE = "revoke"
    FAILURE = "failure"


@dataclass(frozen=True)
class TimelineMark:
    """One event on a project's row of the timeline."""

    at: float
    kind: MarkKind
    project_id: str
    credential: str = ""
    label: str = ""


@dataclass(frozen=True)
class OutageWindow:
    """A cutover window: from the reset of the old value until the last new deployment was READY."""

    credential: str
    start: float
    end: float
    projects: tuple[str, ...] = ()
    measured: bool = True


@dataclass(frozen=True)
class RedeployRow:
    """One deployment replaced during the rotation."""

    project_id: str
    new_id: str
    old_id: str = ""
    target: str = ""
    """``production``, ``preview`` or a custom environment's slug (its id when the slug is unknown)"""
    started_at: float | None = None
    ready_at: float | None = None
    state: str = ""


@dataclass(frozen=True)
class CredentialSection:
    """What happened to one credential (group)."""

    fingerprint: str
    product: str = ""
    kind: str = ""
    resource: str = ""
    management: str = ""
    strategy: str = ""
    state: str = "unknown"
    """``done``, ``partial``, ``failed``, ``rolled_back``, ``not_started`` or ``unknown``"""
    started_at: float | None = None
    finished_at: float | None = None
    revoked_at: float | None = None
    new_fingerprints: tuple[str, ...] = ()
    outage_s: float | None = None
    """0 for overlap strategies, the measured window for cutovers, None when not known"""
    outage_basis: str = ""
    """how ``outage_s`` is known: ``overlap``, ``measured``, ``not measured``, ``not cut over``"""
    forced_revoke: bool = False
    projects: tuple[str, ...] = ()
    redeploys: tuple[RedeployRow, ...] = ()
    steps: tuple[tuple[str, int], ...] = ()
    """(state, count) of its plan steps"""
    checks: tuple[tuple[str, int], ...] = ()
    """(status, count) of its verify checks"""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectSection:
    """One affected Vercel project."""

    project_id: str
    name: str = ""
    credentials: tuple[str, ...] = ()
    env_written_at: float | None = None
    """when the last of its env writes completed"""
    redeployed: int = 0
    status: str = "unknown"
    """``ok``, ``attention`` or ``unknown``"""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Risk:
    """Something still open after the rotation."""

    id: str
    severity: str
    """``high``, ``medium`` or ``low``"""
    title: str
    detail: str = ""
    credential: str = ""
    project_id: str = ""
    evidence: tuple[Fact, ...] = ()


@dataclass(frozen=True)
class Summary:
    """The headline numbers."""

    status: str
    """``complete``, ``incomplete`` or ``unknown``"""
    credentials_total: int = 0
    credentials_done: int = 0
    projects: int = 0
    deployments_redeployed: int = 0
    max_outage_s: float | None = None
    open_risks: int = 0
    checklist_done: int = 0
    checklist_total: int = 0
    started_at: float | None = None
    finished_at: float | None = None


@dataclass(frozen=True)
class RunSummary:
    """One ``apply`` run of the incident: the report covers every run that handled a credential
    in scope (the selected run's, and those linked to them by old or new values)."""

    run_id: str
    state: str
    started_at: float | None = None
    finished_at: float | None = None
    credentials: tuple[tuple[str, str], ...] = ()
    """(fingerprint, state of its rotation in this run)"""
    selected: bool = False
    """the run the report was asked for (``--run``, default the latest)"""


@dataclass(frozen=True)
class IncidentReport:
    """The whole incident record."""

    generated_at: float
    summary: Summary
    checklist: tuple[ChecklistItem, ...] = ()
    credentials: tuple[CredentialSection, ...] = ()
    projects: tuple[ProjectSection, ...] = ()
    risks: tuple[Risk, ...] = ()
    unknowns: tuple[str, ...] = ()
    """what the report cannot say, and why"""
    integrity: tuple[str, ...] = ()
    """journal integrity problems"""
    marks: tuple[TimelineMark, ...] = ()
    windows: tuple[OutageWindow, ...] = ()
    run_id: str = ""
    run_state: str = ""
    runs: tuple[RunSummary, ...] = ()
    """every run of the incident, oldest first"""
    run_options: dict[str, Any] | None = None
    journal: str = ""
    tool_version: str = ""
    verify: VerifyResult | None = None
    audit: AuditResult | None = None
    version: int = REPORT_VERSION
    kind: str = REPORT_KIND

    def project_name(self, project_id: str) -> str:
        """A project's name (its id when the name is unknown)."""
        for p in self.projects:
            if p.project_id == project_id:
                return p.name or project_id
        return project_id
