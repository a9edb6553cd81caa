"""Render the README's Results table from the benchmark result files (``make results``).

The benchmarks write ``bench/out/<name>.json`` (git-ignored: raw samples, machine, versions,
command). This script copies each known result from ``bench/out/`` into ``bench/results/``
(committed: the table's evidence) and rewrites the part of ``README.md`` between

    <!-- results:begin -->  …  <!-- results:end -->

from ``bench/results/`` alone. So every number in the table is in a committed file with its raw
samples and the command that produced it; ``--check`` fails when the README is not what the
committed files give (``make results-check``).

Usage: ``.venv/bin/python bench/results.py [--check] [--no-copy] [--readme README.md]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results"
BEGIN = "<!-- results:begin -->"
END = "<!-- results:end -->"

Row = tuple[str, str, str]
"""what, measured, target"""


# -- formatting ---------------------------------------------------------------------------------


def num(x: float, digits: int = 1) -> str:
    """A number with thousands separators."""
    return f"{x:,.{digits}f}"


def spread(m: dict[str, Any], unit: str = " s", digits: int = 2) -> str:
    """``min / median`` of a metric, e.g. ``1.20 / 1.31 s``."""
    if not m or not m.get("n"):
        return "n/a"
    return f"{num(m['min'], digits)} / {num(m['median'], digits)}{unit}"


def runs_of(doc: dict[str, Any]) -> int:
    """Runs per tool (the smallest count: every tool gets the same)."""
    counts = [len(v) for v in doc.get("runs", {}).values() if isinstance(v, list)]
    return min(counts) if counts else 0


def when(doc: dict[str, Any]) -> str:
    """``date, load`` of a result, for its row."""
    load = doc.get("machine", {}).get("load_avg_start") or [None]
    load_s = f", load {load[0]:.1f}" if isinstance(load[0], (int, float)) else ""
    return f"{str(doc.get('date', '?'))[:10]}{load_s}"


def source(name: str, doc: dict[str, Any]) -> str:
    """Where a row comes from: the result file and its command."""
    return f"[`{name}.json`](bench/results/{name}.json): `{doc.get('command', '?')}`"


# -- one renderer per benchmark ---------------------------------------------------------------------


def demo_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    """``bench/demo.py``: the whole ``keyroll demo``."""
    s = doc["summary"]
    cw = s.get("cutover_window_s", {})
    counts = s.get("verify_counts_last", {})
    verify = ", ".join(f"{v} {k}" for k, v in counts.items()) if counts else ""
    windows = (
        f"{cw['n']} cutover windows of {cw['min']:.1f}–{cw['max']:.1f} s"
        if cw.get("n")
        else "no cutover window"
    )
    return [
        (
            f"`keyroll demo` (fleet `{doc['params']['fleet']}`: {s['projects']} projects, {s['groups']} "
            f"rotations of {s['credentials_rotated']} credentials, {s['deployments_redeployed']} redeploys; "
            f"{runs_of(doc)} runs; {when(doc)}; {source(name, doc)})",
            f"whole command {spread(s['wall_s'], digits=1)}, {spread(s['peak_rss_mib'], ' MiB', 0)} peak RSS, "
            f"exit {'/'.join(str(c) for c in s['exit_codes'])}, verify "
            f"{'passed every run' if s['all_verified'] else 'FAILED in a run'} ({verify}); "
            f"load generator {spread(s['requests'], ' requests', 0)}: **{s['failed_overlap_total']} failed during "
            f"overlap rotations**, {spread(s['failed_cutover_in_window'], '', 0)} inside the {windows}, "
            f"{s['failed_cutover_outside_window_total']} outside them, {s['failed_unattributed_total']} unattributed",
            "< 2 min, 0",
        )
    ]


def inventory_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    """``bench/inventory.py``: keyroll vs one request at a time under the same rate limits."""
    p, s = doc["params"], doc["summary"]
    k, b = s["keyroll"], s["one-at-a-time"]
    limits = p.get("rate_limits")
    limited = isinstance(limits, dict)
    lim = (
        f"Vercel-like rate limits: env reads {limits['env_read']}, other {limits['default']} per "
        f"{p['rate_window_s']:g} s"
        if limited
        else "no rate limits"
    )
    what = (
        f"`keyroll inventory` on a {p['projects']}-project team ({p['vars_per_project']} vars each, 3 targets, "
        f"shared vars; {p['latency_ms']:g} ms latency; {lim}; {runs_of(doc)} alternated runs each, "
        f"each from a window's start; {when(doc)}; {source(name, doc)})"
    )
    measured = (
        f"whole command, min / median: {spread(k['wall_s'])} vs {spread(b['wall_s'])} for the same "
        f"calls one at a time (`--concurrency 1`, what a plain script does) — **{s['speedup_median']:.2f}x**; "
        + (
            f"lower bound {s['lower_bound_s']:.1f} s (the rate limits on {s['minimum_calls']:,} calls), keyroll "
            f"{s['keyroll_vs_lower_bound_median']:.2f}x it; "
            if limited and s["lower_bound_s"] >= p["rate_window_s"]
            else f"the rate limits do not bind ({s['minimum_calls']:,} calls fit one window's budget): latency, "
            f"start-up and concurrency {p['concurrency']} set the time; "
        )
        + f"{num(k['calls']['median'], 0)} API calls = "
        f"**{s['keyroll_calls_vs_minimum_median']:.3f}x** the minimum, {num(k['http_429']['median'], 0)} "
        f"answered 429; {num(k['peak_rss_mib']['median'], 0)} MiB"
    )
    binds = limited and s["lower_bound_s"] >= p["rate_window_s"]
    target = "≤ 1.2x the lower bound, ≤ 1.05x calls" if binds else "≥ 10x one at a time, ≤ 1.05x calls"
    return [(what, measured, target)]


def rotation_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    """``bench/rotation.py``: keyroll apply vs the guide, trigger-all and the lower bound, per plan."""
    p, s = doc["params"], doc["summary"]
    plan = s["plan"]
    what = (
        f"rotation of one leaked Redis token on {p['projects']} projects, Vercel **{p['plan'].title()}** "
        f"({p['concurrent_builds']} concurrent build{'s' if p['concurrent_builds'] != 1 else ''}): {plan['writes']} env writes, "
        f"{plan['deployments']} redeploys; {p['latency_ms']:g} ms latency, {p['build_seconds']:g} s builds, "
        f"Vercel rate limits in {p['rate_window_s']:g} s windows (10x compressed); {runs_of(doc)} alternated "
        f"runs each; {when(doc)}; {source(name, doc)}"
    )
    seq, trig = s["sequential_s"], s["trigger_all_s"]
    rows: list[Row] = [
        (
            what,
            f"keyroll's whole process (inventory, plan and `apply`, what `keyroll apply` does) "
            f"{spread(s['keyroll_process_s'], digits=1)}, `apply` alone {spread(s['keyroll_apply_s'])}; "
            f"the Vercel guide done sequentially {spread(seq, digits=0)} (extrapolated from "
            f"{p['sequential_sample_projects']} projects per run) — **{s['speedup_vs_sequential']:.1f}x** "
            f"(apply alone {s['speedup_vs_sequential_apply']:.1f}x); a script that triggers every redeploy, "
            f"then waits: {spread(trig)} — **{s['speedup_vs_trigger_all']:.2f}x** (apply alone "
            f"{s['speedup_vs_trigger_all_apply']:.2f}x). Both baselines get the inventory for free and "
            "neither mints nor revokes a credential",
            "≥ 20x sequential" if p["plan"] != "hobby" else "— (one build at a time on Hobby)",
        ),
        (
            f"… vs the lower bound (the larger of the writes under the rate limits and ceil({plan['deployments']}"
            f" / {s['concurrent_builds']}) builds, + dependent calls: {s['lower_bound_s']:.1f} s)",
            f"ratio to lower bound **{s['ratio_to_lower_bound']:.2f}x** (min {s['ratio_to_lower_bound_min']:.2f}x)",
            "≤ 1.3x",
        ),
        (
            f"… API calls vs the strict floor ({s['floor_calls']:,}: one write per env var and the shared var, "
            f"one create per redeploy, one team listing per 100 builds, {s['floor_calls'] - plan['writes'] - plan['deployments'] - -(-plan['deployments'] // 100)} Redis/Upstash calls; nothing read back)",
            f"**{s['calls_vs_floor']:.2f}x** (min {s['calls_vs_floor_min']:.2f}x; median "
            f"{num(s['keyroll_calls']['median'], 0)} calls, {s.get('http_429_median_run', 0)} of them answered 429: "
            + ", ".join(f"{k} {v}" for k, v in s["where_calls_go_median_run"].items())
            + f"); vs the looser minimum (one READY read per build): {s['calls_vs_minimum']:.2f}x",
            "≤ 1.1x",
        ),
        (
            "… failed requests (load generator during every `apply`), peak memory of keyroll",
            f"**{s['failed_requests']}** of {s['load_requests']:,}"
            + (
                " (" + ", ".join(f"{c} ×{n}" for c, n in s["failure_causes"].items()) + ")"
                if s.get("failure_causes")
                else ""
            )
            + f"; {spread(s['peak_rss_mib'], ' MiB', 0)}",
            "0",
        ),
    ]
    return rows


def scan_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    """``bench/scan.py`` (``scan``, ``scan-<MiB>``, ``scan-git``, ``scan-git-packed``): per tool, min / median of the whole
    command (computed here from the raw samples), recall on the planted Upstash credentials and
    findings that were not planted; keyroll's in-process time second; the ratio to the faster of
    Kingfisher and Betterleaks."""
    summary = doc.get("summary", {})
    versions = doc.get("tool_versions", {})
    parts = []
    for tool, samples in doc.get("runs", {}).items():
        if not isinstance(samples, list):
            continue
        wall = _common_stats([float(x["wall_s"]) for x in samples if isinstance(x, dict) and "wall_s" in x])
        if not wall.get("n"):
            continue
        info = summary.get(tool) if isinstance(summary.get(tool), dict) else {}
        version = f" {versions[tool]}" if versions.get(tool) not in (None, "", "not installed") else ""
        facts = [spread(wall)]
        inproc = _common_stats(
            [float(x["in_process_s"]) for x in samples if isinstance(x, dict) and "in_process_s" in x]
        )
        if inproc.get("n"):
            facts.append(f"in-process {spread(inproc)}")
        if "recall" in info:
            facts.append(f"recall {info['recall']}")
        if "extra_findings" in info:
            facts.append(f"{info['extra_findings']} findings not planted")
        if "non_planted_upstash" in info:
            facts.append(f"**{info['non_planted_upstash']}** of them Upstash")
        parts.append(f"{tool}{version}: " + ", ".join(facts))
    ratios = summary.get("ratios", {}) if isinstance(summary.get("ratios"), dict) else {}
    head = ""
    if ratios.get("speedup_vs_strongest_peer"):
        head = f"**{ratios['speedup_vs_strongest_peer']}x** the faster of Kingfisher and Betterleaks ({ratios.get('strongest_peer')}), medians; "
    corpus = summary.get("corpus") or ""
    what = (
        f"`keyroll scan` vs its peers{f' on {corpus}' if corpus else ''}; whole commands, min / median of "
        f"{runs_of(doc)} alternated runs each; {when(doc)}; {source(name, doc)}"
    )
    target = (
        "≥ 2x the fastest peer"
        if "-git" in name
        else "≥ 3x (64 MiB), ≥ 5x (220 MiB); 100 % recall; 0 Upstash not planted"
    )
    return [(what, head + "; ".join(parts) if parts else "n/a", target)]


def _common_stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    xs = sorted(values)
    mid = len(xs) // 2
    median = xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2
    return {"n": len(xs), "min": xs[0], "median": median, "max": xs[-1]}


def resilience_rows(name: str, doc: dict[str, Any]) -> list[Row]:
    """``make resilience``: crash points and fault cases that reached their expected end."""
    s = doc.get("summary", {})
    cp, f = s.get("crash_points", {}), s.get("faults", {})
    date = str(doc.get("measured_at", doc.get("date", "?")))[:10]
    return [
        (
            f"crash at every step boundary (SIGKILL, then `keyroll resume`; {date}; [`{name}.json`]"
            f"(bench/results/{name}.json): `make resilience`)",
            f"**{cp.get('passed', 0)} / {cp.get('tested', 0)}** reach done",
            "all",
        ),
        (
            "fault matrix (429 storm, 5xx, timeouts, partial `failed[]`, redis-server restart, ERROR builds, "
            "Ctrl-C in a cutover)",
            f"**{f.get('passed', 0)} / {f.get('tested', 0)}**",
            "all",
        ),
    ]


RENDERERS: dict[str, Callable[[str, dict[str, Any]], list[Row]]] = {
    "demo": demo_rows,
    "rotation-pro": rotation_rows,
    "rotation-hobby": rotation_rows,
    "inventory-20": inventory_rows,
    "inventory-50": inventory_rows,
    "scan": scan_rows,
    "scan-220": scan_rows,
    "scan-git": scan_rows,
    "scan-git-packed": scan_rows,
    "resilience": resilience_rows,
}
"""The result files the table shows, in order."""


def collect(copy: bool) -> dict[str, dict[str, Any]]:
    """Copy fresh results from bench/out/ into bench/results/ (unless ``copy`` is False), then load
    every known result from bench/results/."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    docs: dict[str, dict[str, Any]] = {}
    for name in RENDERERS:
        fresh, kept = OUT / f"{name}.json", RESULTS / f"{name}.json"
        if copy and fresh.exists() and (not kept.exists() or fresh.stat().st_mtime > kept.stat().st_mtime):
            shutil.copyfile(fresh, kept)
            print(f"results: {kept.relative_to(ROOT)} <- {fresh.relative_to(ROOT)}")
        if kept.exists():
            docs[name] = json.loads(kept.read_text())
    return docs


