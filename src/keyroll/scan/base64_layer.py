"""The base64 layer: credentials wrapped in base64, found by scanning the decoded text.

A Kubernetes Secret stores ``data:`` values in base64, an ``Authorization: Basic`` header is
``base64(user:password)``, a CI variable may hold a whole ``.env`` file as one base64 line, and
``base64 .env > env.b64`` wraps it at 76 columns. The detectors see none of that in plain text.

How a blob is found — cheaply, inside the one prefilter pass the plain detectors already use:

* **encoded anchors**: every detector anchor (``UPSTASH_``, ``AAI?cD``, ``sig_`` …) base64-
  encoded at each of the three byte alignments (the characters fully fixed by its bits, as in
  :mod:`keyroll.scan.known`), so a blob whose decoded text holds an anchor contains one of
  them. The blob is the base64 run around the hit (joined over wrapped lines).
* **containers that say "this is base64"**: ``Basic <blob>`` and the ``data:`` map of a
  Kubernetes Secret (``kind: Secret``, YAML or JSON). These values are decoded even without
  an encoded anchor, so that a key name outside the blob (``UPSTASH_REDIS_REST_TOKEN: <b64>``)
  still gives context to an opaque token.

A blob is used only when it decodes (base64 or base64url) to strict UTF-8 without control
characters: images, hashes, keys and random bytes fail that at once (the first few hundred
characters are checked before the rest is decoded). The detectors then run on a *virtual
text* — the blob's line (for a ``Basic`` header, with the three lines before it: an HTTP file's
request line) with the blob replaced by its decoded text — so every structure check, filter
and context rule of plain text applies unchanged.
Each candidate inside the decoded part is reported at the blob's own position (line and
column of the encoded form, ``form: base64``); its value — and so its fingerprint — is the
decoded credential. :func:`merge` decides between a blob's decoded candidates and plain ones
over the same characters.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from keyroll.core.model import Form
from keyroll.scan.detectors.base import Candidate, Hit
from keyroll.scan.known import embedded_b64

__all__ = ["Base64Layer", "Blob", "decode_printable", "encoded_anchors", "merge"]

MIN_ENCODED = 16
"""shortest blob considered: 12 decoded bytes, the shortest credential detectors accept"""
MAX_ENCODED = 1 << 20
"""longest blob decoded (characters); longer runs are media, not configuration"""
MIN_PATTERN = 4
"""shortest encoded anchor kept in the prefilter (shorter ones would fire on any base64)"""
PEEK = 512
"""characters decoded first: a binary blob is rejected before the rest is decoded"""
CONTEXT_CHARS = 1024
"""characters of the blob's line kept on each side of it in the virtual text"""
CONTEXT_LINES = 3
"""lines before a ``Basic`` header kept in its virtual text (an HTTP file's request line)"""
WRAP_MIN = 40
"""a wrapped blob's full lines are at least this long (``base64`` wraps at 76, PEM at 64)"""
KEEP_PRIORITY = 150
"""plain candidates at or above this priority (known values, inventory fingerprints) are never
displaced by a blob's decoded candidates"""

_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_RUN_BACK = re.compile(r"[A-Za-z0-9+/_\-]*")
_RUN_FWD = re.compile(r"[A-Za-z0-9+/_\-]*={0,2}")
_SEPARATORS = "/+-_"
# C0 controls but tab/newline/CR, DEL, C1 controls, U+FFFD: what text never holds
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_BASIC = ("Basic ", "basic ")
_BASIC_BLOB = re.compile(r"(?:B|b)asic[ \t]+")
_BASIC_CHECK = re.compile(rb"[Bb]asic[ \t]+[A-Za-z0-9+/_\-]{%d}" % MIN_ENCODED)
"""what a ``Basic`` hit needs for :meth:`Base64Layer._add_certain` to take it (bytes)"""
_K8S_KIND = ("kind: Secret", 'kind: "Secret"', "kind: 'Secret'", '"kind": "Secret"', '"kind":"Secret"')
_DOC_SEP = re.compile(r"^---", re.MULTILINE)
_YAML_DATA = re.compile(r"^(?P<ind>[ \t]*)data:[ \t]*(?:#.*)?$", re.MULTILINE)
_YAML_ENTRY = re.compile(
    r"(?P<ind>[ \t]+)[\"']?[A-Za-z0-9._][-A-Za-z0-9._]*[\"']?[ \t]*:[ \t]*"
    r"[\"']?(?P<v>[A-Za-z0-9+/_\-]+={0,2})[\"']?[ \t]*(?:#.*)?$"
)
_JSON_DATA = re.compile(r"\"data\"\s*:\s*\{")
_JSON_ENTRY = re.compile(r"\"[A-Za-z0-9._-]+\"\s*:\s*\"(?P<v>[A-Za-z0-9+/_\-]+={0,2})\"")


