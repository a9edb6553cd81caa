"""Benchmark: ``keyroll apply`` on a leaked fleet vs two baselines and the lower bound, under a Vercel plan.

The workload (``generate_fleet``): N projects, each holding the leaked Upstash Redis REST token
in ``UPSTASH_REDIS_REST_TOKEN`` for all three targets, a branch-scoped preview var, a production
deployment and a preview deployment; the team shared var ``KV_REST_API_TOKEN`` (linked to every
project) holds it too. The sandbox answers with 80 ms of latency per call, Vercel's per-endpoint
rate limits and builds of ``--build-seconds``, time-compressed 10x by default: rate windows of
6 s instead of 60, builds of 6 s. ``--plan`` sets the team's Vercel plan (default ``pro``):
its concurrent builds (Hobby 1, Pro 12; more wait in ``QUEUED``: ``Sandbox(vercel_plan=…)``),
which the lower bound uses too. keyroll runs with its own default build parallelism.

Three tools, ``--runs`` times each, alternated (A B C A B C), each in a fresh sandbox:

* **keyroll**: inventory, plan and ``Engine.apply`` in a child process (its wall time, API calls
  and peak memory are keyroll's alone), with a load generator hitting every serving deployment
  the whole time. The headline is ``apply``; the child's whole process time is recorded too;
* **sequential, as the guide reads**: Vercel's rotation guide step by step with keyroll's own
  clients, one request at a time — update one project's var, redeploy each of its serving
  deployments, poll until READY, next project (the shared var once). Run on ``--sample``
  projects and extrapolated linearly (per-project time x projects);
* **trigger all, then wait**: a simple script, one request at a time — update every var and the
  shared var, trigger every redeploy, then poll each new deployment until it ends. Run in full.

Both baselines get the inventory for free and neither mints nor revokes a credential.

* **lower bound**: the larger of the time the rate limits force on the writes (env writes and
  deployment creations: whole windows of the binding class) and ``ceil(redeploys / concurrent
  builds) x build time``, plus the latency of the calls that must follow each other (mint,
  write, create, READY, probe, revoke, probe old);
* **floor calls**: one env write per project and one for the shared var, one create per
  redeployed deployment, one team-wide listing per 100 deployments to learn READY, the Redis
  calls of the ACL mint and the two probes, the Upstash reset — nothing read back. Also the
  looser **minimum** (one READY read per deployment in place of the listings).

Prints ``ratio to lower bound: <N>x``, ``speed-up vs sequential: <N>x``, ``api calls vs floor:
<N>x`` (medians) and writes ``bench/out/rotation-<plan>.json`` with every raw sample.

Usage: ``.venv/bin/python bench/rotation.py [--plan pro|hobby|enterprise] [--projects N] [--runs 3]
[--latency-ms 80] [--build-seconds 6] [--rate-window 6] [--sample 2] [--rps 50]``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import alternate, line, machine_info, metric, peak_rss_mib, run_command, timed, write_result

from keyroll.config import Config, load_config
from keyroll.core.model import Inventory, LocationKind, Plan, StepKind
from keyroll.core.secret import Secret
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.providers.factory import open_providers

PROJECTS = {"hobby": 5, "pro": 60, "enterprise": 60}
"""Default fleet size per plan: about a minute of builds per run (Hobby: one build at a time)."""


def concurrent_builds(plan: str) -> int:
    """The plan's build slots as the sandbox models them (Hobby 1, Pro 12; Enterprise has no published
    number: the sandbox's stand-in)."""
    from keyroll.sandbox.vercel.plan import plan_limits

    return plan_limits(plan).concurrent_builds


LEAKED_KEY = "UPSTASH_REDIS_REST_TOKEN"
CRITICAL_CALLS = 9
"""calls that must follow each other on the critical path: ACL GENTOKEN, SETUSER, RESTTOKEN,
env write, deployment create, READY read, probe new, reset-password, probe old"""
REDIS_MIN = 5
"""Redis REST calls no overlap rotation can avoid: three for the ACL mint, two probes"""
UPSTASH_MIN = 1
"""the Developer API reset of the default password"""


# -- the child: keyroll itself ----------------------------------------------------------------


