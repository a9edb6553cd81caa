"""GitHub Actions secrets: models, the :class:`GitHubAPI` Protocol, and the httpx client.

Secret values are never readable from GitHub; keyroll lists names and ``updated_at`` and
writes new values sealed with the scope's public key (PyNaCl ``SealedBox``).
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict

from keyroll.core.secret import Secret

__all__ = ["GitHubAPI", "PublicKey", "SecretMeta", "SecretScope"]


class SecretScope(BaseModel):
    """Where a secret lives: a repository (``owner/repo``), a repository environment, or an org."""

    model_config = ConfigDict(frozen=True)

    kind: str
    """``repo``, ``env`` or ``org``"""
    repo: str = ""
    environment: str = ""
    org: str = ""

    def label(self) -> str:
        """``owner/repo``, ``owner/repo env:prod`` or ``org:acme``."""
        if self.kind == "org":
            return f"org:{self.org}"
        if self.kind == "env":
            return f"{self.repo} env:{self.environment}"
        return self.repo


class SecretMeta(BaseModel):
    """A secret's metadata (name and dates; never a value)."""

    name: str
    created_at: str = ""
    updated_at: str = ""


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

    async def get_public_key(self, scope: SecretScope) -> PublicKey:
        """The scope's public key."""
        ...

    async def put_secret(self, scope: SecretScope, name: str, value: Secret) -> None:
        """Create or update a secret, sealed with the scope's public key."""
        ...

    async def delete_secret(self, scope: SecretScope, name: str) -> None:
        """Delete a secret."""
        ...
