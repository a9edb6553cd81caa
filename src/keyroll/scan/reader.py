"""Turning bytes into scanned text with bounded memory: binary sniffing, decoding, chunking.

Inputs up to :data:`CHUNK_BYTES` are decoded and scanned whole. Larger ones (a 2 GiB log, a
minified bundle on one line) are streamed in chunks; consecutive chunks overlap by
:data:`OVERLAP` characters so a credential cut by a chunk boundary is seen whole in the next
chunk, and each value is reported by exactly one chunk (the one where it starts before the
overlap). Line and column numbers stay those of the whole input.

Invalid UTF-8 is decoded with replacement characters (and counted); a NUL byte in the first
8 KiB marks the input as binary unless it starts with a UTF-16 byte-order mark. A binary input
(a SQLite database, a ``.pyc``, a core dump) is searched byte for byte: its bytes are read as
latin-1 (one character per byte, so the ASCII credential formats match where they sit) and its
findings carry ``form=binary``; line and column are those of that one-byte-per-character view.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from keyroll.scan.findings import Finding, ScanSummary
from keyroll.scan.profile import WorkClock

if TYPE_CHECKING:
    from keyroll.scan.textscan import TextScanner

__all__ = ["CHUNK_BYTES", "OVERLAP", "ReadResult", "account", "looks_binary", "scan_bytes", "scan_stream"]

CHUNK_BYTES = 4 * 1024 * 1024
OVERLAP = 16 * 1024
"""characters shared by consecutive chunks; longer than any credential plus its context"""
CONTEXT = 2 * 1024
"""characters kept before the reporting start of a chunk, for key names and pragmas"""
SNIFF = 8 * 1024
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass
class ReadResult:
    """What scanning one input produced."""

    findings: list[Finding] = field(default_factory=list)
    bytes: int = 0
    binary: bool = False
    invalid_utf8: bool = False
    allowed: int = 0
    below_threshold: int = 0


def looks_binary(head: bytes) -> bool:
    """A NUL byte in the first 8 KiB (UTF-16 text with a BOM is not binary)."""
    return head.find(b"\0", 0, SNIFF) >= 0 and not head.startswith(_UTF16_BOMS)  # find: no 8 KiB copy


def _scan_binary(
    data: bytes, name: str, scanner: TextScanner, out: ReadResult, keep_values: bool, clock: WorkClock | None
) -> None:
    t0 = time.perf_counter() if clock else 0.0
    raw_hits = scanner.anchor_hits(data)
    if clock:
        t0 = clock.add("prefilter", t0)
    raw_hits = scanner.relevant_hits(data, raw_hits)
    if not raw_hits and not scanner.needs_full_text:
        return
    res = scanner.scan(
        data.decode("latin-1"), name, keep_values=keep_values, data=data, raw_hits=raw_hits, binary=True
    )
    if clock:
        clock.add("detectors", t0)
    out.findings, out.allowed, out.below_threshold = res.findings, res.allowed, res.below_threshold


def account(summary: ScanSummary, res: ReadResult) -> None:
    """Add one input's read result to the summary counters."""
    summary.binary += res.binary
    summary.files += 1
    summary.bytes += res.bytes
    summary.invalid_utf8 += res.invalid_utf8
    summary.allowed += res.allowed
    summary.below_threshold += res.below_threshold


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode(data: bytes) -> tuple[str, bool]:
    if data.startswith(_UTF16_BOMS):
        return data.decode("utf-16", errors="replace"), False
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="replace"), True


