"""The fake GitHub Actions secrets API over ``world.github`` (values in plaintext: tests read them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from keyroll.core.errors import AuthError, NotFoundError
from keyroll.core.secret import Secret
from keyroll.providers.github import PublicKey, SecretMeta, SecretScope
from tests.fakes.common import FakeAPI

if TYPE_CHECKING:
    from tests.fakes.world import FakeWorld

SEEDED_AT = "2026-04-01T10:00:00Z"
"""``updated_at`` of the GitHub secrets a test puts in the world (``put_secret`` records now)"""


class FakeGitHub(FakeAPI):
    """:class:`GitHubAPI` over ``world.github`` (values in plaintext: tests read them directly)."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.denied: set[str] = set()
        """scope labels whose token lacks a scope (403)"""
        self.environments: dict[str, list[str]] = {}
        """repo → environments that exist besides those holding secrets"""
        self.repos: set[str] = set()
        """repositories that exist besides those holding secrets, environments or a Vercel link"""

    def _repos(self) -> set[str]:
        """Repositories that exist: those holding secrets or environments, and the linked ones."""
        held = {s.split(" ", 1)[0] for s, _ in self.world.github if not s.startswith("org:")}
        linked = {p.link_repo for p in self.world.projects.values() if p.link_repo}
        return {r.lower() for r in held | linked | set(self.environments) | self.repos}

    def _exists(self, scope: SecretScope) -> None:
        if scope.kind != "org" and scope.repo.lower() not in self._repos():
            raise NotFoundError(
                f"github: {scope.label()}: HTTP 404 — Not Found", service="github", status=404
            )

    def _check(self, scope: SecretScope) -> None:
        self._exists(scope)
        if scope.label() in self.denied:
            raise AuthError(
                f"github: {scope.label()}: HTTP 403 — Resource not accessible by integration",
                service="github",
                status=403,
            )

    async def list_environments(self, repo: str) -> list[str]:
        await self._enter("list_environments", repo)
        self._exists(SecretScope(kind="repo", repo=repo))
        held = {s.split(" env:", 1)[1] for s, _ in self.world.github if s.startswith(repo + " env:")}
        return sorted(held | set(self.environments.get(repo, [])))

    async def list_secrets(self, scope: SecretScope) -> list[SecretMeta]:
        await self._enter("list_secrets", scope.label())
        self._check(scope)
        return [
            SecretMeta(name=n, updated_at=self.world.github_updated.get((s, n), SEEDED_AT))
            for s, n in self.world.github
            if s == scope.label()
        ]

    async def list_org_repos(self, org: str) -> list[str]:
        await self._enter("list_org_repos", org)
        labels = {s.split(" ", 1)[0] for s, _ in self.world.github} | set(self.environments)
        return sorted(r for r in labels if r.lower().startswith(org.lower() + "/"))

    async def get_public_key(self, scope: SecretScope) -> PublicKey:
        await self._enter("get_public_key", scope.label())
        self._check(scope)
        return PublicKey(key_id="k1", key="AAAA")

    async def put_secret(self, scope: SecretScope, name: str, value: Secret) -> None:
        await self._enter("put_secret", scope.label())
        self._check(scope)
        self.world.github[(scope.label(), name)] = value.reveal()
        self.world.github_updated[(scope.label(), name)] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def delete_secret(self, scope: SecretScope, name: str) -> None:
        await self._enter("delete_secret", scope.label())
        self._check(scope)
        if (scope.label(), name) not in self.world.github:
            raise NotFoundError(
                f"github: {scope.label()} secret {name}: HTTP 404 — Not Found", service="github", status=404
            )
        del self.world.github[(scope.label(), name)]
        self.world.github_updated.pop((scope.label(), name), None)
