"""Reading and scanning the blobs of a history: ``git cat-file --batch`` readers feeding one scanner.

The blobs are split into one group per worker process, of about equal total size
(:func:`split_even`); each worker reads its group through ``READERS`` ``git cat-file --batch``
processes at once — each started once, sent every request up front — and scans each blob as it
arrives. Inflating loose objects is git's work, on other cores, while Python scans.
"""

from __future__ import annotations

import heapq
import queue
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import IO

from keyroll.scan.findings import Finding, ScanSummary
from keyroll.scan.reader import account, scan_bytes
from keyroll.scan.workers import take_work, worker_clock, worker_scanner

__all__ = ["READERS", "BlobTask", "scan_blob_group", "split_even"]


def split_even(
    blobs: Sequence[tuple[str, str]], sizes: Mapping[str, int], parts: int
) -> list[list[tuple[str, str]]]:
    """``blobs`` in at most ``parts`` groups of about equal total size (largest first, each to the
    lightest group so far), none empty."""
    groups: list[list[tuple[str, str]]] = [[] for _ in range(max(1, parts))]
    loads = [(0, i) for i in range(len(groups))]
    for blob in sorted(blobs, key=lambda b: sizes[b[0]], reverse=True):
        load, i = heapq.heappop(loads)
        groups[i].append(blob)
        heapq.heappush(loads, (load + sizes[blob[0]], i))
    return [g for g in groups if g]


BlobTask = tuple[str, list[tuple[str, str]]]
"""``(git dir, [(blob sha, a path it had)])``"""


READERS = 2
"""``git cat-file`` processes per batch: inflating loose objects is git's work, on other cores"""


def scan_blob_group(
    task: BlobTask,
) -> tuple[list[tuple[str, list[Finding]]], ScanSummary, dict[str, float]]:
    git_dir, blobs = task
    scanner, config = worker_scanner()
    clock = worker_clock()
    summary = ScanSummary()
    out: list[tuple[str, list[Finding]]] = []
    # the blobs are read by READERS `git cat-file` processes at once, each fed by its own thread
    # (blob order does not matter: findings are attributed by blob id afterwards)
    parts = [blobs[i::READERS] for i in range(READERS) if blobs[i::READERS]]
    inbox: queue.Queue[tuple[str, str, bytes | None] | None] = queue.Queue()
    readers = [
        threading.Thread(target=_read_blobs, args=(git_dir, part, inbox), daemon=True) for part in parts
    ]
    for r in readers:
        r.start()
    pending = len(readers)
    while pending:
        t0 = time.perf_counter() if clock else 0.0
        item = inbox.get()
        if clock:
            clock.add("read", t0)
        if item is None:  # one reader is done
            pending -= 1
            continue
        sha, path, data = item
        if data is None:  # "<sha> missing"
            summary.skip("unreadable")
            continue
        res = scan_bytes(data, path, scanner, keep_values=config.keep_values, clock=clock)
        account(summary, res)
        summary.blobs += 1
        summary.files -= 1  # blobs are counted as blobs, not files
        if res.findings:
            out.append((sha, res.findings))
    for r in readers:
        r.join()
    return out, summary, take_work()


def _read_blobs(
    git_dir: str, blobs: list[tuple[str, str]], inbox: queue.Queue[tuple[str, str, bytes | None] | None]
) -> None:
    """Put ``(sha, path, contents or None)`` of every blob into ``inbox``, then ``None``."""
    try:
        with subprocess.Popen(
            ["git", f"--git-dir={git_dir}", "cat-file", "--batch", "--buffer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            # every request up front, from a thread (the pipe may fill while we read): no round
            # trip per blob; git answers in request order
            writer = threading.Thread(
                target=_request_all, args=(proc.stdin, [sha for sha, _ in blobs]), daemon=True
            )
            writer.start()
            for sha, path in blobs:
                header = proc.stdout.readline().split()
                if len(header) != 3:  # "<sha> missing"
                    inbox.put((sha, path, None))
                    continue
                data = proc.stdout.read(int(header[2]))
                proc.stdout.read(1)  # the newline after the contents
                inbox.put((sha, path, data))
            writer.join()
            proc.wait()
    except OSError:
        pass  # git could not run: what was not read is missing from the counts, not fatal
    finally:
        inbox.put(None)


def _request_all(stdin: IO[bytes], shas: list[str]) -> None:
    """Write every blob request to ``git cat-file --batch``, then close its input."""
    try:
        stdin.write(b"".join(sha.encode() + b"\n" for sha in shas))
        stdin.close()
    except OSError:  # git exited early (the reader sees the short output)
        pass
