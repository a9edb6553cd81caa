"""``keyroll harden`` against sandbox fleets that plant each problem, and a clean one.

The planted fleet: project ``web`` (Next.js, only reads ``cache:*``) and project ``api``
(FastAPI, writes ``jobs:*``) share one Redis REST token; ``web`` also holds it in a variable that
targets Development and in ``.env.local``, and the database's read-only token in a
``NEXT_PUBLIC_`` variable and in a built asset; ``api`` has public routes without rate limits
and stores plaintext values.

The sandbox's app sends ``INCR`` with every Redis token and falls back to ``GET`` when the
credential may only read — what ``web``'s planted code does; a key outside the user's patterns
(``NOPERM`` on the key) still proves the credential works, as it would for the real app.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from keyroll.config import load_config
from keyroll.harden import HardenOptions, Rule, SourceSpec, analyze, analyze_context, apply_fixes
from keyroll.providers.factory import open_providers

pytest.importorskip("keyroll.sandbox.upstash")
pytest.importorskip("keyroll.sandbox.vercel")

from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox

JOURNAL_KEY = "harden-integration-journal-passphrase-0123456789"


@pytest.fixture(autouse=True)
def quiet_httpx() -> Any:
    """httpx logs every request URL at INFO. Env values (REST URLs included) travel as Secrets,
    so the canary treats a logged REST URL as a leak; the URLs are not secret, the log is muted."""
    import logging

    logger = logging.getLogger("httpx")
    old = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(old)


def planted_fleet() -> dict[str, Any]:
    url = {
        "key": "UPSTASH_REDIS_REST_URL",
        "value": "${redis:cache:rest_url}",
        "target": ["production", "preview", "development"],
    }
    return {
        "team": {"id": "team_sandbox", "slug": "acme"},
        "upstash": {"redis": [{"name": "cache"}]},
        "projects": [
            {
                "name": "web",
                "env": [
                    url,
                    {
                        "key": "UPSTASH_REDIS_REST_TOKEN",
                        "value": "${redis:cache:rest_token}",
                        "target": ["production", "preview", "development"],
                        "type": "encrypted",
                        "comment": "cache token",
                    },
                    {
                        "key": "NEXT_PUBLIC_UPSTASH_REDIS_REST_READ_ONLY_TOKEN",
                        "value": "${redis:cache:readonly_rest_token}",
                        "target": ["production", "preview"],
                        "type": "plain",
                    },
                    {
                        "key": "APP_REDIS_ACCESS",
                        "value": "read",
                        "target": ["production", "preview"],
                        "type": "plain",
                    },
                ],
                "deployments": [{"target": "production"}, {"target": "preview", "git_branch": "feat-a"}],
            },
            {
                "name": "api",
                "env": [
                    {**url, "target": ["production"]},
                    {
                        "key": "UPSTASH_REDIS_REST_TOKEN",
                        "value": "${redis:cache:rest_token}",
                        "target": ["production"],
                        "type": "sensitive",
                    },
                ],
                "deployments": [{"target": "production"}],
            },
        ],
    }


def clean_fleet() -> dict[str, Any]:
    return {
        "team": {"id": "team_sandbox", "slug": "acme"},
        "upstash": {"redis": [{"name": "solo"}]},
        "projects": [
            {
                "name": "shop",
                "env": [
                    {
                        "key": "UPSTASH_REDIS_REST_URL",
                        "value": "${redis:solo:rest_url}",
                        "target": ["production", "preview"],
                    },
                    {
                        "key": "UPSTASH_REDIS_REST_TOKEN",
                        "value": "${redis:solo:rest_token}",
                        "target": ["production", "preview"],
                        "type": "sensitive",
                    },
                ],
                "deployments": [{"target": "production"}],
            }
        ],
    }


WEB_LIB = """\
import { Redis } from "@upstash/redis";
export const redis = Redis.fromEnv();
"""
WEB_ROUTE = """\
import { redis } from "@/lib/redis";
import { ratelimit } from "@/lib/ratelimit";
export async function GET(req: Request) {
  const { success } = await ratelimit.limit("ip");
  if (!success) return new Response("slow down", { status: 429 });
  const id = new URL(req.url).searchParams.get("id");
  return Response.json(await redis.get(`cache:${id}`));
}
"""
WEB_RL = """\
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis";
export const ratelimit = new Ratelimit({ redis: new Redis({ url: process.env.RL_URL!, token: process.env.RL_TOKEN! }), limiter: Ratelimit.fixedWindow(5, "1 m") });
"""
API_MAIN = """\
from fastapi import FastAPI
from upstash_redis import Redis

