"""GitHub Actions secrets: models, the :class:`GitHubAPI` Protocol, and the httpx client.

Secret values are never readable from GitHub; keyroll lists names and ``updated_at`` and
writes new values sealed with the scope's public key (PyNaCl ``SealedBox``).

Secret scopes map to GitHub's paths: ``/repos/{owner}/{repo}/actions/secrets``,
``/repos/{owner}/{repo}/environments/{env}/secrets`` and ``/orgs/{org}/actions/secrets``; the
organization secrets a repository can use are listed (read-only, repository access suffices) at
``/repos/{owner}/{repo}/actions/organization-secrets`` (kind ``repo_org``).
"""

from __future__ import annotations

import base64
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from nacl.public import PublicKey as NaclPublicKey
from nacl.public import SealedBox
from pydantic import BaseModel, ConfigDict

from keyroll import __version__
from keyroll.core.secret import Secret
from keyroll.providers.http import ApiClient, RetryPolicy, bearer_client

__all__ = ["GitHubAPI", "GitHubClient", "PublicKey", "SecretMeta", "SecretScope", "seal"]


class SecretScope(BaseModel):
    """Where a secret lives: a repository (``owner/repo``), a repository environment, or an org."""

    model_config = ConfigDict(frozen=True)

    kind: str
    """``repo``, ``env``, ``org``, or ``repo_org`` (the org secrets shared with ``repo``; list only)"""
    repo: str = ""
    environment: str = ""
    org: str = ""

    def label(self) -> str:
        """``owner/repo``, ``owner/repo env:prod`` or ``org:acme``."""
        if self.kind == "org":
            return f"org:{self.org}"
        if self.kind == "env":
            return f"{self.repo} env:{self.environment}"
        if self.kind == "repo_org":
            return f"{self.repo} organization secrets"
        return self.repo


class SecretMeta(BaseModel):
    """A secret's metadata (name and dates; never a value)."""

    name: str
    created_at: str = ""
    updated_at: str = ""
    visibility: str | None = None
    """org secrets only: ``all``, ``private`` or ``selected``"""


class PublicKey(BaseModel):
    """A scope's public key for sealed-box encryption."""

    key_id: str
    key: str
    """base64 Curve25519 public key"""


class GitHubAPI(Protocol):
    """What keyroll needs from GitHub."""

    async def list_environments(self, repo: str) -> list[str]:
        """Environment names of a repository."""
        ...

    async def list_secrets(self, scope: SecretScope) -> list[SecretMeta]:
        """Secret names in a scope (all pages)."""
        ...

    async def list_org_repos(self, org: str) -> list[str]:
        """``owner/name`` of every repository of an organization the token can see (archived ones too)."""
        ...

    async def get_public_key(self, scope: SecretScope) -> PublicKey:
        """The scope's public key."""
        ...

    async def put_secret(self, scope: SecretScope, name: str, value: Secret) -> None:
        """Create or update a secret, sealed with the scope's public key."""
        ...

    async def delete_secret(self, scope: SecretScope, name: str) -> None:
        """Delete a secret."""
        ...


# -- the client ----------------------------------------------------------------------------

LIMITS: dict[str, tuple[float, float]] = {"default": (5000.0, 3600.0)}
"""GitHub's primary limit for a token: 5,000 requests per hour; corrected from ``X-RateLimit-*``."""


def _scope_path(scope: SecretScope) -> str:
    if scope.kind == "org":
        return f"/orgs/{quote(scope.org, safe='')}/actions/secrets"
    owner, _, name = scope.repo.partition("/")
    repo = f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"
    if scope.kind == "env":
        return f"{repo}/environments/{quote(scope.environment, safe='')}/secrets"
    if scope.kind == "repo_org":
        return f"{repo}/actions/organization-secrets"
    return f"{repo}/actions/secrets"


def seal(public_key: PublicKey, value: Secret) -> str:
    """Encrypt a value for GitHub: libsodium sealed box with the scope's key, base64."""
    box = SealedBox(NaclPublicKey(base64.b64decode(public_key.key)))
    return base64.b64encode(box.encrypt(value.reveal().encode("utf-8"))).decode("ascii")


