"""The Postgres and Neon adapters against the sandbox's real PostgreSQL server (and the emulated
Neon API), under load: inventory finds the database URLs, the ``adapter`` strategy rotates them by
alternating login roles with 0 failed requests, and the old password is dead at the server."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from keyroll.adapters.interface import AdapterContext, CredentialRef, Verdict
from keyroll.adapters.registry import get_registry
from keyroll.cli.main import run
from keyroll.config import load_config
from keyroll.core.model import Credential, Inventory, Plan, RunState, Strategy
from keyroll.core.secret import Secret
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.providers.factory import open_providers
from keyroll.rotate.engine import Engine
from keyroll.rotate.options import ApplyOptions, RunResult
from keyroll.rotate.planner import make_plan
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.postgres.server import PostgresUnavailable, find_postgres_bin
from keyroll.sandbox.server import Sandbox
from tests.canary import forms as canary_forms
from tests.sandbox_helpers import JOURNAL_PASSPHRASE

try:
    find_postgres_bin()
except PostgresUnavailable:  # pragma: no cover - CI installs postgresql (.ci/run); a skip there would hide it
    if os.environ.get("CI"):
        raise
    pytest.skip(
        "PostgreSQL server binaries are not installed (apt-get install -y postgresql)",
        allow_module_level=True,
    )

BUILD = 0.2

FLEET: dict[str, Any] = {
    "name": "databases",
    "postgres": [{"name": "shop"}],
    "neon": [{"name": "web"}],
    "projects": [
        {
            "name": "shop",
            "env": [
                {"key": "DATABASE_URL", "value": "${postgres:shop:url}", "target": ["production"]},
                {
                    "key": "DATABASE_URL",
                    "value": "${postgres:shop:url}?application_name=preview",
                    "target": ["preview"],
                },
            ],
            "deployments": [{"target": "production"}, {"target": "preview", "git_branch": "main"}],
        },
        {
            "name": "admin",
            "env": [{"key": "POSTGRES_URL", "value": "${postgres:shop:url}", "target": ["production"]}],
            "deployments": [{"target": "production"}],
        },
        {
            # the env vars the Neon integration writes: pooled and direct URLs of one role
            "name": "web",
            "env": [
                {"key": "DATABASE_URL", "value": "${neon:web:url}", "target": ["production", "preview"]},
                {
                    "key": "DATABASE_URL_UNPOOLED",
                    "value": "${neon:web:url_unpooled}",
                    "target": ["production", "preview"],
                },
                # libpq's variables (node-postgres reads them): the login name sits next to the password
                {"key": "PGHOST", "value": "${neon:web:host}", "target": ["production"]},
                {"key": "PGHOSTADDR", "value": "127.0.0.1", "target": ["production"]},
                {"key": "PGPORT", "value": "${neon:web:port}", "target": ["production"]},
                {"key": "PGDATABASE", "value": "${neon:web:database}", "target": ["production"]},
                {"key": "PGUSER", "value": "${neon:web:user}", "target": ["production"]},
                {"key": "PGPASSWORD", "value": "${neon:web:password}", "target": ["production"]},
            ],
            "deployments": [{"target": "production"}, {"target": "preview", "git_branch": "dev"}],
        },
    ],
}


@pytest.fixture(autouse=True)
def _quiet_url_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.INFO, logger="keyroll.providers.http")


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    (tmp_path / "jr").mkdir()
    return tmp_path / "jr" / "journal.db"


def _rotate(
    sb: Sandbox, journal_path: Path, key: JournalKey, adapter: str, *, rps: float = 40
) -> tuple[RunResult, dict[str, Any], Inventory, Plan]:
    cfg = load_config(None, environ=sb.env())

    async def run() -> tuple[RunResult, Inventory, Plan]:
        async with open_providers(cfg) as providers:
            inv = await take_inventory(providers, InventoryOptions())
            fps = [c.fingerprint for c in inv.credentials if c.adapter == adapter]
            assert len(fps) == 1, [(c.adapter, c.fingerprint) for c in inv.credentials]
            plan = make_plan(inv, credentials=fps, build_seconds_estimate=BUILD)
            options = ApplyOptions(yes=True, poll_interval_s=0.05, health_path="/")
            with Journal.open(journal_path, key, create=True) as journal:
                result = await Engine(providers, journal, options).apply(plan, inventory=inv)
            return result, inv, plan

    with LoadGenerator(sb.world, rps=rps, duration=120) as lg:
        result, inv, plan = asyncio.run(run())
        stats = lg.stop()
    return result, stats, inv, plan


def _probe(sb: Sandbox, cred: Credential, user: str, secret: Secret) -> Verdict:
    adapter = get_registry().get(cred.adapter)
    ctx = AdapterContext(settings={k: Secret(v) for k, v in sb.env().items()})
    ref = CredentialRef(cred.adapter, cred.adapter_kind, secret, principal=user, endpoint=cred.endpoint)
    return asyncio.run(adapter.probe(ref, ctx)).verdict


def _new_values(journal_path: Path, run_id: str, gid: str, key: JournalKey) -> dict[str, Secret]:
    with Journal.open(journal_path, key) as j:
        names = [n for n in j.secret_fingerprints(run_id) if n.startswith(f"{gid}:new:")]
        return {n.rsplit(":", 1)[1]: j.get_secret(run_id, n) for n in names}


def _assert_journal_holds_no_value(path: Path, values: list[str]) -> None:
    blob = b"".join(p.read_bytes() for p in path.parent.iterdir()).decode("latin-1")
    for v in values:
        assert not any(f in blob for f in canary_forms(v)), "a credential value reached the journal"


@pytest.mark.parametrize(
    ("adapter", "user", "copies"),
    [("postgres", "shop", 3), ("neon", "neondb_owner", 4)],
)
def test_database_rotates_by_alternating_roles_with_zero_failed_requests(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey, adapter: str, user: str, copies: int
) -> None:
    with Sandbox(tmp_path / "sb", fleet=FLEET, build_seconds=BUILD) as sb:
        result, stats, inv, plan = _rotate(sb, journal_path, journal_key, adapter)
        assert result.state is RunState.DONE, result
        assert [cp.strategy for cp in plan.credentials] == [Strategy.ADAPTER]
        assert stats["requests"] > 20 and stats["failed"] == 0, stats["failures"][:3]
        cred = next(c for c in inv.credentials if c.adapter == adapter)
        assert cred.acl_user == user and cred.value is not None
        assert (
            len([loc for loc in inv.locations_of(cred.fingerprint) if loc.kind.value == "vercel_env"])
            == copies
        )
        gid = plan.credentials[0].steps[0].id.split("/", 1)[0]
        new = _new_values(journal_path, result.run_id, gid, journal_key)
        assert new["username"].reveal() == f"{user}_clone"
        # the old login is refused by the server, the new one (the clone) works
        assert _probe(sb, cred, user, cred.value) is Verdict.REJECTED
        assert _probe(sb, cred, f"{user}_clone", new["password"]) is Verdict.ACCEPTED
        # every serving deployment now logs in as the clone (their answers name the new URL's fingerprint)
        env_now = {
            d["project_name"]: d["env"]
            for d in sb.world.hooks["vercel.serving_deployments"]()
            if d.get("env")
        }
        urls = [v for env in env_now.values() for v in env.values() if v.startswith("postgresql://")]
        mine = [u for u in urls if f"{user}_clone:" in u]
        assert mine and not any(f"{user}:" in u for u in urls), "a deployment still holds the old login"
        if adapter == "neon":  # the login-name var moved with the password
            logins = [loc for loc in inv.locations_of(cred.fingerprint) if loc.form.value == "login"]
            assert [loc.key for loc in logins] == ["PGUSER"]
            prod = next(
                d["env"]
                for d in sb.world.hooks["vercel.serving_deployments"]()
                if d["project_name"] == "web" and d["target"] == "production"
            )
            assert prod["PGUSER"] == f"{user}_clone"
            assert prod["PGPASSWORD"] == new["password"].reveal()
        _assert_journal_holds_no_value(journal_path, [cred.value.reveal(), new["password"].reveal()])
        # `keyroll verify` agrees: new login accepted, old one rejected, deployments fresh, nothing stale
        env_file = tmp_path / "verify.env"
        env_file.write_text(
            "".join(f"{k}={v}\n" for k, v in sorted(sb.env().items()))
            + f"KEYROLL_JOURNAL={journal_path}\nKEYROLL_JOURNAL_KEY={JOURNAL_PASSPHRASE}\n"
        )
        assert run(["verify", "--env-file", str(env_file), "--json"]) == 0
        if adapter == "neon":  # the role API did the work: clone created, then the old role reset
            calls = [
                (m, p.rsplit("/", 2)[-1]) for m, p in sb.world.hooks["neon.state"]().calls if m == "POST"
            ]
            assert calls == [("POST", "roles"), ("POST", "reset_password")], calls


def test_second_rotation_alternates_back_to_the_original_role(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey
) -> None:
    with Sandbox(tmp_path / "sb", fleet=FLEET, build_seconds=BUILD) as sb:
        first, _, _, _ = _rotate(sb, journal_path, journal_key, "postgres", rps=20)
        assert first.state is RunState.DONE, first
        second, stats, inv2, plan = _rotate(
            sb, tmp_path / "jr" / "second.db", journal_key, "postgres", rps=20
        )
        assert second.state is RunState.DONE, second
        assert stats["failed"] == 0, stats["failures"][:3]
        before = next(c for c in inv2.credentials if c.adapter == "postgres")
        assert before.acl_user == "shop_clone"
        gid = plan.credentials[0].steps[0].id.split("/", 1)[0]
        new = _new_values(tmp_path / "jr" / "second.db", second.run_id, gid, journal_key)
        assert new["username"].reveal() == "shop"  # back to the original role
        assert before.value is not None
        assert _probe(sb, before, "shop_clone", before.value) is Verdict.REJECTED
        assert _probe(sb, before, "shop", new["password"]) is Verdict.ACCEPTED


def test_failed_build_rolls_back_and_the_minted_login_is_withdrawn(
    tmp_path: Path, journal_path: Path, journal_key: JournalKey
) -> None:
    with Sandbox(tmp_path / "sb", fleet=FLEET, build_seconds=BUILD, faults="error_builds=1.0") as sb:
        result, stats, inv, plan = _rotate(sb, journal_path, journal_key, "postgres", rps=20)
        assert result.state is RunState.ROLLED_BACK, result
        assert stats["requests"] > 0 and stats["failed"] == 0, stats["failures"][:3]
        cred = next(c for c in inv.credentials if c.adapter == "postgres")
        assert cred.value is not None
        assert _probe(sb, cred, "shop", cred.value) is Verdict.ACCEPTED  # never revoked
        gid = plan.credentials[0].steps[0].id.split("/", 1)[0]
        new = _new_values(journal_path, result.run_id, gid, journal_key)
        assert _probe(sb, cred, "shop_clone", new["password"]) is Verdict.REJECTED  # undo_mint
