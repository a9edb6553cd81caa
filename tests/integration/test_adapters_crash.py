"""A Postgres adapter rotation killed (SIGKILL) right after the mint and right after the revoke —
before their outcomes are journaled — then ``keyroll resume``: it reaches done, the re-run steps
are idempotent (same journaled password, second ``PASSWORD NULL``), and the load generator sees no
failed request across crash and resume."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from keyroll.adapters.interface import Verdict
from keyroll.cli.main import run
from keyroll.core.model import RunState
from keyroll.core.secret import Secret
from keyroll.core.serde import to_jsonable
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.rotate.plan_digest import seal
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox
from tests.integration.test_adapters_sandbox import BUILD, FLEET, _new_values, _probe
from tests.resilience.harness import PASSPHRASE, Case, resume_argv, run_subprocess

KEY = JournalKey.from_passphrase(Secret(PASSPHRASE))


@pytest.mark.parametrize("boundary", ["after:mint:{gid}/mint", "after:revoke:{gid}/revoke"])
def test_crash_then_resume_finishes_with_zero_failed_requests(tmp_path: Path, boundary: str) -> None:
    import asyncio

    from keyroll.config import load_config
    from keyroll.inventory import InventoryOptions, take_inventory
    from keyroll.providers.factory import open_providers
    from keyroll.rotate.planner import make_plan

    with Sandbox(tmp_path / "sb", fleet=FLEET, build_seconds=BUILD) as sb:
        env = {**sb.env(), "KEYROLL_JOURNAL": str(tmp_path / "journal.db"), "KEYROLL_JOURNAL_KEY": PASSPHRASE}
        env_file = tmp_path / "case.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
        os.chmod(env_file, 0o600)
        case = Case(sb, tmp_path, env_file, tmp_path / "journal.db")

        async def plan_it():  # type: ignore[no-untyped-def]
            async with open_providers(load_config(env_file)) as providers:
                inv = await take_inventory(providers, InventoryOptions())
            fp = next(c.fingerprint for c in inv.credentials if c.adapter == "postgres")
            return inv, make_plan(inv, credentials=[fp], build_seconds_estimate=BUILD)

        inv, plan = asyncio.run(plan_it())
        plan_path = tmp_path / "plan.json"
        plan_path.write_text(json.dumps(seal(to_jsonable(plan))))  # sealed like `keyroll plan --out`
        gid = plan.credentials[0].steps[0].id.split("/", 1)[0]
        argv = ["apply", str(plan_path), "--env-file", str(env_file), "--yes", "--health-path", "/", "--json"]
        with LoadGenerator(sb.world, rps=30, duration=600) as lg:
            proc = run_subprocess(case, argv, KEYROLL_CRASH_AT=boundary.format(gid=gid))
            assert proc.returncode == -signal.SIGKILL, proc.stderr[-500:]
            assert run(resume_argv(case)) == 0
            stats = lg.stop()
        assert stats["requests"] > 0 and stats["failed"] == 0, stats["failures"][:3]
        with Journal.open(case.journal, KEY) as j:
            run_id = j.latest_run().id  # type: ignore[union-attr]
            assert j.latest_run().state is RunState.DONE  # type: ignore[union-attr]
        cred = next(c for c in inv.credentials if c.adapter == "postgres")
        assert cred.value is not None
        new = _new_values(case.journal, run_id, gid, KEY)
        assert _probe(sb, cred, "shop", cred.value) is Verdict.REJECTED
        assert _probe(sb, cred, "shop_clone", new["password"]) is Verdict.ACCEPTED