def render(docs: dict[str, dict[str, Any]]) -> str:
    """The Markdown between the markers."""
    rows: list[Row] = []
    missing = []
    for name, renderer in RENDERERS.items():
        if name in docs:
            rows.extend(renderer(name, docs[name]))
        else:
            missing.append(name)
    lines = [
        "Generated by `make results` from the committed result files in `bench/results/` (each holds",
        "every raw sample, the machine, its load, tool versions, the commit and the command); do not",
        "edit by hand. Regenerate with `make bench` (or its parts), then `make results`.",
        "",
        "| what | measured (min / median) | target |",
        "|---|---|---|",
    ]
    lines += [f"| {w} | {m} | {t} |" for w, m, t in rows]
    if missing:
        lines += ["", "Not measured yet: " + ", ".join(f"`{m}`" for m in missing) + "."]
    return "\n".join(lines)


def rewrite(readme: str, body: str) -> str:
    """``readme`` with the text between the markers replaced by ``body``."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {BEGIN} … {END} section")
    return readme[: start + len(BEGIN)] + "\n" + body + "\n" + readme[end:]


def main() -> int:
    """Copy, render, rewrite (or check)."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md is not what the files give")
    ap.add_argument("--no-copy", action="store_true", help="use bench/results/ only (ignore bench/out/)")
    ap.add_argument("--readme", type=Path, default=ROOT / "README.md")
    args = ap.parse_args()
    docs = collect(copy=not (args.no_copy or args.check))
    text = args.readme.read_text()
    try:
        new = rewrite(text, render(docs))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(
                "README.md's Results table differs from bench/results/: run `make results`", file=sys.stderr
            )
            return 1
        return 0
    if new != text:
        args.readme.write_text(new)
        print(f"results: {args.readme.name} rewritten from {len(docs)} result file(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
