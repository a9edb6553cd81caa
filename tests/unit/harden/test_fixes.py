"""Fixer: credential protection, move planning (read-only first, no project moved twice), dry runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from keyroll.config import load_config
from keyroll.core.secret import Secret
from keyroll.harden.analysis.model import CallSite, KeyShape, SourceAnalysis
from keyroll.harden.checks import run_checks
from keyroll.harden.findings import Rule
from keyroll.harden.fixes import Fixer
from keyroll.harden.run import HardenOptions
from keyroll.providers.factory import Providers
from tests.unit.harden.test_checks import TOKEN, cred, ctx, env


class FakeDeveloper:
    def __init__(self) -> None:
        self.protected = False
        self.calls: list[tuple[str, bool]] = []

    async def set_credential_protection(self, database_id: str, enabled: bool) -> None:
        self.calls.append((database_id, enabled))
        self.protected = enabled

    async def get_redis(self, database_id: str) -> Any:
        creds = {} if self.protected else {"password": Secret("p" * 24)}
        return SimpleNamespace(
            database_id=database_id,
            database_name="cache",
            endpoint="",
            model_extra={"prod_pack_enabled": True},
            **creds,
        )


def _providers(tmp_path: Path, **kw: Any) -> Providers:
    cfg = load_config(
        None, environ={"KEYROLL_JOURNAL": str(tmp_path / "j.db"), "KEYROLL_JOURNAL_KEY": "k" * 40}
    )
    return Providers(config=cfg, **kw)


async def test_credential_protection_is_manual_with_console_steps(tmp_path: Path) -> None:
    from keyroll.harden.context import DatabaseFacts

    c = ctx([], [])
    c.databases = [DatabaseFacts("db_1", "cache", credential_protection=False, protection_supported=True)]
    (finding,) = run_checks(c)
    assert not finding.fixable_by_keyroll  # no Developer API endpoint exists for it
    assert "Upstash console" in finding.fix and "cache" in finding.fix
    dev = FakeDeveloper()
    fixer = Fixer(_providers(tmp_path, upstash=dev), c, HardenOptions(fix=True, yes=True), progress=_Null())  # type: ignore[arg-type]
    assert await fixer.run([finding]) == []
    assert dev.calls == []


def test_moves_are_planned_once_per_project(tmp_path: Path) -> None:
    c = ctx(
        [env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN"), env(TOKEN, "api", "UPSTASH_REDIS_REST_TOKEN")],
        [cred(TOKEN)],
    )
    reads = SourceAnalysis(root="/w")
    reads.calls.append(
        CallSite("a.ts", 1, "get", (KeyShape("cache:"),), client_env=("UPSTASH_REDIS_REST_TOKEN",))
    )
    writes = SourceAnalysis(root="/a")
    writes.calls.append(CallSite("b.py", 1, "set", (KeyShape("jobs:"),)))
    c.projects["prj_web"].analysis = reads
    c.projects["prj_api"].analysis = writes
    findings = [f for f in run_checks(c) if f.rule in (Rule.READ_ONLY_SUFFICES, Rule.SHARED_CREDENTIAL)]
    assert {f.rule for f in findings} == {Rule.READ_ONLY_SUFFICES, Rule.SHARED_CREDENTIAL}
    plan = Fixer(_providers(tmp_path), c, HardenOptions(), progress=_Null()).plan_moves(findings)  # type: ignore[arg-type]
    users = sorted(m.acl.user for moves in plan.values() for m in moves)
    assert users == ["svc-api", "svc-web-ro"]  # web's read-only move also takes it off the shared token


def test_calls_through_other_clients_do_not_count(tmp_path: Path) -> None:
    """A write through a client built from other variables (a rate limiter's own Redis) is not web's."""
    c = ctx([env(TOKEN, "web", "UPSTASH_REDIS_REST_TOKEN")], [cred(TOKEN)])
    a = SourceAnalysis(root="/w")
    a.calls.append(
        CallSite("a.ts", 1, "get", (KeyShape("cache:"),), client_env=("UPSTASH_REDIS_REST_TOKEN",))
    )
    a.calls.append(
        CallSite("rl.ts", 1, "evalsha", (KeyShape("rl"),), via="@upstash/ratelimit", client_env=("RL_TOKEN",))
    )
    c.projects["prj_web"].analysis = a
    (f,) = [f for f in run_checks(c) if f.rule is Rule.READ_ONLY_SUFFICES]
    assert f.details["commands"] == ["get"]
    a.calls.append(CallSite("x.ts", 1, "set", (KeyShape("x:"),)))  # unknown client: may be web's
    assert not [f for f in run_checks(c) if f.rule is Rule.READ_ONLY_SUFFICES]


class _Null:
    def task(self, name: str, total: int | None = None) -> str:
        return name

    def advance(self, task_id: str, n: int = 1, *, total: int | None = None) -> None: ...

    def finish(self, task_id: str) -> None: ...

    def note(self, message: str) -> None: ...
