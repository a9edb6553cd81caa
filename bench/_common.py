"""Shared helpers for the benchmark scripts: timing, peak memory and machine-readable lines."""

from __future__ import annotations

import os
import platform
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager


def machine() -> str:
    """A one-line description of the machine the numbers were measured on."""
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def timed() -> Iterator[dict[str, float]]:
    """``with timed() as t: ...`` then ``t["s"]`` holds the wall time in seconds."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        out["s"] = time.perf_counter() - start


def line(name: str, value: object) -> None:
    """Print one machine-readable result line: ``name: value``."""
    print(f"{name}: {value}", flush=True)
