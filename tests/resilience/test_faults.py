"""The fault matrix: ``keyroll apply`` under 429 storms, 5xx, timeouts, partial ``failed[]``
answers, ERROR builds, a redis-server restart, and Ctrl-C (SIGINT) in the middle of a cutover.

Every fault is switched on just before ``apply`` (after the plan is made) and the load generator
runs from before ``apply`` to after the last ``resume``. Each case must end in ``done`` (ERROR
builds: a clean rollback first — the old credentials keep working — then a new apply once the
builds work again) with the outcome :func:`~tests.resilience.harness.check` demands: new
accepted, old rejected, secrets decrypt, 0 failed requests for overlap strategies.

The default suite runs two cases (5xx + timeouts + partial failures; SIGINT during a cutover);
``make resilience`` runs the whole matrix.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.core.model import CredentialPlan, Strategy
from keyroll.core.secret import Secret
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox
from tests import canary as canary_mod
from tests.resilience.harness import (
    RPS,
    Case,
    Outcome,
    apply_argv,
    assert_no_secret_in,
    check,
    native,
    open_case,
    resume_argv,
    start_subprocess,
    wait_for_step,
    write_plan,
)
from tests.resilience.harness import (
    label as group_label,
)

OVERLAP = {Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD, Strategy.QSTASH_SIGNING}


def _set_faults(sb: Sandbox, **faults: float) -> None:
    """Switch faults on now (a storm counts from the world's start, so it is shifted to now)."""
    f = sb.world.faults
    for name, value in faults.items():
        if name == "storm":
            value = sb.world.clock() - sb.world.started_at + value
        setattr(f, name, type(getattr(f, name))(value))


def _clear_faults(sb: Sandbox) -> None:
    f = sb.world.faults
    f.error_rate = f.timeout_rate = f.partial_rate = f.error_builds = f.storm = 0.0


def _apply_then_resume(case: Case, plan_path: Path, attempts: int = 3) -> tuple[int, list[int]]:
    """In-process ``keyroll apply``; ``keyroll resume`` while it exits 3 (a failed step under faults)."""
    code = run(apply_argv(case, plan_path))
    resumes: list[int] = []
    while code == 3 and len(resumes) < attempts:
        code = run(resume_argv(case))
        resumes.append(code)
    return code, resumes


def _fault_case(
    tmp_path: Path,
    *,
    faults: dict[str, float],
    during: Callable[[Case], None] | None = None,
    select: Callable[[CredentialPlan], bool] = native,
) -> tuple[int, list[int], Outcome]:
    with open_case(tmp_path, rate_window_s=2.0) as case:
        plan_path, plan = write_plan(case, select)
        with LoadGenerator(case.sb.world, rps=RPS, duration=900) as lg:
            _set_faults(case.sb, **faults)
            timer = threading.Timer(1.0, during, args=(case,)) if during else None
            if timer:
                timer.start()
            try:
                code, resumes = _apply_then_resume(case, plan_path)
            finally:
                if timer:
                    timer.cancel()
                    timer.join()
            _clear_faults(case.sb)
            if code == 3:  # the faults are gone now: what remains must finish
                code = run(resume_argv(case))
                resumes.append(code)
            stats = lg.stop()
        return code, resumes, check(case, plan, stats)


def _restart_redis(case: Case) -> None:
    case.sb.call(case.sb.world.hooks["redis.restart"]())


MATRIX: dict[str, dict[str, Any]] = {
    "429 storm": {"faults": {"storm": 3.0}},
    "10% 5xx": {"faults": {"error_rate": 0.1}},
    "timeouts": {"faults": {"timeout_rate": 0.05, "timeout_s": 1.5}},
    "partial failed[]": {"faults": {"partial_rate": 0.3}},
    "redis-server restart": {"faults": {}, "during": _restart_redis},
}
DEFAULT = {
    "5xx + timeouts + partial failed[]": {
        "faults": {"error_rate": 0.1, "timeout_rate": 0.03, "timeout_s": 1.0, "partial_rate": 0.3}
    }
}


def _run_matrix_case(tmp_path: Path, name: str, spec: dict[str, Any], record_case: Any) -> Outcome:
    code, resumes, outcome = _fault_case(tmp_path, faults=spec["faults"], during=spec.get("during"))
    passed = code == 0 and outcome.ok
    record_case("faults", name, passed, resumes=resumes, why="" if passed else outcome.problems())
    assert code == 0, (resumes, outcome.problems())
    assert outcome.ok, outcome.problems()
    assert outcome.requests > 0
    return outcome


@pytest.mark.parametrize("name", list(DEFAULT))
def test_faults_are_ridden_out(tmp_path: Path, name: str, record_case: Any) -> None:
    _run_matrix_case(tmp_path, name, DEFAULT[name], record_case)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MATRIX))
def test_fault_matrix(tmp_path: Path, name: str, record_case: Any) -> None:
    _run_matrix_case(tmp_path, name, MATRIX[name], record_case)


