"""Stateful in-memory fakes of the provider Protocols, for the inventory and rotation tests.

:class:`FakeWorld` holds all state of a small team: Redis databases (native and
integration-managed) with real-ish ACL semantics and credential protection, QStash (token +
signing keys), Vector/Search indexes, Vercel projects with env vars (targets, git branches,
custom environments, sensitive, integration-managed, shared vars) and deployments that snapshot
their env, build for ``build_s`` seconds and are promoted to production, and GitHub Actions
secrets. The fakes answer as the real APIs do where keyroll cares: an env list carries
ciphertext (plain values readable, sensitive ones absent) and only the per-id read decrypts;
Upstash reads omit credentials under credential protection; resources of the Vercel
integration are absent from the Developer API; failures carry the real status codes.

Every fake API (:class:`FakeAPI`) counts its calls (``calls[name]``, ``total``) and the peak
number of requests in flight (``peak``), can answer slowly (``latency``) and raises an injected
error per call (``failures[(method, argument)]``). Deployments answer health checks through
:meth:`FakeWorld.http_client` by really checking their snapshotted credentials against the
fakes, and :meth:`FakeWorld.watch` counts failed requests against every serving deployment
while an operation runs (a tiny load generator).

:func:`fake_inventory` builds the :class:`~keyroll.core.model.Inventory` that
``keyroll.inventory.take_inventory`` would produce for the world (values attached).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
import urllib.parse
from collections import Counter
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from keyroll.config import Config
from keyroll.core.errors import AuthError, KeyrollError, NotFoundError, ProviderError
from keyroll.core.model import (
    Confidence,
    Credential,
    CredentialKind,
    DeploymentRef,
    Form,
    Inventory,
    Location,
    LocationKind,
    Management,
    Product,
    Step,
)
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.providers.factory import Providers
from keyroll.providers.github import PublicKey, SecretMeta, SecretScope
from keyroll.providers.upstash.developer import QStashUser, RedisDatabase, SearchIndex, VectorIndex
from keyroll.providers.upstash.probe import ProbeResult
from keyroll.providers.upstash.qstash import SigningKeys
from keyroll.providers.vercel.models import (
    CustomEnvironment,
    Deployment,
    EnvVar,
    EnvVarInput,
    Event,
    IntegrationConfiguration,
    Project,
    SharedEnvVar,
    UpsertResult,
)

__all__ = [
    "FakeDB",
    "FakeWorld",
    "HumanClicker",
    "StaticSecretSource",
    "fake_inventory",
    "plan_json",
    "small_world",
    "token",
]

SEEDED_AT = "2026-04-01T10:00:00Z"
"""``updated_at`` of the GitHub secrets a test puts in the world (``put_secret`` records now)"""

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


def token(prefix: str = "") -> str:
    """A random credential-looking value (long enough for the canary)."""
    return prefix + secrets.token_urlsafe(24)


def _now_ms() -> int:
    return int(time.time() * 1000)


class FakeAPI:
    """Call accounting and fault injection shared by every fake API."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.peak = 0
        self.latency = 0.0
        """seconds each call takes"""
        self.failures: dict[tuple[str, str], KeyrollError] = {}
        """``(method, argument)`` → the error that call raises, e.g. ``("list_env", project_id)``"""

    async def _enter(self, name: str, arg: str = "") -> None:
        self.calls[name] += 1
        exc = self.failures.get((name, arg))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
        finally:
            self.in_flight -= 1
        if exc is not None:
            raise exc

    @property
    def total(self) -> int:
        """Calls of every method so far."""
        return sum(self.calls.values())


# ---------------------------------------------------------------------------------------- Redis
@dataclass
class RedisUser:
    name: str
    passwords: set[str] = field(default_factory=set)
    on: bool = True
    readonly: bool = False
    admin: bool = True


@dataclass
class FakeDB:
    """A Redis database: ACL users, REST tokens, data; ``host`` is the Developer API ``endpoint``."""

    id: str
    name: str
    host: str
    management: Management = Management.NATIVE
    users: dict[str, RedisUser] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    """REST token → (user, password)"""
    password: str = ""
    rest_token: str = ""
    ro_password: str = ""
    ro_token: str = ""
    data: dict[str, str] = field(default_factory=dict)
    credential_protection: bool = False
    """reads of the Developer API omit the credentials"""

    @property
    def url(self) -> str:
        """The REST URL."""
        return f"https://{self.host}"

    def reset(self, *, rest_token: str | None = None) -> None:
        """Developer API reset: new default password, both default tokens; old ones die.

        :param rest_token: the new standard token (tests that need a known value).
        """
        for tok in (self.rest_token, self.ro_token):
            self.tokens.pop(tok, None)
        self.password, self.ro_password = token(), token()
        self.rest_token, self.ro_token = rest_token or token("AX"), token("An")
        self.users["default"] = RedisUser("default", {self.password})
        self.users["default_ro"] = RedisUser("default_ro", {self.ro_password}, readonly=True, admin=False)
        self.tokens[self.rest_token] = ("default", self.password)
        self.tokens[self.ro_token] = ("default_ro", self.ro_password)

    def issue_token(self, user: str, password: str) -> str:
        """A REST token for ``user`` with ``password`` (``ACL RESTTOKEN``)."""
        tok = token("AY")
        self.tokens[tok] = (user, password)
        return tok

    def add_user(self, name: str) -> str:
        """An ACL user with every command and one password; returns its REST token."""
        password = token()
        self.users[name] = RedisUser(name, {password})
        return self.issue_token(name, password)

    def auth(self, token: str) -> RedisUser | None:
        entry = self.tokens.get(token)
        if entry is None:
            return None
        user = self.users.get(entry[0])
        if user is None or not user.on or entry[1] not in user.passwords:
            return None
        return user

    def tcp_auth(self, user: str, password: str) -> bool:
        u = self.users.get(user)
        return u is not None and u.on and password in u.passwords

    def api(self, *, show_credentials: bool | None = None) -> RedisDatabase:
        """The Developer API's view; credentials omitted under credential protection unless shown."""
        shown = not self.credential_protection if show_credentials is None else show_credentials
        return RedisDatabase(
            database_id=self.id,
            database_name=self.name,
            endpoint=self.host,
            port=6379,
            db_acl_enabled="true",
            prod_pack_enabled=self.credential_protection,
            password=Secret(self.password) if shown else None,
            rest_token=Secret(self.rest_token) if shown else None,
            read_only_rest_token=Secret(self.ro_token) if shown else None,
        )


def _redis_error(message: str) -> ProviderError:
    return ProviderError(f"redis: HTTP 400 — {message}", service="redis", status=400)