redis = Redis.from_env()
app = FastAPI()


@app.post("/jobs/{job_id}")
def enqueue(job_id: str, body: dict):
    redis.set(f"jobs:{job_id}", str(body))
    redis.incr("jobs:count")
    return {"ok": True}


@app.get("/jobs/{job_id}")
def read(job_id: str):
    return redis.get(f"jobs:{job_id}")
"""
SHOP_MAIN = """\
from fastapi import Depends, FastAPI
from upstash_redis import Redis
from app.crypto import encrypt

redis = Redis.from_env()
app = FastAPI()


@app.post("/orders/{oid}", dependencies=[Depends(rate_limiter)])
def order(oid: str, body: dict):
    redis.set(f"orders:{oid}", encrypt(str(body)))
    return {"ok": True}
"""


def write_sources(root: Path, templates: dict[str, str]) -> dict[str, Path]:
    web, api = root / "web", root / "api"
    files = {
        web / "src/lib/redis.ts": WEB_LIB,
        web / "src/lib/ratelimit.ts": WEB_RL,
        web / "src/app/api/items/route.ts": WEB_ROUTE,
        web / ".env.local": f"UPSTASH_REDIS_REST_TOKEN={templates['redis:cache:rest_token']}\n",
        web / ".next/static/chunks/app-page.js": 'var t="'
        + templates["redis:cache:readonly_rest_token"]
        + '";\n',
        api / "app/main.py": API_MAIN,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return {"web": web, "api": api}


def secrets_of(sb: Sandbox) -> list[str]:
    """Template values that are credentials (URLs and hosts are not secret)."""
    return [v for k, v in sb.world.templates.items() if k.endswith(("token", "password", "redis_url"))]


def _config(sb: Sandbox, tmp_path: Path) -> Any:
    env = {**sb.env(), "KEYROLL_JOURNAL_KEY": JOURNAL_KEY, "KEYROLL_JOURNAL": str(tmp_path / "journal.db")}
    return load_config(None, environ=env)


def test_planted_fleet_raises_each_finding_with_evidence(tmp_path: Path, canary: Any) -> None:
    with Sandbox(tmp_path / "sb", fleet=planted_fleet(), build_seconds=0.2) as sb:
        canary.register(*secrets_of(sb))
        roots = write_sources(tmp_path / "src", sb.world.templates)
        options = HardenOptions(sources=tuple(SourceSpec(p) for p in roots.values()))

        async def go() -> Any:
            async with open_providers(_config(sb, tmp_path)) as providers:
                return await analyze(providers, options)

        result = asyncio.run(go())
    rules = Counter(f.rule for f in result.findings)
    assert rules[Rule.CLIENT_EXPOSURE] == 2  # the NEXT_PUBLIC_ var and the built asset
    assert rules[Rule.READ_ONLY_SUFFICES] == 1
    assert rules[Rule.SHARED_CREDENTIAL] == 1
    assert rules[Rule.NOT_SENSITIVE] == 1  # web's token (the public var is a client exposure instead)
    assert rules[Rule.PROD_IN_DEVELOPMENT] == 1
    assert rules[Rule.NO_RATE_LIMIT] == 1
    assert rules[Rule.NO_APP_ENCRYPTION] == 1
    by_rule = {f.rule: f for f in result.findings}
    ro = by_rule[Rule.READ_ONLY_SUFFICES]
    assert ro.project == "web" and ro.fixable_by_keyroll
    assert ro.details["acl_setuser"].endswith("~cache:* -@all +get")
    shared = by_rule[Rule.SHARED_CREDENTIAL]
    lines = {a["project"]: a["line"] for a in shared.details["acl"]}
    assert lines["api"].endswith("~jobs:* -@all +get +incr +set")
    exposure = {e.source for f in result.findings if f.rule is Rule.CLIENT_EXPOSURE for e in f.evidence}
    assert "file .next/static/chunks/app-page.js:1:8" in exposure
    dev = by_rule[Rule.PROD_IN_DEVELOPMENT]
    assert dev.details["local_files"] == [".env.local:1"]
    rl = by_rule[Rule.NO_RATE_LIMIT]
    assert rl.project == "api" and "upstash_ratelimit" in rl.details["snippet"]
    assert {e.source for e in rl.evidence} == {"file app/main.py:9", "file app/main.py:16"}
    for f in result.findings:  # evidence names keys and fingerprints, never values
        canary.check_text(repr(f), "finding")


def test_clean_fleet_has_no_findings(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "sb", fleet=clean_fleet(), build_seconds=0.2) as sb:
        shop = tmp_path / "src" / "shop"
        (shop / "app").mkdir(parents=True)
        (shop / "app" / "main.py").write_text(SHOP_MAIN)

        async def go() -> Any:
            async with open_providers(_config(sb, tmp_path)) as providers:
                return await analyze(providers, HardenOptions(sources=(SourceSpec(shop),)))

        result = asyncio.run(go())
    assert result.findings == ()
    assert result.sources["shop"]["redis_commands"] == ["set"]


def test_fix_moves_projects_with_zero_failed_requests(tmp_path: Path, canary: Any) -> None:
    with Sandbox(tmp_path / "sb", fleet=planted_fleet(), build_seconds=0.3) as sb:
        canary.register(*secrets_of(sb))
        canary.watch(tmp_path / "journal.db", tmp_path / "harden.db")
        roots = write_sources(tmp_path / "src", sb.world.templates)
        options = HardenOptions(
            sources=tuple(SourceSpec(p) for p in roots.values()),
            fix=True,
            yes=True,
            poll_interval_s=0.1,
            probe_path="/",
        )
        cfg = _config(sb, tmp_path)

        async def fix() -> Any:
            async with open_providers(cfg) as providers:
                ctx, result = await analyze_context(providers, options)
                return await apply_fixes(providers, ctx, result, options)

        async def again() -> Any:
            async with open_providers(cfg) as providers:
                return await analyze(providers, HardenOptions(sources=options.sources))

        with LoadGenerator(sb.world, rps=40, duration=60, qstash=False) as lg:
            import time

            time.sleep(0.5)
            fixed = asyncio.run(fix())
            time.sleep(0.5)
            stats = lg.stop()
        after = asyncio.run(again())
    assert stats["requests"] > 20
    assert stats["failed"] == 0, [
        (f.get("cause"), f.get("deployment"), f.get("status")) for f in stats["failures"][:5]
    ]
    outcomes = {o.finding_id: o for o in fixed.fixes}
    for f in fixed.findings:
        if f.rule in (Rule.READ_ONLY_SUFFICES, Rule.SHARED_CREDENTIAL, Rule.NOT_SENSITIVE):
            assert f.fixed, (f.title, outcomes[f.id].error)
    remaining = Counter(f.rule for f in after.findings)
    assert remaining[Rule.READ_ONLY_SUFFICES] == 0
    assert remaining[Rule.SHARED_CREDENTIAL] == 0
    assert remaining[Rule.NOT_SENSITIVE] == 0
    assert remaining[Rule.CLIENT_EXPOSURE] == 2  # manual: keyroll does not remove public vars
