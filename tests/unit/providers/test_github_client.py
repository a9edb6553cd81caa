"""GitHubClient against an httpx.MockTransport: sealing, paths, paging, key refresh, org visibility."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from nacl.public import PrivateKey, SealedBox

from keyroll.core.errors import AuthError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.github import GitHubClient, SecretScope
from keyroll.providers.http import RetryPolicy

Handler = Callable[[httpx.Request], httpx.Response]
REPO = SecretScope(kind="repo", repo="acme/web")
ENV = SecretScope(kind="env", repo="acme/web", environment="production")
ORG = SecretScope(kind="org", org="acme")


def client(handler: Handler) -> GitHubClient:
    http = httpx.AsyncClient(base_url="https://api.github.test", transport=httpx.MockTransport(handler))
    return GitHubClient(http, retry=RetryPolicy(base_delay=0.001, max_delay=0.01))


class FakeGitHub:
    """Just enough of GitHub to check what the client sends."""

    def __init__(self) -> None:
        self.key = PrivateKey.generate()
        self.key_id = "kid-1"
        self.stored: dict[str, str] = {}
        self.bodies: dict[str, dict[str, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.org_secret: dict[str, Any] | None = None

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.requests.append(req)
        path = req.url.path
        if path.endswith("/public-key"):
            return httpx.Response(
                200,
                json={"key_id": self.key_id, "key": base64.b64encode(bytes(self.key.public_key)).decode()},
            )
        if req.method == "PUT":
            body = json.loads(req.content)
            if body["key_id"] != self.key_id:
                return httpx.Response(
                    422, json={"message": "Validation Failed", "errors": [{"field": "key_id"}]}
                )
            self.bodies[path] = body
            created = path not in self.stored
            self.stored[path] = (
                SealedBox(self.key).decrypt(base64.b64decode(body["encrypted_value"])).decode()
            )
            return httpx.Response(201 if created else 204)
        if path.endswith("/repositories"):
            return httpx.Response(200, json={"total_count": 2, "repositories": [{"id": 11}, {"id": 12}]})
        if path == "/orgs/acme/actions/secrets/ORG_TOKEN":
            if self.org_secret is None:
                return httpx.Response(404, json={"message": "Not Found"})
            return httpx.Response(200, json=self.org_secret)
        return httpx.Response(404, json={"message": "Not Found"})


async def test_put_secret_seals_with_the_scope_key() -> None:
    gh = FakeGitHub()
    c = client(gh)
    await c.put_secret(REPO, "UPSTASH_REDIS_REST_TOKEN", Secret("the-new-token-value"))
    await c.put_secret(ENV, "QSTASH_TOKEN", Secret("the-new-qstash-value"))
    assert gh.stored["/repos/acme/web/actions/secrets/UPSTASH_REDIS_REST_TOKEN"] == "the-new-token-value"
    assert gh.stored["/repos/acme/web/environments/production/secrets/QSTASH_TOKEN"] == "the-new-qstash-value"
    body = gh.bodies["/repos/acme/web/actions/secrets/UPSTASH_REDIS_REST_TOKEN"]
    assert body["key_id"] == "kid-1" and "the-new-token-value" not in json.dumps(body)
    key_gets = [r for r in gh.requests if r.url.path.endswith("/public-key")]
    assert len(key_gets) == 2  # one per scope, then cached
    await c.put_secret(REPO, "OTHER", Secret("another-value-here"))
    assert len([r for r in gh.requests if r.url.path.endswith("/public-key")]) == 2


async def test_stale_key_is_refreshed_once() -> None:
    gh = FakeGitHub()
    c = client(gh)
    await c.get_public_key(REPO)
    gh.key, gh.key_id = PrivateKey.generate(), "kid-2"  # GitHub rotated the repository key
    await c.put_secret(REPO, "TOKEN", Secret("value-after-rotation"))
    assert gh.stored["/repos/acme/web/actions/secrets/TOKEN"] == "value-after-rotation"


async def test_org_secret_keeps_its_visibility_and_selection() -> None:
    gh = FakeGitHub()
    c = client(gh)
    await c.put_secret(ORG, "ORG_TOKEN", Secret("org-secret-value-1"))
    assert gh.bodies["/orgs/acme/actions/secrets/ORG_TOKEN"]["visibility"] == "private"
    gh.org_secret = {"name": "ORG_TOKEN", "visibility": "selected"}
    await c.put_secret(ORG, "ORG_TOKEN", Secret("org-secret-value-2"))
    body = gh.bodies["/orgs/acme/actions/secrets/ORG_TOKEN"]
    assert body["visibility"] == "selected" and body["selected_repository_ids"] == [11, 12]
    await c.put_secret(ORG, "ORG_TOKEN", Secret("org-secret-value-3"), visibility="all")
    assert gh.bodies["/orgs/acme/actions/secrets/ORG_TOKEN"]["visibility"] == "all"


async def test_list_secrets_pages_until_total_count() -> None:
    pages: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        page = int(req.url.params["page"])
        pages.append(req.url.params["page"])
        names = [f"S{i}" for i in range(250)][(page - 1) * 100 : page * 100]
        link = '<x?page=2>; rel="next"' if page < 3 else ""
        return httpx.Response(
            200,
            headers={"Link": link},
            json={
                "total_count": 250,
                "secrets": [{"name": n, "created_at": "c", "updated_at": "u"} for n in names],
            },
        )

    metas = await client(handler).list_secrets(ORG)
    assert len(metas) == 250 and metas[-1].name == "S249"
    assert pages == ["1", "2", "3"]


async def test_environments_and_user_scopes() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/user":
            return httpx.Response(200, headers={"X-OAuth-Scopes": "repo, admin:org"}, json={"login": "bot"})
        assert req.url.path == "/repos/acme/web/environments"
        return httpx.Response(
            200, json={"total_count": 2, "environments": [{"name": "production"}, {"name": "staging"}]}
        )

    c = client(handler)
    assert await c.list_environments("acme/web") == ["production", "staging"]
    assert await c.get_user() == ("bot", ["repo", "admin:org"])


async def test_primary_rate_limit_403_is_waited_out() -> None:
    state = {"n": 0}

    def handler(req: httpx.Request) -> httpx.Response:
        state["n"] += 1
        if state["n"] == 1:
            return httpx.Response(
                403,
                headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "0", "retry-after": "0"},
                json={"message": "API rate limit exceeded"},
            )
        return httpx.Response(200, json={"total_count": 0, "secrets": []})

    assert await client(handler).list_secrets(REPO) == []
    assert state["n"] == 2


async def test_errors_are_keyroll_errors() -> None:
    def bad_token(req: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Bad credentials"})

    def invalid(req: httpx.Request) -> httpx.Response:
        if req.url.path.endswith("/public-key"):
            return httpx.Response(
                200,
                json={
                    "key_id": "k",
                    "key": base64.b64encode(bytes(PrivateKey.generate().public_key)).decode(),
                },
            )
        return httpx.Response(422, json={"message": "Validation Failed", "errors": [{"field": "name"}]})

    with pytest.raises(AuthError, match="Bad credentials") as info:
        await client(bad_token).list_secrets(REPO)
    assert "GITHUB_TOKEN" in (info.value.hint or "")
    with pytest.raises(ProviderError, match="acme/web secret BAD") as err:
        await client(invalid).put_secret(REPO, "BAD", Secret("some-secret-value-x"))
    assert err.value.status == 422 and "some-secret-value-x" not in err.value.message
