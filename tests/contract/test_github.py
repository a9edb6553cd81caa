"""GitHub's contract: Actions secrets of repositories and their environments, the public key they
are sealed with — the same answers from the fake and from the sandbox through ``GitHubClient``."""

from __future__ import annotations

import pytest

from keyroll.core.errors import NotFoundError
from keyroll.core.secret import Secret
from keyroll.providers.github import SecretScope
from tests.contract.conftest import Backend

REPO = SecretScope(kind="repo", repo="acme/web")
PRODUCTION = SecretScope(kind="env", repo="acme/web", environment="production")


async def test_secrets_of_a_repository_and_its_environments_are_listed(backend: Backend) -> None:
    assert "UPSTASH_REDIS_REST_TOKEN" in {s.name for s in await backend.github.list_secrets(REPO)}
    assert "production" in await backend.github.list_environments("acme/web")
    listed = await backend.github.list_secrets(PRODUCTION)
    assert "QSTASH_TOKEN" in {s.name for s in listed}
    assert all(s.updated_at.endswith("Z") for s in listed)
    assert "acme/web" in await backend.github.list_org_repos("acme")


async def test_a_secret_is_written_listed_and_deleted(backend: Backend) -> None:
    key = await backend.github.get_public_key(REPO)
    assert key.key_id and key.key
    name = backend.name("CONTRACT_SECRET")
    await backend.github.put_secret(REPO, name, Secret("github-secret-value-0123456789"))
    (meta,) = [s for s in await backend.github.list_secrets(REPO) if s.name == name]
    assert meta.updated_at.endswith("Z")
    await backend.github.put_secret(REPO, name, Secret("github-secret-value-9876543210"))  # overwrite
    assert [s.name for s in await backend.github.list_secrets(REPO)].count(name) == 1
    await backend.github.delete_secret(REPO, name)
    assert name not in {s.name for s in await backend.github.list_secrets(REPO)}
    with pytest.raises(NotFoundError):
        await backend.github.delete_secret(REPO, name)


async def test_an_unknown_repository_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        await backend.github.list_secrets(SecretScope(kind="repo", repo="acme/no-such-repo"))
