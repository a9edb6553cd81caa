"""Upstash Developer API (``https://api.upstash.com/v2``, HTTP basic email + API key).

Models, the :class:`DeveloperAPI` Protocol and :class:`DeveloperClient`. A 404 on a
resource-specific call is reported as what it is — not found in this account (wrong id,
deleted, or owned by another account such as one created through the Vercel integration) —
and a 403 as a permission problem of the API key; neither is presumed to mean "integration".

Credential Protection has no Developer API endpoint (it is a console toggle): the client has
no call for it. ``endpoint`` is kept as the API sends it; :attr:`RedisDatabase.rest_url`,
:attr:`RedisDatabase.host` and the index ``rest_url`` follow the documented shapes
(:mod:`keyroll.providers.upstash.endpoints`) and the host map of ``KEYROLL_UPSTASH_HOSTS``.

Credential fields (``password``, ``rest_token``, ``read_only_rest_token``, ``token``,
``read_only_token``) become :class:`Secret` on parse and are excluded from ``model_dump``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from keyroll.core.errors import AuthError, NotFoundError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.http import ApiClient, RetryPolicy
from keyroll.providers.upstash.auth import SecretBasicAuth
from keyroll.providers.upstash.endpoints import (
    QSTASH_DEFAULT_REGION,
    HostMap,
    index_rest_url,
    qstash_url_for_region,
    redis_rest_url,
)

__all__ = [
    "INTEGRATION_HINT",
    "NOT_FOUND_HINT",
    "PERMISSION_HINT",
    "AuditLog",
    "DeveloperAPI",
    "DeveloperClient",
    "QStashUser",
    "RedisDatabase",
    "SearchIndex",
    "Team",
    "VectorIndex",
]

INTEGRATION_HINT = (
    "this database is managed through the Vercel integration: reset it from the Vercel dashboard "
    "(Integrations → Upstash → Manage → Open in Upstash → Reset Credentials), then let keyroll redeploy"
)
NOT_FOUND_HINT = (
    "check the id (keyroll inventory lists them); a resource created through the Vercel integration "
    "lives in a Vercel-owned Upstash account that this API key cannot see"
)
PERMISSION_HINT = (
    "the API key is valid but may not act on this resource: use a key of the account (or team) that "
    "owns it with full access (Upstash console → Account → Management API)"
)
AUTH_HINT = (
    "check UPSTASH_EMAIL and UPSTASH_API_KEY (Upstash console → Account → Management API); "
    "accounts created through Vercel have no Developer API access"
)


def _secret(value: Any) -> Any:
    if isinstance(value, str):
        return Secret(value) if value else None
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, arbitrary_types_allowed=True)

    _hosts: HostMap = PrivateAttr(default_factory=HostMap)

    def with_hosts(self, hosts: HostMap) -> _Model:
        """Attach the host map its URL properties apply (the client does it on parse)."""
        self._hosts = hosts
        return self


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
    """``"true"``/``"false"`` — a string in the real API"""
    prod_pack_enabled: bool = False
    password: Secret | None = Field(default=None, exclude=True)
    rest_token: Secret | None = Field(default=None, exclude=True)
    read_only_rest_token: Secret | None = Field(default=None, exclude=True)

    _wrap = field_validator("password", "rest_token", "read_only_rest_token", mode="before")(_secret)

    db_acl_default_user_status: str = "true"
    type: str = ""
    """``free`` | ``payg`` | ``pro`` | ``paid``"""
    primary_region: str = ""
    read_regions: list[str] = Field(default_factory=list)

    @property
    def documented_rest_url(self) -> str:
        """``https://<endpoint>`` (``.upstash.io`` appended to a bare slug), before any host map."""
        return redis_rest_url(self.endpoint)

    @property
    def rest_url(self) -> str:
        """The REST URL keyroll calls: :attr:`documented_rest_url` through the host map."""
        return self._hosts.url(self.documented_rest_url)

    @property
    def host(self) -> str:
        """The TCP host keyroll connects to (the endpoint's host, through the host map)."""
        ep = self.endpoint.split("://", 1)[-1].rstrip("/")
        host = ep.rsplit(":", 1)[0] if ep.count(":") == 1 else ep
        if host and "." not in host and host not in ("localhost",):
            host = f"{host}.upstash.io"
        return self._hosts.tcp_host(host)

    @property
    def tcp_tls(self) -> bool:
        """TLS on the TCP endpoint (always on at Upstash; a mapped host follows its origin)."""
        ep = self.endpoint.split("://", 1)[-1].rstrip("/")
        return self._hosts.tls(ep.rsplit(":", 1)[0] if ep.count(":") == 1 else ep, self.tls)

    @property
    def acl_enabled(self) -> bool:
        """ACL is available: paid databases (``db_acl_enabled``); a free database has none."""
        return self.db_acl_enabled.strip().lower() == "true" and self.type.strip().lower() != "free"

    @property
    def is_global(self) -> bool:
        """A global database (read replicas that can lag behind the primary)."""
        return bool(self.read_regions)

    @property
    def credentials_hidden(self) -> bool:
        """True when the API returned no credentials (``credentials=hide`` or credential protection)."""
        return self.password is None and self.rest_token is None


