"""``keyroll scan --profile``: where the time of a scan goes.

Phases, in the order a scan meets them:

* ``start-up`` — from the process start to the scan's first step (interpreter, imports,
  argument parsing);
* ``setup`` — options, ignore files, the scanner (prefilter database, detectors);
* ``scanner`` — building the scanner in each worker (detectors, prefilter database);
* ``walk`` — listing the files under the paths (or the blobs of the git history);
* ``read`` — opening and reading files (``git cat-file`` for history);
* ``prefilter`` — the anchor search over the bytes (Hyperscan or Aho–Corasick);
* ``decode`` — bytes to text, for inputs with an anchor;
* ``detectors`` — the detectors, base64 layer, known values, findings;
* ``scan`` — the wall time of the whole scanning step (workers included);
* ``report`` — rendering and writing the report.

``scanner``/``read``/``prefilter``/``decode``/``detectors`` are summed over the workers (CPU-seconds of
work); with several workers their sum exceeds the wall time, which the last line gives.
Counting costs two clock reads per phase and input, and is off unless ``--profile`` is given.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

__all__ = ["WORK_PHASES", "Profile", "process_started"]

WORK_PHASES = ("scanner", "read", "prefilter", "decode", "detectors")


def process_started() -> float | None:
    """When this process started, on the :func:`time.perf_counter` clock (Linux; else ``None``)."""
    try:
        with open("/proc/self/stat", "rb") as fh:
            start_ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as fh:
            uptime = float(fh.read().split()[0])
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return time.perf_counter() - (uptime - start_ticks / hz)


@dataclass
class Profile:
    """Phase timings of one scan (seconds)."""

    started: float
    """process start (or the earliest known moment), ``perf_counter`` clock"""
    scan_started: float
    phases: dict[str, float] = field(default_factory=dict)
    workers: int = 1
    _last: float = 0.0

    def __post_init__(self) -> None:
        self.phases["start-up"] = max(0.0, self.scan_started - self.started)
        self._last = self.scan_started

    def add(self, phase: str, seconds: float) -> None:
        """Add ``seconds`` to ``phase``."""
        self.phases[phase] = self.phases.get(phase, 0.0) + seconds

    def mark(self, phase: str) -> None:
        """Charge the time since the previous mark to ``phase``."""
        now = time.perf_counter()
        self.add(phase, now - self._last)
        self._last = now

    def merge_work(self, work: dict[str, float]) -> None:
        """Add a worker's phase sums."""
        for k, v in work.items():
            self.add(k, v)

    def render(self) -> str:
        """The breakdown, one phase a line, then the wall time."""
        total = time.perf_counter() - self.started
        lines = [f"profile (wall {total:.3f}s, {self.workers} worker{'s' if self.workers != 1 else ''}):"]
        for name in ("start-up", "setup", "walk", *WORK_PHASES, "scan", "report"):
            if name in self.phases:
                sec = self.phases[name]
                note = " (summed over workers)" if name in WORK_PHASES and self.workers > 1 else ""
                lines.append(f"  {name:<10} {sec:8.3f}s  {100 * sec / total if total else 0:5.1f}%{note}")
        return "\n".join(lines)


class WorkClock:
    """Phase sums inside one worker (or in-process): ``clock.add(phase, t0)`` after a step."""

    __slots__ = ("sums",)

    def __init__(self) -> None:
        self.sums: dict[str, float] = dict.fromkeys(WORK_PHASES, 0.0)

    def add(self, phase: str, t0: float) -> float:
        """Charge ``now - t0`` to ``phase``; return now (the next step's ``t0``)."""
        now = time.perf_counter()
        self.sums[phase] += now - t0
        return now

    def take(self) -> dict[str, float]:
        """The sums so far, then start again from zero."""
        out, self.sums = self.sums, dict.fromkeys(WORK_PHASES, 0.0)
        return out
