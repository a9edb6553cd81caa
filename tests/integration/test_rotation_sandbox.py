"""The engine against the sandbox (real HTTP on loopback, real redis-server), with the load
generator running: overlap strategies record 0 failed requests, cutover failures fall inside
the measured window, and faults (429 storms, 5xx, partial failed[], ERROR builds, a
redis-server restart) end in done or a clean rollback."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.config import load_config
from keyroll.core.model import Inventory, Plan, RunState, Step, Strategy
from keyroll.core.secret import Secret
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.providers.factory import open_providers
from keyroll.rotate.engine import Engine
from keyroll.rotate.options import ApplyOptions, RunResult
from keyroll.rotate.planner import make_plan
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox
from tests.canary import forms as canary_forms

SCOPE = InventoryOptions(github_repos=("acme/web", "acme/api"), github_orgs=("acme",))
BUILD = 0.2


class AdminClicker:
    """The person who clicks "Reset Credentials" in the (sandbox) Upstash dashboard."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.url = f"{admin_url}/_sandbox/upstash/redis/{name}/reset"
        self.clicked = 0

    async def perform(self, step: Step, instructions: str) -> None:
        async with httpx.AsyncClient() as client:
            resp = await client.post(self.url)
            resp.raise_for_status()
        self.clicked += 1


def _only(plan: Plan, keep: Any) -> Plan:
    """Keep the credentials ``keep(cp)`` selects (dependencies on the others dropped)."""
    cps = [cp for cp in plan.credentials if keep(cp)]
    ids = {s.id for cp in cps for s in cp.steps}
    cps = [
        dataclasses.replace(
            cp,
            steps=tuple(
                dataclasses.replace(s, depends_on=tuple(d for d in s.depends_on if d in ids))
                for s in cp.steps
            ),
        )
        for cp in cps
    ]
    return dataclasses.replace(plan, credentials=tuple(cps))


def _mgmt(cp: Any) -> str:
    return str(cp.steps[0].params.get("group", {}).get("management", ""))


def _rotate(
    sb: Sandbox,
    journal_path: Path,
    key: JournalKey,
    select: Any,
    *,
    human: Any = None,
    rps: float = 40,
    **opts: Any,
) -> tuple[RunResult, dict[str, Any], Inventory, Plan]:
    cfg = load_config(None, environ=sb.env())

    async def run() -> tuple[RunResult, Inventory, Plan]:
        async with open_providers(cfg) as providers:
            inv = await take_inventory(providers, SCOPE)
            plan = _only(make_plan(inv, all_upstash=True, build_seconds_estimate=BUILD), select)
            options = ApplyOptions(**({"yes": True, "poll_interval_s": 0.05, "health_path": "/"} | opts))
            with Journal.open(journal_path, key, create=True) as journal:
                result = await Engine(providers, journal, options, human=human).apply(plan, inventory=inv)
            return result, inv, plan

    with LoadGenerator(sb.world, rps=rps, duration=120) as lg:
        result, inv, plan = asyncio.run(run())
        stats = lg.stop()
    return result, stats, inv, plan


def _probe(sb: Sandbox, url: str, token: Secret) -> int:
    return httpx.post(url, json=["PING"], headers={"Authorization": f"Bearer {token.reveal()}"}).status_code


@pytest.fixture(autouse=True)
def _quiet_url_logs(caplog: pytest.LogCaptureFixture) -> None:
    """httpx (INFO) and the retry logs of keyroll.providers.http (DEBUG) name request URLs. The
    sandbox's REST/QStash URLs are env-var values, which the Vercel client wraps in Secret (so the
    canary knows them) — but a URL is not a credential. Other loggers stay fully checked."""
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.INFO, logger="keyroll.providers.http")


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    (tmp_path / "jr").mkdir()
    return tmp_path / "jr" / "journal.db"


def _assert_journal_holds_no_value(path: Path, key: JournalKey, inv: Inventory, run_id: str) -> None:
    """No credential value — old (inventory) or new (journaled) — in any form in the journal files.

    (The canary's file watch would also flag the REST URLs in the plan: other components wrap
    every env value, URLs included, in a Secret.)
    """
    with Journal.open(path, key) as j:
        new = [j.get_secret(run_id, n).reveal() for n in j.secret_fingerprints(run_id)]
    values = [c.value.reveal() for c in inv.credentials if c.value is not None] + new
    blob = b"".join(p.read_bytes() for p in path.parent.iterdir()).decode("latin-1")
    for v in values:
        if len(v) >= 12:
            assert not any(f in blob for f in canary_forms(v)), "a credential value reached the journal"