async def _child(env_file: Path, out: Path, build_s: float, parallel: int | None) -> None:
    from keyroll.journal.keys import JournalKey
    from keyroll.journal.store import Journal
    from keyroll.rotate.engine import Engine
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
        options = ApplyOptions(yes=True, accept_downtime=True)
        if parallel:
            options = dataclasses.replace(options, max_parallel_builds=parallel)
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
    deployments to redeploy, credential groups. Conditional steps (the emergency cutover laid out
    in advance, run only if the ACL token died with the reset: ``when``) are not counted."""
    from keyroll.core.steps import when_of

    steps = [s for s in plan.steps if when_of(s) is None]
    writes = sum(
        1 for s in steps if s.kind is StepKind.WRITE_ENV and s.params.get("target") in ("vercel", "shared")
    )
    deployments = sum(len(s.params.get("deployments", [])) for s in steps if s.kind is StepKind.REDEPLOY)
    return {
        "writes": writes,
        "deployments": deployments,
        "groups": len(plan.credentials),
        "steps": len(steps),
        "conditional_steps": len(plan.steps) - len(steps),
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


# -- the trigger-all baseline ----------------------------------------------------------------------


async def trigger_all(cfg: Config, inv: Inventory, poll_s: float) -> dict[str, Any]:
    """A plain script, one request at a time: write every copy, trigger every redeploy, then poll
    each new deployment until it ends."""
    async with open_providers(cfg) as providers:
        vercel = providers.vercel
        assert vercel is not None
        started = time.perf_counter()
        for loc in inv.locations:
            if loc.kind is LocationKind.VERCEL_ENV and loc.key == LEAKED_KEY and loc.project_id:
                cred = inv.credential(loc.fingerprint)
                value = cred.value if cred is not None and cred.value is not None else Secret("x" * 40)
                await vercel.edit_env(loc.project_id, loc.env_id, verify=False, value=value)
        for loc in [x for x in inv.locations if x.kind is LocationKind.VERCEL_SHARED_ENV][:1]:
            cred = inv.credential(loc.fingerprint)
            if cred is not None and cred.value is not None:
                await vercel.update_shared_env({loc.env_id: {"value": cred.value}})
        written = time.perf_counter() - started
        new_ids: list[str] = []
        for ref in (d for d in inv.deployments if d.serving):
            source = await vercel.get_deployment(ref.deployment_id)
            new_ids.append((await vercel.redeploy(source)).id)
        triggered = time.perf_counter() - started
        states: Counter[str] = Counter()
        for dep_id in new_ids:
            while True:
                state = (await vercel.get_deployment(dep_id)).ready_state
                if state in ("READY", "ERROR", "CANCELED"):
                    states[state] += 1
                    break
                await asyncio.sleep(poll_s)
        total = time.perf_counter() - started
        calls = dict(providers.api_calls())
    return {
        "wall_s": round(total, 3),
        "written_s": round(written, 3),
        "triggered_s": round(triggered, 3),
        "redeploys": len(new_ids),
        "states": dict(states),
        "calls": sum(calls.values()),
        "calls_by_service": calls,
    }


# -- the lower bound and the call floor --------------------------------------------------------------


def lower_bound(
    counts: dict[str, int],
    limits: dict[str, int],
    window_s: float,
    build_s: float,
    latency_s: float,
    concurrent_builds: int,
) -> float:
    """Seconds no correct rotation of this plan can beat under these rate limits and build slots:
    the larger of the writes' rate-limit time and the build waves, plus the dependent calls."""
    writes = max(0, counts["writes"] - 1) // max(1, limits["env_write"])
    creates = max(0, counts["deployments"] - 1) // max(1, limits["deployments_create"])
    write_time = max(writes, creates) * window_s
    # the sandbox's build: a short wait for a slot (a tenth, at most 0.5 s), then the slot is held for
    # the rest; so n waves take n slot-times plus that wait (keyroll.sandbox.vercel.state.create_deployment)
    queue = min(build_s / 10, 0.5)
    waves = math.ceil(max(1, counts["deployments"]) / max(1, concurrent_builds))
    build_time = waves * (build_s - queue) + queue
    return max(write_time, build_time) + CRITICAL_CALLS * latency_s