class FakeRedis(FakeAPI):
    """:class:`keyroll.providers.upstash.redis.RedisREST` over :class:`FakeDB` objects (by URL)."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.gentoken_supported = True

    def _db(self, url: str) -> FakeDB:
        for db in self.world.dbs.values():
            if db.url == url.rstrip("/"):
                return db
        raise NotFoundError(f"redis: no database at {url}", service="redis", status=404)

    async def command(self, url: str, token: Secret, *args: Any) -> Any:
        await self._enter("command", url)
        db = self._db(url)
        user = db.auth(token.reveal())
        if user is None:
            raise AuthError(
                "redis: HTTP 401 — WRONGPASS invalid or missing auth token", service="redis", status=401
            )
        cmd = [a.reveal() if isinstance(a, Secret) else str(a) for a in args]
        name = cmd[0].upper()
        if name == "PING":
            return "PONG"
        if name in ("GET", "EXISTS"):
            return db.data.get(cmd[1]) if name == "GET" else int(cmd[1] in db.data)
        if name == "SET":
            if user.readonly:
                raise _redis_error("NOPERM this user has no permissions to run the 'set' command")
            db.data[cmd[1]] = cmd[2]
            return "OK"
        if name == "ACL":
            if not user.admin:
                raise _redis_error("NOPERM")
            return self._acl(db, user, cmd[1:])
        raise _redis_error(f"ERR unknown command '{name}'")

    def _acl(self, db: FakeDB, caller: RedisUser, cmd: list[str]) -> Any:
        sub = cmd[0].upper()
        if sub == "GENTOKEN":
            if not self.gentoken_supported:
                raise _redis_error("ERR unknown subcommand")
            return token("gt_")
        if sub == "WHOAMI":
            return caller.name
        if sub == "SETUSER":
            return self._setuser(db, cmd[1], cmd[2:])
        if sub == "RESTTOKEN":
            name, pw = cmd[1], cmd[2]
            user = db.users.get(name)
            if user is None or pw not in user.passwords:
                raise _redis_error(f'ERR Wrong password or user "{name}" does not exist')
            return db.issue_token(name, pw)
        if sub == "DELUSER":
            n = 0
            for name in cmd[1:]:
                if name == "default":
                    raise _redis_error("ERR default cannot be deleted")
                if db.users.pop(name, None) is not None:
                    n += 1
            return n
        raise _redis_error("ERR unknown ACL subcommand")

    @staticmethod
    def _setuser(db: FakeDB, name: str, rules: list[str]) -> str:
        if name == "default":
            raise _redis_error("ERR default user cannot be modified")
        user = db.users.setdefault(name, RedisUser(name, on=False))
        for rule in rules:
            if rule == "reset":
                user.passwords.clear()
                user.on, user.readonly, user.admin = False, False, False
            elif rule == "on":
                user.on = True
            elif rule == "off":
                user.on = False
            elif rule == "resetpass":
                user.passwords.clear()
            elif rule.startswith(">"):
                user.passwords.add(rule[1:])
            elif rule.startswith("<"):
                if rule[1:] not in user.passwords:
                    raise _redis_error("ERR Error in ACL SETUSER modifier")
                user.passwords.discard(rule[1:])
            elif rule == "+@all":
                user.admin, user.readonly = True, False
            elif rule == "+@read":
                user.readonly, user.admin = True, False
        return "OK"

    async def pipeline(self, url: str, token: Secret, commands: Any) -> list[Any]:
        return [await self.command(url, token, *c) for c in commands]

    async def probe(self, url: str, token: Secret) -> ProbeResult:
        try:
            await self.command(url, token, "PING")
        except AuthError:
            return ProbeResult.REJECTED
        return ProbeResult.ACCEPTED


# -------------------------------------------------------------------------------- Upstash API
_INDEX_PREFIXES = {"vector": ("VT", "VR"), "search": ("ST", "SR")}


@dataclass
class FakeIndexState:
    """A Vector or Search index; ``host`` is the Developer API ``endpoint``."""

    id: str
    name: str
    product: str
    host: str
    token: str = ""
    ro_token: str = ""

    def __post_init__(self) -> None:
        if not self.token:
            self.reset()

    @property
    def url(self) -> str:
        """The data-API URL."""
        return f"https://{self.host}"

    def reset(self) -> None:
        """New regular and read-only tokens; the old ones die."""
        rw, ro = _INDEX_PREFIXES[self.product]
        self.token, self.ro_token = token(rw), token(ro)

    def api(self) -> VectorIndex | SearchIndex:
        """The Developer API's view."""
        model = VectorIndex if self.product == "vector" else SearchIndex
        return model(
            id=self.id,
            name=self.name,
            endpoint=self.host,
            token=Secret(self.token),
            read_only_token=Secret(self.ro_token),
        )


class FakeDeveloper(FakeAPI):
    """:class:`DeveloperAPI` over the world's databases, indexes and QStash user.

    Integration-managed databases live in a Vercel-owned account: absent from lists, 404 here.
    ``resets`` records ``(resource id, time)`` of every reset and token rotation.
    """

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.resets: list[tuple[str, float]] = []

    def _native(self, db_id: str) -> FakeDB:
        db = self.world.dbs.get(db_id)
        if db is None or db.management is not Management.NATIVE:
            raise NotFoundError(f"upstash: database {db_id} not found", service="upstash", status=404)
        return db

    async def list_redis(self) -> list[RedisDatabase]:
        await self._enter("list_redis")
        return [db.api() for db in self.world.dbs.values() if db.management is Management.NATIVE]

    async def get_redis(self, database_id: str) -> RedisDatabase:
        await self._enter("get_redis", database_id)
        return self._native(database_id).api()

    async def reset_redis_password(self, database_id: str) -> RedisDatabase:
        await self._enter("reset_redis_password", database_id)
        db = self._native(database_id)
        db.reset()
        self.resets.append((database_id, time.time()))
        return db.api(show_credentials=True)  # shown once, even under credential protection

    def _index(self, product: str, index_id: str) -> FakeIndexState:
        idx = self.world.indexes.get(index_id)
        if idx is None or idx.product != product:
            raise NotFoundError(
                f"upstash: {product} index {index_id} not found", service="upstash", status=404
            )
        return idx

    async def _list_indexes(self, product: str) -> list[Any]:
        await self._enter(f"list_{product}")
        return [i.api() for i in self.world.indexes.values() if i.product == product]

    async def _get_index(self, product: str, index_id: str) -> Any:
        await self._enter(f"get_{product}", index_id)
        return self._index(product, index_id).api()

    async def _reset_index(self, product: str, index_id: str) -> Any:
        await self._enter(f"reset_{product}", index_id)
        idx = self._index(product, index_id)
        idx.reset()
        self.resets.append((index_id, time.time()))
        return idx.api()

    async def list_vector(self) -> list[VectorIndex]:
        return await self._list_indexes("vector")

    async def get_vector(self, index_id: str) -> VectorIndex:
        return await self._get_index("vector", index_id)  # type: ignore[no-any-return]

    async def reset_vector(self, index_id: str) -> VectorIndex:
        return await self._reset_index("vector", index_id)  # type: ignore[no-any-return]

    async def list_search(self) -> list[SearchIndex]:
        return await self._list_indexes("search")

    async def get_search(self, index_id: str) -> SearchIndex:
        return await self._get_index("search", index_id)  # type: ignore[no-any-return]

    async def reset_search(self, index_id: str) -> SearchIndex:
        return await self._reset_index("search", index_id)  # type: ignore[no-any-return]

    async def list_qstash_users(self) -> list[QStashUser]:
        await self._enter("list_qstash_users")
        return [self.world.qstash_user()] if self.world.qstash_state else []

    async def rotate_qstash_token(self, user_id: str) -> QStashUser:
        await self._enter("rotate_qstash_token", user_id)
        q = self.world.qstash_state
        if not q or q["user_id"] != user_id:
            raise NotFoundError(f"upstash: qstash user {user_id} not found", service="upstash", status=404)
        q["token"] = token("eyJVc2VySUQi")
        if q["ro_token"]:
            q["ro_token"] = token("eyJVc2VyUk8i")
        self.resets.append((user_id, time.time()))
        return self.world.qstash_user()


