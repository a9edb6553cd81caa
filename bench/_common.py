"""Shared helpers for the benchmark scripts: timing, machine facts, alternated runs and result files.

Every benchmark writes its figures to ``bench/out/<name>.json`` with :func:`write_result`:

``{"name", "command", "date", "machine", "tool_versions", "params", "runs", "summary", ...}``

* ``runs`` holds the raw samples, per tool (``{tool: [sample, ...]}``), in the order they were
  taken; a sample is a dict of numbers (``wall_s`` always, then whatever the bench measures);
* ``summary`` holds what the README table shows, computed from ``runs`` by the bench itself
  (``min``/``median`` per tool and metric, ratios, counts).

``bench/results.py`` (``make results``) renders the README's Results table from those files.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"


def machine() -> str:
    """A one-line description of the machine the numbers were measured on."""
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def cpu_model() -> str:
    """The CPU's model name (Linux), or the platform's processor string."""
    try:
        for raw in Path("/proc/cpuinfo").read_text().splitlines():
            if raw.startswith("model name"):
                return raw.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, OS, Python, and the load when measuring started."""
    return {
        "summary": machine(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_avg_start": list(os.getloadavg()),
    }


def version_of(dist: str) -> str:
    """The installed version of a Python distribution, or ``"not installed"``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit() -> str:
    """The commit of the working tree being measured (``+dirty`` when it has changes)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def command_line() -> str:
    """The command that produced this result, as a user would type it from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = str(script)
    return shlex.join([".venv/bin/python", shown, *sys.argv[1:]])


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


def alternate(
    tools: Mapping[str, Callable[[int], dict[str, Any]]],
    runs: int,
    *,
    between: Callable[[], None] | None = None,
    report: Callable[[str, int, dict[str, Any]], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Run every tool ``runs`` times, alternated (A B A B …), and return the samples per tool.

    Each runner gets the 0-based run index and returns one sample (a dict with ``wall_s``).
    ``between`` runs before every run but the first (e.g. wait out a rate-limit window);
    ``report`` sees each sample as soon as it is taken.
    """
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in tools}
    first = True
    for i in range(runs):
        for name, run in tools.items():
            if not first and between is not None:
                between()
            first = False
            sample = run(i)
            samples[name].append(sample)
            if report is not None:
                report(name, i, sample)
    return samples


def stats(values: Sequence[float]) -> dict[str, float]:
    """``{"n", "min", "median", "max"}`` of some samples."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "max": max(values),
    }


def metric(samples: Sequence[Mapping[str, Any]], key: str) -> dict[str, float]:
    """:func:`stats` of one numeric field over a tool's samples (samples without it are skipped)."""
    return stats([float(s[key]) for s in samples if isinstance(s.get(key), (int, float))])


def write_result(
    name: str,
    *,
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
    summary: Mapping[str, Any],
    params: Mapping[str, Any],
    tool_versions: Mapping[str, str] | None = None,
    machine_facts: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    out_dir: Path | None = None,
) -> Path:
    """Write ``bench/out/<name>.json`` (raw samples, summary, machine, versions, command) and say where."""
    facts = dict(machine_facts or machine_info())
    facts["load_avg_end"] = list(os.getloadavg())
    doc: dict[str, Any] = {
        "name": name,
        "command": command_line(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": git_commit(),
        "machine": facts,
        "tool_versions": {"keyroll": version_of("keyroll"), **(tool_versions or {})},
        "params": dict(params),
        "runs": {k: list(v) for k, v in runs.items()},
        "summary": dict(summary),
        **(extra or {}),
    }
    target_dir = out_dir or OUT_DIR
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    line("result file", path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return path


def run_command(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run a whole command as a user would; return ``{"wall_s", "exit", "peak_rss_mib", "stdout", "stderr"}``.

    The wall time spans process start to exit (interpreter start-up and imports included); the
    peak RSS is the child's own (``wait4``). Output goes to temporary files, not the terminal.
    """
    import tempfile

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        with timed() as t:
            proc = subprocess.Popen(
                list(argv), cwd=cwd, env=dict(env) if env is not None else None, stdout=out, stderr=err
            )
            _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "wall_s": t["s"],
            "exit": proc.returncode,
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace")[-2000:],
        }


def count_sandbox_requests() -> dict[str, int]:
    """Count, from now on, every request the in-process sandbox answers, by ``service.class``
    (``service.class 429`` for the rate-limited ones; Upstash as ``upstash.control``/``upstash.data``): the server's view, the same for a
    child-process keyroll and an in-process baseline. Returns the live counter (clear it per run)."""
    from collections import Counter

    from keyroll.sandbox.guard import Guard

    counts: Counter[str] = Counter()
    take = Guard.take
    if getattr(take, "_bench_counter", None) is not None:
        return take._bench_counter  # type: ignore[attr-defined,no-any-return]

    def counting(self: Guard, cls: str) -> Any:
        state = take(self, cls)
        counts[f"{self.service}.{cls}"] += 1
        if not state.allowed:
            counts[f"{self.service}.{cls} 429"] += 1
        return state

    counting._bench_counter = counts  # type: ignore[attr-defined]
    Guard.take = counting  # type: ignore[method-assign]

    from keyroll.sandbox.upstash.chaos import ChaosMiddleware as Chaos

    call = Chaos.__call__

    async def counting_call(self: Chaos, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            counts["upstash.control" if self.control else "upstash.data"] += 1
        await call(self, scope, receive, send)

    Chaos.__call__ = counting_call  # type: ignore[method-assign]
    return counts


def wait_for_window(window_s: float) -> None:
    """Sleep until just after the next rate-limit window starts (the sandbox aligns windows to the
    epoch), so a run starts with a full budget and nothing left over from the run before."""
    time.sleep(window_s - time.time() % window_s + 0.05)
