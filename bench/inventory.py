"""Benchmark: ``keyroll inventory`` under Vercel-like rate limits vs the same calls one at a time.

The workload (``generate_fleet``): N projects (50 by default) of 20 env vars over three targets,
a branch-scoped preview var, team shared vars. The sandbox answers with 80 ms of latency per
request and its default Vercel rate limits — per endpoint class and per 60 s window: env reads
500, env writes 120, deployment creations 60, deployment reads 500, events 100, other 200.
Vercel publishes no per-endpoint numbers (``../shared/reference/vercel-api.md`` §4: commonly
reported orders of magnitude, unconfirmed); these are the sandbox's and keyroll's defaults.

Two whole commands, run ``--runs`` times each, alternated (A B A B), each starting at the
beginning of a rate-limit window (full budget, nothing left from the run before):

* **keyroll**: ``keyroll inventory --json`` (concurrency 16, token buckets per endpoint class);
* **one request at a time**: ``keyroll inventory --json --concurrency 1`` — the calls a plain
  script (or a person clicking through the dashboard) makes, one after the other, waiting out
  429s the same way, under the same limits.

Also computed: the calls every correct inventory must make (project pages, one env list per
project, one decrypt read per readable encrypted var, shared list and reads, integrations,
one deployment list per affected project, the Upstash lists), and the **lower bound** on time
those calls force under the limits (whole windows for the busiest class, plus the chain of
dependent requests). Requests are counted at the sandbox (the server's view, 429s included).

Writes ``bench/out/<name>.json`` (raw samples, summary, machine, versions, command).

Usage: ``.venv/bin/python bench/inventory.py [--projects 50] [--runs 3] [--name inventory-50]``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    alternate,
    count_sandbox_requests,
    line,
    machine_info,
    metric,
    run_command,
    wait_for_window,
    write_result,
)

from keyroll.sandbox.fleet_generate import generate_fleet
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.vercel.app import DEFAULT_LIMITS

PAGE = 100
DEPENDENT = 4
"""requests that must follow each other: project list, env list, decrypt read, deployment list"""
UNLIMITED = {f"vercel.{c}": 10**9 for c in DEFAULT_LIMITS}


def minimum_calls(fleet: dict[str, Any], projects: int) -> dict[str, int]:
    """The calls no correct inventory can avoid, by Vercel endpoint class and service."""
    reads = 0
    for p in fleet["projects"][:projects]:
        reads += sum(1 for e in p["env"] if e.get("type", "encrypted") == "encrypted")
    shared_reads = sum(1 for e in fleet.get("shared_env", []) if e.get("type", "encrypted") == "encrypted")
    affected = sum(
        1
        for p in fleet["projects"][:projects]
        if any(e["key"] == "UPSTASH_REDIS_REST_TOKEN" for e in p["env"])
    )
    return {
        "vercel.env_read": projects + reads + 1 + shared_reads,  # env lists, decrypt reads, shared list+reads
        "vercel.default": math.ceil(max(projects, 1) / PAGE) + 1,  # project pages, integrations
        "vercel.deployments_read": affected,  # READY deployments of affected projects
        "upstash": 4 + 1,  # redis, vector, search, qstash users; QStash keys
    }


def lower_bound_s(
    minimum: dict[str, int], limits: dict[str, int], window_s: float, latency_s: float
) -> float:
    """Seconds no inventory making these calls can beat, starting at a window's start."""
    windows = 0
    for key, n in minimum.items():
        service, _, cls = key.partition(".")
        if service == "vercel" and cls in limits:
            windows = max(windows, max(0, n - 1) // max(1, limits[cls]))
    return windows * window_s + DEPENDENT * latency_s


def summarize(samples: dict[str, list[dict[str, Any]]], minimum_total: int, bound: float) -> dict[str, Any]:
    """Min and median per tool, ratios of the medians, calls against the minimum."""
    out: dict[str, Any] = {"lower_bound_s": round(bound, 2), "minimum_calls": minimum_total}
    for tool, runs in samples.items():
        out[tool] = {
            "wall_s": metric(runs, "wall_s"),
            "calls": metric(runs, "calls"),
            "http_429": metric(runs, "http_429"),
            "peak_rss_mib": metric(runs, "peak_rss_mib"),
            "exit_codes": sorted({r["exit"] for r in runs}),
        }
    k, b = out["keyroll"], out["one-at-a-time"]
    if k["wall_s"].get("n") and b["wall_s"].get("n"):
        out["speedup_median"] = b["wall_s"]["median"] / k["wall_s"]["median"]
        out["keyroll_vs_lower_bound_median"] = k["wall_s"]["median"] / bound if bound else None
        out["keyroll_calls_vs_minimum_median"] = k["calls"]["median"] / minimum_total
    return out


def main() -> int:
    """Run the benchmark, print ``name: value`` lines and write the result file."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--projects", type=int, default=50)
    ap.add_argument("--vars", type=int, default=20)
    ap.add_argument("--latency-ms", type=float, default=80.0)
    ap.add_argument("--rate-window", type=float, default=60.0, help="seconds per rate-limit window")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool (alternated)")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument(
        "--no-limits", action="store_true", help="lift every rate limit (latency-bound only; not Vercel-like)"
    )
    ap.add_argument("--name", help="result file bench/out/<name>.json (default inventory-<projects>)")
    args = ap.parse_args()
    if args.runs < 1 or args.projects < 1:
        print("error: --runs and --projects must be at least 1", file=sys.stderr)
        return 2

    facts = machine_info()
    fleet = generate_fleet(args.projects, vars_per_project=args.vars, preview_branches=1, shared_vars=3)
    limits = {} if not args.no_limits else UNLIMITED
    line("machine", facts["summary"])
    line(
        "fleet",
        f"{args.projects} projects x {args.vars} vars, latency {args.latency_ms:g} ms/request, "
        + (
            "no rate limits"
            if args.no_limits
            else f"Vercel-like rate limits per {args.rate_window:g} s window"
        ),
    )
    exe = Path(sys.executable).parent / "keyroll"
    counts = count_sandbox_requests()
    with (
        tempfile.TemporaryDirectory() as d,
        Sandbox(
            Path(d) / "sb",
            fleet=fleet,
            latency_ms=args.latency_ms,
            build_seconds=0.2,
            rate_window_s=args.rate_window,
            rate_limits=limits,
        ) as sb,
    ):
        env_file = Path(d) / "bench.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sb.env().items()))
        os.chmod(env_file, 0o600)
        vercel_limits = {c: sb.world.limit_for("vercel", c, v) for c, v in DEFAULT_LIMITS.items()}
        minimum = minimum_calls(fleet, args.projects)
        bound = lower_bound_s(minimum, vercel_limits, args.rate_window, args.latency_ms / 1000)
        child_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("VERCEL_", "UPSTASH_", "KEYROLL_"))
        }

        def command(concurrency: int) -> list[str]:
            return [
                str(exe),
                "inventory",
                "--env-file",
                str(env_file),
                "--json",
                "--concurrency",
                str(concurrency),
            ]

        def runner(concurrency: int) -> Any:
            def run(_: int) -> dict[str, Any]:
                wait_for_window(args.rate_window)
                counts.clear()
                res = run_command(command(concurrency), env=child_env)
                doc = json.loads(res["stdout"] or "{}")
                return {
                    "wall_s": round(res["wall_s"], 3),
                    "exit": res["exit"],
                    "peak_rss_mib": round(res["peak_rss_mib"], 1),
                    "calls": sum(v for k, v in counts.items() if not k.endswith(" 429")),
                    "http_429": sum(v for k, v in counts.items() if k.endswith(" 429")),
                    "calls_by_class": dict(sorted(counts.items())),
                    "credentials": len(doc.get("credentials", [])),
                    "locations": len(doc.get("locations", [])),
                    "unknowns": len(doc.get("unknowns", [])),
                }

            return run

        def show(tool: str, i: int, s: dict[str, Any]) -> None:
            line(
                f"run {i + 1} {tool}",
                f"{s['wall_s']:.2f} s, exit {s['exit']}, {s['calls']} calls ({s['http_429']} answered 429), "
                f"{s['credentials']} credentials / {s['locations']} locations / {s['unknowns']} unknowns, "
                f"{s['peak_rss_mib']:.0f} MiB",
            )

        samples = alternate(
            {"keyroll": runner(args.concurrency), "one-at-a-time": runner(1)}, args.runs, report=show
        )

    summary = summarize(samples, sum(minimum.values()), bound)
    k, b = summary["keyroll"], summary["one-at-a-time"]
    line(
        "keyroll wall s",
        f"min {k['wall_s']['min']:.2f}, median {k['wall_s']['median']:.2f} ({args.runs} runs, whole command)",
    )
    line("one at a time wall s", f"min {b['wall_s']['min']:.2f}, median {b['wall_s']['median']:.2f}")
    line("speed-up vs one at a time", f"{summary['speedup_median']:.2f}x (medians)")
    line(
        "lower bound s",
        f"{bound:.2f} (env reads {minimum['vercel.env_read']} at {vercel_limits['env_read']} per "
        f"{args.rate_window:g} s window + {DEPENDENT} dependent requests)",
    )
    line("ratio to lower bound", f"{summary['keyroll_vs_lower_bound_median']:.2f}x")
    line("minimum calls", f"{sum(minimum.values())} {minimum}")
    line("calls vs minimum", f"{summary['keyroll_calls_vs_minimum_median']:.3f}x")
    write_result(
        args.name or f"inventory-{args.projects}",
        runs=samples,
        summary=summary,
        machine_facts=facts,
        params={
            "projects": args.projects,
            "vars_per_project": args.vars,
            "latency_ms": args.latency_ms,
            "rate_window_s": args.rate_window,
            "rate_limits": "none" if args.no_limits else vercel_limits,
            "concurrency": args.concurrency,
            "runs": args.runs,
            "minimum_calls": minimum,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
