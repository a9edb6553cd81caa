"""The benchmark scripts' pure parts: alternated runs, min/median, the rotation's lower bound and
call floor per plan, the inventory's minimum, and the README table generated between markers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import _common  # noqa: E402
import inventory as inventory_bench  # noqa: E402
import results  # noqa: E402
import rotation  # noqa: E402


def test_tools_run_alternated_the_same_number_of_times() -> None:
    order: list[str] = []
    pauses: list[int] = []

    def tool(name: str) -> Any:
        def run(i: int) -> dict[str, Any]:
            order.append(f"{name}{i}")
            return {"wall_s": float(len(order))}

        return run

    samples = _common.alternate(
        {"a": tool("a"), "b": tool("b")}, 3, between=lambda: pauses.append(len(order))
    )
    assert order == ["a0", "b0", "a1", "b1", "a2", "b2"]
    assert pauses == [1, 2, 3, 4, 5]  # before every run but the first
    assert [s["wall_s"] for s in samples["a"]] == [1.0, 3.0, 5.0]
    assert _common.metric(samples["b"], "wall_s") == {"n": 3, "min": 2.0, "median": 4.0, "max": 6.0}
    assert _common.stats([]) == {"n": 0}


def test_result_file_holds_samples_machine_and_command(tmp_path: Path) -> None:
    path = _common.write_result(
        "x", runs={"t": [{"wall_s": 1.0}]}, summary={"k": 1}, params={"p": 2}, out_dir=tmp_path
    )
    doc = json.loads(path.read_text())
    assert doc["runs"] == {"t": [{"wall_s": 1.0}]} and doc["summary"] == {"k": 1}
    assert doc["machine"]["cores"] and len(doc["machine"]["load_avg_end"]) == 3
    assert doc["command"].startswith(".venv/bin/python") and "keyroll" in doc["tool_versions"]


def test_rotation_lower_bound_takes_the_plans_build_waves_or_the_write_time() -> None:
    counts = {"writes": 61, "deployments": 120}
    limits = {"env_write": 120, "deployments_create": 60}
    # Pro: 120 builds in waves of 12 = 10 waves of a 6 s build (5.5 s holding the slot, 0.5 s queue)
    pro = rotation.lower_bound(counts, limits, 6.0, 6.0, 0.08, 12)
    assert pro == pytest.approx(10 * 5.5 + 0.5 + rotation.CRITICAL_CALLS * 0.08)
    # Hobby: one build at a time
    hobby = rotation.lower_bound(counts, limits, 6.0, 6.0, 0.08, 1)
    assert hobby == pytest.approx(120 * 5.5 + 0.5 + rotation.CRITICAL_CALLS * 0.08)
    # unlimited slots: the creations' rate limit (119 // 60 = 1 whole window) is the larger part
    many = rotation.lower_bound(counts, limits, 60.0, 6.0, 0.08, 1000)
    assert many == pytest.approx(60.0 + rotation.CRITICAL_CALLS * 0.08)


def test_rotation_call_floor_learns_ready_from_listings_and_reads_nothing_back() -> None:
    counts = {"writes": 61, "deployments": 120}
    assert rotation.floor_calls(counts) == 61 + 120 + 2 + rotation.REDIS_MIN + rotation.UPSTASH_MIN
    assert rotation.minimum_calls(counts) == 61 + 240 + rotation.REDIS_MIN + rotation.UPSTASH_MIN
    where = rotation.where_calls_go(
        {
            "POST /v13/deployments": 120,
            "GET /v6/deployments": 14,
            "GET /v1/projects/*/env/*": 60,
            "PATCH /v9/projects/*/env/*": 60,
            "HTTP 429": 3,
        },
        counts,
    )
    assert where == {
        "deployment creates": 120,
        "env read-backs (rescan)": 60,
        "env writes": 60,
        "team deployment listings (READY)": 14,
    }


def test_inventory_minimum_and_bound_follow_the_fleet_and_the_limits() -> None:
    from keyroll.sandbox.fleet_generate import generate_fleet

    fleet = generate_fleet(3, vars_per_project=20, preview_branches=1, shared_vars=3)
    minimum = inventory_bench.minimum_calls(fleet, 3)
    assert minimum["vercel.deployments_read"] == 3 and minimum["vercel.default"] == 2
    assert minimum["vercel.env_read"] > 3 * 2  # env lists plus decrypt reads
    limits = {"env_read": 10, "default": 200, "deployments_read": 500}
    bound = inventory_bench.lower_bound_s(minimum, limits, 60.0, 0.08)
    windows = (minimum["vercel.env_read"] - 1) // 10
    assert bound == pytest.approx(windows * 60.0 + inventory_bench.DEPENDENT * 0.08)


def _rotation_doc() -> dict[str, Any]:
    m = {"n": 3, "min": 50.0, "median": 55.0, "max": 60.0}
    return {
        "command": ".venv/bin/python bench/rotation.py --plan pro",
        "date": "2026-12-06T21:00:00Z",
        "machine": {"load_avg_start": [3.5, 3.0, 2.0]},
        "params": {
            "plan": "pro",
            "concurrent_builds": 12,
            "projects": 60,
            "latency_ms": 80.0,
            "build_seconds": 6.0,
            "rate_window_s": 6.0,
            "sequential_sample_projects": 2,
        },
        "runs": {"keyroll": [{}, {}, {}], "sequential": [{}, {}, {}], "trigger-all": [{}, {}, {}]},
        "summary": {
            "plan": {"writes": 61, "deployments": 120},
            "concurrent_builds": 12,
            "lower_bound_s": 56.2,
            "floor_calls": 189,
            "keyroll_apply_s": m,
            "keyroll_process_s": m,
            "sequential_s": {"n": 3, "min": 800.0, "median": 810.0, "max": 820.0},
            "trigger_all_s": m,
            "ratio_to_lower_bound": 55.0 / 56.2,
            "ratio_to_lower_bound_min": 50.0 / 56.2,
            "speedup_vs_sequential": 810.0 / 55.0,
            "speedup_vs_trigger_all": 1.0,
            "speedup_vs_sequential_apply": 810.0 / 55.0,
            "speedup_vs_trigger_all_apply": 1.0,
            "keyroll_calls": {"n": 3, "min": 270.0, "median": 280.0, "max": 290.0},
            "calls_vs_floor": 280 / 189,
            "calls_vs_floor_min": 270 / 189,
            "calls_vs_minimum": 0.9,
            "where_calls_go_median_run": {"deployment creates": 120},
            "failed_requests": 0,
            "load_requests": 9000,
            "peak_rss_mib": {"n": 3, "min": 100.0, "median": 110.0, "max": 120.0},
        },
    }


def test_readme_table_is_generated_between_the_markers() -> None:
    body = results.render({"rotation-pro": _rotation_doc()})
    assert "| what | measured (min / median) | target |" in body
    # min / median from the file, the ratios of the medians, the plan and the command
    assert "50.00 / 55.00 s" in body and "**14.7x**" in body and "**1.48x**" in body
    assert "Vercel **Pro** (12 concurrent builds)" in body
    assert "`.venv/bin/python bench/rotation.py --plan pro`" in body
    assert "Not measured yet:" in body and "`inventory-20`" in body
    readme = f"intro\n{results.BEGIN}\nold table\n{results.END}\nrest\n"
    new = results.rewrite(readme, body)
    assert new.startswith("intro\n") and new.endswith(f"{results.END}\nrest\n")
    assert "old table" not in new and body in new
    assert results.rewrite(new, body) == new
    with pytest.raises(ValueError, match="no <!-- results:begin -->"):
        results.rewrite("no markers", body)


def test_committed_readme_table_matches_the_committed_result_files() -> None:
    readme = (BENCH.parent / "README.md").read_text()
    docs = {
        name: json.loads((results.RESULTS / f"{name}.json").read_text())
        for name in results.RENDERERS
        if (results.RESULTS / f"{name}.json").exists()
    }
    assert results.rewrite(readme, results.render(docs)) == readme, "run `make results`"


def test_rotation_summary_compares_whole_processes_and_bounds_apply_alone() -> None:
    def k(apply_s: float, process_s: float, calls: int) -> dict[str, Any]:
        return {
            "wall_s": apply_s,
            "process_s": process_s,
            "calls": calls,
            "plan": {"writes": 61, "deployments": 120},
            "limits": {"env_write": 120, "deployments_create": 60},
            "routes": {"POST /v13/deployments": 120, "HTTP 429": 2},
            "state": "done",
            "failed_requests": 0,
            "load_requests": 100,
            "peak_rss_mib": 100.0,
        }

    samples = {
        "keyroll": [k(60.0, 70.0, 250), k(58.0, 66.0, 260), k(61.0, 71.0, 240)],
        "sequential": [{"wall_s": 700.0}, {"wall_s": 710.0}, {"wall_s": 690.0}],
        "trigger-all": [{"wall_s": 66.0, "calls": 400}] * 3,
    }
    params = {"concurrent_builds": 12, "rate_window_s": 6.0, "build_seconds": 6.0, "latency_ms": 80.0}
    s = rotation.summarize(samples, params)
    assert s["keyroll_process_s"]["median"] == 70.0 and s["keyroll_apply_s"]["median"] == 60.0
    assert s["speedup_vs_sequential"] == pytest.approx(700.0 / 70.0)
    assert s["speedup_vs_trigger_all"] == pytest.approx(66.0 / 70.0)
    assert s["speedup_vs_trigger_all_apply"] == pytest.approx(66.0 / 60.0)
    assert s["ratio_to_lower_bound"] == pytest.approx(60.0 / s["lower_bound_s"], rel=1e-3)
    assert s["calls_vs_floor"] == pytest.approx(
        250 / rotation.floor_calls({"writes": 61, "deployments": 120})
    )
    assert s["http_429_median_run"] == 2


def test_scan_row_takes_min_and_median_from_the_raw_samples_of_every_tool() -> None:
    doc = {
        "command": ".venv/bin/python bench/scan.py",
        "date": "2026-12-06T21:00:00Z",
        "machine": {"load_avg_start": [2.0, 2.0, 2.0]},
        "tool_versions": {"kingfisher": "2.14.0"},
        "runs": {
            "keyroll": [{"wall_s": w, "in_process_s": w / 2} for w in (0.7, 0.5, 0.6)],
            "kingfisher": [{"wall_s": w} for w in (1.2, 1.1, 1.3)],
        },
        "summary": {
            "keyroll": {"recall": "45/45", "extra_findings": 2, "non_planted_upstash": 0},
            "kingfisher": {"recall": "13/45", "extra_findings": 7},
            "ratios": {"strongest_peer": "kingfisher", "speedup_vs_strongest_peer": 2.0},
            "corpus": "64 MiB of real code",
        },
    }
    ((what, measured, _),) = results.scan_rows("scan", doc)
    assert "on 64 MiB of real code" in what and "3 alternated runs" in what
    assert "**2.0x** the faster of Kingfisher and Betterleaks (kingfisher)" in measured
    assert "keyroll: 0.50 / 0.60 s, in-process 0.25 / 0.30 s, recall 45/45" in measured
    assert "kingfisher 2.14.0: 1.10 / 1.20 s, recall 13/45, 7 findings not planted" in measured
