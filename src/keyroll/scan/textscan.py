"""Scanning one text: a single Aho–Corasick pass for every detector's anchors, then precise checks.

:class:`TextScanner` is the unit both the file engine and git history use. For a text it

1. finds every anchor literal of every detector in one pass (``pyahocorasick``),
2. runs each detector only on its own hits (regexes/decoders over a few hundred characters),
3. decodes base64 blobs pointed at by encoded anchors or base64 containers (Kubernetes
   Secret ``data``, ``Basic``) and runs the detectors on the decoded text
   (:mod:`~keyroll.scan.base64_layer`),
4. adds exact matches of ``--known-values`` (:class:`~keyroll.scan.known.KnownValues`) and, for
   ``--from-inventory``, candidates whose SHA-256 fingerprint is in the inventory,
5. resolves overlaps (the most specific detector wins and inherits the others' key name),
6. drops matches on lines carrying a ``keyroll: allow`` pragma (or after ``keyroll: allow-next-line``),
7. turns the rest into :class:`~keyroll.scan.findings.Finding` objects with line, column and,
   for notebooks, the cell.

Memory and time are linear in the text; callers stream big inputs in overlapping chunks
(:meth:`TextScanner.scan` takes the reporting range and line/column bases for that).
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from keyroll.core.model import Form
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.scan.base64_layer import Base64Layer, merge
from keyroll.scan.detectors import KNOWN_VALUE, Candidate, Detector, Hit, default_detectors
from keyroll.scan.detectors.filters import line_around
from keyroll.scan.findings import Certainty, Finding, preview_of
from keyroll.scan.known import KnownValues
from keyroll.scan.prefilter import make_prefilter

__all__ = ["TextResult", "TextScanner"]

_PRAGMA = re.compile(r"keyroll:\s*allow(?![-\w])")
_PRAGMA_NEXT = re.compile(r"keyroll:\s*allow-next-line")
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-+/]{16,512}={0,2}")
_CELL_MARK = '"cell_type"'


@dataclass
class TextResult:
    """Findings of one text plus what was suppressed."""

    findings: list[Finding] = field(default_factory=list)
    allowed: int = 0
    below_threshold: int = 0


class TextScanner:
    """Finds credentials in text with the given detectors, known values and fingerprints.

    Build one per process and reuse it: construction compiles the anchor automaton.
    """

    def __init__(
        self,
        detectors: Sequence[Detector] | None = None,
        *,
        known: Iterable[Secret] = (),
        fingerprints: Iterable[str] = (),
        min_confidence: Certainty = Certainty.LOW,
        engine: str | None = None,
        decode_base64: bool = True,
    ) -> None:
        self.detectors = tuple(default_detectors() if detectors is None else detectors)
        self.min_confidence = min_confidence
        known_list = [s for s in known if s]
        self._known = KnownValues(known_list)
        self._known_by_fp = {s.fingerprint: s for s in known_list}
        self._fingerprints = frozenset(fingerprints)
        anchors: dict[str, list[int]] = {}
        self._requires: list[frozenset[str]] = []
        for i, det in enumerate(self.detectors):
            for a in (*det.anchors, *det.requires):
                ids = anchors.setdefault(a, [])
                if i not in ids:
                    ids.append(i)
            self._requires.append(frozenset(det.requires))
        # a detector with `requires` gets those literals' hits too; its own anchors, as a set
        self._own = [frozenset(det.anchors) if det.requires else None for det in self.detectors]
        self._base64 = (
            Base64Layer(a for det in self.detectors for a in det.anchors) if decode_base64 else None
        )
        layer_anchors = self._base64.anchors if self._base64 else frozenset()
        for a in sorted(layer_anchors):
            anchors.setdefault(a, [])
        self._anchors = list(anchors)
        self._anchor_detectors = [tuple(anchors[a]) for a in self._anchors]
        self._layer_anchor = [a in layer_anchors for a in self._anchors]
        self.prefilter = make_prefilter(self._anchors, engine)
        self._routes = self._hit_routes()
        # the common case (a generic-secret word): one route, no requires, a check
        self._quick = [
            ways[0][1].match
            if ways is not None and len(ways) == 1 and ways[0][0] is None and ways[0][1]
            else None
            for ways in self._routes
        ]

    def _hit_routes(self) -> list[tuple[tuple[frozenset[int] | None, re.Pattern[bytes] | None], ...] | None]:
        """Per anchor, the ways a hit of it can lead to a finding (see :meth:`relevant_hits`):
        ``(requires, check)`` pairs — a detector that has the anchor as its own (its
        ``requires`` literals as anchor indexes, its ``hit_check``), the base64 layer (its
        check). ``None``: every hit counts (a ``requires`` literal, a route without conditions)."""
        index = {a: i for i, a in enumerate(self._anchors)}
        literals = {a for det in self.detectors for a in det.requires}
        routes: list[tuple[tuple[frozenset[int] | None, re.Pattern[bytes] | None], ...] | None] = []
        for a, ids, layer in zip(self._anchors, self._anchor_detectors, self._layer_anchor, strict=True):
            ways: list[tuple[frozenset[int] | None, re.Pattern[bytes] | None]] = []
            for i in ids:
                det = self.detectors[i]
                if a in det.anchors:
                    needs = frozenset(index[r] for r in det.requires) if det.requires else None
                    ways.append((needs, det.hit_check))
            if layer and self._base64 is not None:
                ways.append((None, self._base64.hit_check(a)))
            always = a in literals or any(n is None and c is None for n, c in ways)
            routes.append(None if always else tuple(ways))
        return routes

    @property
    def needs_full_text(self) -> bool:
        """True when every text must be decoded (known values or fingerprints to look for)."""
        return bool(len(self._known) or self._fingerprints)

    # -- candidates ---------------------------------------------------------------------

    def anchor_hits(self, data: bytes) -> list[tuple[int, int]]:
        """Raw prefilter hits (byte offset, anchor index) in ``data``."""
        return self.prefilter.find(data)

    def relevant_hits(self, data: bytes, raw_hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """``raw_hits`` (the prefilter's, on ``data``) without those that cannot give a finding.

        A hit is dropped when every detector that has its anchor as its own either does not run
        on this input (none of its ``requires`` literals was hit: ``Basic `` in a file that
        never says "upstash") or declares a
        :attr:`~keyroll.scan.detectors.Detector.hit_check` that fails there (``token`` in code
        without an assignment of a long value), and the base64 layer, if it looks at that
        literal, would take no blob there either (:meth:`Base64Layer.hit_check`). Hits of
        ``requires`` literals always stay (they enable detectors). Empty: the input need not
        even be decoded. With known values or fingerprints every text matters: all hits stay.
        """
        if self.needs_full_text:
            return raw_hits
        routes, quick = self._routes, self._quick
        present: set[int] | None = None
        out = []
        for hit in raw_hits:
            match = quick[hit[1]]
            if match is not None:
                if match(data, hit[0]):
                    out.append(hit)
                continue
            ways = routes[hit[1]]
            if ways is None:
                out.append(hit)
                continue
            for needs, check in ways:
                if needs is not None:
                    if present is None:
                        present = {i for _, i in raw_hits}
                    if not needs & present:
                        continue
                if check is None or check.match(data, hit[0]):
                    out.append(hit)
                    break
        return out

    def candidates(
        self, text: str, data: bytes | None = None, raw_hits: list[tuple[int, int]] | None = None
    ) -> list[Candidate]:
        """Every credential candidate in ``text`` after overlap resolution (no pragma filtering).

        ``data`` is the input ``text`` was decoded from (its UTF-8 encoding when omitted) and
        ``raw_hits`` the prefilter's result on it, if already computed. Base64 blobs are
        decoded and scanned too (see :mod:`keyroll.scan.base64_layer`): their candidates sit
        on the blob and carry ``form=base64``.
        """
        if not text:
            return []
        if data is None:
            data = text.encode("utf-8", "surrogatepass")
        if raw_hits is None:
            raw_hits = self.prefilter.find(data)
        layer_hits: list[Hit] = []
        seen: set[str] = set()
        found = self._detect(text, _char_offsets(raw_hits, data, len(text)), seen, layer_hits)
        found.extend(self._known_candidates(text))
        if self._fingerprints:
            found.extend(self._fingerprint_candidates(text, found))
        found = _resolve(found)
        if layer_hits and self._base64 is not None:
            decoded = self._base64.candidates(text, layer_hits, lambda v: self._decoded_candidates(v, seen))
            found = merge(found, decoded)
        return found

    def _detect(
        self, text: str, offsets: Iterable[tuple[int, int]], seen: set[str], layer_hits: list[Hit] | None
    ) -> list[Candidate]:
        """Run each detector on its own hits. ``seen`` collects the anchors found (and may
        already hold some); base64-layer hits go to ``layer_hits`` when it is given."""
        hits: list[list[Hit]] = [[] for _ in self.detectors]
        anchors, anchor_detectors, layer_anchor = self._anchors, self._anchor_detectors, self._layer_anchor
        for pos, idx in offsets:
            anchor = anchors[idx]
            seen.add(anchor)
            hit = (pos, anchor)
            for i in anchor_detectors[idx]:
                hits[i].append(hit)
            if layer_hits is not None and layer_anchor[idx]:
                layer_hits.append(hit)
        found: list[Candidate] = []
        for i, det in enumerate(self.detectors):
            own = hits[i]
            if not own:
                continue
            mine = self._own[i]
            if mine is not None:
                if not (self._requires[i] & seen):
                    continue
                own = [h for h in own if h[1] in mine]
            if own:
                found.extend(det.find(text, own))
        return found

    def _decoded_candidates(self, text: str, outer_anchors: set[str]) -> list[Candidate]:
        """Detector (and inventory) candidates in a blob's virtual text; ``requires`` literals
        seen in the outer text count (a decoded ``.env`` need not say "upstash" itself)."""
        data = text.encode("utf-8", "surrogatepass")
        offsets = _char_offsets(self.prefilter.find(data), data, len(text))
        found = self._detect(text, offsets, set(outer_anchors), None)
        if self._fingerprints:
            found.extend(self._fingerprint_candidates(text, found))
        return _resolve(found)

    def _known_candidates(self, text: str) -> Iterable[Candidate]:
        if not len(self._known):
            return
        for m in self._known.find(text):
            secret = self._known_by_fp[m.fingerprint]
            yield Candidate(
                rule=KNOWN_VALUE,
                start=m.start,
                end=m.end,
                value=secret.reveal(),
                confidence=Certainty.HIGH,
                reason=f"known value ({m.form.value})",
                priority=200,
                form=m.form,
            )

    def _fingerprint_candidates(self, text: str, found: Sequence[Candidate]) -> Iterable[Candidate]:
        # Inventories carry fingerprints, not values: hash every token-like string and keep
        # those whose fingerprint is listed (detector candidates are checked in _resolve).
        taken = {(c.start, c.end) for c in found}
        for m in _TOKEN_LIKE.finditer(text):
            value = m.group()
            for v in {value, value.rstrip("=")}:
                if len(v) >= 16 and fingerprint_of(v) in self._fingerprints and m.span() not in taken:
                    yield Candidate(
                        rule=KNOWN_VALUE,
                        start=m.start(),
                        end=m.start() + len(v),
                        value=v,
                        confidence=Certainty.HIGH,
                        reason="fingerprint in inventory",
                        priority=150,
                        form=Form.PLAIN,
                    )

    def is_known(self, value: str) -> bool:
        """Whether ``value`` is one of the known values or inventory fingerprints."""
        fp = fingerprint_of(value)
        return fp in self._fingerprints or fp in self._known_by_fp

    # -- findings -----------------------------------------------------------------------

    def scan(
        self,
        text: str,
        path: str,
        *,
        report_from: int = 0,
        report_to: int | None = None,
        first_line: int = 1,
        first_column: int = 1,
        keep_values: bool = True,
        notebook: bool | None = None,
        data: bytes | None = None,
        raw_hits: list[tuple[int, int]] | None = None,
        binary: bool = False,
    ) -> TextResult:
        """Findings whose value starts in ``[report_from, report_to)`` of ``text``.

        ``first_line``/``first_column`` are the line and column of ``text[0]`` in the whole
        input (for chunks). ``keep_values=False`` leaves ``Finding.secret`` empty (results that
        cross a process boundary). ``data``/``raw_hits``: see :meth:`candidates`. ``binary``:
        ``text`` is the latin-1 view of a binary input (findings get ``form=binary``). Never
        raises on any text.
        """
        hi = len(text) if report_to is None else report_to
        result = TextResult()
        cands = [c for c in self.candidates(text, data, raw_hits) if report_from <= c.start < hi]
        if not cands:
            return result
        is_nb = path.endswith(".ipynb") if notebook is None else notebook
        cells = _cell_starts(text) if is_nb else []
        newline_count, last_pos = 0, 0
        last_nl = -1
        for c in sorted(cands, key=lambda c: c.start):
            if _allowed(text, c.start, c.end):
                result.allowed += 1
                continue
            if c.confidence.rank < self.min_confidence.rank:
                result.below_threshold += 1
                continue
            newline_count += text.count("\n", last_pos, c.start)
            nl = text.rfind("\n", last_pos, c.start)
            if nl >= 0:
                last_nl = nl
            last_pos = c.start
            column = c.start - last_nl if last_nl >= 0 else first_column + c.start
            known = c.rule is KNOWN_VALUE or self.is_known(c.value)
            result.findings.append(
                Finding(
                    rule_id=c.rule.id,
                    path=path,
                    line=first_line + newline_count,
                    column=column,
                    end_column=column + (c.end - c.start),
                    fingerprint=fingerprint_of(c.value),
                    preview=preview_of(c.value),
                    confidence=c.confidence,
                    product=c.rule.product,
                    kind=c.kind or c.rule.kind,
                    form=Form.BINARY if binary else c.form,
                    reason=c.reason,
                    key=c.key,
                    cell=(bisect.bisect_right(cells, c.start) - 1) if cells and c.start >= cells[0] else None,
                    known=known,
                    secret=Secret(c.value) if keep_values else None,
                )
            )
        return result


def _resolve(found: list[Candidate]) -> list[Candidate]:
    """Keep the highest-priority candidate of each overlapping group; it inherits a key name."""
    if len(found) <= 1:
        return found
    # kept spans never overlap, so sorted by start they are sorted by end too: the only kept
    # span that can overlap [start, end) is the last one starting before `end`.
    spans: list[tuple[int, int]] = []
    kept: list[Candidate] = []
    for cand in sorted(found, key=lambda c: (-c.priority, c.start, c.start - c.end)):
        j = bisect.bisect_left(spans, (cand.end, -1)) - 1
        if j >= 0 and spans[j][1] > cand.start:
            k = kept[j]
            if not k.key and cand.key and k.value == cand.value:
                same_type = k.rule.id == cand.rule.id
                kept[j] = dataclasses.replace(k, key=cand.key, kind=cand.kind if same_type else k.kind)
            continue
        i = j + 1
        spans.insert(i, (cand.start, cand.end))
        kept.insert(i, cand)
    return kept


def _char_offsets(raw_hits: list[tuple[int, int]], data: bytes, n_chars: int) -> list[tuple[int, int]]:
    """Turn byte offsets into character offsets of the decoded text (sorted)."""
    raw_hits.sort()
    if len(data) == n_chars:  # ASCII (or latin-1 view): one byte per character
        return raw_hits
    # anchors are ASCII, so every hit starts on a character boundary; decoding the slices
    # between hits ("replace" for invalid bytes) yields exactly the characters of the full text
    out: list[tuple[int, int]] = []
    chars = prev = 0
    for b, idx in raw_hits:
        chars += len(data[prev:b].decode("utf-8", "replace"))
        prev = b
        out.append((chars, idx))
    return out


def _allowed(text: str, start: int, end: int) -> bool:
    lo, hi = line_around(text, start, end, 4096)
    if _PRAGMA.search(text, lo, hi):
        return True
    if lo > 0:
        plo, _ = line_around(text, lo - 1, lo - 1, 4096)
        if _PRAGMA_NEXT.search(text, plo, lo):
            return True
    return False


def _cell_starts(text: str) -> list[int]:
    out: list[int] = []
    i = text.find(_CELL_MARK)
    while i >= 0:
        out.append(i)
        i = text.find(_CELL_MARK, i + 1)
    return out
