"""What ``keyroll harden`` reports: findings with value-free evidence, and the outcome of fixes.

A :class:`Finding` names a rule, a severity, the evidence that raised it (each fact with its
source: a Vercel API read, a file and line, a Developer API read), the fix in words, and
whether ``keyroll harden --fix`` can apply it. Evidence never contains a credential value:
it names keys, projects, files and fingerprints.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Evidence",
    "Finding",
    "FixOutcome",
    "Rule",
    "Severity",
    "finding_id",
]

SCHEMA_VERSION = 1
"""Version of the ``keyroll harden --format json`` document."""


class Severity(enum.StrEnum):
    """How urgent a finding is; ordered from most to least."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical … 4 for info (sort key)."""
        return list(Severity).index(self)


class Rule(enum.StrEnum):
    """The checks (issue #10); the value is the stable rule id used in JSON and baselines."""

    CLIENT_EXPOSURE = "client-exposure"
    """an Upstash credential in a public-prefixed var or in built client assets"""
    READ_ONLY_SUFFICES = "read-only-suffices"
    """a full-access token where the code only reads"""
    SHARED_CREDENTIAL = "shared-credential"
    """one credential used by several projects"""
    NOT_SENSITIVE = "not-sensitive"
    """a credential in a Vercel env var that is not of type sensitive"""
    PROD_IN_DEVELOPMENT = "prod-credential-in-development"
    """the production credential also in the development target or in local files"""
    CREDENTIAL_PROTECTION_OFF = "credential-protection-off"
    """Upstash Credential Protection is off on a database whose plan supports it"""
    NO_RATE_LIMIT = "no-rate-limit"
    """public API routes of a project using Upstash have no rate limiting"""
    NO_APP_ENCRYPTION = "no-app-encryption"
    """values are stored in Redis without application-level encryption"""


@dataclass(frozen=True)
class Evidence:
    """One value-free fact and where it comes from."""

    fact: str
    """e.g. ``env NEXT_PUBLIC_UPSTASH_REDIS_REST_TOKEN [production] holds sha256:1a2b3c4d``"""
    source: str
    """e.g. ``vercel: project web env (GET /v10/projects/{id}/env)`` or ``file src/lib/redis.ts:12``"""


@dataclass(frozen=True)
class FixOutcome:
    """What ``--fix`` did (or would do, with ``--dry-run``) for one finding."""

    finding_id: str
    applied: bool
    """True when the change was made and read back"""
    summary: str
    """one line, value-free"""
    steps: tuple[str, ...] = ()
    """what was done / would be done, in order"""
    error: str = ""
    dry_run: bool = False
    evidence: dict[str, Any] = field(default_factory=dict, hash=False)
    """value-free measurements: deployment ids, fingerprints, failed requests …"""


@dataclass(frozen=True)
class Finding:
    """One hardening finding."""

    id: str
    """stable across runs for the same subject (rule + subject digest)"""
    rule: Rule
    severity: Severity
    title: str
    evidence: tuple[Evidence, ...]
    fix: str
    """the fix in words (commands, snippets and ACL lines live in ``details``)"""
    fixable_by_keyroll: bool = False
    fixed: bool = False
    project: str = ""
    """project name (or id) the finding is about, empty for team/database-wide ones"""
    credential: str = ""
    """fingerprint of the credential concerned, if any"""
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    """structured, value-free extras: ``acl_setuser`` lines, ``snippet``, ``commands``, ``routes`` …"""

    def marked_fixed(self) -> Finding:
        """A copy with ``fixed=True``."""
        return replace(self, fixed=True)


def finding_id(rule: Rule, *subject: str) -> str:
    """A stable id: the rule plus 10 hex chars of a digest of the subject parts."""
    digest = hashlib.sha256("\x1f".join((rule.value, *subject)).encode()).hexdigest()[:10]
    return f"{rule.value}:{digest}"