class FakeQStash(FakeAPI):
    """:class:`QStashAPI`: signing keys and token checks against the world's QStash user."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.rolls = 0

    @property
    def current(self) -> Secret:
        """The current signing key."""
        return Secret(self.world.qstash_state["current"])

    @property
    def next(self) -> Secret:
        """The next signing key."""
        return Secret(self.world.qstash_state["next"])

    def _keys(self, token: Secret, what: str) -> SigningKeys:
        if not self.world.qstash_state or token.reveal() != self.world.qstash_state["token"]:
            raise AuthError(f"qstash: {what}: HTTP 401", service="qstash", status=401)
        return SigningKeys(current=self.current, next=self.next)

    async def get_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        await self._enter("get_keys")
        return self._keys(token, "GET /v2/keys")

    async def rotate_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        await self._enter("rotate_keys")
        self._keys(token, "POST /v2/keys/rotate")
        q = self.world.qstash_state
        q["current"], q["next"] = q["next"], "sig_" + secrets.token_urlsafe(24)  # `token` is shadowed
        self.rolls += 1
        return self._keys(token, "POST /v2/keys/rotate")

    async def check_token(self, token: Secret, *, url: str | None = None) -> bool:
        await self._enter("check_token")
        return bool(self.world.qstash_state) and token.reveal() == self.world.qstash_state["token"]


class FakeIndexAPI(FakeAPI):
    """:class:`IndexAPI` for Vector/Search."""

    def __init__(self, world: FakeWorld, product: str) -> None:
        super().__init__(world)
        self.product = product

    async def info(self, url: str, token: Secret) -> dict[str, Any]:
        await self._enter("info", url)
        for i in self.world.indexes.values():
            if i.url == url.rstrip("/") and token.reveal() in (i.token, i.ro_token):
                return {"vectorCount": 0}
        raise AuthError(
            f"{self.product}: HTTP 401 — Unauthorized: Invalid auth token", service=self.product, status=401
        )

    async def check_write(self, url: str, token: Secret) -> bool:
        await self._enter("check_write", url)
        return any(
            i.url == url.rstrip("/") and token.reveal() == i.token for i in self.world.indexes.values()
        )


# --------------------------------------------------------------------------------------- Vercel
@dataclass
class FakeEnv:
    id: str
    key: str
    value: str
    type: str = "encrypted"
    target: list[str] = field(default_factory=list)
    git_branch: str | None = None
    custom_environment_ids: list[str] = field(default_factory=list)
    configuration_id: str | None = None
    content_hint: dict[str, Any] | None = None
    comment: str | None = None
    updated_at: int = field(default_factory=_now_ms)


@dataclass
class FakeDeployment:
    """A deployment: builds for ``build_s`` seconds from ``created_at``, then ends in ``outcome``."""

    id: str
    project_id: str
    target: str | None
    git_branch: str = ""
    custom_environment_id: str = ""
    env: dict[str, str] = field(default_factory=dict)
    created_at: int = field(default_factory=_now_ms)
    build_s: float = 0.0
    outcome: str = "READY"
    """READY, ERROR or CANCELED"""
    promote: bool = True
    """a production build takes the production alias once READY (off: a staged build)"""
    queued_s: float = 0.0
    """seconds QUEUED for a build slot before ``build_s`` of building"""

    @property
    def building_at(self) -> int | None:
        """When the build started (ms), once it left QUEUED."""
        start = self.created_at + int(self.queued_s * 1000)
        return start if time.time() * 1000 >= start else None

    @property
    def state(self) -> str:
        age_ms = time.time() * 1000 - self.created_at
        if age_ms < self.queued_s * 1000:
            return "QUEUED"
        if age_ms < (self.queued_s + self.build_s) * 1000:
            return "BUILDING"
        return self.outcome


@dataclass
class FakeProject:
    id: str
    name: str
    env: dict[str, FakeEnv] = field(default_factory=dict)
    custom_envs: dict[str, str] = field(default_factory=dict)
    """id → slug"""
    paused: bool = False
    link_repo: str = ""
    """``owner/repo`` of the linked GitHub repository"""
    ignored_build_step: str | None = None
    """``commandForIgnoringBuildStep``"""


def _scoped_value(data: dict[str, Any], value: str, *, decrypt: bool) -> dict[str, Any]:
    """Add ``value``/``decrypted`` as the API sends them: ciphertext unless decrypted or plain,
    nothing for sensitive vars."""
    if data["type"] == "sensitive":
        return {**data, "decrypted": False}
    readable = decrypt or data["type"] == "plain"
    opaque = "eyJ2IjoxLCJjIjoi" + secrets.token_hex(8)
    return {**data, "value": value if readable else opaque, "decrypted": decrypt and data["type"] != "plain"}


class FakeVercel(FakeAPI):
    """:class:`VercelAPI`: projects, env vars, shared vars, deployments that build and promote.

    Fault injection besides ``failures``: ``partial_failures``, ``fail_builds``,
    ``edit_failures`` and ``on_redeploy``.
    """

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.partial_failures = 0
        """the next upsert puts this many items in ``failed[]``"""
        self.fail_builds: set[str] = set()
        """project ids whose next builds end in ERROR"""
        self.edit_failures: dict[str, int] = {}
        """env id → times edit_env answers 500 before succeeding"""
        self.on_redeploy: Any = None
        """called with the source deployment before each redeploy (tests raise from it)"""

    def _project(self, id_or_name: str) -> FakeProject:
        for p in self.world.projects.values():
            if id_or_name in (p.id, p.name):
                return p
        raise NotFoundError(f"vercel: project {id_or_name}: HTTP 404 not_found", service="vercel", status=404)

    def _env(self, project_id: str, env_id: str) -> FakeEnv:
        env = self._project(project_id).env.get(env_id)
        if env is None:
            raise NotFoundError(f"vercel: env {env_id}: HTTP 404 not_found", service="vercel", status=404)
        return env

    @staticmethod
    def _env_model(e: FakeEnv, *, decrypt: bool) -> EnvVar:
        data = {
            "id": e.id,
            "key": e.key,
            "type": e.type,
            "target": list(e.target),
            "gitBranch": e.git_branch,
            "customEnvironmentIds": list(e.custom_environment_ids),
            "configurationId": e.configuration_id,
            "contentHint": e.content_hint,
            "comment": e.comment,
            "updatedAt": e.updated_at,
        }
        return EnvVar.model_validate(_scoped_value(data, e.value, decrypt=decrypt))

    def _project_model(self, p: FakeProject) -> Project:
        body: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "paused": p.paused,
            "targets": {},
            "commandForIgnoringBuildStep": p.ignored_build_step,
        }
        prod = self.world.production(p.id)
        if prod is not None:
            body["targets"] = {
                "production": {"id": prod.id, "url": f"{prod.id}.fake.vercel.app", "readyState": "READY"}
            }
        if p.link_repo:
            org, repo = p.link_repo.split("/")
            body["link"] = {"type": "github", "org": org, "repo": repo}
        return Project.model_validate(body)

    async def list_projects(self) -> list[Project]:
        await self._enter("list_projects")
        return [self._project_model(p) for p in self.world.projects.values()]

    async def find_projects(self, ids: Any, *, max_pages: int) -> dict[str, Project]:
        """The project list in pages of 100 (one counted call each), stopping once all were seen."""
        wanted, out = set(ids), {}
        projects = list(self.world.projects.values())
        for page in range(max(0, max_pages)):
            await self._enter("list_projects")
            for p in projects[page * 100 : (page + 1) * 100]:
                if p.id in wanted:
                    out[p.id] = self._project_model(p)
            if wanted <= set(out) or (page + 1) * 100 >= len(projects):
                break
        return out

    async def get_project(self, id_or_name: str) -> Project:
        await self._enter("get_project", id_or_name)
        return self._project_model(self._project(id_or_name))

    async def list_env(self, project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        await self._enter("list_env", project_id)
        return [self._env_model(e, decrypt=False) for e in self._project(project_id).env.values()]

    async def get_env(self, project_id: str, env_id: str) -> EnvVar:
        await self._enter("get_env", env_id)
        return self._env_model(self._env(project_id, env_id), decrypt=True)

    async def upsert_env(self, project_id: str, items: list[EnvVarInput]) -> UpsertResult:
        await self._enter("upsert_env", project_id)
        p = self._project(project_id)
        created, failed = [], []
        for item in items:
            if self.partial_failures > 0:
                self.partial_failures -= 1
                failed.append(
                    {"error": {"code": "internal_server_error", "message": "try again", "key": item.key}}
                )
                continue
            match = next(
                (
                    e
                    for e in p.env.values()
                    if e.key == item.key
                    and sorted(e.target) == sorted(item.target)
                    and (e.git_branch or None) == (item.git_branch or None)
                    and sorted(e.custom_environment_ids) == sorted(item.custom_environment_ids)
                ),
                None,
            )
            if match is None:
                match = FakeEnv(
                    _id("env_"),
                    item.key,
                    item.value.reveal(),
                    item.type,
                    list(item.target),
                    item.git_branch,
                    list(item.custom_environment_ids),
                )
                p.env[match.id] = match
            else:
                match.value, match.type, match.updated_at = item.value.reveal(), item.type, _now_ms()
            created.append(self._env_model(match, decrypt=False))
        return UpsertResult(created=created, failed=failed)

    async def edit_env(self, project_id: str, env_id: str, **changes: Any) -> EnvVar:
        await self._enter("edit_env", env_id)
        env = self._env(project_id, env_id)
        if self.edit_failures.get(env_id, 0) > 0:
            self.edit_failures[env_id] -= 1
            raise ProviderError("vercel: HTTP 500", service="vercel", status=500)
        if "value" in changes:
            v = changes["value"]
            env.value = v.reveal() if isinstance(v, Secret) else str(v)
        env.updated_at = _now_ms()
        return self._env_model(env, decrypt=False)

    async def delete_env(self, project_id: str, env_id: str) -> None:
        await self._enter("delete_env", env_id)
        self._project(project_id).env.pop(env_id, None)

    async def list_custom_environments(self, project_id: str) -> list[CustomEnvironment]:
        await self._enter("list_custom_environments", project_id)
        return [CustomEnvironment(id=i, slug=s) for i, s in self._project(project_id).custom_envs.items()]

    def _shared_model(self, env_id: str, *, decrypt: bool) -> SharedEnvVar:
        s = self.world.shared.get(env_id)
        if s is None:
            raise NotFoundError(
                f"vercel: shared env {env_id}: HTTP 404 not_found", service="vercel", status=404
            )
        data = {
            "id": env_id,
            "key": s["key"],
            "type": s["type"],
            "target": s["target"],
            "projectId": s["projects"],
        }
        return SharedEnvVar.model_validate(_scoped_value(data, s["value"], decrypt=decrypt))

    async def list_shared_env(self) -> list[SharedEnvVar]:
        await self._enter("list_shared_env")
        return [self._shared_model(i, decrypt=False) for i in self.world.shared]

    async def get_shared_env(self, env_id: str) -> SharedEnvVar:
        await self._enter("get_shared_env", env_id)
        return self._shared_model(env_id, decrypt=True)

    async def update_shared_env(self, updates: dict[str, dict[str, Any]]) -> UpsertResult:
        await self._enter("update_shared_env")
        for env_id, change in updates.items():
            v = change.get("value")
            if v is not None:
                self.world.shared[env_id]["value"] = v.reveal() if isinstance(v, Secret) else str(v)
        return UpsertResult()

    async def list_integration_configurations(self) -> list[IntegrationConfiguration]:
        await self._enter("list_integration_configurations")
        return list(self.world.configs)

    async def list_deployments(
        self, project_id: str | None, *, limit: int | None = 100, **query: Any
    ) -> list[Deployment]:
        """Newest first; ``query``: the API's ``target``, ``state`` and ``since`` (ms) filters."""
        await self._enter("list_deployments", project_id or "")
        target, state, since = query.get("target"), query.get("state"), query.get("since")
        out = [
            self._dep_model(d)
            for d in self.world.deployments.values()
            if (project_id is None or d.project_id == project_id)
            and (target is None or d.target == target)
            and (state is None or d.state == state)
            and (since is None or d.created_at > since)
        ]
        return sorted(out, key=lambda d: -d.created_at)[:limit]

    def _dep_model(self, d: FakeDeployment) -> Deployment:
        return Deployment(
            id=d.id,
            url=f"{d.id}.fake.vercel.app",
            name=self.world.projects[d.project_id].name,
            projectId=d.project_id,
            target=d.target,
            readyState=d.state,
            createdAt=d.created_at,
            buildingAt=d.building_at,
            git_branch=d.git_branch,
            custom_environment_id=d.custom_environment_id,
        )

    async def get_deployment(self, id_or_url: str) -> Deployment:
        await self._enter("get_deployment", id_or_url)
        d = self.world.deployments.get(id_or_url.split(".", 1)[0])
        if d is None:
            raise NotFoundError(f"vercel: deployment {id_or_url} not found", service="vercel", status=404)
        return self._dep_model(d)

    async def redeploy(self, deployment: Deployment, *, target: str | None = None) -> Deployment:
        await self._enter("redeploy", deployment.id)
        if self.on_redeploy is not None:
            self.on_redeploy(deployment)
        src = self.world.deployments.get(deployment.id)
        if src is None:
            raise NotFoundError(f"vercel: deployment {deployment.id} not found", service="vercel", status=404)
        if not deployment.name:
            raise ProviderError(
                "vercel: HTTP 400 bad_request — name is required", service="vercel", status=400
            )
        d = self.world.deploy(
            src.project_id,
            target=src.target,
            git_branch=src.git_branch,
            custom_environment_id=src.custom_environment_id,
        )
        if src.project_id in self.fail_builds:
            d.outcome = "ERROR"
        if self.world.projects[src.project_id].ignored_build_step:
            d.outcome = "CANCELED"  # Vercel's Ignored Build Step skips a same-commit redeploy
        return self._dep_model(d)

    async def list_events(
        self, *, since: int | None = None, until: int | None = None, types: list[str] | None = None
    ) -> list[Event]:
        await self._enter("list_events")
        return []

    async def update_project(self, id_or_name: str, **settings: Any) -> Project:
        await self._enter("update_project", id_or_name)
        p = self._project(id_or_name)
        if "commandForIgnoringBuildStep" in settings:
            p.ignored_build_step = settings["commandForIgnoringBuildStep"]
        return self._project_model(p)

    async def get_team(self) -> dict[str, Any]:
        await self._enter("get_team")
        return {"id": "team_fake", "slug": "fake", "billing": {"plan": self.world.vercel_plan}}


