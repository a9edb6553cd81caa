"""verify, audit and report against the sandbox after real rotations by the engine.

One sandbox (fleet ``small``) serves the module: a complete Redis ACL-overlap rotation and a
Vector index token cutover are journaled in one journal, a rotation of the integration-managed
database stops at its dashboard step (no one clicks) in another. Verify must pass the first,
fail the second with the old value still accepted, and catch a stale copy planted afterwards.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keyroll.audit.run import AuditOptions, audit
from keyroll.cli.report_formats import ReportFormatChoice
from keyroll.config import Config, load_config
from keyroll.core.model import CredentialKind, Inventory, Management, Product, RunState
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.inventory import options_from_config, take_inventory
from keyroll.journal.keys import JournalKey
from keyroll.journal.read import load_runlog
from keyroll.journal.store import Journal
from keyroll.providers.factory import open_providers
from keyroll.providers.vercel.models import EnvVarInput
from keyroll.report.build import build_report
from keyroll.report.model import ItemStatus
from keyroll.rotate.engine import Engine
from keyroll.rotate.options import ApplyOptions
from keyroll.rotate.planner import make_plan
from keyroll.verify.result import CheckCategory, CheckStatus
from keyroll.verify.run import VerifyOptions, verify
from tests import canary as canary_mod
from tests.sandbox_helpers import JOURNAL_PASSPHRASE, PUBLIC_TEMPLATES, register_template_secrets

pytest.importorskip("keyroll.sandbox.upstash")
pytest.importorskip("keyroll.sandbox.vercel")

from keyroll.sandbox.server import Sandbox


@dataclass
class World:
    sb: Sandbox
    cfg: Config
    journal_path: Path
    partial_path: Path
    inventory: Inventory
    redis_fp: str
    vector_fp: str
    kv_fp: str
    key: JournalKey


async def _rotate(cfg: Config, path: Path, key: JournalKey, inv: Inventory, fps: list[str]) -> Any:
    async with open_providers(cfg) as p:
        plan = make_plan(inv, credentials=fps, build_seconds_estimate=0.2)
        journal = Journal.open(path, key, create=True)
        try:
            engine = Engine(p, journal, ApplyOptions(yes=True, accept_downtime=True, poll_interval_s=0.05))
            return await engine.apply(plan, inventory=inv)
        finally:
            journal.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, journal_key: JournalKey) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("verify")
    with Sandbox(tmp / "sb", fleet="small", build_seconds=0.2) as sb:
        register_template_secrets(sb)
        env = {
            **sb.env(),
            "KEYROLL_JOURNAL": str(tmp / "journal.db"),
            "KEYROLL_JOURNAL_KEY": JOURNAL_PASSPHRASE,
        }
        cfg = load_config(None, environ=env)

        async def inventory() -> Inventory:
            async with open_providers(cfg) as p:
                return await take_inventory(p, options_from_config(cfg))

        inv = asyncio.run(inventory())

        def pick(product: Product, kind: CredentialKind, management: Management) -> str:
            return next(
                c.fingerprint
                for c in inv.credentials
                if c.product is product
                and c.kind is kind
                and c.management is management
                and (c.resource_id or management is Management.VERCEL_INTEGRATION)
            )

        w = World(
            sb,
            cfg,
            tmp / "journal.db",
            tmp / "partial.db",
            inv,
            pick(Product.REDIS, CredentialKind.REST_TOKEN, Management.NATIVE),
            pick(Product.VECTOR, CredentialKind.INDEX_TOKEN, Management.NATIVE),
            pick(Product.REDIS, CredentialKind.REST_TOKEN, Management.VERCEL_INTEGRATION),
            journal_key,
        )
        done = asyncio.run(_rotate(cfg, w.journal_path, journal_key, inv, [w.redis_fp, w.vector_fp]))
        assert done.state is RunState.DONE, done
        # the integration-managed database needs a dashboard click that nobody makes
        partial = asyncio.run(_rotate(cfg, w.partial_path, journal_key, inv, [w.kv_fp]))
        assert partial.state is not RunState.DONE
        yield w


def _verify(w: World, path: Path, **kw: Any) -> Any:
    async def go() -> Any:
        async with open_providers(w.cfg) as p:
            journal = Journal.open(path, w.key)
            try:
                return await verify(p, journal, VerifyOptions(**kw))
            finally:
                journal.close()

    return asyncio.run(go())


def test_complete_rotation_verifies(world: World) -> None:
    result = _verify(world, world.journal_path)
    failing = [(c.id, c.title) for c in result.checks if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)]
    assert failing == [] and result.passed
    by_cat = {cat: result.by_category(cat) for cat in CheckCategory}
    assert {c.credential for c in by_cat[CheckCategory.OLD_REJECTED]} == {world.redis_fp, world.vector_fp}
    old = {c.id: c for c in by_cat[CheckCategory.OLD_REJECTED]}
    assert "401" in old[f"old_rejected:{world.redis_fp}:{world.redis_fp}"].evidence[0].what
    # the old default password is rejected over TCP too (real redis-server ACL)
    assert any("WRONGPASS" in c.evidence[0].what for c in old.values())
    assert any("→ OK" in c.evidence[0].what for c in by_cat[CheckCategory.NEW_ACCEPTED])
    # serving deployments were built after the writes and report the new fingerprints
    fresh = [c for c in by_cat[CheckCategory.FRESHNESS] if c.status is CheckStatus.PASS]
    assert fresh and any("uses sha256:" in e.what for c in fresh for e in c.evidence)
    assert all(
        c.status is CheckStatus.PASS for c in by_cat[CheckCategory.ROLLBACK] if c.id.endswith(":alias")
    )
    assert any(c.status is CheckStatus.WARN for c in by_cat[CheckCategory.ROLLBACK])
    # every check rests on evidence observed during this run or journaled during the rotation
    now = time.time()
    assert all(0 < e.at <= now for c in result.checks for e in c.evidence)


def test_report_and_audit_for_the_complete_run(
    world: World, tmp_path: Path, canary: canary_mod.Canary
) -> None:
    async def go() -> Any:
        async with open_providers(world.cfg) as p:
            journal = Journal.open(world.journal_path, world.key)
            try:
                log = load_runlog(journal)
                vr = await verify(p, journal, VerifyOptions(paths=(tmp_path,)))
                # the partial run (another journal file) wrote the KV vars: audit matches keyroll's
                # own writes by the ids each run journaled, so it needs both runs
                partial = Journal.open(world.partial_path, world.key)
                try:
                    ar = await audit(p, AuditOptions(), [log, load_runlog(partial)])
                finally:
                    partial.close()
            finally:
                journal.close()
            return log, vr, ar

    log, vr, ar = asyncio.run(go())
    assert "vercel" in ar.sources and "upstash" in ar.sources
    assert ar.flagged == ()  # every write was keyroll's own, every read by the identity keyroll ran as
    assert any(e.own and e.category.value == "env_change" for e in ar.events)
    report = build_report(
        log, vr, ar, now=time.time(), tool_version="test", journal_path=str(world.journal_path)
    )
    items = {i.id: i.status for i in report.checklist}
    assert items["old_rejected"] is ItemStatus.DONE and items["redeploy_all"] is ItemStatus.DONE
    assert items["review_logs"] is ItemStatus.DONE and items["replace_vercel"] is ItemStatus.DONE
    assert report.summary.status == "complete", [(i.id, i.missing) for i in report.checklist]
    by_fp = {c.fingerprint: c for c in report.credentials}
    assert by_fp[world.redis_fp].outage_s == 0.0
    assert (
        by_fp[world.vector_fp].outage_basis == "measured" and 0 < (by_fp[world.vector_fp].outage_s or 0) < 30
    )
    assert len(report.windows) == 1 and report.windows[0].credential == world.vector_fp
    for choice in ReportFormatChoice:
        out = tmp_path / f"report{choice.to_format().suffix}"
        out.write_text(choice.to_format().format(report), encoding="utf-8")
    canary.watch(tmp_path)
    # the journal holds endpoints (REST URLs are read as Secrets by inventory, hence canaries) but no credential
    public = {
        fingerprint_of(v)
        for k, v in world.sb.world.templates.items()
        if k.rsplit(":", 1)[-1] in PUBLIC_TEMPLATES
    }
    hits = canary_mod.find(world.journal_path.read_bytes().decode("utf-8", "replace"))
    assert set(hits) <= public


def test_partial_rotation_is_not_verified(world: World) -> None:
    result = _verify(world, world.partial_path)
    assert not result.passed
    old = [c for c in result.by_category(CheckCategory.OLD_REJECTED) if c.id.endswith(f":{world.kv_fp}")]
    assert old and old[0].status is CheckStatus.FAIL and "still ACCEPTED" in old[0].title

    journal = Journal.open(world.partial_path, None)  # no key: entries are readable anyway
    try:
        log = load_runlog(journal)
    finally:
        journal.close()
    report = build_report(log, result, None, now=time.time())
    items = {i.id: i for i in report.checklist}
    assert items["rotate_upstash"].status is ItemStatus.NOT_DONE
    assert any("dashboard step" in m for m in items["rotate_upstash"].missing), items[
        "rotate_upstash"
    ].missing
    assert report.summary.status == "incomplete"
    assert [c.state for c in report.credentials] == ["partial"]


def test_stale_copy_planted_after_the_rotation_fails(world: World) -> None:
    old = next(v for k, v in world.sb.world.templates.items() if k == "redis:cache:rest_token")
    project = next(loc.project_id for loc in world.inventory.locations if loc.project_name == "api")

    async def plant(add: bool) -> None:
        async with open_providers(world.cfg) as p:
            assert p.vercel is not None
            if add:
                item = EnvVarInput(key="LEGACY_CACHE_TOKEN", value=Secret(old), target=["development"])
                await p.vercel.upsert_env(project, [item])
            else:
                for var in await p.vercel.list_env(project):
                    if var.key == "LEGACY_CACHE_TOKEN":
                        await p.vercel.delete_env(project, var.id)

    asyncio.run(plant(True))
    try:
        result = _verify(world, world.journal_path, credentials=(world.redis_fp,), probe_deployments=False)
    finally:
        asyncio.run(plant(False))
    stale = [c for c in result.by_category(CheckCategory.STALE) if c.status is CheckStatus.FAIL]
    assert stale and "LEGACY_CACHE_TOKEN" in stale[0].title and stale[0].project_id == project
    assert not result.passed