class GitHubClient:
    """:class:`GitHubAPI` over HTTP (GitHub REST, ``X-GitHub-Api-Version: 2022-11-28``).

    :param http: an ``httpx.AsyncClient`` with base URL and auth (see :meth:`create`).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        limits: dict[str, tuple[float, float]] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.http = http
        self.api = ApiClient(
            http,
            "github",
            limits=dict(limits or LIMITS),
            retry=retry or RetryPolicy(),
            hint_for_auth="GITHUB_TOKEN needs `repo` (or fine-grained Secrets: read/write), and `admin:org` for org secrets",
        )
        self._keys: dict[SecretScope, PublicKey] = {}

    @classmethod
    def create(cls, base_url: str, token: Secret, *, timeout: float = 30.0, **kwargs: Any) -> GitHubClient:
        """A client for ``base_url`` (``https://api.github.com``, the sandbox …) with a bearer
        ``token``; ``kwargs`` go to the constructor."""
        http = bearer_client(
            base_url,
            token,
            timeout=timeout,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": f"keyroll/{__version__}",
            },
        )
        return cls(http, **kwargs)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    async def _paged(self, path: str, field: str, *, what: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            resp = await self.api.request("GET", path, params={"per_page": 100, "page": page}, what=what)
            body = resp.json()
            chunk = body.get(field) or []
            items.extend(chunk)
            total = int(body.get("total_count") or 0)
            if not chunk or len(items) >= total or 'rel="next"' not in resp.headers.get("link", 'rel="next"'):
                break
            page += 1
        return items

    async def get_user(self) -> tuple[str, list[str]]:
        """The token's login and its OAuth scopes (``X-OAuth-Scopes``; empty for fine-grained tokens)."""
        resp = await self.api.request("GET", "/user", what="current user")
        scopes = [s.strip() for s in resp.headers.get("x-oauth-scopes", "").split(",") if s.strip()]
        return str(resp.json().get("login", "")), scopes

    async def list_environments(self, repo: str) -> list[str]:
        """Environment names of a repository (``owner/name``).

        :raises NotFoundError: no such repository (or no access).
        """
        owner, _, name = repo.partition("/")
        rows = await self._paged(
            f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}/environments",
            "environments",
            what=f"{repo} environments",
        )
        return [str(r["name"]) for r in rows]

    async def list_org_repos(self, org: str) -> list[str]:
        """``GET /orgs/{org}/repos`` (all pages; the body is a bare array, paged by ``Link``).

        :raises NotFoundError: no such organization (or a user account: GitHub answers 404).
        """
        names: list[str] = []
        page = 1
        while True:
            resp = await self.api.request(
                "GET",
                f"/orgs/{quote(org, safe='')}/repos",
                params={"per_page": 100, "page": page, "type": "all"},
                what=f"org:{org} repositories",
            )
            chunk = resp.json()
            if not isinstance(chunk, list):
                break
            names += [str(r["full_name"]) for r in chunk if isinstance(r, dict) and r.get("full_name")]
            if len(chunk) < 100 or 'rel="next"' not in resp.headers.get("link", ""):
                break
            page += 1
        return names

    async def list_secrets(self, scope: SecretScope) -> list[SecretMeta]:
        """Secret names and dates in a scope (all pages)."""
        rows = await self._paged(_scope_path(scope), "secrets", what=f"{scope.label()} secrets")
        return [SecretMeta.model_validate(r) for r in rows]

    async def get_public_key(self, scope: SecretScope) -> PublicKey:
        """The scope's public key (cached per scope)."""
        if scope not in self._keys:
            resp = await self.api.request(
                "GET", f"{_scope_path(scope)}/public-key", what=f"{scope.label()} public key"
            )
            self._keys[scope] = PublicKey.model_validate(resp.json())
        return self._keys[scope]

    async def put_secret(
        self, scope: SecretScope, name: str, value: Secret, *, visibility: str | None = None
    ) -> None:
        """Create or update a secret, sealed with the scope's public key.

        Org secrets keep their current visibility (and selected repositories) unless
        ``visibility`` is given; new org secrets default to ``private``. A stale cached key
        (422 on ``key_id``) is refreshed once.

        :raises ProviderError: e.g. 422 for an invalid name.
        """
        path = f"{_scope_path(scope)}/{quote(name, safe='')}"
        what = f"{scope.label()} secret {name}"
        extra: dict[str, Any] = {}
        if scope.kind == "org":
            extra = await self._org_visibility(scope, name, visibility)
        for attempt in range(2):
            key = await self.get_public_key(scope)
            body = {"encrypted_value": seal(key, value), "key_id": key.key_id, **extra}
            resp = await self.api.request("PUT", path, json=body, what=what, ok=(422,))
            if resp.status_code != 422:
                return
            if attempt == 0 and "key_id" in resp.text:
                self._keys.pop(scope, None)
                continue
            raise self.api.error_for(resp, what)

    async def _org_visibility(self, scope: SecretScope, name: str, visibility: str | None) -> dict[str, Any]:
        if visibility is not None and visibility != "selected":
            return {"visibility": visibility}
        path = f"{_scope_path(scope)}/{quote(name, safe='')}"
        resp = await self.api.request("GET", path, what=f"{scope.label()} secret {name}", ok=(404,))
        current = "private" if resp.status_code == 404 else str(resp.json().get("visibility") or "private")
        chosen = visibility or current
        if chosen != "selected":
            return {"visibility": chosen}
        repos = await self._paged(
            f"{path}/repositories", "repositories", what=f"{scope.label()} secret {name} repositories"
        )
        return {"visibility": "selected", "selected_repository_ids": [int(r["id"]) for r in repos]}

    async def delete_secret(self, scope: SecretScope, name: str) -> None:
        """Delete a secret.

        :raises NotFoundError: it does not exist.
        """
        await self.api.request(
            "DELETE", f"{_scope_path(scope)}/{quote(name, safe='')}", what=f"{scope.label()} secret {name}"
        )