# --------------------------------------------------------------------------------------- GitHub
class FakeGitHub(FakeAPI):
    """:class:`GitHubAPI` over ``world.github`` (values in plaintext: tests read them directly)."""

    def __init__(self, world: FakeWorld) -> None:
        super().__init__(world)
        self.denied: set[str] = set()
        """scope labels whose token lacks a scope (403)"""
        self.environments: dict[str, list[str]] = {}
        """repo → environments that exist besides those holding secrets"""

    def _check(self, scope: SecretScope) -> None:
        if scope.label() in self.denied:
            raise AuthError(
                f"github: {scope.label()}: HTTP 403 — Resource not accessible by integration",
                service="github",
                status=403,
            )

    async def list_environments(self, repo: str) -> list[str]:
        await self._enter("list_environments", repo)
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
        self.world.github.pop((scope.label(), name), None)
        self.world.github_updated.pop((scope.label(), name), None)


# ---------------------------------------------------------------------------------------- world
@dataclass
class FakeWorld:
    """All fake state; ``build_s`` is how long each new deployment builds."""

    build_s: float = 0.05
    dbs: dict[str, FakeDB] = field(default_factory=dict)
    indexes: dict[str, FakeIndexState] = field(default_factory=dict)
    qstash_state: dict[str, str] = field(default_factory=dict)
    projects: dict[str, FakeProject] = field(default_factory=dict)
    shared: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, FakeDeployment] = field(default_factory=dict)
    configs: list[IntegrationConfiguration] = field(default_factory=list)
    github: dict[tuple[str, str], str] = field(default_factory=dict)
    """(scope label, secret name) → value"""
    github_updated: dict[tuple[str, str], str] = field(default_factory=dict)
    """(scope label, secret name) → ``updated_at`` when written by ``put_secret``"""
    failures: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    vercel_plan: str = "pro"
    """``billing.plan`` of the fake team"""

    def __post_init__(self) -> None:
        self.redis = FakeRedis(self)
        self.developer = FakeDeveloper(self)
        self.qstash = FakeQStash(self)
        self.vercel = FakeVercel(self)
        self.gh = FakeGitHub(self)
        self.vector = FakeIndexAPI(self, "vector")
        self.search = FakeIndexAPI(self, "search")

    # -- building the world
    def add_db(self, name: str, management: Management = Management.NATIVE, *, host: str = "") -> FakeDB:
        db = FakeDB(_id("db_"), name, host or f"{name}.fake-upstash.io", management)
        db.reset()
        self.dbs[db.id] = db
        return db

    def add_index(self, name: str, product: str = "vector", *, host: str = "") -> FakeIndexState:
        idx = FakeIndexState(_id("idx_"), name, product, host or f"{name}-{product}.fake-upstash.io")
        self.indexes[idx.id] = idx
        return idx

    def add_qstash(self, *, read_only: bool = True) -> dict[str, str]:
        """The QStash user (``read_only``: it has a read-only token too) and its signing keys."""
        self.qstash_state = {
            "user_id": "qs_user_1",
            "region": "eu-central-1",
            "token": token("eyJVc2VySUQi"),
            "ro_token": token("eyJVc2VyUk8i") if read_only else "",
            "current": token("sig_"),
            "next": token("sig_"),
        }
        return self.qstash_state

    def qstash_user(self) -> QStashUser:
        """The Developer API's view of the QStash user."""
        q = self.qstash_state
        return QStashUser(
            id=q["user_id"],
            region=q["region"],
            token=Secret(q["token"]),
            read_only_token=Secret(q["ro_token"]) if q["ro_token"] else None,
        )

    def add_project(
        self,
        name: str,
        custom_envs: dict[str, str] | None = None,
        *,
        paused: bool = False,
        link_repo: str = "",
    ) -> FakeProject:
        p = FakeProject(
            f"prj_{name}", name, custom_envs=dict(custom_envs or {}), paused=paused, link_repo=link_repo
        )
        self.projects[p.id] = p
        return p

    def _project(self, project: FakeProject | str) -> FakeProject:
        return project if isinstance(project, FakeProject) else self.projects[project]

    def add_env(
        self,
        project: FakeProject | str,
        key: str,
        value: str,
        target: list[str] | None = None,
        **kw: Any,
    ) -> FakeEnv:
        """A project env var (``kw``: the other :class:`FakeEnv` fields)."""
        e = FakeEnv(_id("env_"), key, value, target=list(target or []), **kw)
        self._project(project).env[e.id] = e
        return e

    def add_shared(
        self,
        key: str,
        value: str,
        projects: list[str],
        target: list[str] | None = None,
        type: str = "encrypted",
    ) -> str:
        sid = _id("shr_")
        self.shared[sid] = {
            "key": key,
            "value": value,
            "type": type,
            "target": target or ["production", "preview"],
            "projects": projects,
        }
        return sid

    def snapshot(
        self, project_id: str, target: str | None, git_branch: str = "", custom_environment_id: str = ""
    ) -> dict[str, str]:
        env: dict[str, str] = {}
        tgt = target or "preview"
        for s in self.shared.values():
            if project_id in s["projects"] and (custom_environment_id or tgt in s["target"]):
                env[s["key"]] = s["value"]
        for e in self.projects[project_id].env.values():
            if custom_environment_id:
                if custom_environment_id in e.custom_environment_ids:
                    env[e.key] = e.value
                continue
            if tgt not in e.target:
                continue
            if e.git_branch and e.git_branch != git_branch:
                continue
            env[e.key] = e.value
        return env

    def deploy(
        self,
        project_id: str,
        *,
        target: str | None = None,
        git_branch: str = "",
        custom_environment_id: str = "",
        ready: bool = False,
        created_at: int | None = None,
        outcome: str = "READY",
        promote: bool = True,
    ) -> FakeDeployment:
        """A deployment built from the env as it is now.

        :param ready: built already (else it builds for ``build_s`` from now).
        :param created_at: ms timestamp (given: the build is long over).
        :param outcome: the state the build ends in.
        :param promote: a production build takes the production alias (off: staged).
        """
        d = FakeDeployment(
            _id("dpl_"),
            project_id,
            target,
            git_branch,
            custom_environment_id,
            self.snapshot(project_id, target, git_branch, custom_environment_id),
            build_s=0.0 if ready or created_at is not None else self.build_s,
            outcome=outcome,
            promote=promote,
        )
        if created_at is not None:
            d.created_at = created_at
        elif ready:
            d.created_at -= 1000
        self.deployments[d.id] = d
        return d

    # -- serving and health
    def production(self, project_id: str) -> FakeDeployment | None:
        """The deployment the production alias points at: the newest promoted READY build."""
        prods = [
            d
            for d in self.deployments.values()
            if d.project_id == project_id and d.target == "production" and d.promote and d.state == "READY"
        ]
        return max(prods, key=lambda d: d.created_at) if prods else None

    def serving(self) -> list[FakeDeployment]:
        """Current production per project, latest READY per preview branch and custom env."""
        best: dict[tuple[str, str, str], FakeDeployment] = {}
        for d in self.deployments.values():
            if d.state != "READY" or d.target == "production":
                continue
            key = (d.project_id, d.target or "preview", d.custom_environment_id or d.git_branch)
            if key not in best or d.created_at > best[key].created_at:
                best[key] = d
        prods = (self.production(p) for p in self.projects)
        return [d for d in prods if d is not None] + list(best.values())

    def health(self, d: FakeDeployment) -> tuple[bool, str]:
        """Does this deployment's snapshot still work? (the key of the first failing var)"""
        env = d.env
        for key, value in sorted(env.items()):
            k = key.upper()
            if k.endswith(("REST_TOKEN", "READ_ONLY_TOKEN")) and (
                "REDIS" in k or k.startswith("KV_") or "_KV_" in k
            ):
                if not any(db.auth(value) for db in self.dbs.values()):
                    return False, key
            elif k.endswith(("REDIS_URL", "KV_URL")):
                parts = urllib.parse.urlsplit(value)
                user, pw = (
                    urllib.parse.unquote(parts.username or ""),
                    urllib.parse.unquote(parts.password or ""),
                )
                if not any(db.host == parts.hostname and db.tcp_auth(user, pw) for db in self.dbs.values()):
                    return False, key
            elif k.endswith("QSTASH_TOKEN") and self.qstash_state:
                if value != self.qstash_state["token"]:
                    return False, key
            elif k.endswith(("VECTOR_REST_TOKEN", "SEARCH_REST_TOKEN")) and not any(
                value in (i.token, i.ro_token) for i in self.indexes.values()
            ):
                return False, key
        if self.qstash_state and "QSTASH_CURRENT_SIGNING_KEY" in env:
            held = {env.get("QSTASH_CURRENT_SIGNING_KEY"), env.get("QSTASH_NEXT_SIGNING_KEY")}
            if self.qstash_state["current"] not in held:
                return False, "QSTASH_CURRENT_SIGNING_KEY"
        return True, ""

    def http_client(self) -> httpx.AsyncClient:
        """An httpx client whose requests to ``<dpl>.fake.vercel.app`` hit the deployments."""

        def handler(request: httpx.Request) -> httpx.Response:
            dep_id = request.url.host.split(".", 1)[0]
            d = self.deployments.get(dep_id)
            if d is None or d.state != "READY":
                return httpx.Response(404, json={"error": {"code": "DEPLOYMENT_NOT_FOUND"}})
            ok, key = self.health(d)
            fps = sorted({fingerprint_of(v) for v in d.env.values()})
            if not ok:
                return httpx.Response(500, json={"error": f"credential {key} rejected"})
            return httpx.Response(200, json={"ok": True, "fingerprints": fps})

        return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    @contextlib.asynccontextmanager
    async def watch(self, interval: float = 0.003) -> AsyncIterator[list[dict[str, Any]]]:
        """Hit every serving deployment every ``interval`` seconds; yields the failure list."""
        failures: list[dict[str, Any]] = []
        stop = asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                for d in self.serving():
                    self.requests += 1
                    ok, key = self.health(d)
                    if not ok:
                        failures.append(
                            {"t": time.time(), "deployment": d.id, "project": d.project_id, "key": key}
                        )
                await asyncio.sleep(interval)

        task = asyncio.create_task(loop())
        try:
            yield failures
        finally:
            stop.set()
            await task

    def providers(self, *, only: Collection[str] | None = None, **cfg: Any) -> Providers:
        """A :class:`Providers` bundle over the fakes.

        :param only: the services configured (e.g. ``{"vercel", "upstash"}``); the others are ``None``.
        :param cfg: :class:`Config` fields (default: a Vercel token and the world's QStash token).
        """
        cfg.setdefault("vercel_token", Secret("vercel-token-0123456789"))
        cfg.setdefault("qstash_token", Secret(self.qstash_state["token"]) if self.qstash_state else None)
        apis: dict[str, Any] = {
            "vercel": self.vercel,
            "github": self.gh,
            "upstash": self.developer,
            "qstash": self.qstash,
            "redis": self.redis,
            "vector": self.vector,
            "search": self.search,
        }
        chosen: dict[str, Any] = {k: v for k, v in apis.items() if only is None or k in only}
        return Providers(config=Config(**cfg), **chosen)

    def env_values(self, key: str) -> list[str]:
        """Every current value of vars named ``key`` (project and shared)."""
        out = [e.value for p in self.projects.values() for e in p.env.values() if e.key == key]
        out += [s["value"] for s in self.shared.values() if s["key"] == key]
        return out


