"""Known-value matching: find exact copies of given secrets in every form, in one pass.

One Aho–Corasick automaton (``pyahocorasick``) holds every form of every value:

* plain (also covers quoted values and values inside URLs — the form is refined from context),
* URL-encoded (``quote`` and ``quote_plus``),
* base64 (standard and URL-safe), including the value embedded at any byte offset inside a
  larger base64 blob (e.g. ``Basic base64(user:password)``): for offsets 0, 1, 2 only the
  characters fully determined by the value's bits are used as the pattern.

So matching costs one scan of the text whatever the number of values — not a loop over values.
"""

from __future__ import annotations

import base64
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import ahocorasick

from keyroll.core.model import Form
from keyroll.core.secret import Fingerprint, Secret

__all__ = ["KnownValues", "Match", "embedded_b64", "value_forms"]

MIN_PATTERN = 8
"""Shortest pattern kept; shorter forms (tiny values, base64 slivers) would match noise."""

_URL_USERINFO = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@:]*:?$", re.IGNORECASE)


@dataclass(frozen=True)
class Match:
    """One occurrence of a known value."""

    fingerprint: Fingerprint
    form: Form
    start: int
    end: int


def embedded_b64(raw: bytes, *, urlsafe: bool, min_len: int = MIN_PATTERN) -> set[str]:
    """The base64 forms of ``raw`` at byte offsets 0, 1, 2 of a larger blob.

    Only the characters fully determined by ``raw``'s bits are kept; pieces shorter than
    ``min_len`` are dropped.
    """
    out: set[str] = set()
    n = len(raw)
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        first = -(-8 * k // 6)  # ceil
        last = (8 * (k + n)) // 6
        piece = enc[first:last]
        if urlsafe:
            piece = piece.replace("+", "-").replace("/", "_")
        if len(piece) >= min_len:
            out.add(piece)
    return out


def value_forms(value: str) -> dict[str, Form]:
    """Every pattern that betrays ``value``, mapped to the form it represents."""
    forms: dict[str, Form] = {}
    raw = value.encode("utf-8")
    for b64 in (*embedded_b64(raw, urlsafe=False), *embedded_b64(raw, urlsafe=True)):
        forms.setdefault(b64, Form.BASE64)
    for enc in (
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        urllib.parse.quote(value),
    ):
        if enc != value:
            forms[enc] = Form.URL_ENCODED
    forms[value] = Form.PLAIN
    return {p: f for p, f in forms.items() if len(p) >= MIN_PATTERN}


class KnownValues:
    """A multi-pattern matcher over the forms of a set of secret values."""

    def __init__(self, secrets: Iterable[Secret]) -> None:
        self._automaton = ahocorasick.Automaton()
        self._count = 0
        seen: set[str] = set()
        for secret in secrets:
            value = secret.reveal()
            if not value or value in seen:
                continue
            seen.add(value)
            for pattern, form in value_forms(value).items():
                existing = self._automaton.get(pattern, None)
                # a plain pattern that is also some other value's base64 stays "plain"
                if existing is None or existing[1] is not Form.PLAIN:
                    self._automaton.add_word(pattern, (secret.fingerprint, form, len(pattern)))
            self._count += 1
        if self._count:
            self._automaton.make_automaton()

    def __len__(self) -> int:
        return self._count

    def find(self, text: str) -> list[Match]:
        """Every match in ``text`` (overlaps resolved: longest match per fingerprint and span wins)."""
        if not self._count or not text:
            return []
        best: dict[tuple[Fingerprint, int], Match] = {}
        for end_idx, (fp, form, length) in self._automaton.iter(text):
            start = end_idx - length + 1
            m = Match(fp, _refine(text, start, end_idx + 1, form), start, end_idx + 1)
            key = (fp, start)
            if key not in best or best[key].end - best[key].start < length:
                best[key] = m
        # drop matches contained in a longer match of the same fingerprint
        ordered = sorted(best.values(), key=lambda m: (m.start, -(m.end - m.start)))
        out: list[Match] = []
        for m in ordered:
            if out and out[-1].fingerprint == m.fingerprint and m.start < out[-1].end:
                continue
            out.append(m)
        return out

    def iter_lines(self, text: str) -> Iterator[tuple[int, int, Match]]:
        """``(line, column, match)`` for every match, 1-based."""
        matches = self.find(text)
        if not matches:
            return
        line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        import bisect

        for m in matches:
            li = bisect.bisect_right(line_starts, m.start) - 1
            yield li + 1, m.start - line_starts[li] + 1, m


def _refine(text: str, start: int, end: int, form: Form) -> Form:
    if form is not Form.PLAIN:
        return form  # the encoding is the more useful fact (a rewrite must re-encode)
    before = text[max(0, start - 200) : start]
    if _URL_USERINFO.search(before) and end < len(text) and text[end] in "@:/":
        return Form.URL
    if start > 0 and end < len(text) and text[start - 1] in "\"'`" and text[end] == text[start - 1]:
        return Form.QUOTED
    return form
