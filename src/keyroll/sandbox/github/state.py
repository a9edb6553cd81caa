"""State of the emulated GitHub: repositories, environments, organizations and their secrets.

Each secret scope (a repository, one of its environments, an organization) has its own real
Curve25519 key pair; a stored secret keeps the plaintext the sandbox decrypted (never readable
through the API: tests read it with :func:`keyroll.sandbox.github.stored_secret`). The HTTP side
is :mod:`keyroll.sandbox.github.app`.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from nacl.public import PrivateKey
from starlette.responses import JSONResponse

from keyroll.sandbox.world import World

__all__ = ["DOCS", "ApiError", "GitHubState", "Repo", "SecretScope", "StoredSecret"]

DOCS = "https://docs.github.com/rest/actions/secrets"


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StoredSecret:
    """A secret's plaintext (sandbox-side only) and its dates."""

    value: str
    created_at: str
    updated_at: str
    visibility: str = "private"
    selected_repository_ids: list[int] = field(default_factory=list)


@dataclass
class SecretScope:
    """A repository, one of its environments, or an organization, with its key pair."""

    label: str
    key: PrivateKey
    key_id: str
    secrets: dict[str, StoredSecret] = field(default_factory=dict)


@dataclass
class Repo:
    """A repository and its environments."""

    id: int
    full_name: str
    scope: SecretScope
    environments: dict[str, SecretScope] = field(default_factory=dict)
    env_created: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A GitHub-shaped error response."""

    def __init__(
        self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        """``{"message", "documentation_url", "status"}``."""
        body = {"message": self.message, "documentation_url": DOCS, "status": str(self.status), **self.extra}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


class GitHubState:
    """Repositories, environments, organizations and their secrets."""

    def __init__(self, world: World, *, token: str, scopes: list[str], login: str) -> None:
        self.world = world
        self.token = token
        self.scopes = scopes
        self.login = login
        self.repos: dict[str, Repo] = {}
        self.orgs: dict[str, SecretScope] = {}
        self.lock = threading.RLock()
        self._next_id = 700_000_000

    def new_scope(self, label: str) -> SecretScope:
        """A secret scope with a fresh Curve25519 key pair."""
        return SecretScope(label, PrivateKey.generate(), str(secrets.randbelow(10**18) + 10**17))

    def add_repo(self, full_name: str) -> Repo:
        """Create a repository (idempotent)."""
        with self.lock:
            key = full_name.lower()
            if key not in self.repos:
                self._next_id += 1
                self.repos[key] = Repo(self._next_id, full_name, self.new_scope(full_name))
            return self.repos[key]

    def add_environment(self, repo: Repo, name: str) -> SecretScope:
        """Create a repository environment (idempotent)."""
        with self.lock:
            if name not in repo.environments:
                repo.environments[name] = self.new_scope(f"{repo.full_name} env:{name}")
                repo.env_created[name] = _iso(self.world.clock())
            return repo.environments[name]

    def put(self, scope: SecretScope, name: str, value: str, **extra: Any) -> bool:
        """Store a plaintext; returns True when it was created."""
        now = _iso(self.world.clock())
        with self.lock:
            existing = scope.secrets.get(name)
            if existing is None:
                scope.secrets[name] = StoredSecret(value, now, now, **extra)
                return True
            existing.value = value
            existing.updated_at = now
            for k, v in extra.items():
                setattr(existing, k, v)
            return False

    def value_of(
        self, name: str, *, repo: str | None = None, environment: str | None = None, org: str | None = None
    ) -> str | None:
        """The stored plaintext of a secret (sandbox-only; the API never returns it)."""
        with self.lock:
            scope: SecretScope | None
            if org is not None:
                scope = self.orgs.get(org.lower())
            else:
                r = self.repos.get((repo or "").lower())
                scope = None if r is None else (r.environments.get(environment) if environment else r.scope)
            if scope is None or name not in scope.secrets:
                return None
            return scope.secrets[name].value