# ------------------------------------------------------------------------------------ inventory
_KEY_KINDS = [
    ("READ_ONLY_TOKEN", CredentialKind.READONLY_REST_TOKEN),
    ("REST_API_TOKEN", CredentialKind.REST_TOKEN),
    ("REDIS_REST_TOKEN", CredentialKind.REST_TOKEN),
]


def fake_inventory(
    world: FakeWorld,
    *,
    generated_at: str = "2026-01-01T00:00:00Z",
    files: Sequence[tuple[str, int, str]] = (),
) -> Inventory:
    """What ``take_inventory`` would report for ``world`` (values attached).

    :param files: ``(path, line, value)`` of local file copies to include.
    """
    creds: dict[str, Credential] = {}
    locs: list[Location] = []

    def cred(
        value: str,
        product: Product,
        kind: CredentialKind,
        resource: str = "",
        name: str = "",
        management: Management = Management.NATIVE,
        endpoint: str = "",
        acl_user: str = "",
        related: tuple[str, ...] = (),
    ) -> Credential:
        fp = fingerprint_of(value)
        c = Credential(
            fp,
            product,
            kind,
            resource_id=resource,
            resource_name=name,
            management=management,
            endpoint=endpoint,
            acl_user=acl_user,
            related=tuple(fingerprint_of(r) for r in related),
            value=Secret(value),
        )
        creds.setdefault(fp, c)
        return creds[fp]

    value_kind: dict[str, Credential] = {}
    for db in world.dbs.values():
        rel = (db.rest_token, db.ro_token, db.password)
        for v, k in (
            (db.rest_token, CredentialKind.REST_TOKEN),
            (db.ro_token, CredentialKind.READONLY_REST_TOKEN),
            (db.password, CredentialKind.PASSWORD),
        ):
            value_kind[v] = cred(
                v,
                Product.REDIS,
                k,
                db.id,
                db.name,
                db.management,
                db.url,
                "default",
                tuple(r for r in rel if r != v),
            )
        for u in db.users.values():
            if u.name in ("default", "default_ro"):
                continue
            for tok, (user, pw) in db.tokens.items():
                if user == u.name:
                    value_kind[tok] = cred(
                        tok,
                        Product.REDIS,
                        CredentialKind.ACL_REST_TOKEN,
                        db.id,
                        db.name,
                        db.management,
                        db.url,
                        u.name,
                        (pw,),
                    )
                    value_kind[pw] = cred(
                        pw,
                        Product.REDIS,
                        CredentialKind.ACL_PASSWORD,
                        db.id,
                        db.name,
                        db.management,
                        db.url,
                        u.name,
                        (tok,),
                    )
    if world.qstash_state:
        q = world.qstash_state
        value_kind[q["token"]] = cred(q["token"], Product.QSTASH, CredentialKind.QSTASH_TOKEN, q["user_id"])
        value_kind[q["current"]] = cred(
            q["current"],
            Product.QSTASH,
            CredentialKind.SIGNING_KEY_CURRENT,
            q["user_id"],
            related=(q["next"],),
        )
        value_kind[q["next"]] = cred(
            q["next"], Product.QSTASH, CredentialKind.SIGNING_KEY_NEXT, q["user_id"], related=(q["current"],)
        )
    for i in world.indexes.values():
        product = Product.VECTOR if i.product == "vector" else Product.SEARCH
        value_kind[i.token] = cred(
            i.token, product, CredentialKind.INDEX_TOKEN, i.id, i.name, endpoint=i.url, related=(i.ro_token,)
        )
        value_kind[i.ro_token] = cred(
            i.ro_token,
            product,
            CredentialKind.INDEX_READONLY_TOKEN,
            i.id,
            i.name,
            endpoint=i.url,
            related=(i.token,),
        )

    def match(value: str) -> tuple[Credential, Form] | None:
        if value in value_kind:
            return value_kind[value], Form.PLAIN
        for v, c in value_kind.items():
            if len(v) >= 12 and v in value:
                return c, Form.URL
        return None

    for p in world.projects.values():
        for e in p.env.values():
            m = match(e.value)
            if m is None:
                continue
            c, form = m
            conf = Confidence.EXACT if e.type != "sensitive" else Confidence.PROBABLE
            locs.append(
                Location(
                    LocationKind.VERCEL_ENV,
                    c.fingerprint,
                    form,
                    conf,
                    project_id=p.id,
                    project_name=p.name,
                    env_id=e.id,
                    key=e.key,
                    targets=tuple(e.target),
                    git_branch=e.git_branch or "",
                    custom_environment_ids=tuple(e.custom_environment_ids),
                    env_type=e.type,
                    configuration_id=e.configuration_id or "",
                )
            )
            if c.management is Management.VERCEL_INTEGRATION and e.configuration_id is None:
                pass
    for sid, s in world.shared.items():
        m = match(s["value"])
        if m:
            locs.append(
                Location(
                    LocationKind.VERCEL_SHARED_ENV,
                    m[0].fingerprint,
                    m[1],
                    env_id=sid,
                    key=s["key"],
                    targets=tuple(s["target"]),
                    env_type=s["type"],
                    linked_project_ids=tuple(s["projects"]),
                )
            )
    for (scope, name), value in world.github.items():
        m = match(value)
        if m:
            repo, _, env = scope.partition(" env:")
            locs.append(
                Location(
                    LocationKind.GITHUB_SECRET,
                    m[0].fingerprint,
                    Form.UNKNOWN,
                    Confidence.PROBABLE,
                    repo=repo,
                    secret_scope=f"env:{env}" if env else "repo",
                    secret_name=name,
                )
            )
    for path, line, value in files:
        m = match(value)
        if m:
            locs.append(
                Location(LocationKind.FILE, m[0].fingerprint, Form.PLAIN, path=path, line=line, column=1)
            )
    deps = []
    serving = {d.id for d in world.serving()}
    for d in world.deployments.values():
        if d.state != "READY":
            continue
        deps.append(
            DeploymentRef(
                d.project_id,
                d.id,
                url=f"{d.id}.fake.vercel.app",
                target=d.custom_environment_id or (d.target or "preview"),
                git_branch=d.git_branch,
                custom_environment_id=d.custom_environment_id,
                created_at=d.created_at,
                state="READY",
                serving=d.id in serving,
            )
        )
    used = {loc.fingerprint for loc in locs}
    groups_used = used | {r for c in creds.values() if c.fingerprint in used for r in c.related}
    credentials = tuple(
        sorted((c for c in creds.values() if c.fingerprint in groups_used), key=lambda c: c.fingerprint)
    )
    return Inventory(
        credentials, tuple(locs), tuple(sorted(deps, key=lambda d: d.deployment_id)), (), generated_at
    )


