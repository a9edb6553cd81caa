"""Benchmark: the whole ``keyroll demo`` (fleet ``incident``), ``--runs`` times.

Runs ``keyroll demo --json`` as a user would (a fresh sandbox each time: inventory, plan,
rotation under load, verify, report) and records per run: the whole command's wall time, exit
code and peak memory, and from the demo's own JSON the rotation's outcome — credentials rotated,
redeploys, load-generator requests and failures by whose fault they are (overlap strategies
must have none; cutover strategies' failures inside their measured window are the accepted
outage), the cutover windows and verify's counts.

Writes ``bench/out/demo.json``.

Usage: ``.venv/bin/python bench/demo.py [--runs 3] [--fleet incident]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import alternate, line, machine_info, metric, run_command, write_result


def run_demo(exe: Path, fleet: str) -> dict[str, Any]:
    """One ``keyroll demo --json`` run, as a sample."""
    res = run_command([str(exe), "demo", "--fleet", fleet, "--json"])
    try:
        doc = json.loads(res["stdout"] or "{}")
    except ValueError:
        doc = {}
    failures = doc.get("failures", {})
    windows = [float(w.get("window_s") or 0) for w in doc.get("cutover_windows", [])]
    return {
        "wall_s": round(res["wall_s"], 3),
        "exit": res["exit"],
        "peak_rss_mib": round(res["peak_rss_mib"], 1),
        "ok": bool(doc.get("ok")),
        "run_state": doc.get("run_state", ""),
        "projects": doc.get("projects", 0),
        "credentials_total": doc.get("credentials_total", 0),
        "credentials_rotated": doc.get("credentials_rotated", 0),
        "groups": len(doc.get("groups", [])),
        "deployments_redeployed": doc.get("deployments_redeployed", 0),
        "requests": doc.get("requests", 0),
        "failed_requests": doc.get("failed_requests", 0),
        "failed_overlap": failures.get("overlap", 0),
        "failed_cutover_in_window": failures.get("cutover_in_window", 0),
        "failed_cutover_outside_window": failures.get("cutover_outside_window", 0),
        "failed_unattributed": failures.get("unattributed", 0),
        "cutover_windows_s": windows,
        "verify_passed": bool(doc.get("verify_passed")),
        "verify_counts": doc.get("verify_counts", {}),
    }


def main() -> int:
    """Run the demo ``--runs`` times, print ``name: value`` lines, write the result file."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fleet", default="incident")
    args = ap.parse_args()
    if args.runs < 1:
        print("error: --runs must be at least 1", file=sys.stderr)
        return 2
    facts = machine_info()
    line("machine", facts["summary"])
    exe = Path(sys.executable).parent / "keyroll"

    def show(_: str, i: int, s: dict[str, Any]) -> None:
        line(
            f"run {i + 1}",
            f"{s['wall_s']:.1f} s, exit {s['exit']}, {s['credentials_rotated']} credentials rotated, "
            f"{s['deployments_redeployed']} redeploys, {s['failed_requests']} of {s['requests']} requests "
            f"failed ({s['failed_overlap']} overlap, {s['failed_cutover_in_window']} in cutover windows), "
            f"verify {'passed' if s['verify_passed'] else 'FAILED'}",
        )

    samples = alternate({"keyroll demo": lambda _: run_demo(exe, args.fleet)}, args.runs, report=show)
    runs = samples["keyroll demo"]
    windows = [w for s in runs for w in s["cutover_windows_s"]]
    summary = {
        "wall_s": metric(runs, "wall_s"),
        "peak_rss_mib": metric(runs, "peak_rss_mib"),
        "exit_codes": sorted({s["exit"] for s in runs}),
        "all_verified": all(s["verify_passed"] for s in runs),
        "projects": runs[0]["projects"],
        "groups": runs[0]["groups"],
        "credentials_rotated": runs[0]["credentials_rotated"],
        "deployments_redeployed": runs[0]["deployments_redeployed"],
        "requests": metric(runs, "requests"),
        "failed_overlap_total": sum(s["failed_overlap"] for s in runs),
        "failed_cutover_outside_window_total": sum(s["failed_cutover_outside_window"] for s in runs),
        "failed_unattributed_total": sum(s["failed_unattributed"] for s in runs),
        "failed_cutover_in_window": metric(runs, "failed_cutover_in_window"),
        "cutover_window_s": {"n": len(windows), "min": min(windows), "max": max(windows)}
        if windows
        else {"n": 0},
        "verify_counts_last": runs[-1]["verify_counts"],
    }
    w = summary["wall_s"]
    line("demo wall s", f"min {w['min']:.1f}, median {w['median']:.1f} ({args.runs} runs, whole command)")
    line("failed requests in overlap rotations", summary["failed_overlap_total"])
    write_result(
        "demo",
        runs=samples,
        summary=summary,
        machine_facts=facts,
        params={"fleet": args.fleet, "runs": args.runs, "options": "keyroll demo defaults"},
    )
    return 0 if all(s["exit"] == 0 for s in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
