"""The detector interface: literal anchors for the prefilter, then a precise check near each hit.

Every detector declares the literal strings (``anchors``) that must occur in or next to a
credential it can find. The text scanner runs one Aho–Corasick pass over the text for the
anchors of all detectors and calls a detector only with the positions of its own anchors, so
regexes and decoders run on a few hundred characters around candidates, never over whole files.

Detectors derive from :class:`AnchoredDetector`: :meth:`~AnchoredDetector.at` checks one
anchor position — the anchor is either part of the credential (``sig_``, ``vcp_``, a base64
header) or its context (a key name, a URL scheme), and the detector's regex is *matched* at a
computed start (never searched through a window), so each hit costs a few microseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from keyroll.core.model import CredentialKind, Form
from keyroll.scan.findings import Certainty, Rule

__all__ = ["AnchoredDetector", "Candidate", "Detector", "Hit"]

Hit = tuple[int, str]
"""``(start, anchor)``: where an anchor literal occurs in the text."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A value a detector believes to be a credential, with its span in the scanned text."""

    rule: Rule
    start: int
    end: int
    value: str
    confidence: Certainty
    reason: str
    priority: int
    """higher wins when candidates overlap (structure beats context beats generic)"""
    kind: CredentialKind | None = None
    """overrides ``rule.kind`` (e.g. signing key current vs next)"""
    key: str = ""
    form: Form = Form.PLAIN


class Detector:
    """Base of all detectors: declares rules and anchors; :meth:`find` yields candidates."""

    rules: ClassVar[tuple[Rule, ...]] = ()
    anchors: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    """when set, the detector only runs on texts containing one of these literals (also anchors)"""
    priority: ClassVar[int] = 0
    hit_check: ClassVar[re.Pattern[bytes] | None] = None
    """when set, a hit of an anchor of this detector (and of no other) where this does not
    match the raw bytes can give no candidate: a file holding only such hits is not decoded"""

    def find(self, text: str, hits: Sequence[Hit]) -> Iterator[Candidate]:
        """Candidates near ``hits`` (sorted by position). Must not raise on any input."""
        raise NotImplementedError


class AnchoredDetector(Detector):
    """A detector whose anchor is part of the credential: checks each hit on its own."""

    def find(self, text: str, hits: Sequence[Hit]) -> Iterator[Candidate]:
        covered = -1
        for pos, anchor in hits:
            if pos < covered:
                continue
            for cand in self.at(text, pos, anchor):
                covered = max(covered, cand.end)
                yield cand

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        """Candidates for the anchor ``anchor`` found at ``pos``."""
        raise NotImplementedError
