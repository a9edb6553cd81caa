"""The scan's worker processes: the scanner each one uses, and the ways work reaches them.

Each worker builds its :class:`~keyroll.scan.textscan.TextScanner` once (on Linux the parent
builds it and forked workers inherit it). Work reaches them two ways:

* :func:`run_batches` — batches in-process or in a process pool (results in completion order);
* :func:`fan_out_batches` — what a walk finds (files, blobs), while it goes on, through
  :func:`keyroll.scan.forked.fan_out`.

Findings that come back from a worker carry fingerprints and previews only.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from keyroll.core.secret import Secret
from keyroll.scan import forked
from keyroll.scan.files import scan_files
from keyroll.scan.findings import Certainty, Finding, ScanSummary
from keyroll.scan.profile import WorkClock
from keyroll.scan.walk import FileEntry

if TYPE_CHECKING:
    from concurrent.futures import Future

    from keyroll.scan.textscan import TextScanner

__all__ = [
    "WorkerConfig",
    "batch_target",
    "fan_out_batches",
    "make_batches",
    "run_batches",
    "scan_file_batch",
    "stream_batches",
    "take_parent_build",
    "take_work",
    "worker_clock",
    "worker_scanner",
]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to build its scanner (``known`` holds raw values: never log it)."""

    known: tuple[str, ...] = field(default=(), repr=False)
    fingerprints: frozenset[str] = frozenset()
    min_confidence: Certainty = Certainty.LOW
    keep_values: bool = False
    profile: bool = False
    max_file_bytes: int | None = None
    """files of unknown size found over this are skipped as ``too_large`` when read"""

    def build(self) -> TextScanner:
        """A scanner for this configuration."""
        from keyroll.scan.textscan import TextScanner  # the detectors load only when there is work

        return TextScanner(
            known=[Secret(v) for v in self.known],
            fingerprints=self.fingerprints,
            min_confidence=self.min_confidence,
        )


# -- worker side ----------------------------------------------------------------------------

_worker_scanner: TextScanner | None = None
_worker_config: WorkerConfig | None = None
_worker_clock: WorkClock | None = None
_parent_build_seconds = 0.0
"""``--profile``: time the parent spent building the scanner its forked workers inherit"""


def take_parent_build() -> dict[str, float]:
    """The parent's scanner build time since the last call, as a phase sum."""
    global _parent_build_seconds
    out, _parent_build_seconds = {"scanner": _parent_build_seconds}, 0.0
    return out


def _init_worker(config: WorkerConfig) -> None:
    global _worker_scanner, _worker_config, _worker_clock
    t0 = time.perf_counter()
    if _worker_scanner is None or _worker_config != config:  # a forked worker inherits the parent's
        _worker_scanner = config.build()
    _worker_config = config
    _worker_clock = WorkClock() if config.profile else None
    if _worker_clock:
        _worker_clock.add("scanner", t0)


def worker_clock() -> WorkClock | None:
    """This worker's phase clock (``--profile``), or ``None``."""
    return _worker_clock


def take_work() -> dict[str, float]:
    """This worker's phase sums since the last call (empty without ``--profile``)."""
    return _worker_clock.take() if _worker_clock else {}


def worker_scanner() -> tuple[TextScanner, WorkerConfig]:
    assert _worker_scanner is not None and _worker_config is not None, "worker not initialised"
    return _worker_scanner, _worker_config


def scan_file_batch(batch: Sequence[FileEntry]) -> tuple[list[Finding], ScanSummary, dict[str, float]]:
    """:func:`~keyroll.scan.files.scan_files` with this process's scanner and phase clock."""
    scanner, config = worker_scanner()
    findings, summary = scan_files(batch, scanner, config.keep_values, config.max_file_bytes, _worker_clock)
    return findings, summary, take_work()


# -- driver side ----------------------------------------------------------------------------


