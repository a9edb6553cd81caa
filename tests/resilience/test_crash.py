"""Crash at step boundaries: ``keyroll apply`` (a subprocess) is SIGKILLed at a boundary through
``KEYROLL_CRASH_AT``, then ``keyroll resume`` must reach done — the new credentials work, the old
ones are rejected, every journaled secret still decrypts, and the load generator (running across
crash and resume) records no failed request for an overlap strategy.

The default suite runs three representative boundaries (a minted ACL user not yet journaled, a
QStash token reset whose new token only the provider knows, second-roll builds started but not
journaled); ``make resilience`` runs every boundary of the plan (fleet ``small``, every group a
CLI run can finish alone), one fresh sandbox each.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from keyroll.cli.main import run
from keyroll.sandbox.loadgen import LoadGenerator
from tests import canary as canary_mod
from tests.resilience.harness import (
    RPS,
    Outcome,
    apply_argv,
    assert_no_secret_in,
    canonical_boundaries,
    check,
    open_case,
    resume_argv,
    run_subprocess,
    write_plan,
)

REPRESENTATIVE = (
    "after:mint:redis_acl[cache]/mint",
    "after:mint:qstash_token[eu-central-1]/reset",
    "after:redeploy:qstash_signing[signing keys eu-central-1]/redeploy2/prj_F6J5D9x08QLSDprdRjicidBgKd1T",
)


def crash_and_resume(directory: Path, point: str, canary: canary_mod.Canary) -> tuple[bool, Outcome]:
    """One fresh sandbox: plan, apply killed at ``point`` (canonical name), resume; returns
    (whether the process was really killed there, the outcome). When it was not killed,
    ``outcome.notes`` says how the apply ended instead."""
    with open_case(directory) as case:
        plan_path, plan = write_plan(case)
        names = canonical_boundaries(plan)
        assert point in names, f"{point} is not a boundary of the plan: {sorted(names)[:5]}…"
        with LoadGenerator(case.sb.world, rps=RPS, duration=900) as lg:
            proc = run_subprocess(case, apply_argv(case, plan_path), KEYROLL_CRASH_AT=names[point])
            killed = proc.returncode == -signal.SIGKILL
            tail = [line for line in proc.stderr.splitlines() if line.strip()][-1:]
            code = run(resume_argv(case)) if case.journal.exists() else -1
            stats = lg.stop()
        outcome = check(case, plan, stats) if case.journal.exists() else Outcome()
        if not killed:
            outcome.notes.append(f"apply exited {proc.returncode} without reaching the boundary: {tail}")
        assert_no_secret_in(canary, proc.stdout, proc.stderr)
        assert code == 0 or not outcome.ok, (code, outcome.problems())
    return killed, outcome


@pytest.mark.parametrize("point", REPRESENTATIVE)
def test_crash_at_a_boundary_then_resume_reaches_done(
    tmp_path: Path,
    point: str,
    canary: canary_mod.Canary,
    record_case: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    killed, outcome = crash_and_resume(tmp_path, point, canary)
    record_case(
        "crash_points",
        point,
        killed and outcome.ok,
        requests=outcome.requests,
        old_unknown=outcome.old_unknown,
    )
    assert killed, outcome.notes
    assert outcome.ok, outcome.problems()
    assert outcome.requests > 0


@pytest.mark.slow
def test_crash_at_every_boundary_then_resume(
    tmp_path: Path, canary: canary_mod.Canary, record_case: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The full matrix: every boundary of the plan, one fresh sandbox per boundary."""
    with open_case(tmp_path / "probe") as case:
        _, plan = write_plan(case)
        points = list(canonical_boundaries(plan))
    failed: list[str] = []
    for i, point in enumerate(points):
        try:
            killed, outcome = crash_and_resume(tmp_path / f"b{i:03d}", point, canary)
            passed = killed and outcome.ok
            why = "; ".join(outcome.notes) + ("" if outcome.ok else " " + outcome.problems())
        except Exception as exc:  # one broken boundary must not hide the others
            passed, why = False, f"{type(exc).__name__}: {str(exc)[:300]}"
        record_case("crash_points", point, passed, why=why)
        if not passed:
            failed.append(f"{point}: {why}")
        capsys.readouterr()  # keep the in-process CLI's JSON out of the report
    assert not failed, f"{len(failed)}/{len(points)} crash points failed:\n" + "\n".join(failed)
