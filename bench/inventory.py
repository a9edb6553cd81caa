"""Benchmark: ``take_inventory`` on a generated 500-project team vs a sequential baseline.

Builds the team with ``generate_fleet`` (20 vars per project over 3 targets, a preview branch,
team shared vars) in the sandbox with per-request latency, then measures in the same run:

* keyroll: ``take_inventory`` as the CLI runs it (concurrent, bounded, token buckets);
* the sequential baseline: the same code with one request at a time (``concurrency=1``),
  i.e. the same calls issued back to back. At 80 ms per request a full sequential pass over
  ~9,000 calls takes ~12 minutes, so by default it runs on a sample of the projects and its
  per-call time is scaled to the full call count (``--full-baseline`` runs it all);
* the minimum number of calls: project list pages + one env list per project + one decrypt
  read per readable encrypted var + shared list + shared reads + integrations list + one
  deployment list per affected project + the Upstash lists and the signing-key read.

The sandbox's rate limits are raised for the run: with Vercel's real limits both keyroll and
the baseline are bound by the limit (and keyroll's token buckets keep it at the limit); this
measures the latency-bound case, where concurrency matters.

Usage: ``.venv/bin/python bench/inventory.py [--projects 500] [--latency-ms 80] [--sample 40]``
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import line, machine, peak_rss_mib, timed

from keyroll.config import Config, load_config
from keyroll.core.model import Inventory
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.providers.factory import open_providers
from keyroll.sandbox.fleet import generate_fleet
from keyroll.sandbox.server import Sandbox

PAGE = 100
UNLIMITED = {
    f"vercel.{c}": 10**9
    for c in ("env_read", "env_write", "deployments_create", "deployments_read", "events", "default")
}


async def measure(cfg: Config, options: InventoryOptions) -> tuple[Inventory, float, dict[str, int]]:
    """Run ``take_inventory`` once; return the inventory, wall seconds and calls per service."""
    async with open_providers(cfg) as providers:
        with timed() as t:
            inv = await take_inventory(providers, options)
        return inv, t["s"], providers.api_calls()


def minimum_calls(fleet: dict[str, Any], inv: Inventory, projects: int) -> dict[str, int]:
    """The calls no correct inventory can avoid, by service."""
    reads = 0
    for p in fleet["projects"][:projects]:
        reads += sum(1 for e in p["env"] if e.get("type", "encrypted") == "encrypted")
    shared_reads = sum(1 for e in fleet.get("shared_env", []) if e.get("type", "encrypted") == "encrypted")
    affected = {d.project_id for d in inv.deployments}
    vercel = (
        math.ceil(max(projects, 1) / PAGE)  # project list pages
        + projects  # one env list per project (20 vars fit one page)
        + reads  # decrypt reads of encrypted vars
        + 1
        + shared_reads  # shared list + reads
        + 1  # integration configurations
        + len(affected)  # READY deployments of affected projects
    )
    upstash = 4  # redis, vector, search, qstash users
    qstash = 1  # GET /v2/keys
    return {"vercel": vercel, "upstash": upstash, "qstash": qstash}


def main() -> int:
    """Run the benchmark and print ``name: value`` lines."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=500)
    ap.add_argument("--vars", type=int, default=20)
    ap.add_argument("--latency-ms", type=float, default=80.0)
    ap.add_argument("--sample", type=int, default=40, help="projects in the sequential sample")
    ap.add_argument(
        "--full-baseline", action="store_true", help="run the sequential baseline on every project"
    )
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()

    fleet = generate_fleet(args.projects, vars_per_project=args.vars, preview_branches=1, shared_vars=3)
    line("machine", machine())
    line("fleet", f"{args.projects} projects x {args.vars} vars, latency {args.latency_ms:g} ms/request")
    with (
        tempfile.TemporaryDirectory() as d,
        Sandbox(d, fleet=fleet, latency_ms=args.latency_ms, build_seconds=0.2, rate_limits=UNLIMITED) as sb,
    ):
        cfg = load_config(None, environ=sb.env())
        inv, wall, calls = asyncio.run(measure(cfg, InventoryOptions(concurrency=args.concurrency)))
        total = sum(calls.values())
        minimum = minimum_calls(fleet, inv, args.projects)
        min_total = sum(minimum.values())
        line("keyroll wall s", f"{wall:.2f}")
        line("keyroll calls", f"{total} {calls}")
        line("minimum calls", f"{min_total} {minimum}")
        line("calls vs minimum", f"{total / min_total:.3f}x ({(total - min_total) / min_total:+.1%})")
        line(
            "credentials / locations / unknowns",
            f"{len(inv.credentials)} / {len(inv.locations)} / {len(inv.unknowns)}",
        )

        if args.full_baseline:
            names: tuple[str, ...] = ()
            n = args.projects
        else:
            n = min(args.sample, args.projects)
            names = tuple(p["name"] for p in fleet["projects"][:n])
        base_opts = InventoryOptions(projects=names, concurrency=1)
        _, seq_wall, seq_calls = asyncio.run(measure(cfg, base_opts))
        seq_total = sum(seq_calls.values())
        per_call = seq_wall / max(seq_total, 1)
        line(
            "sequential sample",
            f"{n} projects, {seq_total} calls, {seq_wall:.2f} s ({per_call * 1000:.1f} ms/call)",
        )
        seq_full = seq_wall if args.full_baseline else per_call * total
        label = "measured" if args.full_baseline else f"scaled to {total} calls"
        line("sequential wall s", f"{seq_full:.1f} ({label})")
        line("speedup vs sequential", f"{seq_full / wall:.1f}x")
        line("peak rss MiB", f"{peak_rss_mib():.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