def scan_bytes(
    data: bytes,
    name: str,
    scanner: TextScanner,
    *,
    keep_values: bool = True,
    clock: WorkClock | None = None,
    raw_hits: list[tuple[int, int]] | None = None,
) -> ReadResult:
    """Scan an in-memory input (a small file, a git blob). Never raises on content.

    ASCII inputs without any anchor are not even decoded. ``clock`` collects phase times
    (``--profile``); ``raw_hits`` is the prefilter's result on ``data`` when the caller has it.
    """
    out = ReadResult(bytes=len(data))
    if looks_binary(data):
        out.binary = True
        _scan_binary(data, name, scanner, out, keep_values, clock)
        return out
    t0 = time.perf_counter() if clock else 0.0
    if data.startswith(_UTF16_BOMS):
        text, _ = _decode(data)
        if clock:
            t0 = clock.add("decode", t0)
        res = scanner.scan(text, name, keep_values=keep_values)
    else:
        if raw_hits is None:
            raw_hits = scanner.anchor_hits(data)
            if clock:
                t0 = clock.add("prefilter", t0)
        raw_hits = scanner.relevant_hits(data, raw_hits)
        if not raw_hits and not scanner.needs_full_text:
            if data.isascii():  # nothing to find, nothing to count
                return out
            out.invalid_utf8 = not _valid_utf8(data)
            return out
        text, out.invalid_utf8 = _decode(data)
        if clock:
            t0 = clock.add("decode", t0)
        res = scanner.scan(text, name, keep_values=keep_values, data=data, raw_hits=raw_hits)
    if clock:
        clock.add("detectors", t0)
    out.findings, out.allowed, out.below_threshold = res.findings, res.allowed, res.below_threshold
    return out


def scan_stream(
    stream: BinaryIO,
    name: str,
    scanner: TextScanner,
    *,
    keep_values: bool = True,
    chunk_bytes: int = CHUNK_BYTES,
    clock: WorkClock | None = None,
) -> ReadResult:
    """Scan a stream of any size in overlapping chunks. Never raises on content.

    :raises OSError: reading the stream failed (the caller counts it as unreadable).
    """
    out = ReadResult()
    t0 = time.perf_counter() if clock else 0.0
    first = stream.read(min(SNIFF, chunk_bytes))
    binary = looks_binary(first)  # decided on the first 8 KiB
    if len(first) == min(SNIFF, chunk_bytes) and chunk_bytes > SNIFF:
        first += stream.read(chunk_bytes - len(first))
    if clock:
        clock.add("read", t0)
    out.bytes = len(first)
    if len(first) < chunk_bytes:  # the common case: small enough to scan whole
        return scan_bytes(first, name, scanner, keep_values=keep_values, clock=clock)
    out.binary = binary
    decoder = codecs.getincrementaldecoder("latin-1" if binary else "utf-8")("strict")
    carry = ""
    base = 0  # stream offset (characters) of carry[0]
    reported = 0  # stream offset up to which values have been reported
    line, column = 1, 1  # line/column of carry[0]
    data: bytes = first
    notebook = name.endswith(".ipynb")
    while True:
        t0 = time.perf_counter() if clock else 0.0
        final = not data
        try:
            new = decoder.decode(data, final=final)
        except UnicodeDecodeError:
            out.invalid_utf8 = True
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            new = decoder.decode(data, final=final)
        text = carry + new
        if clock:
            t0 = clock.add("decode", t0)
        lo = reported - base
        hi = len(text) if final else max(lo, len(text) - OVERLAP)
        res = scanner.scan(
            text,
            name,
            report_from=lo,
            report_to=hi,
            first_line=line,
            first_column=column,
            keep_values=keep_values,
            notebook=False if notebook else None,  # cells are only known for whole notebooks
            data=text.encode("latin-1") if binary else None,
            binary=binary,
        )
        out.findings.extend(res.findings)
        out.allowed += res.allowed
        out.below_threshold += res.below_threshold
        if clock:
            clock.add("detectors", t0)
        if final:
            return out
        reported = base + hi
        cut = max(0, hi - CONTEXT)
        head = text[:cut]
        newlines = head.count("\n")
        if newlines:
            line += newlines
            column = cut - head.rfind("\n")
        else:
            column += cut
        carry = text[cut:]
        base += cut
        t0 = time.perf_counter() if clock else 0.0
        data = stream.read(chunk_bytes)
        if clock:
            clock.add("read", t0)
        out.bytes += len(data)