class VectorIndex(_Model):
    """A Vector index."""

    id: str
    name: str = ""
    endpoint: str = ""
    customer_id: str = ""
    token: Secret | None = Field(default=None, exclude=True)
    read_only_token: Secret | None = Field(default=None, exclude=True)

    _wrap = field_validator("token", "read_only_token", mode="before")(_secret)

    @property
    def rest_url(self) -> str:
        """The data-API URL: ``https://<slug>-vector.upstash.io`` from a slug (documented mapping)."""
        return self._hosts.url(index_rest_url(self.endpoint, "vector"))


class SearchIndex(_Model):
    """A Search index; ``vercel_email`` non-empty when tied to the Vercel integration."""

    id: str
    name: str = ""
    endpoint: str = ""
    customer_id: str = ""
    vercel_email: str = ""
    token: Secret | None = Field(default=None, exclude=True)
    read_only_token: Secret | None = Field(default=None, exclude=True)

    _wrap = field_validator("token", "read_only_token", mode="before")(_secret)

    @property
    def rest_url(self) -> str:
        """The data-API URL: ``https://<slug>-search.upstash.io`` from a slug (documented mapping)."""
        return self._hosts.url(index_rest_url(self.endpoint, "search"))


class QStashUser(_Model):
    """A QStash user (one per region)."""

    id: str
    customer_id: str = ""
    region: str = ""
    state: str = ""
    token: Secret | None = Field(default=None, exclude=True)
    read_only_token: Secret | None = Field(default=None, exclude=True)

    _wrap = field_validator("token", "read_only_token", mode="before")(_secret)

    @property
    def url(self) -> str:
        """The region's QStash origin (``https://qstash-<region>.upstash.io``, through the host map)."""
        return self._hosts.url(qstash_url_for_region(self.region or QSTASH_DEFAULT_REGION))


class Team(_Model):
    """A team of the account."""

    team_id: str
    team_name: str = ""


class AuditLog(_Model):
    """One audit-log record (``GET /auditlogs``): who did what to which entity, when (epoch s)."""

    log_id: str = ""
    customer_id: str = ""
    actor: str = ""
    timestamp: int = 0
    action: int | str = 0
    action_string: str = ""
    source: str = ""
    entity: str = ""
    secondary_entity: str = ""
    ip: str = ""


_M = TypeVar("_M", bound=_Model)


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


