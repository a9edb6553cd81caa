"""Benchmark: the Postgres and Neon adapters rotate a database URL spread over N projects, under
load, in the sandbox (a real PostgreSQL server, the emulated Neon API).

The workload: ``--projects`` projects, half holding the Postgres database's URL in
``DATABASE_URL`` (production) and ``POSTGRES_URL`` (preview, branch ``main``), half the Neon
project's pooled ``DATABASE_URL`` and ``DATABASE_URL_UNPOOLED``; one production and one preview
deployment each. Every deployment logs in and runs a query per request; the load generator hits
every serving deployment the whole time (``--rps``).

Measured: wall time of inventory + plan + apply per adapter, requests sent and failed while it
ran, and the step count. Raw samples go to ``bench/out/adapters.json``.

Ends with machine-readable lines: ``<adapter> failed requests: <N>``, ``<adapter> requests: <N>``,
``<adapter> apply seconds: <S>``.

Usage: ``.venv/bin/python bench/adapters.py [--projects 20] [--rps 40] [--build-seconds 1] [--latency-ms 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import line, machine, timed

from keyroll.config import load_config
from keyroll.core.secret import Secret
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.providers.factory import open_providers
from keyroll.rotate.engine import Engine
from keyroll.rotate.options import ApplyOptions
from keyroll.rotate.planner import make_plan
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox

KEY = JournalKey.from_passphrase(Secret("benchmark journal passphrase, 32+ characters"))


def fleet(projects: int) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for i in range(projects):
        if i % 2 == 0:
            env = [
                {"key": "DATABASE_URL", "value": "${postgres:shop:url}", "target": ["production"]},
                {
                    "key": "POSTGRES_URL",
                    "value": "${postgres:shop:url}",
                    "target": ["preview"],
                    "git_branch": "main",
                },
            ]
        else:
            env = [
                {"key": "DATABASE_URL", "value": "${neon:web:url}", "target": ["production", "preview"]},
                {
                    "key": "DATABASE_URL_UNPOOLED",
                    "value": "${neon:web:url_unpooled}",
                    "target": ["production"],
                },
            ]
        out.append(
            {
                "name": f"app-{i:03d}",
                "env": env,
                "deployments": [{"target": "production"}, {"target": "preview", "git_branch": "main"}],
            }
        )
    return {
        "name": "adapters-bench",
        "postgres": [{"name": "shop"}],
        "neon": [{"name": "web"}],
        "projects": out,
    }


async def rotate(sb: Sandbox, adapter: str, journal: Path) -> dict[str, Any]:
    cfg = load_config(None, environ=sb.env())
    async with open_providers(cfg) as providers:
        inv = await take_inventory(providers, InventoryOptions())
        fps = [c.fingerprint for c in inv.credentials if c.adapter == adapter]
        plan = make_plan(inv, credentials=fps, build_seconds_estimate=1.0)
        options = ApplyOptions(yes=True, poll_interval_s=0.1, health_path="/")
        with Journal.open(journal, KEY, create=True) as j:
            result = await Engine(providers, j, options).apply(plan, inventory=inv)
        return {
            "state": result.state.value,
            "steps": len(plan.steps),
            "copies": sum(len(s.params.get("locations", [])) for s in plan.steps),
            "api_calls": providers.api_calls(),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--projects", type=int, default=20)
    ap.add_argument("--rps", type=float, default=40)
    ap.add_argument("--build-seconds", type=float, default=1.0)
    ap.add_argument("--latency-ms", type=float, default=20)
    args = ap.parse_args()
    samples: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Sandbox(
            Path(tmp) / "sb",
            fleet=fleet(args.projects),
            build_seconds=args.build_seconds,
            latency_ms=args.latency_ms,
        ) as sb,
    ):
        for adapter in ("postgres", "neon"):
            with LoadGenerator(sb.world, rps=args.rps, duration=600) as lg, timed() as t:
                run = asyncio.run(rotate(sb, adapter, Path(tmp) / f"{adapter}.db"))
            stats = lg.stop()
            samples[adapter] = {
                **run,
                "seconds": round(t["s"], 2),
                "requests": stats["requests"],
                "failed": stats["failed"],
                "failures": stats["failures"][:5],
            }
            line(f"{adapter} state", run["state"])
            line(f"{adapter} copies written", run["copies"])
            line(f"{adapter} apply seconds", round(t["s"], 1))
            line(f"{adapter} requests", stats["requests"])
            line(f"{adapter} failed requests", stats["failed"])
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / "adapters.json").write_text(json.dumps(samples, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
