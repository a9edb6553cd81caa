"""The emulated GitHub Actions secrets API, driven through keyroll's GitHubClient over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.config import load_config
from keyroll.core.errors import AuthError, NotFoundError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.factory import github_client
from keyroll.providers.github import GitHubClient, SecretScope
from keyroll.providers.http import RetryPolicy
from keyroll.sandbox.github import stored_secret
from keyroll.sandbox.server import Sandbox

REPO = SecretScope(kind="repo", repo="acme/web")
ENV = SecretScope(kind="env", repo="acme/web", environment="production")
ORG = SecretScope(kind="org", org="acme")
TEMPLATES = {
    "redis:cache:rest_token": "fixed-redis-token-0001",
    "redis:cache:rest_url": "https://cache.example",
    "qstash:token": "fixed-qstash-token-0002",
}


def fleet(scopes: list[str] | None = None) -> dict[str, Any]:
    return {
        "upstash": {"redis": [{"name": "cache"}], "qstash": {}},
        "projects": [{"name": "web", "repo": "acme/web"}],
        "github": {
            "repos": [
                {
                    "name": "acme/web",
                    "secrets": [
                        {"name": "UPSTASH_REDIS_REST_TOKEN", "value": "${redis:cache:rest_token}"},
                        {"name": "UPSTASH_REDIS_REST_URL", "value": "${redis:cache:rest_url}"},
                    ],
                    "environments": {
                        "production": [{"name": "QSTASH_TOKEN", "value": "${qstash:token}"}],
                        "preview": [],
                    },
                }
            ],
            "orgs": [
                {
                    "name": "acme",
                    "secrets": [{"name": "ORG_REDIS_TOKEN", "value": "${redis:cache:rest_token}"}],
                }
            ],
            **({"token_scopes": scopes} if scopes is not None else {}),
        },
    }


def make(path: Path, **kw: Any) -> Sandbox:
    kw.setdefault("fleet", fleet())
    return Sandbox(path, services=("github",), templates=TEMPLATES, **kw)


def client(sb: Sandbox) -> GitHubClient:
    return github_client(
        load_config(None, environ=sb.env()), retry=RetryPolicy(base_delay=0.02, max_delay=0.2)
    )


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with make(tmp_path_factory.mktemp("github")) as sandbox:
        yield sandbox


async def test_lists_scopes_and_secret_names(sb: Sandbox) -> None:
    c = client(sb)
    try:
        assert await c.list_environments("acme/web") == ["preview", "production"]
        assert [m.name for m in await c.list_secrets(REPO)] == [
            "UPSTASH_REDIS_REST_TOKEN",
            "UPSTASH_REDIS_REST_URL",
        ]
        assert [m.name for m in await c.list_secrets(ENV)] == ["QSTASH_TOKEN"]
        org = await c.list_secrets(ORG)
        assert [(m.name, m.visibility) for m in org] == [("ORG_REDIS_TOKEN", "all")]
        assert all(m.updated_at.endswith("Z") for m in org)
        login, scopes = await c.get_user()
        assert login == "sandbox-bot" and "admin:org" in scopes
        assert (
            stored_secret(sb.world, "QSTASH_TOKEN", repo="acme/web", environment="production")
            == TEMPLATES["qstash:token"]
        )
        with pytest.raises(NotFoundError):
            await c.list_secrets(SecretScope(kind="repo", repo="acme/ghost"))
    finally:
        await c.aclose()


async def test_put_update_delete_round_trip(sb: Sandbox) -> None:
    c = client(sb)
    try:
        await c.put_secret(REPO, "UPSTASH_REDIS_REST_TOKEN", Secret("rotated-redis-token-0003"))
        assert (
            stored_secret(sb.world, "UPSTASH_REDIS_REST_TOKEN", repo="acme/web") == "rotated-redis-token-0003"
        )
        await c.put_secret(ENV, "NEW_ENV_SECRET", Secret("new-env-secret-value-4"))
        assert (
            stored_secret(sb.world, "NEW_ENV_SECRET", repo="acme/web", environment="production")
            == "new-env-secret-value-4"
        )
        await c.put_secret(ORG, "ORG_REDIS_TOKEN", Secret("rotated-org-token-0005"))
        assert stored_secret(sb.world, "ORG_REDIS_TOKEN", org="acme") == "rotated-org-token-0005"
        org = {m.name: m for m in await c.list_secrets(ORG)}
        assert org["ORG_REDIS_TOKEN"].visibility == "all", "an update keeps the org secret's visibility"
        await c.delete_secret(ENV, "NEW_ENV_SECRET")
        assert stored_secret(sb.world, "NEW_ENV_SECRET", repo="acme/web", environment="production") is None
        with pytest.raises(NotFoundError):
            await c.delete_secret(ENV, "NEW_ENV_SECRET")
        with pytest.raises(ProviderError) as bad:
            await c.put_secret(REPO, "GITHUB_NOPE", Secret("value-for-a-bad-name"))
        assert bad.value.status == 422 and "value-for-a-bad-name" not in bad.value.message
    finally:
        await c.aclose()


def test_put_status_codes_and_raw_errors(sb: Sandbox) -> None:
    import base64

    from nacl.public import PublicKey, SealedBox

    env = sb.env()
    headers = {"Authorization": f"token {env['GITHUB_TOKEN']}"}
    base = env["KEYROLL_GITHUB_API_URL"]
    key = httpx.get(f"{base}/repos/acme/web/actions/secrets/public-key", headers=headers).json()
    sealed = base64.b64encode(
        SealedBox(PublicKey(base64.b64decode(key["key"]))).encrypt(b"raw-put-value-0006")
    ).decode()
    body = {"encrypted_value": sealed, "key_id": key["key_id"]}
    assert (
        httpx.put(f"{base}/repos/acme/web/actions/secrets/RAW_ONE", headers=headers, json=body).status_code
        == 201
    )
    assert (
        httpx.put(f"{base}/repos/acme/web/actions/secrets/RAW_ONE", headers=headers, json=body).status_code
        == 204
    )
    r = httpx.put(
        f"{base}/repos/acme/web/actions/secrets/RAW_ONE", headers=headers, json={**body, "key_id": "1"}
    )
    assert r.status_code == 422 and r.json()["message"] == "Validation Failed"
    r = httpx.put(f"{base}/repos/acme/web/actions/secrets/RAW_ONE", headers=headers, content=b"{nope")
    assert r.status_code == 400 and r.json()["message"] == "Problems parsing JSON"
    r = httpx.put(f"{base}/orgs/acme/actions/secrets/NEEDS_VIS", headers=headers, json=body)
    assert r.status_code == 422, "org secrets need a visibility"
    r = httpx.get(f"{base}/repos/acme/web/actions/secrets")
    assert r.status_code == 401 and r.json()["message"] == "Requires authentication"
    assert "documentation_url" in r.json()
    r = httpx.get(f"{base}/repos/acme/web/actions/secrets", headers={"Authorization": "Bearer bad"})
    assert r.status_code == 401 and r.json()["message"] == "Bad credentials"
    r = httpx.get(f"{base}/repos/acme/web/actions/secrets", headers=headers, params={"per_page": 1})
    assert r.json()["total_count"] >= 2 and len(r.json()["secrets"]) == 1
    assert 'rel="next"' in r.headers["link"] and r.headers["x-oauth-scopes"]
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(r.headers)


def test_missing_org_scope_is_an_auth_error(tmp_path: Path) -> None:
    with make(tmp_path, fleet=fleet(scopes=["repo"])) as sandbox:

        async def go() -> None:
            c = client(sandbox)
            try:
                assert await c.list_secrets(REPO)
                await c.list_secrets(ORG)
            finally:
                await c.aclose()

        with pytest.raises(AuthError, match="org:acme secrets") as info:
            asyncio.run(go())
        assert "admin:org" in (info.value.hint or "")


def test_storm_and_errors_are_retried(tmp_path: Path) -> None:
    with make(tmp_path, faults="storm=1,error_rate=0.3,seed=5") as sandbox:

        async def go() -> int:
            c = client(sandbox)
            try:
                for i in range(4):
                    await c.put_secret(REPO, f"RETRIED_{i}", Secret(f"retried-secret-value-{i}"))
                return c.api.total_calls
            finally:
                await c.aclose()

        calls = asyncio.run(go())
        assert calls > 5
        assert all(
            stored_secret(sandbox.world, f"RETRIED_{i}", repo="acme/web") == f"retried-secret-value-{i}"
            for i in range(4)
        )
