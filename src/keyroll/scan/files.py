"""Reading and scanning a batch of files: the hot loop of a directory scan.

A source tree of 200 MiB is some 30,000 files, and most of them hold no anchor at all: for
those, everything this loop does beyond one ``open``, one ``read``, one ``close`` and one
prefilter call is overhead paid 30,000 times. So it keeps no per-file objects and counts the
summary in locals; a file of unknown size (not stat'ed by the walk) is read with one ``read``
of :data:`PROBE_BYTES` and ``fstat``-ed only if it fills it. Files with relevant anchor hits,
binary files, UTF-16 files and big ones go through :func:`~keyroll.scan.reader.scan_bytes` /
:func:`~keyroll.scan.reader.scan_stream`.
"""

from __future__ import annotations

import codecs
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from keyroll.scan.findings import Finding, ScanSummary
from keyroll.scan.profile import WorkClock
from keyroll.scan.reader import CHUNK_BYTES, SNIFF, ReadResult, _valid_utf8, account, scan_bytes, scan_stream
from keyroll.scan.walk import FileEntry

if TYPE_CHECKING:
    from keyroll.scan.textscan import TextScanner

__all__ = ["PROBE_BYTES", "scan_files"]


def _read_file(fd: int, size: int, limit: int | None) -> bytes | None:
    """The content of the open file ``fd``; ``size`` is what the walk saw (or ``UNKNOWN_SIZE``).

    A file of unknown size is read with one ``read(2)`` of :data:`PROBE_BYTES` (most files of a
    source tree are smaller); only a file that fills it is ``fstat``-ed. Returns ``None`` when
    the file is over ``limit`` (the caller counts it as ``too_large``).
    :raises _Big: the file turned out to hold :data:`CHUNK_BYTES` or more (stream it instead).
    """
    # a known size: one byte more, so a file that grew since the walk is noticed
    probe = PROBE_BYTES if limit is None else min(PROBE_BYTES, limit + 1)
    want = size + 1 if size >= 0 else probe
    data = os.read(fd, want)
    if len(data) < want:
        return data if limit is None or size >= 0 or len(data) <= limit else None
    if size < 0:  # unknown and at least PROBE_BYTES: now the size matters
        size = os.fstat(fd).st_size
        if limit is not None and max(size, len(data)) > limit:
            return None
    parts = [data]  # the rest (or what it grew by)
    have = len(data)
    while have < CHUNK_BYTES and size < CHUNK_BYTES and (chunk := os.read(fd, max(1 << 16, size + 1 - have))):
        parts.append(chunk)
        have += len(chunk)
    if have >= CHUNK_BYTES or size >= CHUNK_BYTES:
        raise _Big
    return b"".join(parts)


class _Big(Exception):
    """A file read as small turned out to be :data:`CHUNK_BYTES` or more."""


PROBE_BYTES = 64 * 1024
"""the first read of a file of unknown size (below glibc's mmap threshold: no mmap per file)"""
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def scan_files(
    batch: Sequence[FileEntry], scanner: TextScanner, keep: bool, limit: int | None, clock: WorkClock | None
) -> tuple[list[Finding], ScanSummary]:
    """Read and scan a batch of files: the hot loop of a directory scan.

    ``keep``: attach values to findings (in-process only); ``limit``: the size limit for files
    of unknown size; ``clock``: phase times (``--profile``).

    Most files of a source tree hold no anchor at all; for them this loop does one open, one
    read, one close and one prefilter call, and nothing else (no per-file objects, the summary
    counted in locals). Files with anchors, binary files, UTF-16 files and big ones go through
    :func:`~keyroll.scan.reader.scan_bytes` / :func:`~keyroll.scan.reader.scan_stream`.
    """
    find = scanner.prefilter.find
    relevant = scanner.relevant_hits
    full = scanner.needs_full_text
    findings: list[Finding] = []
    summary = ScanSummary()
    files = nbytes = invalid = 0
    for path, size in batch:
        if size >= CHUNK_BYTES:
            res = _scan_big(path, scanner, keep, clock, summary)
            if res is not None:
                account(summary, res)
                findings.extend(res.findings)
            continue
        try:
            t0 = time.perf_counter() if clock else 0.0
            fd = os.open(path, _OPEN_FLAGS)
            try:
                data = _read_file(fd, size, limit)
            finally:
                os.close(fd)
            if clock:
                clock.add("read", t0)
        except _Big:  # bigger than it looked: stream it
            res = _scan_big(path, scanner, keep, clock, summary)
            if res is not None:
                account(summary, res)
                findings.extend(res.findings)
            continue
        except OSError:
            summary.skip("unreadable")
            continue
        if data is None:
            summary.skip("too_large")
            continue
        if data.find(b"\0", 0, SNIFF) >= 0 or data.startswith(_UTF16_BOMS):
            res = scan_bytes(data, path, scanner, keep_values=keep, clock=clock)  # binary, UTF-16
        else:
            t0 = time.perf_counter() if clock else 0.0
            hits = find(data)
            if clock:
                clock.add("prefilter", t0)
            if hits:
                hits = relevant(data, hits)
            if not hits and not full:  # the common case: nothing to find
                files += 1
                nbytes += len(data)
                if not data.isascii() and not _valid_utf8(data):
                    invalid += 1
                continue
            res = scan_bytes(data, path, scanner, keep_values=keep, clock=clock, raw_hits=hits)
        account(summary, res)
        findings.extend(res.findings)
    summary.files += files
    summary.bytes += nbytes
    summary.invalid_utf8 += invalid
    return findings, summary


def _scan_big(
    path: str, scanner: TextScanner, keep: bool, clock: WorkClock | None, summary: ScanSummary
) -> ReadResult | None:
    """A file of :data:`CHUNK_BYTES` or more, streamed in chunks (``None``: unreadable, counted)."""
    try:
        with open(path, "rb") as fh:
            return scan_stream(fh, path, scanner, keep_values=keep, clock=clock)
    except OSError:
        summary.skip("unreadable")
        return None
