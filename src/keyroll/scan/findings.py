"""What a scan produces: rules, findings and the summary of what was (and was not) read.

A :class:`Finding` never holds a plaintext value in anything that serialises: it carries the
value's fingerprint (``sha256:`` + 8 hex), a redacted preview (at most the first and last four
characters) and, in-process only, the value itself as a :class:`~keyroll.core.secret.Secret`
(``secret``, excluded from JSON and from comparisons; ``None`` when the finding crossed a
process boundary).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from keyroll.core.model import CredentialKind, Form, Location, LocationKind, Product
from keyroll.core.secret import Fingerprint, Secret

__all__ = ["Certainty", "Finding", "Rule", "ScanSummary", "preview_of"]


class Certainty(enum.StrEnum):
    """How sure a detector is that a match is a live credential (``--min-confidence``)."""

    HIGH = "high"
    """the value's structure was verified (decodes, checksum, embedded ids) or it is a known value"""
    MEDIUM = "medium"
    """a credential-shaped value under a credential key name (format not verifiable)"""
    LOW = "low"
    """a high-entropy value under a generic key word (token, secret, password …)"""

    @property
    def rank(self) -> int:
        """0 for low, 1 for medium, 2 for high (for ``>=`` filtering)."""
        return {"low": 0, "medium": 1, "high": 2}[self.value]


@dataclass(frozen=True)
class Rule:
    """A detection rule. ``id`` is stable: it is part of baselines and SARIF output."""

    id: str
    name: str
    description: str
    product: Product
    kind: CredentialKind
    confidence: Certainty
    """the default confidence of this rule's findings"""
    remedy: str = "rotate the credential with `keyroll plan` / `keyroll apply`, then remove this copy"
    upstash: bool = False
    """True for rules about Upstash credentials (precision target: zero false positives)"""


def preview_of(value: str) -> str:
    """A redacted preview: ``abcd…wxyz`` for long values, less for short ones, never the whole value."""
    n = len(value)
    if n >= 20:
        return f"{value[:4]}…{value[-4:]}"
    if n >= 12:
        return f"{value[:2]}…{value[-2:]}"
    return "…"


@dataclass(frozen=True)
class Finding:
    """One occurrence of a credential in a file, a git blob or stdin."""

    rule_id: str
    path: str
    line: int
    """1-based"""
    column: int
    """1-based, in characters"""
    end_column: int
    """1-based, exclusive (the character after the value)"""
    fingerprint: Fingerprint
    preview: str
    confidence: Certainty
    product: Product
    kind: CredentialKind
    form: Form = Form.PLAIN
    reason: str = ""
    """why the detector believes it (``token structure``, ``key name``, ``checksum`` …)"""
    key: str = ""
    """the variable or key name the value is assigned to, when there is one"""
    commit: str = ""
    """git history: the (earliest) commit that introduced the blob holding it"""
    author_date: str = ""
    cell: int | None = None
    """notebooks: 0-based index of the cell (inputs and outputs both belong to their cell)"""
    known: bool = False
    """its fingerprint is one of the values/credentials given with --known-values / --from-inventory"""
    occurrences: int = 1
    """git history: how many blob versions of this path carry it"""
    secret: Secret | None = field(default=None, metadata={"secret": True}, compare=False, repr=False)
    """the value, in-process only; never serialised"""

    @property
    def location_key(self) -> tuple[str, str, str]:
        """``(fingerprint, rule, path)``: how baselines recognise an accepted finding."""
        return (str(self.fingerprint), self.rule_id, self.path)

    def with_changes(self, **changes: Any) -> Finding:
        """A copy with some fields replaced."""
        return dataclasses.replace(self, **changes)

    def to_location(self) -> Location:
        """The core-model :class:`Location` of this copy (``file`` or ``git_commit``)."""
        return Location(
            kind=LocationKind.GIT_COMMIT if self.commit else LocationKind.FILE,
            fingerprint=self.fingerprint,
            form=self.form,
            reason=f"{self.rule_id}: {self.reason}".strip(": "),
            key=self.key,
            path=self.path,
            line=self.line,
            column=self.column,
            commit=self.commit,
            author_date=self.author_date,
        )


SKIP_REASONS = (
    "binary",  # compressed or media files (archives, images, fonts): no credential sits there as plain bytes
    "unreadable",
    "too_large",
    "symlink_loop",
    "special",
    "ignored",
    "not_git",
    "missing",
    "duplicate",
)
"""Why an input can be skipped; every skip is counted, none is silent."""


@dataclass
class ScanSummary:
    """Counters for the summary line: what was read, what was skipped and why, what was found."""

    files: int = 0
    bytes: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    invalid_utf8: int = 0
    """files read with undecodable bytes (scanned with replacement characters)"""
    binary: int = 0
    """binary files searched for credential byte patterns (counted in ``files`` too)"""
    findings: int = 0
    by_confidence: dict[str, int] = field(default_factory=dict)
    allowed: int = 0
    """matches suppressed by an inline ``keyroll: allow`` pragma"""
    baselined: int = 0
    below_threshold: int = 0
    commits: int = 0
    blobs: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    """value-free notes (e.g. ``not a git repository: ./docs``)"""

    def skip(self, reason: str, n: int = 1) -> None:
        """Count ``n`` inputs skipped for ``reason`` (one of :data:`SKIP_REASONS`)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def merge(self, other: ScanSummary) -> None:
        """Add another summary's counters into this one."""
        self.files += other.files
        self.bytes += other.bytes
        self.invalid_utf8 += other.invalid_utf8
        self.binary += other.binary
        self.allowed += other.allowed
        self.below_threshold += other.below_threshold
        self.commits += other.commits
        self.blobs += other.blobs
        for k, v in other.skipped.items():
            self.skip(k, v)
        self.warnings.extend(other.warnings)

    @property
    def skipped_total(self) -> int:
        """All skipped inputs."""
        return sum(self.skipped.values())
