"""Benchmark: ``keyroll apply`` on a big leaked fleet vs the Vercel guide done by hand, and vs the lower bound.

The workload (``generate_fleet``): N projects (300 by default), each holding the leaked Upstash
Redis REST token in ``UPSTASH_REDIS_REST_TOKEN`` for all three targets, a branch-scoped preview
var, a production deployment and a preview deployment; the team shared var
``KV_REST_API_TOKEN`` (linked to every project) holds it too. The sandbox answers with
realistic latency (80 ms per call by default), Vercel's per-endpoint rate limits and builds
that take ``--build-seconds`` — time-compressed: rate windows of ``--rate-window`` seconds
instead of 60 and builds scaled alike (defaults: 6 s windows, 6 s builds = 10x compression).

Measured in the same run:

* **keyroll**: inventory, plan and ``Engine.apply`` in a child process (its wall time, API
  calls and peak memory are keyroll's alone), with the load generator hitting every serving
  deployment the whole time;
* **sequential baseline**: the Vercel guide step by step with keyroll's own clients, one
  request at a time — update one project's var, redeploy each of its serving deployments,
  poll until READY, next project (the shared var once). It gets the inventory for free. A full
  run would take about an hour, so it runs on ``--sample`` projects and is extrapolated
  linearly (per-project time x projects); the output says so;
* **lower bound**: the time the rate limits force on the env writes and deployment creations
  (``floor((n - 1) / limit) x window`` for the binding class) plus one build plus the
  latency of the calls that must follow each other (mint, write, create, READY, probe, revoke,
  probe old);
* **minimum API calls**: one env write per project and one for the shared var, one create and
  one READY read per redeployed deployment, the Redis calls of the ACL mint and the two probes,
  and the Upstash reset. keyroll can go below it: it learns READY from team-wide listings
  (up to 100 builds of any project per request), so the output also prints a stricter
  **floor** — the same with one listing per 100 deployments in place of the READY reads, no
  read-back of written values and no gate reads — and keyroll's ratio to it.

Ends with machine-readable lines: ``speed-up vs sequential: <N>x``, ``vs lower bound: <N>x``,
``api calls vs minimum: <N>x``, ``failed requests: <N>``, ``peak memory: <N> MiB``.

Usage: ``.venv/bin/python bench/rotation.py [--projects 300] [--latency-ms 80] [--build-seconds 6]
[--rate-window 6] [--sample 3] [--rps 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import line, machine, peak_rss_mib, timed

from keyroll.config import Config, load_config
from keyroll.core.model import Inventory, LocationKind, Plan, StepKind
from keyroll.core.secret import Secret
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.providers.factory import open_providers

LEAKED_KEY = "UPSTASH_REDIS_REST_TOKEN"
CRITICAL_CALLS = 9
"""calls that must follow each other on the critical path: ACL GENTOKEN, SETUSER, RESTTOKEN,
env write, deployment create, READY read, probe new, reset-password, probe old"""
REDIS_MIN = 5
"""Redis REST calls no overlap rotation can avoid: three for the ACL mint, two probes"""
UPSTASH_MIN = 1
"""the Developer API reset of the default password"""


# -- the child: keyroll itself ----------------------------------------------------------------


async def _child(env_file: Path, out: Path, build_s: float, parallel: int) -> None:
    from keyroll.rotate.engine import Engine
    from keyroll.rotate.journal import Journal
    from keyroll.rotate.keys import JournalKey
    from keyroll.rotate.options import ApplyOptions
    from keyroll.rotate.planner import make_plan

    cfg = load_config(env_file)
    assert cfg.journal_key is not None
    routes = _count_routes()
    async with open_providers(cfg) as providers:
        with timed() as t_inv:
            inv = await take_inventory(providers, InventoryOptions())
        calls_inv = dict(providers.api_calls())
        routes.clear()
        leaked = sorted(
            {
                loc.fingerprint
                for loc in inv.locations
                if loc.kind is LocationKind.VERCEL_ENV and loc.key == LEAKED_KEY
            }
        )
        plan = make_plan(inv, credentials=leaked, build_seconds_estimate=build_s)
        options = ApplyOptions(yes=True, accept_downtime=True, max_parallel_builds=parallel)
        key = JournalKey.from_passphrase(cfg.journal_key)
        with Journal.open(cfg.journal_path, key, create=True) as j:
            with timed() as t_apply:
                started = time.time()
                result = await Engine(providers, j, options).apply(plan, inventory=inv)
            phases = _phases(plan, j.step_records(result.run_id), started)
        calls_all = dict(providers.api_calls())
    calls_apply = {k: v - calls_inv.get(k, 0) for k, v in calls_all.items()}
    data = {
        "inventory_s": t_inv["s"],
        "apply_s": t_apply["s"],
        "state": result.state.value,
        "errors": [c.error for c in result.credentials if c.error],
        "calls_inventory": calls_inv,
        "calls_apply": calls_apply,
        "plan": plan_counts(plan),
        "routes": dict(routes.most_common()),
        "phases": phases,
        "peak_rss_mib": peak_rss_mib(),
    }
    out.write_text(json.dumps(data))


def _is_id(segment: str) -> bool:
    if re.fullmatch(r"v[0-9]+", segment):
        return False
    return bool(re.search(r"[0-9]", segment)) or (len(segment) >= 12 and segment != segment.lower())


def _count_routes() -> Counter[str]:
    """Count every request this process sends by method and route (ids replaced by ``*``)."""
    import httpx

    counts: Counter[str] = Counter()
    send = httpx.AsyncClient.send

    async def counting(self: httpx.AsyncClient, request: httpx.Request, **kw: Any) -> httpx.Response:
        parts = ["*" if _is_id(p) else p for p in request.url.path.split("/")]
        counts[f"{request.method} {'/'.join(parts)[:60]}"] += 1
        response = await send(self, request, **kw)
        if response.status_code == 429 or response.status_code >= 500:
            counts[f"HTTP {response.status_code}"] += 1
        return response

    httpx.AsyncClient.send = counting  # type: ignore[method-assign]
    return counts


def _phases(plan: Plan, records: dict[str, Any], started: float) -> dict[str, float]:
    """Seconds from the start of ``apply`` until the last step of each kind finished."""
    out: dict[str, float] = {}
    for s in plan.steps:
        rec = records.get(s.id)
        if rec is None or not rec.ts:
            continue
        name = str(s.params.get("action") or s.kind.value)
        out[name] = max(out.get(name, 0.0), round(rec.ts - started, 2))
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


def plan_counts(plan: Plan) -> dict[str, int]:
    """What the plan must do: Vercel write requests (one per project step, one per shared step),
    deployments to redeploy, credential groups."""
    writes = sum(
        1
        for s in plan.steps
        if s.kind is StepKind.WRITE_ENV and s.params.get("target") in ("vercel", "shared")
    )
    deployments = sum(len(s.params.get("deployments", [])) for s in plan.steps if s.kind is StepKind.REDEPLOY)
    return {
        "writes": writes,
        "deployments": deployments,
        "groups": len(plan.credentials),
        "steps": len(plan.steps),
    }


# -- the sequential baseline --------------------------------------------------------------------


async def sequential(cfg: Config, inv: Inventory, projects: list[str], poll_s: float) -> dict[str, Any]:
    """The Vercel guide by hand for ``projects``: per project update the var, redeploy each serving
    deployment, poll until READY; then the shared var. One request at a time."""
    by_project: dict[str, list[Any]] = {}
    for loc in inv.locations:
        if loc.kind is LocationKind.VERCEL_ENV and loc.key == LEAKED_KEY and loc.project_id in projects:
            by_project.setdefault(loc.project_id, []).append(loc)
    shared = [loc for loc in inv.locations if loc.kind is LocationKind.VERCEL_SHARED_ENV]
    per_project: list[float] = []
    async with open_providers(cfg) as providers:
        vercel = providers.vercel
        assert vercel is not None
        for pid in projects:
            started = time.perf_counter()
            for loc in by_project.get(pid, []):
                cred = inv.credential(loc.fingerprint)
                value = cred.value if cred is not None and cred.value is not None else Secret("x" * 40)
                await vercel.edit_env(pid, loc.env_id, verify=False, value=value)
            for ref in (d for d in inv.deployments if d.project_id == pid and d.serving):
                source = await vercel.get_deployment(ref.deployment_id)
                new = await vercel.redeploy(source)
                while True:
                    await asyncio.sleep(poll_s)
                    if (await vercel.get_deployment(new.id)).ready_state in ("READY", "ERROR", "CANCELED"):
                        break
            per_project.append(time.perf_counter() - started)
        with timed() as t_shared:
            for loc in shared[:1]:
                cred = inv.credential(loc.fingerprint)
                if cred is not None and cred.value is not None:
                    await vercel.update_shared_env({loc.env_id: {"value": cred.value}})
        calls = dict(providers.api_calls())
    return {"per_project_s": per_project, "shared_s": t_shared["s"], "calls": calls}


# -- the lower bound -------------------------------------------------------------------------------


def lower_bound(
    counts: dict[str, int], limits: dict[str, int], window_s: float, build_s: float, latency_s: float
) -> float:
    """Seconds no correct rotation of this plan can beat under these rate limits."""
    writes = max(0, counts["writes"] - 1) // max(1, limits["env_write"])
    creates = max(0, counts["deployments"] - 1) // max(1, limits["deployments_create"])
    return max(writes, creates) * window_s + build_s + CRITICAL_CALLS * latency_s


def minimum_calls(counts: dict[str, int]) -> int:
    """API calls no rotation that reads each build's state once can avoid."""
    return counts["writes"] + 2 * counts["deployments"] + REDIS_MIN + UPSTASH_MIN