@pytest.mark.slow
def test_error_builds_roll_back_cleanly_then_a_new_apply_finishes(tmp_path: Path, record_case: Any) -> None:
    """Every build fails: the Redis rotations roll back with no failed request and the old
    credentials still working; once builds work again ``keyroll resume`` finishes the one-way
    signing-key roll and a new plan rotates the rest."""

    def overlap(cp: CredentialPlan) -> bool:
        return native(cp) and cp.strategy in OVERLAP

    with open_case(tmp_path, rate_window_s=2.0) as case:
        plan_path, plan = write_plan(case, overlap)
        old_tokens = _old_rest_tokens(case)
        with LoadGenerator(case.sb.world, rps=RPS, duration=900) as lg:
            _set_faults(case.sb, error_builds=1.0)
            first = run(apply_argv(case, plan_path))
            rolled_back = check(case, plan, lg.stats(), probe=False)
            still_valid = all(_rest_accepts(url, tok) for url, tok in old_tokens)
            _clear_faults(case.sb)
            # the one-way group is finished forward, then a new plan rotates what was rolled back
            resumed = run(resume_argv(case))
            plan_path, plan = write_plan(case, overlap)
            second = run(apply_argv(case, plan_path))
            stats = lg.stop()
        outcome = check(case, plan, stats)
    # Redis groups restore the old values; the signing-key roll is one-way (QStash cannot un-roll),
    # so that group stops "failed" before its second roll — with both old keys still verifying.
    stopped = {
        name: state for name, state in rolled_back.groups.items() if not name.startswith("qstash_signing")
    }
    signing = {state for name, state in rolled_back.groups.items() if name.startswith("qstash_signing")}
    clean = first == 3 and set(stopped.values()) == {"rolled_back"} and signing <= {"rolled_back", "failed"}
    passed = clean and still_valid and rolled_back.failures.overlap == 0 and second == 0 and outcome.ok
    why = (
        ""
        if passed
        else f"first={first} {rolled_back.problems()} resumed={resumed} second={second} {outcome.problems()}"
    )
    record_case("faults", "ERROR builds (rollback, then a new apply)", passed, why=why)
    assert clean, rolled_back.problems()
    assert still_valid, "a rolled-back credential stopped working"
    assert rolled_back.failures.overlap == 0
    assert second == 0 and outcome.ok, outcome.problems()


def _old_rest_tokens(case: Case) -> list[tuple[str, Secret]]:
    """The native Redis REST tokens the fleet started with (URL, token)."""
    t = case.sb.world.templates
    return [(t["redis:cache:rest_url"], Secret(t["redis:cache:rest_token"]))]


def _rest_accepts(url: str, token: Secret) -> bool:
    resp = httpx.post(url, json=["PING"], headers={"Authorization": f"Bearer {token.reveal()}"}, timeout=10)
    return resp.status_code == 200


def _interrupt_a_cutover(tmp_path: Path, canary: canary_mod.Canary) -> dict[str, Any]:
    """Start ``keyroll apply`` (a subprocess), SIGINT it once a cutover reset is journaled (its
    redeploys are running), then ``keyroll resume`` in process."""

    def cutover_first(cp: CredentialPlan) -> bool:
        return native(cp) and cp.strategy in (Strategy.INDEX_RESET, Strategy.REDIS_ACL)

    with open_case(tmp_path) as case:
        plan_path, plan = write_plan(case, cutover_first)
        resets = {cp.steps[0].id for cp in plan.credentials if cp.strategy is Strategy.INDEX_RESET}
        with LoadGenerator(case.sb.world, rps=RPS, duration=900) as lg:
            proc = start_subprocess(case, apply_argv(case, plan_path))
            reached = wait_for_step(case.journal, lambda sid, state: sid in resets and state == "done")
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=120)
            code = run(resume_argv(case))
            stats = lg.stop()
        outcome = check(case, plan, stats)
        assert_no_secret_in(canary, out, err)
    return {
        "reached": reached,
        "returncode": proc.returncode,
        "stderr": err,
        "resume": code,
        "outcome": outcome,
        "groups": {group_label(cp) for cp in plan.credentials},
    }


