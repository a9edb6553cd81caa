"""What ``verify`` found: tri-state probe verdicts, checks with their evidence, the result.

A probe answers :class:`Verdict` — valid, invalid or unknown, never a bare bool (like
detect-secrets' ``VerifiedResult``). A :class:`Check` is one claim about the rotation
("the old token is rejected", "deployment dpl_x was built after the env change") with a
:class:`CheckStatus` and the :class:`Evidence` it rests on: a probe, an API read or a
journal entry, each with its time. Nothing here holds a secret value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from keyroll.core.model import SCHEMA_VERSION

__all__ = ["Check", "CheckCategory", "CheckStatus", "Evidence", "EvidenceSource", "Verdict", "VerifyResult"]


class Verdict(enum.StrEnum):
    """A probe's answer: did the provider accept the credential?"""

    VALID = "valid"
    """the provider accepted it"""
    INVALID = "invalid"
    """the provider rejected it (401/403, WRONGPASS, unknown signing key)"""
    UNKNOWN = "unknown"
    """no answer that proves either (network error, no probe for this kind, value not available)"""


class CheckStatus(enum.StrEnum):
    """The outcome of one check. ``verify`` exits 0 only when no check is FAIL or UNKNOWN."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    """a risk to report that does not make the rotation incomplete (git history, rollback candidates)"""
    UNKNOWN = "unknown"
    """the evidence needed to decide could not be obtained"""


class CheckCategory(enum.StrEnum):
    """What a check is about (the report groups by it)."""

    NEW_ACCEPTED = "new_accepted"
    OLD_REJECTED = "old_rejected"
    FRESHNESS = "freshness"
    """serving deployments built after the env change, answering with the new credential"""
    STALE = "stale"
    """no copy of an old value left in Vercel env, GitHub secrets, local files"""
    HISTORY = "history"
    """copies in git history (not rewritten; reported separately)"""
    ROLLBACK = "rollback"
    """production alias and instant-rollback candidates older than the rotation"""
    RUN = "run"
    """the journaled run itself: steps not finished (the provider state may still pass every check)"""


class EvidenceSource(enum.StrEnum):
    """Where a piece of evidence comes from."""

    PROBE = "probe"
    API = "api"
    JOURNAL = "journal"
    FILE = "file"
    GIT = "git"


@dataclass(frozen=True)
class Evidence:
    """One fact a claim rests on: where it comes from, what it says, and when it was observed."""

    source: EvidenceSource
    what: str
    """value-free text, e.g. ``POST /v2/keys → 401`` or ``write_env done (step s12)``"""
    at: float
    """epoch seconds when the fact was observed (probe/API read) or recorded (journal)"""
    ref: str = ""
    """an id to look it up: journal seq, deployment id, env var id, file path"""


@dataclass(frozen=True)
class Check:
    """One verified claim about one credential (and project, where it applies)."""

    id: str
    """stable id, e.g. ``old_rejected:sha256:1a2b3c4d`` or ``freshness:prj_1:dpl_2``"""
    category: CheckCategory
    status: CheckStatus
    title: str
    credential: str = ""
    """fingerprint of the credential the check is about (the old one for a rotation)"""
    project_id: str = ""
    evidence: tuple[Evidence, ...] = ()
    hint: str = ""
    """what to do when the check does not pass"""


@dataclass(frozen=True)
class VerifyResult:
    """Every check of one ``verify`` call, with when it ran and what it looked at."""

    checks: tuple[Check, ...] = ()
    started_at: float = 0.0
    finished_at: float = 0.0
    run_id: str = ""
    """the journal run verified ('' when verifying an inventory)"""
    credentials: tuple[str, ...] = ()
    """fingerprints that were verified"""
    notes: tuple[str, ...] = ()
    """what could not be looked at, and why"""
    searched: tuple[str, ...] = ()
    """local and CI places searched for old values (``path:…``, ``git:…``, ``github:…``)"""
    version: int = SCHEMA_VERSION

    @property
    def passed(self) -> bool:
        """True when no check failed and none is unknown (warnings allowed)."""
        return all(c.status in (CheckStatus.PASS, CheckStatus.WARN) for c in self.checks)

    def by_status(self, status: CheckStatus) -> tuple[Check, ...]:
        """Checks with the given status."""
        return tuple(c for c in self.checks if c.status is status)

    def by_category(self, category: CheckCategory) -> tuple[Check, ...]:
        """Checks of one category."""
        return tuple(c for c in self.checks if c.category is category)

    def for_credential(self, fingerprint: str) -> tuple[Check, ...]:
        """Checks about one credential."""
        return tuple(c for c in self.checks if c.credential == fingerprint)

    def counts(self) -> dict[str, int]:
        """Number of checks per status (every status present, 0 when none)."""
        return {s.value: len(self.by_status(s)) for s in CheckStatus}
