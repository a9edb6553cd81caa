"""Scanning files, stdin and git history on every core: the library entry points of ``keyroll scan``.

::

    scan_paths(paths, options)   files and directories (walk → batches → process pool)
    scan_stdin(stream, options)  one stream, chunked
    scan_git(paths, options)     history of the repositories holding the paths (see git.py)
    scan_text(text, path)        one in-memory text, in-process, findings keep their Secret

Work is split into batches of files (a few MiB each) and run on one worker per core (``jobs``;
see :mod:`keyroll.scan.workers`); small scans run in-process. Findings that come back from a worker carry
fingerprints and previews only (``Finding.secret`` is ``None``): values never cross a process
boundary in results. (Known values given with ``--known-values`` are handed to the workers at
start-up as plain strings, by fork or pipe: they never touch disk or argv.)
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Secret
from keyroll.scan import forked
from keyroll.scan.findings import Certainty, Finding, ScanSummary
from keyroll.scan.ignore import IgnoreRules
from keyroll.scan.profile import Profile, WorkClock
from keyroll.scan.reader import account, scan_stream
from keyroll.scan.walk import FileEntry, walk
from keyroll.scan.workers import (
    WorkerConfig,
    batch_target,
    fan_out_batches,
    make_batches,
    run_batches,
    scan_file_batch,
    stream_batches,
    take_parent_build,
)

__all__ = ["ScanOptions", "ScanResult", "WorkerConfig", "recount", "scan_paths", "scan_stdin", "scan_text"]

INLINE_BYTES = 4 * 1024 * 1024
"""below this much input, scanning in-process beats starting a pool"""
T = TypeVar("T")


def idle_cores() -> int:
    """Cores not busy with other work: the core count minus the other work, rounded (at least 1).

    The other work is the lower of the 1-minute load average and the tasks runnable right now
    besides this one (:func:`running_others`). The average lags by a minute: right after a
    build, a test run or another scanner it still counts cores that are idle now. On a busy
    machine more workers than idle cores only add start-up, forking and hand-off costs to the
    same CPU time, so the scan gets slower, not faster."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:
        return cores
    now = running_others()
    if now is not None:
        load = min(load, now)
    return max(1, min(cores, round(cores - load + 0.5)))


def running_others() -> int | None:
    """Tasks runnable right now besides this process (``/proc/loadavg``), or ``None`` off Linux."""
    try:
        with open("/proc/loadavg", "rb") as fh:
            running = int(fh.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - 1)  # the count includes this process, which is running


@dataclass(frozen=True)
class ScanOptions:
    """How to scan. Values in ``known_values`` are secrets; everything else is plain data."""

    jobs: int | None = None
    """worker processes; ``None`` = one per idle core (:func:`idle_cores`), 1 = in-process"""
    max_file_bytes: int = 512 * 1024 * 1024
    """larger files are skipped and counted as ``too_large`` (others are streamed in chunks)"""
    min_confidence: Certainty = Certainty.LOW
    known_values: tuple[Secret, ...] = ()
    fingerprints: frozenset[str] = frozenset()
    """fingerprints from an inventory: matching candidates are reported as known"""
    ignore_file: Path | None = None
    keep_values: bool = False
    """attach ``Finding.secret`` (forces in-process scanning)"""
    inline_bytes: int = INLINE_BYTES
    """scan in-process below this many input bytes (starting a pool costs more)"""
    profile: bool = False
    """collect phase times in the workers (``--profile``)"""

    @property
    def workers(self) -> int:
        """The number of worker processes to use: ``jobs``, else one per idle core (at least one)."""
        if self.keep_values:
            return 1
        return max(1, self.jobs if self.jobs else idle_cores())

    def worker_config(self) -> WorkerConfig:
        """The picklable part of the options that each worker needs."""
        return WorkerConfig(
            known=tuple(s.reveal() for s in self.known_values),
            fingerprints=self.fingerprints,
            min_confidence=self.min_confidence,
            keep_values=self.keep_values,
            profile=self.profile,
            max_file_bytes=self.max_file_bytes,
        )


@dataclass
class ScanResult:
    """Findings (sorted by path, line, column) and the summary of the run."""

    findings: list[Finding] = field(default_factory=list)
    summary: ScanSummary = field(default_factory=ScanSummary)