@dataclass(frozen=True, slots=True)
class Blob:
    """A base64 blob in a text and what it decodes to."""

    start: int
    end: int
    """end of the blob (of its first line, for a blob wrapped over several lines)"""
    decoded: str
    origin: str
    """what pointed at it: ``inline``, ``basic auth``, ``kubernetes secret``"""
    certain: bool
    """the container says the value is base64 (a Secret's ``data``, ``Basic``): the encoded
    string is not itself a credential"""


def encoded_anchors(anchors: Iterable[str]) -> frozenset[str]:
    """The base64 and base64url forms of each anchor at the three byte alignments.

    Only characters fully determined by the anchor's bits are kept, and only patterns of at
    least :data:`MIN_PATTERN` characters.
    """
    return _encoded(tuple(sorted(set(anchors))))


@functools.lru_cache(maxsize=4)
def _encoded(anchors: tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for anchor in anchors:
        raw = anchor.encode("utf-8")
        for urlsafe in (False, True):
            out.update(p for p in embedded_b64(raw, urlsafe=urlsafe, min_len=MIN_PATTERN))
    return frozenset(out)


def _b64decode(core: str) -> bytes | None:
    std = core.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _is_text(raw: bytes, *, partial: bool) -> str | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a cut multi-byte sequence at the end of a peeked prefix is not a failure
        if not partial or exc.start < len(raw) - 3:
            return None
        text = raw[: exc.start].decode("utf-8", "replace")
    return None if _NOT_TEXT.search(text) else text


def _looks_text(line: str) -> bool:
    """One line of a wrapped blob decodes to text (it may start inside a UTF-8 sequence)."""
    core = line.rstrip("=")
    raw = _b64decode(core[: len(core) - len(core) % 4])
    if raw is None:
        return False
    skip = 0
    while skip < 3 and skip < len(raw) and 0x80 <= raw[skip] < 0xC0:
        skip += 1
    return _is_text(raw[skip:], partial=True) is not None


def decode_printable(encoded: str) -> str | None:
    """``encoded`` (base64 or base64url, padded or not) decoded, if that is printable UTF-8 text.

    ``None`` for invalid base64, binary content (control bytes, invalid UTF-8) or blobs
    shorter than :data:`MIN_ENCODED`. Never raises.
    """
    core = encoded.rstrip("=")
    if len(core) % 4 == 1:
        core = core[:-1]
    if len(core) < MIN_ENCODED or len(core) > MAX_ENCODED:
        return None
    if len(core) > PEEK:
        head = _b64decode(core[:PEEK])
        if head is None or _is_text(head, partial=True) is None:
            return None
    raw = _b64decode(core)
    if raw is None:
        return None
    text = _is_text(raw, partial=False)
    return text.removeprefix("\ufeff") if text else None


def _line_bounds(text: str, pos: int, limit: int = CONTEXT_CHARS) -> tuple[int, int]:
    """The line around ``pos``, at most ``limit`` characters before it and a blob's length
    plus ``limit`` after (a minified bundle is one line of megabytes)."""
    lo = max(0, pos - limit)
    lo = max(lo, text.rfind("\n", lo, pos) + 1)
    hi = text.find("\n", pos, pos + MAX_ENCODED + limit)
    return lo, min(len(text), pos + MAX_ENCODED + limit) if hi < 0 else hi


def _run_at(text: str, pos: int) -> tuple[int, int, bool]:
    """``(start, end, whole)``: the base64 run holding ``pos``. ``whole`` is False when the run is
    longer than :data:`MAX_ENCODED` (then ``[start, end)`` is the part looked at: a caller skips
    its other hits instead of walking the same megabytes again)."""
    start = pos
    for window in (256, 16384, MAX_ENCODED):  # most runs are short: look back a little first
        lo = max(0, pos - window)
        back = _RUN_BACK.match(text[lo:pos][::-1])
        start = pos - (back.end() if back else 0)
        if start > lo or lo == 0:
            break
    m = _RUN_FWD.match(text, pos, min(len(text), pos + MAX_ENCODED))
    end = m.end() if m else pos
    return start, end, end - start < MAX_ENCODED and (start > pos - MAX_ENCODED or start == 0)


def _full_line(text: str, start: int, end: int) -> bool:
    """``[start, end)`` is the whole line, apart from indentation (and a CR)."""
    lo, hi = _line_bounds(text, start)
    return not text[lo:start].strip() and text[end:hi] in ("", "\r")


def _wrapped(text: str, start: int, end: int, seen: AbstractSet[int] = frozenset()) -> list[tuple[int, int]]:
    """The pieces of a blob wrapped over lines (``base64`` without ``-w0``), else ``[(start, end)]``.

    Every line but the last has the same length (at least :data:`WRAP_MIN`, a multiple of 4)
    and only the last may be shorter or padded. Lines whose start is in ``seen`` (an earlier
    block) end the walk backwards, so a long file of base64 lines is walked once.
    """
    if not _full_line(text, start, end):
        return [(start, end)]

    def line_run(lo: int) -> tuple[int, int] | None:
        hi = text.find("\n", lo)
        hi = len(text) if hi < 0 else hi
        body = text[lo:hi].rstrip("\r")
        s = lo + len(body) - len(body.lstrip(" \t"))
        m = _RUN_FWD.match(text, s, hi)
        if not m or m.end() - s < 4 or text[m.end() : hi] not in ("", "\r"):
            return None
        return s, m.end()

    # backwards: full lines of one width, none padded
    before: list[tuple[int, int]] = []
    total = end - start
    lo = _line_bounds(text, start)[0]
    while lo > 0 and total < MAX_ENCODED:
        prev = line_run(text.rfind("\n", 0, lo - 1) + 1)
        if prev is None or prev[0] in seen or prev[1] - prev[0] < WRAP_MIN or text[prev[1] - 1] == "=":
            break
        if not before and end - start > prev[1] - prev[0]:
            break  # this line is longer than the one before: not the same block
        if before and prev[1] - prev[0] != before[-1][1] - before[-1][0]:
            break
        before.append(prev)
        total += prev[1] - prev[0]
        lo = _line_bounds(text, prev[0])[0]
    pieces = [*reversed(before), (start, end)]
    full = pieces[0][1] - pieces[0][0]
    if len(pieces) > 1 and full % 4:
        return [(start, end)]
    # forwards: more lines of the same width, then one shorter (or padded) last line
    last = pieces[-1]
    while (
        last[1] - last[0] == full
        and full >= WRAP_MIN
        and full % 4 == 0
        and text[last[1] - 1] != "="
        and total < MAX_ENCODED
    ):
        nl = text.find("\n", last[1])
        if nl < 0:
            break
        nxt = line_run(nl + 1)
        if nxt is None or nxt[1] - nxt[0] > full:
            break
        pieces.append(nxt)
        total += nxt[1] - nxt[0]
        last = nxt
    return pieces


class Base64Layer:
    """Finds base64 blobs at prefilter hits and runs detectors on their decoded text."""

    def __init__(self, anchors: Iterable[str]) -> None:
        self.encoded = encoded_anchors(anchors)
        """encoded forms of the detectors' anchors"""
        self.containers = frozenset((*_BASIC, *_K8S_KIND))
        """literals of containers whose values are base64 by definition"""

    @property
    def anchors(self) -> frozenset[str]:
        """Every literal the prefilter must report to this layer."""
        return self.encoded | self.containers

    def hit_check(self, anchor: str) -> re.Pattern[bytes] | None:
        """A bytes check that a hit of ``anchor`` needs to pass to give this layer a blob (the
        prose "basic example" does not: a blob is 16 base64 characters), or ``None``. Like
        :attr:`~keyroll.scan.detectors.Detector.hit_check`, for literals only this layer uses."""
        return _BASIC_CHECK if anchor in _BASIC and anchor not in self.encoded else None

    # -- blobs ------------------------------------------------------------------------------

    def blobs(self, text: str, hits: Sequence[Hit]) -> list[Blob]:
        """The decodable blobs pointed at by ``hits`` (``(position, anchor)``, sorted), by position."""
        found: dict[int, Blob] = {}
        tried: set[int] = set()
        docs: set[int] = set()
        spans: list[tuple[int, int]] = [(-1, -1)]  # runs looked at (hits come sorted by position)
        for pos, anchor in hits:
            if anchor in _BASIC:
                m = _BASIC_BLOB.match(text, pos)
                if m:
                    self._add_certain(text, m.end(), "basic auth", found, tried, need=":")
            elif anchor in _K8S_KIND:
                self._kubernetes(text, pos, anchor, found, tried, docs)
            if anchor in self.encoded and not spans[-1][0] <= pos < spans[-1][1]:
                self._inline(text, pos, found, tried, spans)
        return [found[k] for k in sorted(found)]

    def _inline(
        self, text: str, pos: int, found: dict[int, Blob], tried: set[int], spans: list[tuple[int, int]]
    ) -> None:
        start, end, whole = _run_at(text, pos)
        spans.append((start, end))
        if not whole or start in tried:
            return
        run = (start, end)
        if _full_line(text, *run) and not _looks_text(text[run[0] : min(run[1], run[0] + PEEK)]):
            tried.add(run[0])
            return  # a line of binary base64 (a PEM body, a hash list): no need to join its block
        pieces = _wrapped(text, *run, seen=tried)
        tried.update(a for a, _ in pieces)  # other hits in the same block: nothing more to do
        start = pieces[0][0]
        encoded = "".join(text[a:b] for a, b in pieces)
        decoded = decode_printable(encoded)
        if decoded is None and len(pieces) == 1:
            # a prefix glued to the blob (``path/<blob>``, ``key_<blob>``): try after a separator
            for i in range(run[0], min(pos, run[0] + 64)):
                if text[i] in _SEPARATORS and i + 1 < pos:
                    decoded = decode_printable(text[i + 1 : run[1]])
                    if decoded is not None:
                        start = i + 1
                        break
        if decoded is not None:
            found[start] = Blob(start, pieces[0][1] if len(pieces) > 1 else run[1], decoded, "inline", False)

    def _add_certain(
        self, text: str, start: int, origin: str, found: dict[int, Blob], tried: set[int], need: str = ""
    ) -> None:
        if start >= len(text) or text[start] not in _B64:
            return
        run_start, run_end, whole = _run_at(text, start)
        if not whole or run_start != start:
            return
        decoded = decode_printable(text[start:run_end])
        if decoded is None or (need and need not in decoded):
            return
        tried.add(start)
        found[start] = Blob(start, run_end, decoded, origin, True)

    def _kubernetes(
        self, text: str, pos: int, anchor: str, found: dict[int, Blob], tried: set[int], docs: set[int]
    ) -> None:
        after = pos + len(anchor)
        if after < len(text) and (text[after].isalnum() or text[after] == "_"):
            return  # kind: SecretStore, kind: SecretProviderClass
        lo = 0
        for m in _DOC_SEP.finditer(text, 0, pos):
            lo = m.end()
        if lo in docs:
            return
        docs.add(lo)
        nxt = _DOC_SEP.search(text, pos)
        hi = nxt.start() if nxt else len(text)
        for m in _YAML_DATA.finditer(text, lo, hi):
            indent = len(m.group("ind").expandtabs())
            line_lo = m.end() + 1
            while line_lo < hi:
                line_hi = text.find("\n", line_lo, hi)
                line_hi = hi if line_hi < 0 else line_hi
                line = text[line_lo:line_hi]
                if line.strip() and not line.lstrip().startswith("#"):
                    e = _YAML_ENTRY.match(text, line_lo, line_hi)
                    if e is None and len(line) - len(line.lstrip()) <= indent:
                        break  # back at the level of `data:`: the map has ended
                    if e is not None:
                        if len(e.group("ind").expandtabs()) <= indent:
                            break
                        self._add_certain(text, e.start("v"), "kubernetes secret", found, tried)
                line_lo = line_hi + 1
        for m in _JSON_DATA.finditer(text, lo, hi):
            close = text.find("}", m.end(), hi)
            for e in _JSON_ENTRY.finditer(text, m.end(), hi if close < 0 else close):
                self._add_certain(text, e.start("v"), "kubernetes secret", found, tried)

    # -- candidates -------------------------------------------------------------------------

    def candidates(
        self, text: str, hits: Sequence[Hit], inner: Callable[[str], list[Candidate]]
    ) -> list[tuple[Blob, list[Candidate]]]:
        """For each blob, the candidates ``inner`` finds in its decoded text, placed on the blob.

        ``inner`` runs the plain detectors over a text (never this layer again: one level).
        """
        out: list[tuple[Blob, list[Candidate]]] = []
        for blob in self.blobs(text, hits):
            line_lo, line_hi = _line_bounds(text, blob.start)
            ctx_lo = line_lo
            for _ in range(CONTEXT_LINES if blob.origin == "basic auth" else 0):
                if ctx_lo <= 0:
                    break
                ctx_lo = _line_bounds(text, ctx_lo - 1)[0]
            prefix = text[ctx_lo : blob.start]
            suffix = text[blob.end : min(line_hi, blob.end + CONTEXT_CHARS)] if blob.end <= line_hi else ""
            virtual = prefix + blob.decoded + suffix
            lo, hi = len(prefix), len(prefix) + len(blob.decoded)
            placed: dict[tuple[str, str], Candidate] = {}
            for c in inner(virtual):
                # one per value and rule: a blob is one location, however often it repeats
                if lo <= c.start < hi and (c.rule.id, c.value) not in placed:
                    placed[(c.rule.id, c.value)] = dataclasses.replace(
                        c,
                        start=blob.start,
                        end=blob.end,
                        form=Form.BASE64,
                        priority=c.priority + 1,
                        reason=f"{c.reason}; base64-encoded ({blob.origin})",
                    )
            out.append((blob, list(placed.values())))
        return out


def _covers(c: Candidate, blob: Blob) -> bool:
    """``c`` is the whole blob (give or take ``=`` padding), not a part of it."""
    return c.start <= blob.start + 2 and c.end >= blob.end - 2


def merge(plain: list[Candidate], decoded: Sequence[tuple[Blob, list[Candidate]]]) -> list[Candidate]:
    """Plain candidates plus the blobs' decoded ones, one verdict per blob.

    * A plain candidate that *is* the blob and outranks its decoded candidates wins (a QStash
      token is base64 of JSON with a ``Password`` in it: the token is the finding).
    * Otherwise the decoded candidates replace plain ones over the blob (a key-name match on
      the encoded string), except known values and inventory fingerprints, which stay; a
      decoded candidate with the same value as one of those is dropped.
    * A blob from a base64 container (Secret ``data``, ``Basic``) that decodes to text
      without findings still drops plain detector matches on its encoded form: that string
      is an encoding, not a credential.
    """
    out = list(plain)
    for blob, cands in decoded:
        if not cands and not blob.certain:
            continue
        over = [p for p in out if p.start < blob.end and blob.start < p.end]
        best = max((c.priority for c in cands), default=-1)
        if any(_covers(p, blob) and p.priority >= best for p in over if p.priority < KEEP_PRIORITY) and cands:
            continue
        dropped = {id(p) for p in over if p.priority < KEEP_PRIORITY}
        kept_values = {p.value for p in over if id(p) not in dropped}
        out = [p for p in out if id(p) not in dropped]
        out.extend(c for c in cands if c.value not in kept_values)
    return out
