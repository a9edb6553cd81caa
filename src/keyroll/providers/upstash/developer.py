"""Upstash Developer API (``https://api.upstash.com/v2``, HTTP basic email + API key).

Models, the :class:`DeveloperAPI` Protocol and the httpx client. Resources of accounts
created through the Vercel integration are not reachable: the client raises
:class:`~keyroll.core.errors.ManagedByIntegrationError` with the dashboard instructions.
"""

from __future__ import annotations

from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from keyroll.core.secret import Secret

__all__ = ["DeveloperAPI", "QStashUser", "RedisDatabase", "SearchIndex", "VectorIndex"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, arbitrary_types_allowed=True)


class RedisDatabase(_Model):
    """A Redis database as the Developer API returns it (secrets as :class:`Secret`)."""

    database_id: str
    database_name: str = ""
    endpoint: str = ""
    port: int = 6379
    tls: bool = True
    state: str = "active"
    customer_id: str = ""
    db_acl_enabled: str = "false"
    password: Secret | None = Field(default=None, exclude=True)
    rest_token: Secret | None = Field(default=None, exclude=True)
    read_only_rest_token: Secret | None = Field(default=None, exclude=True)

    @property
    def rest_url(self) -> str:
        """``https://<endpoint>`` (``.upstash.io`` appended to a bare slug); sandbox endpoints may carry a scheme."""
        ep = self.endpoint
        if ep.startswith(("http://", "https://")):
            return ep
        if "." not in ep and ":" not in ep:
            ep = f"{ep}.upstash.io"
        return f"https://{ep}"


class VectorIndex(_Model):
    """A Vector index."""

    id: str
    name: str = ""
    endpoint: str = ""
    customer_id: str = ""
    token: Secret | None = Field(default=None, exclude=True)
    read_only_token: Secret | None = Field(default=None, exclude=True)


class SearchIndex(_Model):
    """A Search index; ``vercel_email`` non-empty when tied to the Vercel integration."""

    id: str
    name: str = ""
    endpoint: str = ""
    customer_id: str = ""
    vercel_email: str = ""
    token: Secret | None = Field(default=None, exclude=True)
    read_only_token: Secret | None = Field(default=None, exclude=True)


class QStashUser(_Model):
    """A QStash user (one per region)."""

    id: str
    customer_id: str = ""
    region: str = ""
    token: Secret | None = Field(default=None, exclude=True)
    read_only_token: Secret | None = Field(default=None, exclude=True)


class DeveloperAPI(Protocol):
    """What keyroll needs from the Upstash Developer API."""

    async def list_redis(self) -> list[RedisDatabase]:
        """All Redis databases of the account."""
        ...

    async def get_redis(self, database_id: str) -> RedisDatabase:
        """One database with credentials (unless credential protection hides them)."""
        ...

    async def reset_redis_password(self, database_id: str) -> RedisDatabase:
        """Reset: new password and both REST tokens; the old ones die at once."""
        ...

    async def set_credential_protection(self, database_id: str, enabled: bool) -> None:
        """Turn credential protection on/off (off revokes and reissues credentials)."""
        ...

    async def list_vector(self) -> list[VectorIndex]:
        """All Vector indexes."""
        ...

    async def get_vector(self, index_id: str) -> VectorIndex:
        """One Vector index with tokens."""
        ...

    async def reset_vector(self, index_id: str) -> VectorIndex:
        """Reset both tokens (the API answers ``"OK"``; the client re-GETs)."""
        ...

    async def list_search(self) -> list[SearchIndex]:
        """All Search indexes."""
        ...

    async def get_search(self, index_id: str) -> SearchIndex:
        """One Search index with tokens."""
        ...

    async def reset_search(self, index_id: str) -> SearchIndex:
        """Reset both tokens (re-GETs after ``"OK"``)."""
        ...

    async def list_qstash_users(self) -> list[QStashUser]:
        """QStash users (one per region)."""
        ...

    async def rotate_qstash_token(self, user_id: str) -> QStashUser:
        """Reset the QStash token; the old one is rejected at once."""
        ...