def minimum_calls(counts: dict[str, int]) -> int:
    """API calls no rotation that reads each build's state once can avoid."""
    return counts["writes"] + 2 * counts["deployments"] + REDIS_MIN + UPSTASH_MIN


def floor_calls(counts: dict[str, int]) -> int:
    """API calls with READY learned from listings of 100 builds each, and nothing read back."""
    listings = math.ceil(counts["deployments"] / 100)
    return counts["writes"] + counts["deployments"] + listings + REDIS_MIN + UPSTASH_MIN


def where_calls_go(routes: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    """keyroll's apply calls grouped by purpose, against the floor's parts."""
    out: Counter[str] = Counter()
    for route, n in routes.items():
        method, _, path = route.partition(" ")
        if route.startswith("HTTP "):
            continue
        if method == "POST" and path.startswith("/v13/deployments"):
            out["deployment creates"] += n
        elif method == "GET" and path.startswith("/v6/deployments"):
            out["team deployment listings (READY)"] += n
        elif method == "GET" and "/deployments/" in path:
            out["single deployment reads"] += n
        elif method in ("PATCH", "POST") and "/env" in path:
            out["env writes"] += n
        elif method == "GET" and "/env/" in path:
            out["env read-backs (rescan)"] += n
        elif method == "GET" and "/env" in path:
            out["env lists"] += n
        elif "/v10/projects" in path or "/v9/projects" in path:
            out["project reads"] += n
        else:
            out["other (Redis, Upstash, teams)"] += n
    return dict(out.most_common())


# -- one run of each tool ------------------------------------------------------------------------


@contextmanager
def sandbox(args: argparse.Namespace, root: Path) -> Iterator[tuple[Any, Path, Config, dict[str, int]]]:
    """A fresh sandbox with the leaked fleet under the plan; its env file, config and rate limits."""
    from keyroll.sandbox.fleet_generate import generate_fleet
    from keyroll.sandbox.server import Sandbox
    from keyroll.sandbox.vercel.app import DEFAULT_LIMITS

    fleet = generate_fleet(args.projects, vars_per_project=args.vars, preview_branches=1, shared_vars=2)
    with Sandbox(
        root / "sb",
        fleet=fleet,
        latency_ms=args.latency_ms,
        build_seconds=args.build_seconds,
        rate_window_s=args.rate_window,
        vercel_plan=args.plan,
    ) as sb:
        env = {
            **sb.env(),
            "KEYROLL_JOURNAL": str(root / "journal.db"),
            "KEYROLL_JOURNAL_KEY": "bench-rotation-journal-passphrase-0123456789",
        }
        env_file = root / "bench.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        os.chmod(env_file, 0o600)
        limits = {k: sb.world.limit_for("vercel", k, v) for k, v in DEFAULT_LIMITS.items()}
        yield sb, env_file, load_config(env_file), limits


async def _inventory(cfg: Config) -> Inventory:
    async with open_providers(cfg) as p:
        return await take_inventory(p, InventoryOptions())


def run_keyroll(args: argparse.Namespace) -> dict[str, Any]:
    """keyroll in a child process under load, in a fresh sandbox."""
    from keyroll.sandbox.loadgen import LoadGenerator

    with tempfile.TemporaryDirectory() as tmp, sandbox(args, Path(tmp)) as (sb, env_file, _, limits):
        out = Path(tmp) / "child.json"
        argv = [sys.executable, __file__, "--child", str(env_file), str(out)]
        argv += ["--build-seconds", str(args.build_seconds)]
        if args.max_parallel_builds:
            argv += ["--max-parallel-builds", str(args.max_parallel_builds)]
        with LoadGenerator(sb.world, rps=args.rps, duration=3000, concurrency=64) as lg:
            # the load runs a second before keyroll starts; only what happens from keyroll's start
            # on counts (a fresh sandbox may answer its first requests before it routes them all)
            time.sleep(1.0)
            before = lg.stats()
            res = run_command(argv, env={k: v for k, v in os.environ.items() if not k.startswith("KEYROLL_")})
            time.sleep(1.0)  # requests in flight at the end
            stats = lg.stop()
        if res["exit"] != 0 or not out.exists():
            return {"wall_s": math.nan, "exit": res["exit"], "error": res["stderr"][-500:]}
        data = json.loads(out.read_text())
    return {
        "wall_s": round(float(data["apply_s"]), 3),
        "process_s": round(res["wall_s"], 3),
        "inventory_s": round(float(data["inventory_s"]), 3),
        "exit": res["exit"],
        "state": data["state"],
        "errors": data["errors"],
        "calls": sum(data["calls_apply"].values()),
        "calls_by_service": data["calls_apply"],
        "calls_inventory": sum(data["calls_inventory"].values()),
        "routes": data["routes"],
        "phases": data["phases"],
        "plan": data["plan"],
        "limits": limits,
        "load_requests": stats["requests"] - before["requests"],
        "failed_requests": stats["failed"] - before["failed"],
        "failed_before_keyroll": before["failed"],
        "failures_first": [
            {k: v for k, v in f.items() if k != "url"}
            for f in list(stats.get("failures", []))
            if f not in before["failures"]
        ][:5],
        "peak_rss_mib": round(res["peak_rss_mib"], 1),
    }


def run_sequential(args: argparse.Namespace, i: int) -> dict[str, Any]:
    """The guide, one project after the other, on ``--sample`` projects (a different slice each
    run), extrapolated to the fleet."""
    with tempfile.TemporaryDirectory() as tmp, sandbox(args, Path(tmp)) as (_, _, cfg, _):
        inv = asyncio.run(_inventory(cfg))
        time.sleep(args.rate_window)  # the inventory's requests do not eat the baseline's windows
        ids = sorted({d.project_id for d in inv.deployments})
        start = (i * args.sample) % max(1, len(ids))
        chosen = (ids[start:] + ids[:start])[: args.sample]
        base = asyncio.run(sequential(cfg, inv, chosen, poll_s=0.5))
    per_project = sum(base["per_project_s"]) / max(1, len(base["per_project_s"]))
    return {
        "wall_s": round(per_project * args.projects + base["shared_s"], 3),
        "extrapolated_from_projects": len(chosen),
        "per_project_s": [round(x, 3) for x in base["per_project_s"]],
        "shared_s": round(base["shared_s"], 3),
        "calls_sample": sum(base["calls"].values()),
    }


def run_trigger_all(args: argparse.Namespace) -> dict[str, Any]:
    """The trigger-all script on the whole fleet."""
    with tempfile.TemporaryDirectory() as tmp, sandbox(args, Path(tmp)) as (_, _, cfg, _):
        inv = asyncio.run(_inventory(cfg))
        time.sleep(args.rate_window)
        return asyncio.run(trigger_all(cfg, inv, poll_s=0.5))


# -- main ---------------------------------------------------------------------------------------


def summarize(samples: dict[str, list[dict[str, Any]]], p: dict[str, Any]) -> dict[str, Any]:
    """Min and median per tool, ratios of medians, the bound and the call floor, from the raw
    samples and the run's parameters alone (``--resummarize`` recomputes it from a result file).

    Speed-ups compare keyroll's whole process (inventory, plan and apply: what ``keyroll apply``
    does) with the baselines, which get the inventory for free; the ratio to the lower bound takes
    ``apply`` alone, as the bound covers the rotation only."""
    k_runs = [s for s in samples["keyroll"] if "plan" in s]
    if not k_runs:
        return {"error": "no keyroll run finished"}
    counts = k_runs[0]["plan"]
    limits = k_runs[0]["limits"]
    builds = int(p["concurrent_builds"])
    bound = lower_bound(
        counts, limits, p["rate_window_s"], p["build_seconds"], p["latency_ms"] / 1000, builds
    )
    floor, minimum = floor_calls(counts), minimum_calls(counts)
    k = metric(samples["keyroll"], "wall_s")
    whole = metric(samples["keyroll"], "process_s")
    seq = metric(samples["sequential"], "wall_s")
    trig = metric(samples["trigger-all"], "wall_s")
    calls = metric(samples["keyroll"], "calls")
    median_run = sorted(k_runs, key=lambda s: s["calls"])[len(k_runs) // 2]
    return {
        "plan": counts,
        "concurrent_builds": builds,
        "lower_bound_s": round(bound, 2),
        "floor_calls": floor,
        "minimum_calls": minimum,
        "keyroll_apply_s": k,
        "keyroll_process_s": whole,
        "sequential_s": seq,
        "trigger_all_s": trig,
        "ratio_to_lower_bound": k["median"] / bound,
        "ratio_to_lower_bound_min": k["min"] / bound,
        "speedup_vs_sequential": seq["median"] / whole["median"],
        "speedup_vs_trigger_all": trig["median"] / whole["median"],
        "speedup_vs_sequential_apply": seq["median"] / k["median"],
        "speedup_vs_trigger_all_apply": trig["median"] / k["median"],
        "keyroll_calls": calls,
        "trigger_all_calls": metric(samples["trigger-all"], "calls"),
        "calls_vs_floor": calls["median"] / floor,
        "calls_vs_floor_min": calls["min"] / floor,
        "calls_vs_minimum": calls["median"] / minimum,
        "where_calls_go_median_run": where_calls_go(median_run["routes"], counts),
        "http_429_median_run": int(median_run["routes"].get("HTTP 429", 0)),
        "failed_requests": sum(int(s.get("failed_requests", 0)) for s in k_runs),
        "failure_causes": dict(
            Counter(
                f"{f.get('status') or 'no status'}: {f.get('cause', '?')}"
                for s in k_runs
                for f in s.get("failures_first", [])
            )
        ),
        "load_requests": sum(int(s.get("load_requests", 0)) for s in k_runs),
        "states": sorted({s["state"] for s in k_runs}),
        "peak_rss_mib": metric(samples["keyroll"], "peak_rss_mib"),
    }


def resummarize(path: Path) -> int:
    """Recompute a result file's summary from its raw samples and parameters."""
    doc = json.loads(path.read_text())
    doc["summary"] = summarize(doc["runs"], doc["params"])
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    os.replace(tmp, path)
    line("resummarized", path)
    return 0 if "error" not in doc["summary"] else 1


def main() -> int:
    """Run the benchmark, print ``name: value`` lines, write the result file."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--plan", choices=sorted(PROJECTS), default="pro", help="the team's Vercel plan")
    ap.add_argument("--projects", type=int, help="projects in the fleet (default: per plan)")
    ap.add_argument("--vars", type=int, default=8, help="env vars per project (the rest is noise)")
    ap.add_argument("--latency-ms", type=float, default=80.0)
    ap.add_argument("--build-seconds", type=float, default=6.0)
    ap.add_argument(
        "--rate-window", type=float, default=6.0, help="seconds per rate-limit window (Vercel: 60)"
    )
    ap.add_argument("--runs", type=int, default=3, help="runs per tool (alternated)")
    ap.add_argument("--sample", type=int, default=2, help="projects per run of the sequential baseline")
    ap.add_argument("--rps", type=float, default=50.0, help="load-generator requests per second")
    ap.add_argument("--max-parallel-builds", type=int, help="keyroll's build parallelism (default: its own)")
    ap.add_argument("--name", help="result file bench/out/<name>.json (default rotation-<plan>)")
    ap.add_argument("--resummarize", type=Path, help="recompute the summary of a result file and exit")
    ap.add_argument("--child", nargs=2, metavar=("ENV_FILE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.resummarize:
        return resummarize(args.resummarize)
    if args.child:
        asyncio.run(
            _child(Path(args.child[0]), Path(args.child[1]), args.build_seconds, args.max_parallel_builds)
        )
        return 0
    if args.runs < 1 or args.sample < 1:
        print("error: --runs and --sample must be at least 1", file=sys.stderr)
        return 2
    builds = concurrent_builds(args.plan)
    args.projects = args.projects or PROJECTS[args.plan]

    facts = machine_info()
    line("machine", facts["summary"])
    line(
        "workload",
        f"{args.projects} projects x 3 targets + 1 preview branch, leaked Redis token in project vars and a "
        f"team shared var; Vercel plan {args.plan} ({builds} concurrent builds); latency {args.latency_ms:g} "
        f"ms/call, builds {args.build_seconds:g} s, rate windows {args.rate_window:g} s (Vercel: 60 s)",
    )

    def show(tool: str, i: int, s: dict[str, Any]) -> None:
        if tool == "keyroll":
            detail = (
                f"apply {s['wall_s']:.2f} s (process {s.get('process_s', math.nan):.1f} s), "
                f"state {s.get('state')}, {s.get('calls')} calls, {s.get('failed_requests')} failed requests"
            )
        elif tool == "sequential":
            detail = f"{s['wall_s']:.0f} s extrapolated from {s['per_project_s']} s per project"
        else:
            detail = f"{s['wall_s']:.2f} s, {s['calls']} calls, states {s['states']}"
        line(f"run {i + 1} {tool}", detail)

    samples = alternate(
        {
            "keyroll": lambda i: run_keyroll(args),
            "sequential": lambda i: run_sequential(args, i),
            "trigger-all": lambda i: run_trigger_all(args),
        },
        args.runs,
        report=show,
    )
    params: dict[str, Any] = {
        "plan": args.plan,
        "concurrent_builds": builds,
        "projects": args.projects,
        "vars_per_project": args.vars,
        "latency_ms": args.latency_ms,
        "build_seconds": args.build_seconds,
        "rate_window_s": args.rate_window,
        "runs": args.runs,
        "sequential_sample_projects": args.sample,
        "load_rps": args.rps,
        "max_parallel_builds": args.max_parallel_builds or "keyroll default",
    }
    summary = summarize(samples, params)
    if "error" in summary:
        line("error", summary["error"])
        return 1
    counts = summary["plan"]
    k = summary["keyroll_apply_s"]
    line(
        "plan",
        f"{counts['groups']} credential group(s), {counts['steps']} steps, {counts['writes']} env write "
        f"requests, {counts['deployments']} redeploys",
    )
    line("keyroll apply s", f"min {k['min']:.2f}, median {k['median']:.2f} ({args.runs} runs)")
    line("sequential s", f"median {summary['sequential_s']['median']:.0f} (extrapolated)")
    line("trigger all, then wait s", f"median {summary['trigger_all_s']['median']:.1f}")
    line(
        "lower bound s",
        f"{summary['lower_bound_s']:.2f} (max of the writes under the rate limits and "
        f"ceil({counts['deployments']} / {builds}) x {args.build_seconds:g} s builds, + {CRITICAL_CALLS} x "
        f"{args.latency_ms:g} ms)",
    )
    line(
        "floor calls",
        f"{summary['floor_calls']} (writes {counts['writes']} + creates {counts['deployments']} + "
        f"{math.ceil(counts['deployments'] / 100)} listings + redis {REDIS_MIN} + upstash {UPSTASH_MIN})",
    )
    line(
        "keyroll calls",
        f"min {summary['keyroll_calls']['min']:.0f}, median {summary['keyroll_calls']['median']:.0f}",
    )
    line(
        "where the calls go", ", ".join(f"{k}: {v}" for k, v in summary["where_calls_go_median_run"].items())
    )
    line("failed requests", f"{summary['failed_requests']} of {summary['load_requests']}")
    line("ratio to lower bound", f"{summary['ratio_to_lower_bound']:.2f}x")
    line(
        "speed-up vs sequential",
        f"{summary['speedup_vs_sequential']:.1f}x (keyroll's whole process; apply alone "
        f"{summary['speedup_vs_sequential_apply']:.1f}x)",
    )
    line(
        "speed-up vs trigger all",
        f"{summary['speedup_vs_trigger_all']:.2f}x (apply alone {summary['speedup_vs_trigger_all_apply']:.2f}x)",
    )
    line("api calls vs floor", f"{summary['calls_vs_floor']:.2f}x")
    line("api calls vs minimum", f"{summary['calls_vs_minimum']:.2f}x")
    write_result(
        args.name or f"rotation-{args.plan}",
        runs=samples,
        summary=summary,
        machine_facts=facts,
        params=params,
    )
    ok = all(s.get("state") == "done" for s in samples["keyroll"])
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