# ------------------------------------------------------------------------------ human seams
class HumanClicker:
    """Plays the dashboard "Reset Credentials" button for integration-managed databases:
    resets the database and resyncs the vars carrying ``configuration_id`` (like Vercel does)."""

    def __init__(self, world: FakeWorld, db: FakeDB, configuration_id: str) -> None:
        self.world, self.db, self.configuration_id = world, db, configuration_id
        self.calls: list[str] = []

    async def perform(self, step: Step, instructions: str) -> None:
        self.calls.append(step.id)
        self.db.reset()
        mapping = {
            "KV_REST_API_TOKEN": self.db.rest_token,
            "UPSTASH_REDIS_REST_TOKEN": self.db.rest_token,
            "KV_REST_API_READ_ONLY_TOKEN": self.db.ro_token,
            "KV_URL": f"rediss://default:{self.db.password}@{self.db.host}:6379",
        }
        await asyncio.sleep(0.02)
        for p in self.world.projects.values():
            for e in p.env.values():
                if e.configuration_id == self.configuration_id and e.key in mapping:
                    e.value, e.updated_at = mapping[e.key], _now_ms()


class StaticSecretSource:
    """A :class:`SecretSource` handing out fixed values (the CLI reads stdin or files)."""

    def __init__(self, value: str) -> None:
        self.value = Secret(value)

    async def new_value(self, step: Step, description: str) -> Secret:
        return self.value