def run_batches(
    func: Callable[[T], R],
    batches: Iterable[T],
    config: WorkerConfig,
    workers: int,
    *,
    inline: bool,
    on_done: Callable[[int], None] = lambda i: None,
) -> Iterator[R]:
    """Run ``func`` over ``batches`` in-process or in a pool of ``workers`` processes.

    Results come back in completion order; ``on_done(i)`` is called after batch ``i``.
    ``batches`` may be a lazy iterable (the file walk still going on): in a pool, each batch is
    handed to the workers as soon as it is formed, so walking and scanning overlap.
    """
    global _worker_scanner, _worker_config, _worker_clock
    known = batches if isinstance(batches, Sequence) else None
    if known is not None and not known:
        return
    if inline or workers <= 1 or (known is not None and len(known) <= 1):
        saved = (_worker_scanner, _worker_config, _worker_clock)
        _init_worker(config)
        try:
            for i, b in enumerate(batches):
                yield func(b)
                on_done(i)
        finally:
            _worker_scanner, _worker_config, _worker_clock = saved
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    # with fork, build the scanner once, here: every worker inherits it (detectors imported,
    # prefilter compiled) instead of building its own; the parent drops it afterwards
    inherited = (_worker_scanner, _worker_config)
    if method == "fork" and (_worker_scanner is None or _worker_config != config):
        t0 = time.perf_counter()
        _worker_scanner, _worker_config = config.build(), config
        if config.profile:
            global _parent_build_seconds
            _parent_build_seconds = time.perf_counter() - t0
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(known)) if known is not None else workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(config,),
    )
    finished = False
    try:
        futures: dict[Future[R], int] = {}
        for i, b in enumerate(batches):
            futures[pool.submit(func, b)] = i
        for fut in as_completed(futures):
            yield fut.result()
            on_done(futures[fut])
        finished = True
    finally:
        # interrupted (Ctrl-C, an error, the consumer stopped): drop the queued batches instead
        # of working through them before the process may exit
        pool.shutdown(wait=finished, cancel_futures=not finished)
        _worker_scanner, _worker_config = inherited


def stream_batches(items: Iterable[T], size_of: Callable[[T], int], target: int) -> Iterator[list[T]]:
    """Batches of about ``target`` bytes (a big item forms its own), each as soon as it is full."""
    current: list[T] = []
    acc = 0
    for item in items:
        n = size_of(item)
        if n >= target:
            yield [item]
            continue
        current.append(item)
        acc += n
        if acc >= target:
            yield current
            current, acc = [], 0
    if current:
        yield current


def make_batches(items: Iterable[T], size_of: Callable[[T], int], target: int) -> list[list[T]]:
    """Group items into batches of about ``target`` bytes (a big item forms its own batch)."""
    return list(stream_batches(items, size_of, target))


def batch_target(total: int, workers: int) -> int:
    """Batch size in bytes: about eight batches per worker, between 256 KiB and 16 MiB."""
    return min(16 << 20, max(256 << 10, total // max(1, workers * 8)))


def fan_out_batches(
    entries: Iterable[FileEntry],
    config: WorkerConfig,
    workers: int,
    work: Callable[[list[FileEntry]], R],
    on_child_end: Callable[[], None] = lambda: None,
) -> Iterator[R]:
    """:func:`keyroll.scan.forked.fan_out` of ``work`` (e.g. :func:`scan_file_batch`; see
    :func:`_forking`); ``on_child_end`` runs in each child after its last batch."""
    hooks = forked.ChildHooks(start=lambda: _init_worker(config), end=on_child_end)
    with _forking(config):
        yield from forked.fan_out(entries, workers, work, hooks)


@contextlib.contextmanager
def _forking(config: WorkerConfig) -> Iterator[None]:
    """This process as a worker about to fork the others: the scanner built here once, used here
    and inherited by the children; none of them collects cyclic garbage meanwhile (tens of
    thousands of small tuples, few cycles: the collector only costs time)."""
    global _worker_scanner, _worker_config, _worker_clock, _parent_build_seconds
    saved = (_worker_scanner, _worker_config, _worker_clock)
    t0 = time.perf_counter()
    if _worker_scanner is None or _worker_config != config:
        _worker_scanner, _worker_config = config.build(), config
        if config.profile:
            _parent_build_seconds = time.perf_counter() - t0
    collecting = gc.isenabled()
    gc.disable()
    try:
        _init_worker(config)  # this process scans too
        yield
    finally:
        _worker_scanner, _worker_config, _worker_clock = saved
        if collecting:
            gc.enable()
