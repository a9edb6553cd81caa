"""Reading and scanning the blobs of a history through ``git cat-file --batch``.

Blobs reach the workers while the history walk is still going on, as the files of a directory
walk do (:func:`keyroll.scan.workers.fan_out_batches`): a blob travels as a
:class:`~keyroll.scan.walk.FileEntry` named ``<blob>:<path>``. Each worker process reads its
blobs through one ``git cat-file --batch`` of its own, started at its first batch and kept for
the rest: a batch's requests are written at once, then the answers read and scanned one by one
while git inflates the next ones (its output pipe is made large so it can run ahead).

Sizes come with the contents: a blob over the size limit is drained unread in chunks and
counted ``too_large``; one git cannot find is counted ``unreadable``.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import IO

from keyroll.core.errors import ScanError
from keyroll.scan.findings import Finding, ScanSummary
from keyroll.scan.reader import account, scan_bytes
from keyroll.scan.walk import FileEntry
from keyroll.scan.workers import take_work, worker_clock, worker_scanner

__all__ = [
    "BlobResult",
    "BlobTask",
    "blob_entry",
    "reading",
    "scan_blob_batch",
    "scan_blob_task",
    "stop_reader",
]

BlobResult = tuple[list[tuple[str, list[Finding]]], ScanSummary, dict[str, float]]
"""``([(blob, its findings)], summary, phase times)`` of one batch"""
BlobTask = tuple[str, list[FileEntry]]
"""``(git dir, batch)``: a batch for a pool worker, which did not inherit the git dir"""

_SEP = ":"
_PIPE_BYTES = 1 << 20
"""the reader's output pipe: git inflates up to this far ahead of the scanning"""
_DRAIN_BYTES = 1 << 20

_git_dir: str | None = None
"""the repository whose blobs this process reads (set before the workers fork: inherited)"""
_reader: subprocess.Popen[bytes] | None = None
"""this process's ``git cat-file --batch`` for ``_git_dir``"""


def blob_entry(sha: str, path: str) -> FileEntry:
    """A blob as a batch entry (size unknown until read)."""
    return FileEntry(f"{sha}{_SEP}{path}", -1)


@contextlib.contextmanager
def reading(git_dir: str) -> Iterator[None]:
    """Read blobs of ``git_dir`` in this process and the workers it forks meanwhile; this
    process's reader is stopped at the end (a forked worker's ends with the worker)."""
    global _git_dir
    saved = _git_dir
    _git_dir = git_dir
    try:
        yield
    finally:
        stop_reader()
        _git_dir = saved


def scan_blob_task(task: BlobTask) -> BlobResult:
    """:func:`scan_blob_batch` for a batch that names its repository (a pool worker did not
    inherit it; in this process, already :func:`reading` it, the reader is kept)."""
    git_dir, batch = task
    if git_dir == _git_dir:
        return scan_blob_batch(batch)
    with reading(git_dir):
        return scan_blob_batch(batch)


def scan_blob_batch(batch: Sequence[FileEntry]) -> BlobResult:
    """Read and scan a batch of blobs (see the module docstring)."""
    scanner, config = worker_scanner()
    clock = worker_clock()
    limit = config.max_file_bytes
    summary = ScanSummary()
    out: list[tuple[str, list[Finding]]] = []
    blobs = [entry.path.partition(_SEP)[::2] for entry in batch]
    proc = _reader_process()
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(b"".join(sha.encode() + b"\n" for sha, _ in blobs))
    proc.stdin.flush()
    stdout = proc.stdout
    for sha, path in blobs:
        t0 = time.perf_counter() if clock else 0.0
        header = stdout.readline().split()
        if len(header) != 3:  # "<sha> missing"
            if not header:
                raise ScanError("git cat-file stopped answering", hint="check the repository")
            summary.skip("unreadable")
            continue
        size = int(header[2])
        if limit is not None and size > limit:
            _drain(stdout, size + 1)
            summary.skip("too_large")
            continue
        data = stdout.read(size)
        stdout.read(1)  # the newline after the contents
        if clock:
            clock.add("read", t0)
        res = scan_bytes(data, path, scanner, keep_values=config.keep_values, clock=clock)
        account(summary, res)
        summary.blobs += 1
        summary.files -= 1  # blobs are counted as blobs, not files
        if res.findings:
            out.append((sha, res.findings))
    return out, summary, take_work()


def _reader_process() -> subprocess.Popen[bytes]:
    global _reader
    if _reader is None:
        assert _git_dir is not None, "blobs read outside reading()"
        _reader = subprocess.Popen(
            ["git", f"--git-dir={_git_dir}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert _reader.stdout is not None
        with contextlib.suppress(ImportError, AttributeError, OSError):
            import fcntl

            fcntl.fcntl(_reader.stdout.fileno(), fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    return _reader


def stop_reader() -> None:
    """Stop this process's reader, if any, and wait for it (its CPU time is then counted)."""
    global _reader
    if _reader is not None:
        proc, _reader = _reader, None
        with contextlib.suppress(OSError):
            assert proc.stdin is not None
            proc.stdin.close()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _drain(stream: IO[bytes], n: int) -> None:
    while n > 0:
        got = len(stream.read(min(n, _DRAIN_BYTES)))
        if not got:
            return
        n -= got
