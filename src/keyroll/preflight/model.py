"""What a preflight check reports: one :class:`Risk` per finding, gathered in a :class:`PreflightResult`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["PreflightResult", "Risk", "Severity"]


class Severity(StrEnum):
    """``block``: apply refuses until it is fixed or consented to; ``warn``: shown, never blocks."""

    BLOCK = "block"
    WARN = "warn"
    INFO = "info"


@dataclass(frozen=True)
class Risk:
    """One platform risk: which check found it, on what, what it means and what to do."""

    check: str  # stable id, e.g. "vercel.ignored-build-step", "upstash.redis-no-acl"
    severity: Severity
    subject: str  # the project, database, team … it is about
    message: str  # one line: what is wrong
    fix: str = ""  # one line: what to do (a flag, a setting, a split of the work)
    data: Mapping[str, Any] = field(default_factory=dict)  # machine-readable detail for --json

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": str(self.severity),
            "subject": self.subject,
            "message": self.message,
            "fix": self.fix,
            "data": dict(self.data),
        }


@dataclass
class PreflightResult:
    risks: list[Risk] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what was read (plan tier, quota left, …)

    @property
    def blocking(self) -> list[Risk]:
        return [r for r in self.risks if r.severity is Severity.BLOCK]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.blocking,
            "facts": dict(self.facts),
            "risks": [r.to_json() for r in self.risks],
        }
