"""``verify`` end to end on fakes: journal in, every check family out, evidence with times."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.config import Config
from keyroll.core.errors import AuthError, UsageError
from keyroll.core.model import (
    Confidence,
    Credential,
    CredentialKind,
    Form,
    Inventory,
    Location,
    LocationKind,
    Product,
)
from keyroll.core.secret import Secret
from keyroll.providers.factory import Providers
from keyroll.providers.vercel.models import Deployment, Project
from keyroll.verify.result import CheckCategory, CheckStatus
from keyroll.verify.run import VerifyOptions, verify
from tests.unit.report import report_samples as S

T0 = S.T0


class FakeRedis:
    async def command(self, url: str, token: Secret, *args: Any) -> Any:
        if token == S.NEW_REST:
            return "PONG"
        raise AuthError("Redis REST answered 401", service="redis", status=401)


class FakeQStash:
    async def check_token(self, token: Secret, *, url: str | None = None) -> bool:
        return token == S.NEW_QSTASH


def _dep(i: str, created: float, target: str | None = "production") -> Deployment:
    return Deployment(
        id=i, url=f"127.0.0.1:9/_d/{i}", target=target, readyState="READY", createdAt=int(created * 1000)
    )


class FakeVercel:
    def __init__(self, prod: dict[str, str] | None = None) -> None:
        self.prod = prod or {"prj_web": "dpl_web_new", "prj_api": "dpl_api_q"}
        self.deps = {
            "prj_web": [
                _dep("dpl_web_new", T0 + 1.6),
                _dep("dpl_web_prev", T0 + 1.65, target=None),
                _dep("dpl_web_old", T0 - 86400),
                _dep("dpl_web_prev_old", T0 - 500, target=None),
            ],
            "prj_api": [
                _dep("dpl_api_q", T0 + 7.7),
                _dep("dpl_api_new", T0 + 1.7),
                _dep("dpl_api_old", T0 - 86400),
            ],
        }

    async def get_project(self, id_or_name: str) -> Project:
        return Project(
            id=id_or_name, name=id_or_name[4:], targets={"production": {"id": self.prod[id_or_name]}}
        )

    async def list_deployments(self, project_id: str, **kw: Any) -> list[Deployment]:
        return list(self.deps[project_id])


def _after() -> Inventory:
    creds = (
        Credential(
            S.NEW_REST.fingerprint,
            Product.REDIS,
            CredentialKind.ACL_REST_TOKEN,
            endpoint=S.REDIS_URL,
            value=S.NEW_REST,
        ),
        Credential(S.NEW_QSTASH.fingerprint, Product.QSTASH, CredentialKind.QSTASH_TOKEN, value=S.NEW_QSTASH),
    )
    locs = (
        Location(
            LocationKind.VERCEL_ENV,
            S.NEW_REST.fingerprint,
            project_id="prj_web",
            env_id="env_w1",
            key="UPSTASH_REDIS_REST_TOKEN",
        ),
        Location(
            LocationKind.VERCEL_ENV,
            S.NEW_REST.fingerprint,
            project_id="prj_api",
            env_id="env_a1",
            key="UPSTASH_REDIS_REST_TOKEN",
            confidence=Confidence.PROBABLE,
            form=Form.UNKNOWN,
        ),
        Location(
            LocationKind.VERCEL_ENV,
            S.NEW_QSTASH.fingerprint,
            project_id="prj_api",
            env_id="env_a2",
            key="QSTASH_TOKEN",
        ),
        Location(
            LocationKind.GITHUB_SECRET,
            S.NEW_REST.fingerprint,
            repo="acme/web",
            secret_scope="repo",
            secret_name="UPSTASH_REDIS_REST_TOKEN",
            confidence=Confidence.PROBABLE,
            updated_at="2025-10-09T08:53:22Z",
        ),
    )
    return Inventory(creds, locs)


def _http(answer: dict[str, Any] | None = None, status: int = 200) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=answer or {"ok": True})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _providers() -> Providers:
    return Providers(config=Config(), vercel=FakeVercel(), redis=FakeRedis(), qstash=FakeQStash())  # type: ignore[arg-type]


async def test_complete_rotation_passes(tmp_path: Path) -> None:
    seen: list[Any] = []

    async def inventory_fn(providers: Providers, opts: Any) -> Inventory:
        seen.append(opts)
        return _after()

    journal = S.FakeJournal(redis_password=False)
    async with _http({"env": {"UPSTASH_REDIS_REST_TOKEN": S.NEW_REST.fingerprint}}) as http:
        result = await verify(
            _providers(),
            journal,
            VerifyOptions(paths=(Path("/tmp/nowhere"),)),
            inventory_fn=inventory_fn,
            http=http,
            clock=lambda: T0 + 100,
        )
    bad = [c for c in result.checks if c.status not in (CheckStatus.PASS, CheckStatus.WARN)]
    assert bad == [], [(c.id, c.title) for c in bad]
    assert result.passed and result.run_id == "run_1"
    assert result.credentials == (S.FP_REDIS, S.FP_QSTASH)
    cats = {c.category for c in result.checks}
    assert cats == set(CheckCategory) - {CheckCategory.RUN}  # nothing left unfinished in the journal
    # the fresh inventory looked for the old values everywhere
    (opts,) = seen
    assert {s.fingerprint for s in opts.extra_values} == {S.FP_REDIS, S.FP_QSTASH}
    assert Path("/tmp/nowhere") in opts.paths
    warn = {c.id for c in result.by_status(CheckStatus.WARN)}
    assert f"rollback:{S.FP_REDIS}:prj_web:candidates" in warn
    assert f"rollback:{S.FP_QSTASH}:prj_api:candidates" in warn
    assert any(i.startswith(f"history:{S.FP_REDIS}") for i in warn)
    assert f"freshness:{S.FP_REDIS}:prj_web:older" in warn
    fresh = next(c for c in result.checks if c.id == f"freshness:{S.FP_REDIS}:prj_web:dpl_web_prev")
    assert fresh.status is CheckStatus.PASS and any(S.NEW_REST.fingerprint in e.what for e in fresh.evidence)
    # every check carries evidence with a time (except the fixed hint-only ones)
    for c in result.checks:
        assert all(e.at for e in c.evidence), c.id


async def test_old_value_still_accepted_fails() -> None:
    class LenientRedis(FakeRedis):
        async def command(self, url: str, token: Secret, *args: Any) -> Any:
            return "PONG"

    p = _providers()
    p.redis = LenientRedis()

    async def inventory_fn(providers: Providers, opts: Any) -> Inventory:
        return _after()

    result = await verify(
        p,
        S.FakeJournal(redis_password=False),
        VerifyOptions(probe_deployments=False),
        inventory_fn=inventory_fn,
    )
    check = next(c for c in result.checks if c.id == f"old_rejected:{S.FP_REDIS}:{S.FP_REDIS}")
    assert check.status is CheckStatus.FAIL and "after the revoke" in check.title
    assert not result.passed


async def test_without_the_journal_key_values_come_from_the_fresh_inventory() -> None:
    async def inventory_fn(providers: Providers, opts: Any) -> Inventory:
        assert opts.extra_values == ()  # nothing could be decrypted
        return _after()

    result = await verify(
        _providers(),
        S.FakeJournal(with_key=False),
        VerifyOptions(probe_deployments=False),
        inventory_fn=inventory_fn,
    )
    by_id = {c.id: c for c in result.checks}
    assert by_id[f"new_accepted:{S.FP_REDIS}:{S.NEW_REST.fingerprint}"].status is CheckStatus.PASS
    old = by_id[f"old_rejected:{S.FP_REDIS}:{S.FP_REDIS}"]
    assert old.status is CheckStatus.UNKNOWN and "KEYROLL_JOURNAL_KEY" in old.hint
    assert not result.passed


async def test_stale_deployment_and_rollback_are_found() -> None:
    p = _providers()
    p.vercel = FakeVercel(prod={"prj_web": "dpl_web_old", "prj_api": "dpl_api_q"})  # someone rolled web back

    async def inventory_fn(providers: Providers, opts: Any) -> Inventory:
        return _after()

    async with _http(status=500) as http:
        result = await verify(
            p, S.FakeJournal(redis_password=False), VerifyOptions(), inventory_fn=inventory_fn, http=http
        )
    alias = next(c for c in result.checks if c.id == f"rollback:{S.FP_REDIS}:prj_web:alias")
    assert alias.status is CheckStatus.FAIL and "dpl_web_old" in alias.title
    api = next(c for c in result.checks if c.id == f"rollback:{S.FP_QSTASH}:prj_api:alias")
    assert api.status is CheckStatus.FAIL and "500" in api.title


async def test_unfinished_run_is_a_warning() -> None:
    async def inventory_fn(providers: Providers, opts: Any) -> Inventory:
        return _after()

    journal = S.FakeJournal(stop_after=5.5, redis_password=False)
    result = await verify(
        _providers(), journal, VerifyOptions(probe_deployments=False), inventory_fn=inventory_fn
    )
    runs = {c.credential: c for c in result.by_category(CheckCategory.RUN)}
    assert runs[S.FP_REDIS].status is CheckStatus.WARN and "reset default password" in runs[S.FP_REDIS].title
    assert "keyroll resume" in runs[S.FP_REDIS].hint
    # the old token was never revoked in this journal: the probe says so
    old = next(c for c in result.checks if c.id == f"old_rejected:{S.FP_REDIS}:{S.FP_REDIS}")
    assert old.status is CheckStatus.PASS  # the fake provider rejects it anyway; evidence beats the journal


async def test_selection_and_bad_input() -> None:
    async def inventory_fn(providers: Providers, opts: Any) -> Inventory:
        return _after()

    short = S.FP_QSTASH.removeprefix("sha256:")[:6]
    result = await verify(
        _providers(),
        S.FakeJournal(),
        VerifyOptions(credentials=(short,), probe_deployments=False),
        inventory_fn=inventory_fn,
    )
    assert result.credentials == (S.FP_QSTASH,)
    assert {c.credential for c in result.checks} == {S.FP_QSTASH}
    with pytest.raises(UsageError, match="not part of this run"):
        await verify(
            _providers(),
            S.FakeJournal(),
            VerifyOptions(credentials=("sha256:ffffffff",)),
            inventory_fn=inventory_fn,
        )
    with pytest.raises(UsageError, match="no run"):
        await verify(_providers(), S.FakeJournal(), VerifyOptions(run_id="run_9"), inventory_fn=inventory_fn)


async def test_inventory_failure_and_missing_clients_are_unknown_not_pass() -> None:
    from keyroll.core.errors import AuthError as Denied

    async def broken(providers: Providers, opts: Any) -> Inventory:
        raise Denied("Vercel answered 403", service="vercel", status=403)

    result = await verify(Providers(config=Config()), S.FakeJournal(), VerifyOptions(), inventory_fn=broken)
    assert not result.passed
    assert any("Vercel answered 403" in n for n in result.notes)
    assert any(
        c.status is CheckStatus.UNKNOWN and c.category is CheckCategory.FRESHNESS for c in result.checks
    )
    assert all(
        c.status is not CheckStatus.PASS for c in result.checks if c.category is CheckCategory.OLD_REJECTED
    )


async def test_inventory_mode_with_old_values() -> None:
    inv = _after()

    async def inventory_fn(providers: Providers, opts: Any) -> Inventory:
        return inv

    result = await verify(
        _providers(), inv, VerifyOptions(old_values=(S.OLD_REST,)), inventory_fn=inventory_fn
    )
    by_id = {c.id: c for c in result.checks}
    assert by_id[f"new_accepted:{S.NEW_REST.fingerprint}:{S.NEW_REST.fingerprint}"].status is CheckStatus.PASS
    assert any(i.startswith(f"old_rejected:{S.FP_REDIS}") for i in by_id)
    assert any("no journal" in n for n in result.notes)
    data = json.dumps([c.title for c in result.checks])
    assert S.OLD_REST.reveal() not in data