def scan_paths(
    paths: Sequence[Path],
    options: ScanOptions = ScanOptions(),
    progress: Progress = NULL_PROGRESS,
    *,
    profile: Profile | None = None,
) -> ScanResult:
    """Scan files and directories. Never raises for unreadable or odd inputs: they are counted.

    ``profile`` collects where the time goes (``--profile``).

    :raises ScanError: an ignore file cannot be read.
    """
    started = time.perf_counter()
    result = ScanResult()
    ignore = IgnoreRules.for_targets(paths, options.ignore_file)
    if profile:
        profile.mark("setup")
    # a progress bar needs the byte total up front: only then is every file stat'ed
    sized = progress is not NULL_PROGRESS
    walker = walk(paths, result.summary, ignore=ignore, max_file_bytes=options.max_file_bytes, sizes=sized)
    workers = options.workers
    config = dataclasses.replace(options.worker_config(), profile=profile is not None)
    # walk until the input is known to be small (scanned in-process) or not
    entries: list[FileEntry] = []
    total = 0
    for entry in walker:
        entries.append(entry)
        total += entry.size if entry.size >= 0 else ESTIMATED_SIZE
        if total >= options.inline_bytes and workers > 1 and progress is NULL_PROGRESS:
            break
    else:  # the whole walk is done
        if profile:
            profile.mark("walk")
        return _scan_entries(entries, total, options, config, progress, profile, result, started)
    # big: the rest of the walk overlaps the workers, which get batches as they are formed
    rest = itertools.chain(entries, walker)
    timed = Timed(rest) if profile else None  # two clock reads a file: only for --profile
    walked: Iterator[FileEntry] = timed or rest
    if profile:
        profile.workers = workers
    if forked.available():
        done = fan_out_batches(walked, config, workers, scan_file_batch)
    else:
        batches = stream_batches(walked, _size_of, STREAM_BATCH_BYTES)
        done = run_batches(scan_file_batch, batches, config, workers, inline=False)
    for findings, summary, work in done:
        result.findings.extend(findings)
        result.summary.merge(summary)
        if profile:
            profile.merge_work(work)
    if profile:
        profile.add("walk", timed.seconds if timed else 0.0)
        profile.merge_work(take_parent_build())
        profile.mark("scan")
    return finish(result, started)


STREAM_BATCH_BYTES = 2 * 1024 * 1024
"""batch size while the walk is still going on (the total is not known yet)"""
ESTIMATED_SIZE = 16 * 1024
"""what a file of unknown size (not stat'ed by the walk) counts for in batching"""


def _size_of(entry: FileEntry) -> int:
    return entry.size if entry.size >= 0 else ESTIMATED_SIZE


class Timed(Iterator[T]):
    """An iterator that adds up the time spent producing its items (the walk, for ``--profile``)."""

    def __init__(self, it: Iterator[T]) -> None:
        self._it = it
        self.seconds = 0.0

    def __next__(self) -> T:
        t0 = time.perf_counter()
        try:
            return next(self._it)
        finally:
            self.seconds += time.perf_counter() - t0


def _scan_entries(
    entries: list[FileEntry],
    total: int,
    options: ScanOptions,
    config: WorkerConfig,
    progress: Progress,
    profile: Profile | None,
    result: ScanResult,
    started: float,
) -> ScanResult:
    workers = options.workers
    batches = make_batches(entries, _size_of, batch_target(total, workers))
    inline = total < options.inline_bytes
    if profile:
        profile.workers = 1 if inline or workers <= 1 or len(batches) <= 1 else min(workers, len(batches))
    task = progress.task("scan files", total=total)
    sizes = [sum(_size_of(e) for e in b) for b in batches]
    for findings, summary, work in run_batches(
        scan_file_batch,
        batches,
        config,
        workers,
        inline=inline,
        on_done=lambda i: progress.advance(task, sizes[i]),
    ):
        result.findings.extend(findings)
        result.summary.merge(summary)
        if profile:
            profile.merge_work(work)
    progress.finish(task)
    if profile:
        profile.merge_work(take_parent_build())
        profile.mark("scan")
    return finish(result, started)


def scan_stdin(
    stream: BinaryIO,
    options: ScanOptions = ScanOptions(),
    name: str = "<stdin>",
    *,
    profile: Profile | None = None,
) -> ScanResult:
    """Scan one stream (``--stdin``) in chunks, in-process."""
    started = time.perf_counter()
    result = ScanResult()
    scanner = options.worker_config().build()
    clock = WorkClock() if profile else None
    if profile:
        profile.mark("setup")
    try:
        res = scan_stream(stream, name, scanner, keep_values=options.keep_values, clock=clock)
    except OSError:
        result.summary.skip("unreadable")
        return finish(result, started)
    if profile and clock:
        profile.merge_work(clock.take())
        profile.mark("scan")
    account(result.summary, res)
    result.findings.extend(res.findings)
    return finish(result, started)


def scan_text(text: str, path: str = "<text>", options: ScanOptions = ScanOptions()) -> list[Finding]:
    """Findings in one in-memory text, in-process; each finding keeps its value as a Secret."""
    scanner = options.worker_config().build()
    return scanner.scan(text, path, keep_values=True).findings


def recount(result: ScanResult) -> ScanResult:
    """Sort the findings and refresh the finding counters of the summary."""
    result.findings.sort(key=lambda f: (f.path, f.line, f.column, f.rule_id))
    s = result.summary
    s.findings = len(result.findings)
    s.by_confidence = {}
    for f in result.findings:
        s.by_confidence[f.confidence.value] = s.by_confidence.get(f.confidence.value, 0) + 1
    return result


def finish(result: ScanResult, started: float) -> ScanResult:
    """Sort findings, fill the finding counters and the elapsed time."""
    result.summary.seconds = time.perf_counter() - started
    return recount(result)