def test_overlap_strategies_rotate_with_zero_failed_requests(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey
) -> None:
    with Sandbox(tmp_path / "sb", fleet="small", build_seconds=BUILD) as sb:
        overlap = {Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD, Strategy.QSTASH_SIGNING}
        result, stats, inv, plan = _rotate(
            sb, journal_path, journal_key, lambda cp: cp.strategy in overlap and _mgmt(cp) == "native"
        )
        assert result.state is RunState.DONE, result
        assert {c.strategy for c in result.credentials} == overlap
        assert stats["requests"] > 0 and stats["failed"] == 0, stats["failures"][:3]
        # every old value is dead at the provider
        for cp in plan.credentials:
            for fp in cp.steps[0].params["group"]["fingerprints"]:
                cred = inv.credential(fp)
                if cred is not None and cred.kind.value in (
                    "rest_token",
                    "readonly_rest_token",
                    "acl_rest_token",
                ):
                    assert _probe(sb, cred.endpoint, cred.value) == 401, cred.kind
        with Journal.open(journal_path, journal_key) as j:
            assert j.check_integrity() == []
        _assert_journal_holds_no_value(journal_path, journal_key, inv, result.run_id)


def test_integration_database_is_reset_by_a_person_and_resynced(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey
) -> None:
    with Sandbox(tmp_path / "sb", fleet="small", build_seconds=BUILD) as sb:
        clicker = AdminClicker(sb.urls["admin"], "kv")
        result, stats, inv, _ = _rotate(
            sb,
            journal_path,
            journal_key,
            lambda cp: cp.strategy is Strategy.REDIS_ACL and _mgmt(cp) == "vercel-integration",
            human=clicker,
        )
        assert result.state is RunState.DONE, result
        assert clicker.clicked == 1
        assert stats["failed"] == 0, stats["failures"][:3]
        old = next(
            c
            for c in inv.credentials
            if c.management.value == "vercel-integration" and c.kind.value == "rest_token"
        )
        assert _probe(sb, old.endpoint, old.value) == 401


def test_cutover_failures_stay_inside_the_measured_window(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey
) -> None:
    with Sandbox(tmp_path / "sb", fleet="small", build_seconds=BUILD) as sb:
        result, stats, _, plan = _rotate(
            sb,
            journal_path,
            journal_key,
            lambda cp: cp.strategy is Strategy.INDEX_RESET,
            accept_downtime=True,
            rps=80,
        )
        assert result.state is RunState.DONE, result
        with Journal.open(journal_path, journal_key) as j:
            records = j.step_records(result.run_id)
        windows = []
        for cp in plan.credentials:
            detail = records[next(s.id for s in cp.steps if s.params.get("cutover"))].detail
            windows.append((detail["window_start"], detail["window_end"]))
            assert 0 <= detail["window_s"] < 10 * BUILD + 2
        for f in stats["failures"]:
            assert any(a - 0.05 <= f["t"] <= b + 0.5 for a, b in windows), (f, windows)


def test_failed_build_rolls_back_and_the_apps_keep_serving(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey
) -> None:
    with Sandbox(tmp_path / "sb", fleet="small", build_seconds=BUILD, faults="error_builds=1.0") as sb:
        result, stats, inv, _ = _rotate(
            sb,
            journal_path,
            journal_key,
            lambda cp: cp.strategy is Strategy.REDIS_ACL and _mgmt(cp) == "native",
        )
        assert result.state is RunState.ROLLED_BACK, result
        assert stats["failed"] == 0, stats["failures"][:3]
        rest = next(
            c for c in inv.credentials if c.kind.value == "rest_token" and c.management.value == "native"
        )
        assert _probe(sb, rest.endpoint, rest.value) == 200  # the old credential was never revoked


def test_storms_5xx_partial_failures_and_a_redis_restart(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey
) -> None:
    faults = "storm=0.5,error_rate=0.05,timeout_rate=0.02,timeout_s=0.3,partial_rate=0.3,redis_restart_after=0.8,seed=7"
    with Sandbox(tmp_path / "sb", fleet="small", build_seconds=BUILD, faults=faults, rate_window_s=2.0) as sb:
        result, stats, _, _ = _rotate(
            sb,
            journal_path,
            journal_key,
            lambda cp: cp.strategy in (Strategy.REDIS_ACL, Strategy.QSTASH_SIGNING) and _mgmt(cp) == "native",
        )
        assert result.state is RunState.DONE, result
        # the only failed requests are the injected redis-server restart itself, never a credential
        causes = [f["cause"] for f in stats["failures"]]
        assert all("temporarily unavailable" in c for c in causes), causes
