"""In-memory state of the emulated Upstash account (resources, credentials, audit log).

Values here are plain strings: this is the *server* side, which holds credentials the way
Upstash does. Nothing in this package logs or returns them except where the real API does
(credential fields of the Developer API, ``ACL GENTOKEN`` replies …).
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keyroll.sandbox.upstash.redis_server import RedisServer

__all__ = [
    "AuditEntry",
    "QStashUser",
    "RedisDB",
    "SearchIndex",
    "TokenBinding",
    "UpstashState",
    "VectorIndex",
]

NATIVE = "native"
INTEGRATION = "vercel-integration"


@dataclass
class TokenBinding:
    """What a REST bearer token authenticates as on the real redis-server."""

    user: str
    password: str
    kind: str
    """``rest`` (default user), ``readonly`` (default_ro) or ``acl`` (ACL RESTTOKEN)"""


@dataclass
class RedisDB:
    """One Upstash Redis database (one redis-server process of its own)."""

    id: str
    name: str
    tcp_port: int
    password: str
    rest_token: str
    readonly_token: str
    managed_by: str = NATIVE
    configuration_id: str | None = None
    resync: bool = True
    """integration-managed: a console reset updates the integration's Vercel vars (unconfirmed at
    Upstash; ``resync: false`` in the fleet models the other case)"""
    credential_protection: bool = False
    prod_pack: bool = False
    """Prod Pack on the database (the plan that offers credential protection)"""
    region: str = "us-east-1"
    free: bool = False
    """a free database: no ACL (``ACL SETUSER``/``RESTTOKEN``/``GENTOKEN``/``DELUSER`` fail)"""
    env_prefix: str = ""
    """integration-managed: the custom prefix its Vercel vars were connected with (``REDIS`` →
    ``REDIS_REST_API_TOKEN`` …, in place of ``KV``); the console reset resyncs those names too"""
    reset_drops_acl_users: bool = False
    """emulate the undocumented alternative: a password reset also kills every ACL user's
    passwords (and so their REST tokens); default: ACL users survive (also undocumented)"""
    read_regions: list[str] = field(default_factory=list)
    """a global database's read replicas (reads may lag: see ``redis_rest``'s sync token)"""
    replica_lag_s: float = 0.3
    """a global database's replication lag: an ACL change reaches the read replicas this late"""
    acl_pending: dict[str, tuple[int, float]] = field(default_factory=dict)
    """user → (sync token of the ACL change, monotonic time the replicas see it)"""
    endpoint: str = ""
    """the Developer API's bare host (:mod:`.hosts`), set at install"""
    creation_time: int = field(default_factory=lambda: int(time.time()))
    acl_users: list[dict[str, Any]] = field(default_factory=list)
    """fleet-declared ACL users: ``{name, rules, password}`` (password = a GENTOKEN token)"""
    tokens: dict[str, TokenBinding] = field(default_factory=dict)
    """REST token registry: default + read-only tokens and every ``ACL RESTTOKEN`` result"""
    server: RedisServer | None = None

    @property
    def service(self) -> str:
        """Name of the REST data-plane service in ``World.services``."""
        return f"redis-{self.name}"

    @property
    def readonly_password(self) -> str:
        """TCP password of ``default_ro`` (the sandbox uses the read-only REST token itself)."""
        return self.readonly_token

    @property
    def integration_managed(self) -> bool:
        """True when the Developer API must not see this database."""
        return self.managed_by == INTEGRATION


@dataclass
class VectorIndex:
    """One Vector index: tokens and an in-memory store ``namespace -> id -> record``."""

    id: str
    name: str
    token: str
    readonly_token: str
    dimension: int = 8
    similarity_function: str = "COSINE"
    managed_by: str = NATIVE
    configuration_id: str | None = None
    resync: bool = True
    """integration-managed: a console reset updates the integration's Vercel vars (unconfirmed at
    Upstash; ``resync: false`` in the fleet models the other case)"""
    region: str = "us-east-1"
    endpoint: str = ""
    """the Developer API's slug (:mod:`.hosts`), set at install"""
    creation_time: int = field(default_factory=lambda: int(time.time()))
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {"": {}})

    @property
    def service(self) -> str:
        """Name of the data-plane service."""
        return f"vector-{self.name}"