def small_world(build_s: float = 0.05) -> tuple[FakeWorld, dict[str, Any]]:
    """A team exercising every location kind, with serving deployments built from the env.

    Returns the world and handles: ``cache`` (native Redis), ``kv`` (integration Redis),
    ``vec`` (Vector index), ``web``/``api``/``shop`` projects, ``shared_qstash`` (shared var id).
    """
    w = FakeWorld(build_s=build_s)
    cache = w.add_db("cache")
    kv = w.add_db("kv", Management.VERCEL_INTEGRATION)
    vec = w.add_index("embeddings")
    q = w.add_qstash()
    web = w.add_project("web")
    api = w.add_project("api", custom_envs={"env_staging": "staging"})
    shop = w.add_project("shop")
    all3 = ["production", "preview", "development"]
    w.add_env(web, "UPSTASH_REDIS_REST_URL", cache.url, type="plain", target=all3)
    w.add_env(
        web,
        "UPSTASH_REDIS_REST_TOKEN",
        cache.rest_token,
        target=["production", "preview"],
        comment="main cache",
    )
    w.add_env(
        web, "UPSTASH_REDIS_REST_READ_ONLY_TOKEN", cache.ro_token, type="sensitive", target=["production"]
    )
    w.add_env(web, "REDIS_URL", f"rediss://default:{cache.password}@{cache.host}:6379", target=["production"])
    w.add_env(web, "QSTASH_CURRENT_SIGNING_KEY", q["current"], target=["production", "preview"])
    w.add_env(web, "QSTASH_NEXT_SIGNING_KEY", q["next"], target=["production", "preview"])
    w.add_env(api, "KV_REST_API_TOKEN", cache.rest_token, target=["preview"], git_branch="feat-x")
    w.add_env(
        api, "UPSTASH_REDIS_REST_TOKEN", cache.rest_token, target=[], custom_environment_ids=["env_staging"]
    )
    w.add_env(api, "UPSTASH_VECTOR_REST_TOKEN", vec.token, target=["production"])
    w.add_env(
        shop, "KV_REST_API_TOKEN", kv.rest_token, target=["production"], configuration_id="icfg_upstash"
    )
    w.add_env(
        shop,
        "KV_REST_API_READ_ONLY_TOKEN",
        kv.ro_token,
        target=["production"],
        configuration_id="icfg_upstash",
    )
    shared = w.add_shared("QSTASH_TOKEN", q["token"], ["prj_web", "prj_api"])
    w.github[("acme/web", "UPSTASH_REDIS_REST_TOKEN")] = cache.rest_token
    old_web = w.deploy(web.id, target="production", ready=True)
    old_web.created_at -= 5000
    w.deploy(web.id, target="production", ready=True)
    w.deploy(web.id, target=None, git_branch="main", ready=True)
    w.deploy(api.id, target="production", ready=True)
    w.deploy(api.id, target=None, git_branch="feat-x", ready=True)
    w.deploy(api.id, target=None, custom_environment_id="env_staging", ready=True)
    w.deploy(shop.id, target="production", ready=True)
    return w, {
        "cache": cache,
        "kv": kv,
        "vec": vec,
        "q": q,
        "web": web,
        "api": api,
        "shop": shop,
        "shared_qstash": shared,
    }


def plan_json(plan: Any) -> str:
    """Canonical JSON of a plan (for determinism checks)."""
    from keyroll.core.serde import to_jsonable

    return json.dumps(to_jsonable(plan), sort_keys=True)