class DeveloperClient:
    """:class:`DeveloperAPI` over httpx; every request goes through :attr:`api`."""

    def __init__(
        self, http: httpx.AsyncClient, *, retry: RetryPolicy | None = None, hosts: HostMap | None = None
    ) -> None:
        """``http`` carries base URL (``https://api.upstash.com``), basic auth and timeout;
        ``hosts`` maps documented data-plane hosts to where they are reached."""
        self.http = http
        self.hosts = hosts or HostMap()
        self.api = ApiClient(
            http,
            "upstash",
            limits={"default": (10.0, 1.0)},
            retry=retry or RetryPolicy(),
            hint_for_auth=AUTH_HINT,
        )

    @classmethod
    def create(
        cls,
        base_url: str,
        email: str,
        api_key: Secret,
        *,
        hosts: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> DeveloperClient:
        """A client for ``base_url`` (``https://api.upstash.com``, the sandbox …) with basic auth
        ``email``:``api_key``; ``hosts`` maps documented data-plane hosts to the origins they are
        reached at (``KEYROLL_UPSTASH_HOSTS``)."""
        http = httpx.AsyncClient(
            base_url=base_url,
            auth=SecretBasicAuth(email, api_key),
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"Accept": "application/json"},
        )
        return cls(http, hosts=HostMap(dict(hosts or {})))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    # -- plumbing -----------------------------------------------------------------------
    async def _get(self, path: str, what: str, **params: str) -> Any:
        resp = await self.api.request("GET", path, what=what, params=params or None)
        return resp.json()

    async def _resource(self, method: str, path: str, what: str, **params: str) -> Any:
        """A call on one resource: a 404 is "not found", a 403 "not permitted" — said as such."""
        try:
            resp = await self.api.request(method, path, what=what, params=params or None)
        except NotFoundError as exc:
            raise NotFoundError(
                f"upstash: {what}: not found in this account (HTTP 404)",
                service="upstash",
                status=404,
                hint=NOT_FOUND_HINT,
            ) from exc
        except ProviderError as exc:
            if exc.status == 403:
                raise AuthError(
                    f"upstash: {what}: permission denied for this API key (HTTP 403)",
                    service="upstash",
                    status=403,
                    hint=PERMISSION_HINT,
                ) from exc
            raise
        return resp.json()

    def _bind(self, model: _M) -> _M:
        model.with_hosts(self.hosts)
        return model

    @staticmethod
    def _list(data: Any, what: str) -> list[Any]:
        if data is None:
            return []
        if not isinstance(data, list):
            raise ProviderError(f"upstash: {what}: unexpected answer (not a list)", service="upstash")
        return data

    # -- Redis --------------------------------------------------------------------------
    async def list_redis(self) -> list[RedisDatabase]:
        """``GET /v2/redis/databases``."""
        data = await self._get("/v2/redis/databases", "list redis databases")
        return [self._bind(RedisDatabase.model_validate(d)) for d in self._list(data, "list redis databases")]

    async def get_redis(self, database_id: str, *, hide_credentials: bool = False) -> RedisDatabase:
        """``GET /v2/redis/database/{id}`` (``?credentials=hide`` when asked).

        :raises NotFoundError: not in this account. :raises AuthError: 403, no permission.
        """
        params = {"credentials": "hide"} if hide_credentials else {}
        data = await self._resource(
            "GET", f"/v2/redis/database/{database_id}", f"redis database {database_id}", **params
        )
        return self._bind(RedisDatabase.model_validate(data))

    async def reset_redis_password(self, database_id: str) -> RedisDatabase:
        """``POST /v2/redis/reset-password/{id}``: the answer carries the new credentials.

        :raises NotFoundError: not in this account. :raises AuthError: 403, no permission.
        """
        data = await self._resource(
            "POST",
            f"/v2/redis/reset-password/{database_id}",
            f"reset password of redis database {database_id}",
        )
        db = self._bind(RedisDatabase.model_validate(data))
        if db.rest_token is None:  # an answer without credentials: read them back
            db = await self.get_redis(database_id)
        return db

    # -- Vector / Search ----------------------------------------------------------------
    async def list_vector(self) -> list[VectorIndex]:
        """``GET /v2/vector/index``."""
        data = await self._get("/v2/vector/index", "list vector indexes")
        return [self._bind(VectorIndex.model_validate(d)) for d in self._list(data, "list vector indexes")]

    async def get_vector(self, index_id: str) -> VectorIndex:
        """``GET /v2/vector/index/{id}``. :raises NotFoundError: not in this account."""
        data = await self._resource("GET", f"/v2/vector/index/{index_id}", f"vector index {index_id}")
        return self._bind(VectorIndex.model_validate(data))

    async def reset_vector(self, index_id: str) -> VectorIndex:
        """``POST /v2/vector/index/{id}/reset-password`` (answers ``"OK"``), then re-GET."""
        await self._resource(
            "POST", f"/v2/vector/index/{index_id}/reset-password", f"reset tokens of vector index {index_id}"
        )
        return await self.get_vector(index_id)

    async def list_search(self) -> list[SearchIndex]:
        """``GET /v2/search``."""
        data = await self._get("/v2/search", "list search indexes")
        return [self._bind(SearchIndex.model_validate(d)) for d in self._list(data, "list search indexes")]

    async def get_search(self, index_id: str) -> SearchIndex:
        """``GET /v2/search/{id}``. :raises NotFoundError: not in this account."""
        data = await self._resource("GET", f"/v2/search/{index_id}", f"search index {index_id}")
        return self._bind(SearchIndex.model_validate(data))

    async def reset_search(self, index_id: str) -> SearchIndex:
        """``POST /v2/search/{id}/reset-password`` (answers ``"OK"``), then re-GET."""
        await self._resource(
            "POST", f"/v2/search/{index_id}/reset-password", f"reset tokens of search index {index_id}"
        )
        return await self.get_search(index_id)

    # -- QStash -------------------------------------------------------------------------
    async def list_qstash_users(self) -> list[QStashUser]:
        """``GET /v2/qstash/users`` (one user per region)."""
        data = await self._get("/v2/qstash/users", "list qstash users")
        return [self._bind(QStashUser.model_validate(d)) for d in self._list(data, "list qstash users")]

    async def get_qstash_user(self, user_id: str) -> QStashUser:
        """``GET /v2/qstash/user/{id}``. :raises NotFoundError: not in this account."""
        data = await self._resource("GET", f"/v2/qstash/user/{user_id}", f"qstash user {user_id}")
        return self._bind(QStashUser.model_validate(data))

    async def rotate_qstash_token(self, user_id: str) -> QStashUser:
        """``POST /v2/qstash/rotate-token/{id}``: the answer carries the new token."""
        data = await self._resource(
            "POST", f"/v2/qstash/rotate-token/{user_id}", f"reset token of qstash user {user_id}"
        )
        user = self._bind(QStashUser.model_validate(data))
        if user.token is None:
            user = await self.get_qstash_user(user_id)
        return user

    # -- account ------------------------------------------------------------------------
    async def list_teams(self) -> list[Team]:
        """``GET /v2/teams``."""
        data = await self._get("/v2/teams", "list teams")
        return [Team.model_validate(d) for d in self._list(data, "list teams")]

    async def list_audit_logs(self) -> list[AuditLog]:
        """``GET /auditlogs`` (no ``/v2``): resets, rotations and other account actions."""
        data = await self._get("/auditlogs", "list audit logs")
        return [AuditLog.model_validate(d) for d in self._list(data, "list audit logs")]