@dataclass
class SearchIndex:
    """One Search database: tokens and documents ``index -> id -> {content, metadata}``."""

    id: str
    name: str
    token: str
    readonly_token: str
    managed_by: str = NATIVE
    configuration_id: str | None = None
    resync: bool = True
    """integration-managed: a console reset updates the integration's Vercel vars (unconfirmed at
    Upstash; ``resync: false`` in the fleet models the other case)"""
    region: str = "us-central1"
    endpoint: str = ""
    """the Developer API's slug (:mod:`.hosts`), set at install"""
    creation_time: int = field(default_factory=lambda: int(time.time()))
    data: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """Name of the data-plane service."""
        return f"search-{self.name}"


@dataclass
class QStashUser:
    """The QStash user of one region: API token and the two signing keys."""

    id: str
    token: str
    readonly_token: str
    current_signing_key: str
    next_signing_key: str
    region: str = "eu-central-1"
    managed_by: str = NATIVE
    configuration_id: str | None = None
    resync: bool = True
    """integration-managed: a console reset updates the integration's Vercel vars (unconfirmed at
    Upstash; ``resync: false`` in the fleet models the other case)"""
    creation_time: int = field(default_factory=lambda: int(time.time()))
    service: str = "qstash"
    """the region's service in ``World.services`` (``qstash`` for the first region)"""


@dataclass
class AuditEntry:
    """One Developer API audit-log record (``GET /auditlogs``)."""

    action: int
    action_string: str
    entity: str
    secondary_entity: str = "NA"
    source: str = "API_KEY - keyroll-sandbox"
    timestamp: int = field(default_factory=lambda: int(time.time()))
    log_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class UpstashState:
    """Everything the Upstash emulation knows, shared by its services."""

    email: str
    api_key: str
    team_name: str = ""
    redis: dict[str, RedisDB] = field(default_factory=dict)
    vector: dict[str, VectorIndex] = field(default_factory=dict)
    search: dict[str, SearchIndex] = field(default_factory=dict)
    qstash: QStashUser | None = None
    """the QStash user of the first declared region (``qstash.upstash.io``, ``QSTASH_TOKEN``)"""
    qstash_regions: dict[str, QStashUser] = field(default_factory=dict)
    """every region's QStash user (each has its own token and signing keys), the first included"""
    audit: list[AuditEntry] = field(default_factory=list)
    admin_password: str = field(default_factory=lambda: secrets.token_hex(24))
    loop: asyncio.AbstractEventLoop | None = None
    """the sandbox event loop, recorded at startup (the load generator runs in its own thread)"""
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def redis_by_id(self, database_id: str) -> RedisDB | None:
        """Look a database up by id."""
        return next((d for d in self.redis.values() if d.id == database_id), None)

    def vector_by_id(self, index_id: str) -> VectorIndex | None:
        """Look a Vector index up by id."""
        return next((v for v in self.vector.values() if v.id == index_id), None)

    def search_by_id(self, index_id: str) -> SearchIndex | None:
        """Look a Search index up by id."""
        return next((s for s in self.search.values() if s.id == index_id), None)

    def qstash_user(self, region: str) -> QStashUser | None:
        """The QStash user of a region."""
        return self.qstash_regions.get(region)

    def log(self, action: int, action_string: str, entity: str, *, source: str = "") -> None:
        """Append an audit-log entry."""
        entry = AuditEntry(action=action, action_string=action_string, entity=entity)
        if source:
            entry.source = source
        self.audit.append(entry)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Start a background task that is kept alive until it ends (cancelled at shutdown)."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task