def test_ctrl_c_during_a_cutover_then_resume(
    tmp_path: Path, canary: canary_mod.Canary, record_case: Any
) -> None:
    """SIGINT while a cutover's redeploys run: exit 130, state journaled; resume finishes it."""
    r = _interrupt_a_cutover(tmp_path, canary)
    outcome: Outcome = r["outcome"]
    passed = r["reached"] and r["returncode"] == 130 and r["resume"] == 0 and outcome.ok
    why = "" if passed else f"returncode={r['returncode']} resume={r['resume']} {outcome.problems()}"
    record_case("faults", "Ctrl-C (SIGINT) during a cutover, then resume", passed, why=why)
    assert r["reached"], "no cutover reset was journaled before the signal"
    assert r["returncode"] == 130, (r["returncode"], r["stderr"][-500:])
    assert r["resume"] == 0 and outcome.ok, outcome.problems()
    assert set(outcome.groups) == r["groups"] and set(outcome.groups.values()) == {"done"}


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_without_a_traceback(
    tmp_path: Path, canary: canary_mod.Canary, record_case: Any
) -> None:
    """What the person who pressed Ctrl-C sees: one line saying the state is journaled and how to
    resume — no traceback."""
    r = _interrupt_a_cutover(tmp_path, canary)
    err: str = r["stderr"]
    passed = r["returncode"] == 130 and "interrupted" in err and "Traceback" not in err
    why = (
        "" if passed else f"returncode={r['returncode']}, stderr has no 'interrupted' line or has a traceback"
    )
    record_case("faults", "Ctrl-C: one line, no traceback", passed, why=why)
    lines = [
        line for line in err.splitlines() if not line.startswith((" ", "Traceback", "future", "keyroll.core"))
    ]
    assert r["reached"], "no cutover reset was journaled before the signal"
    assert r["returncode"] == 130, (r["returncode"], lines[-12:])
    assert "interrupted" in err and "resume" in err, lines[-12:]
    assert "Traceback" not in err and "never retrieved" not in err, lines[-12:]


# -- the signing-key write order (the root cause of the flaky "5xx + timeouts + partial failed[]") --

SIGNING_KEYS = ("QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY")


def _fail_current_in_batches(sb: Sandbox) -> list[str]:
    """Make every batch env write answer QSTASH_CURRENT_SIGNING_KEY in ``failed[]`` (the
    ``partial_rate`` fault, aimed at one key); keyroll then PATCHes it alone. Returns the keys
    failed (none when keyroll writes CURRENT on its own, outside a batch)."""
    vercel = sb.world.hooks["vercel.state"]()
    original = vercel.roll_fault
    failed: list[str] = []

    def roll_fault(kind: str, rate: float) -> bool:
        if kind == "partial":
            # the item the batch handler (sandbox/vercel/routes_env.create_env) is saving
            item = sys._getframe(1).f_locals.get("item") or {}
            if item.get("key") == SIGNING_KEYS[0]:
                failed.append(item["key"])
                return True
            return False
        return bool(original(kind, rate))

    vercel.roll_fault = roll_fault
    return failed


def _watch_signing_env(sb: Sandbox) -> tuple[list[str], list[str]]:
    """After every env change, check what a deployment built right then would hold: the key
    QStash signs with must be its CURRENT or NEXT signing key. Returns the keys checked and the
    violations (fingerprints only)."""
    vercel = sb.world.hooks["vercel.state"]()
    upstash = sb.world.hooks["upstash.state"]()
    original = vercel.set_env_value
    checked: list[str] = []
    violations: list[str] = []

    def set_env_value(project: Any, ev: Any, value: str, *, by: str) -> None:
        original(project, ev, value, by=by)
        if ev.key not in SIGNING_KEYS:
            return
        checked.append(ev.key)
        signing = upstash.qstash.current_signing_key
        for target in ("production", "preview"):
            env = vercel.effective_env(project, target, "main", None)
            pair = [env.get(k, "") for k in SIGNING_KEYS]
            if pair[0] and signing not in pair:
                fps = "/".join(Secret(v).fingerprint for v in pair)
                violations.append(
                    f"{project.name} {target}: a deployment now gets {fps}; "
                    f"QStash signs with {Secret(signing).fingerprint}"
                )

    vercel.set_env_value = set_env_value
    return checked, violations


def test_a_signing_roll_never_leaves_an_env_that_rejects_qstash(tmp_path: Path) -> None:
    """Deterministic form of the flaky default case: during each roll of the signing keys,
    every intermediate project env must still hold the key QStash signs with (in CURRENT or
    NEXT). Otherwise a deployment created in that moment — by another group's redeploy, or a
    git push — rejects every QStash delivery until the roll's own redeploy replaces it.

    The check runs after every single var change (Vercel does not document a batch write as
    atomic). With CURRENT answered in ``failed[]`` the bad env lasts a whole retry round-trip
    even in the sandbox, which applies a batch under one lock: in the flaky runs a preview
    deployment of ``api`` created by the redis_acl group's redeploy in that gap got
    CURRENT = roll-1 current, NEXT = roll-2 next, and failed QStash deliveries for ~1 s."""

    def signing_only(cp: CredentialPlan) -> bool:
        return native(cp) and cp.strategy is Strategy.QSTASH_SIGNING

    with open_case(tmp_path) as case:
        plan_path, _ = write_plan(case, signing_only)
        _fail_current_in_batches(case.sb)
        checked, violations = _watch_signing_env(case.sb)
        code = run(apply_argv(case, plan_path))
    assert code == 0
    assert sorted(set(checked)) == sorted(SIGNING_KEYS) and len(checked) >= 4  # both keys, both rolls
    assert violations == []