def floor_calls(counts: dict[str, int]) -> int:
    """API calls with READY learned from listings of 100 builds each, and nothing read back."""
    listings = math.ceil(counts["deployments"] / 100)
    return counts["writes"] + counts["deployments"] + listings + REDIS_MIN + UPSTASH_MIN


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    """Run the benchmark and print ``name: value`` lines."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--projects", type=int, default=300)
    ap.add_argument("--vars", type=int, default=8, help="env vars per project (the rest is noise)")
    ap.add_argument("--latency-ms", type=float, default=80.0)
    ap.add_argument("--build-seconds", type=float, default=6.0)
    ap.add_argument(
        "--rate-window", type=float, default=6.0, help="seconds per rate-limit window (Vercel: 60)"
    )
    ap.add_argument("--sample", type=int, default=3, help="projects in the sequential baseline")
    ap.add_argument("--rps", type=float, default=50.0, help="load-generator requests per second")
    ap.add_argument("--max-parallel-builds", type=int, default=128)
    ap.add_argument("--child", nargs=2, metavar=("ENV_FILE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        asyncio.run(
            _child(Path(args.child[0]), Path(args.child[1]), args.build_seconds, args.max_parallel_builds)
        )
        return 0

    from keyroll.sandbox.fleet import generate_fleet
    from keyroll.sandbox.loadgen import LoadGenerator
    from keyroll.sandbox.server import Sandbox
    from keyroll.sandbox.vercel.app import DEFAULT_LIMITS

    fleet = generate_fleet(args.projects, vars_per_project=args.vars, preview_branches=1, shared_vars=2)
    line("machine", machine())
    line(
        "workload",
        f"{args.projects} projects x 3 targets + 1 preview branch, leaked Redis token in project vars and a "
        f"team shared var; latency {args.latency_ms:g} ms/call, builds {args.build_seconds:g} s, "
        f"rate windows {args.rate_window:g} s (Vercel: 60 s)",
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with Sandbox(
            root / "sb",
            fleet=fleet,
            latency_ms=args.latency_ms,
            build_seconds=args.build_seconds,
            rate_window_s=args.rate_window,
        ) as sb:
            env = {
                **sb.env(),
                "KEYROLL_JOURNAL": str(root / "journal.db"),
                "KEYROLL_JOURNAL_KEY": "bench-rotation-journal-passphrase-0123456789",
            }
            env_file = root / "bench.env"
            env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
            os.chmod(env_file, 0o600)
            cfg = load_config(env_file)
            limits = {k: sb.world.limit_for("vercel", k, v) for k, v in DEFAULT_LIMITS.items()}

            # 1. the sequential baseline on a sample (given the inventory for free)
            async def inventory() -> Inventory:
                async with open_providers(cfg) as p:
                    return await take_inventory(p, InventoryOptions())

            inv = asyncio.run(inventory())
            sample_ids = sorted({d.project_id for d in inv.deployments})[: args.sample]
            base = asyncio.run(sequential(cfg, inv, sample_ids, poll_s=0.5))
            per_project = sum(base["per_project_s"]) / max(1, len(base["per_project_s"]))
            seq_s = per_project * args.projects + base["shared_s"]
            line(
                "sequential sample",
                f"{len(sample_ids)} projects, {per_project:.2f} s per project (2 redeploys each), "
                f"calls {sum(base['calls'].values())}",
            )
            line(
                "sequential wall s",
                f"{seq_s:.0f} (extrapolated: {per_project:.2f} s x {args.projects} projects + shared var)",
            )
            time.sleep(args.rate_window)  # the baseline's requests do not eat keyroll's windows

            # 2. keyroll, in a child process, under load
            out = root / "child.json"
            with LoadGenerator(sb.world, rps=args.rps, duration=3000, concurrency=64) as lg:
                with timed() as t_child:
                    proc = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--child",
                            str(env_file),
                            str(out),
                            "--build-seconds",
                            str(args.build_seconds),
                            "--max-parallel-builds",
                            str(args.max_parallel_builds),
                        ],
                        check=False,
                    )
                time.sleep(1.0)  # requests in flight at the end
                stats = lg.stop()
            if proc.returncode != 0 or not out.exists():
                line("error", f"keyroll child exited {proc.returncode}")
                return 1
            data = json.loads(out.read_text())

    counts = data["plan"]
    apply_s = float(data["apply_s"])
    calls = sum(data["calls_apply"].values())
    minimum = minimum_calls(counts)
    bound = lower_bound(counts, limits, args.rate_window, args.build_seconds, args.latency_ms / 1000)
    line(
        "plan",
        f"{counts['groups']} credential group(s), {counts['steps']} steps, {counts['writes']} env write requests, {counts['deployments']} redeploys",
    )
    line("keyroll state", f"{data['state']}" + (f" ({'; '.join(data['errors'])})" if data["errors"] else ""))
    line("keyroll inventory s", f"{data['inventory_s']:.2f} ({sum(data['calls_inventory'].values())} calls)")
    line("keyroll apply s", f"{apply_s:.2f} (child process total {t_child['s']:.1f} s)")
    line("keyroll apply calls", f"{calls} {data['calls_apply']}")
    line("keyroll apply timeline", ", ".join(f"{k} {v:.1f}s" for k, v in data["phases"].items()))
    line("keyroll apply routes", ", ".join(f"{k}: {v}" for k, v in list(data["routes"].items())[:12]))
    line(
        "minimum calls",
        f"{minimum} (writes {counts['writes']} + creates {counts['deployments']} + READY reads {counts['deployments']} + redis {REDIS_MIN} + upstash {UPSTASH_MIN})",
    )
    line(
        "lower bound s",
        f"{bound:.2f} (rate limits env_write {limits['env_write']}, deployments_create {limits['deployments_create']} "
        f"per {args.rate_window:g} s window + one build {args.build_seconds:g} s + {CRITICAL_CALLS} x {args.latency_ms:g} ms)",
    )
    line("load generator", f"{stats['requests']} requests at {args.rps:g}/s, {stats['failed']} failed")
    line("speed-up vs sequential", f"{seq_s / apply_s:.1f}x")
    line("vs lower bound", f"{apply_s / bound:.2f}x")
    floor = floor_calls(counts)
    line(
        "floor calls",
        f"{floor} (writes {counts['writes']} + creates {counts['deployments']} + "
        f"{math.ceil(counts['deployments'] / 100)} listings + redis {REDIS_MIN} + upstash {UPSTASH_MIN}; "
        "no read-back, no gate reads)",
    )
    line("api calls vs minimum", f"{calls / minimum:.2f}x")
    line("api calls vs floor", f"{calls / floor:.2f}x")
    line("failed requests", stats["failed"])
    line("peak memory", f"{data['peak_rss_mib']:.0f} MiB")
    if not math.isfinite(apply_s) or data["state"] != "done":
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
