"""Stateful in-memory fakes of the provider Protocols, for fast engine tests.

:class:`FakeWorld` holds a small team: Redis databases (native and integration-managed) with
real-ish ACL semantics, QStash (token + signing keys), a Vector index, Vercel projects with env
vars (targets, git branches, custom environments, sensitive, integration-managed, shared vars)
and deployments that snapshot their env and build for ``build_s`` seconds, and GitHub Actions
secrets. Deployments answer health checks through :meth:`FakeWorld.http_client` by really
checking their snapshotted credentials against the fakes, and :meth:`FakeWorld.watch` counts
failed requests against every serving deployment while an operation runs (a tiny load generator).

:func:`fake_inventory` builds the :class:`~keyroll.core.model.Inventory` that
``keyroll.inventory.take_inventory`` would produce for the world (values attached).

Others may import these fakes; they implement the Protocols in ``keyroll.providers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyroll.config import Config
from keyroll.core.errors import AuthError, NotFoundError, ProviderError
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
from keyroll.providers.vercel import (
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

__all__ = ["FakeWorld", "HumanClicker", "StaticSecretSource", "fake_inventory", "plan_json", "small_world"]

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


def _tok(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(24)


def _now_ms() -> int:
    return int(time.time() * 1000)


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
    id: str
    name: str
    url: str
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

    def reset(self) -> None:
        """Developer API reset: new default password, both default tokens; old ones die."""
        for tok in (self.rest_token, self.ro_token):
            self.tokens.pop(tok, None)
        self.password, self.ro_password = _tok(), _tok()
        self.rest_token, self.ro_token = _tok("AX"), _tok("An")
        self.users["default"] = RedisUser("default", {self.password})
        self.users["default_ro"] = RedisUser("default_ro", {self.ro_password}, readonly=True, admin=False)
        self.tokens[self.rest_token] = ("default", self.password)
        self.tokens[self.ro_token] = ("default_ro", self.ro_password)

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


class FakeRedis:
    """:class:`keyroll.providers.upstash.redis.RedisREST` over :class:`FakeDB` objects (by URL)."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.calls = 0
        self.gentoken_supported = True

    def _db(self, url: str) -> FakeDB:
        for db in self.world.dbs.values():
            if db.url == url.rstrip("/"):
                return db
        raise NotFoundError(f"redis: no database at {url}", service="redis", status=404)

    async def command(self, url: str, token: Secret, *args: Any) -> Any:
        self.calls += 1
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
                raise ProviderError(
                    "redis: HTTP 400 — NOPERM this user has no permissions to run the 'set' command",
                    service="redis",
                    status=400,
                )
            db.data[cmd[1]] = cmd[2]
            return "OK"
        if name == "ACL":
            if not user.admin:
                raise ProviderError("redis: HTTP 400 — NOPERM", service="redis", status=400)
            return self._acl(db, user, cmd[1:])
        raise ProviderError(f"redis: HTTP 400 — ERR unknown command '{name}'", service="redis", status=400)

    def _acl(self, db: FakeDB, caller: RedisUser, cmd: list[str]) -> Any:
        sub = cmd[0].upper()
        if sub == "GENTOKEN":
            if not self.gentoken_supported:
                raise ProviderError("redis: HTTP 400 — ERR unknown subcommand", service="redis", status=400)
            return _tok("gt_")
        if sub == "WHOAMI":
            return caller.name
        if sub == "SETUSER":
            name = cmd[1]
            if name == "default":
                raise ProviderError(
                    "redis: HTTP 400 — ERR default user cannot be modified", service="redis", status=400
                )
            user = db.users.setdefault(name, RedisUser(name, on=False))
            for rule in cmd[2:]:
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
                        raise ProviderError(
                            "redis: HTTP 400 — ERR Error in ACL SETUSER modifier", service="redis", status=400
                        )
                    user.passwords.discard(rule[1:])
                elif rule == "+@all":
                    user.admin, user.readonly = True, False
                elif rule == "+@read":
                    user.readonly, user.admin = True, False
            return "OK"
        if sub == "RESTTOKEN":
            name, pw = cmd[1], cmd[2]
            user = db.users.get(name)
            if user is None or pw not in user.passwords:
                raise ProviderError(
                    f'redis: HTTP 400 — ERR Wrong password or user "{name}" does not exist',
                    service="redis",
                    status=400,
                )
            token = _tok("AY")
            db.tokens[token] = (name, pw)
            return token
        if sub == "DELUSER":
            n = 0
            for name in cmd[1:]:
                if name == "default":
                    raise ProviderError(
                        "redis: HTTP 400 — ERR default cannot be deleted", service="redis", status=400
                    )
                if db.users.pop(name, None) is not None:
                    n += 1
            return n
        raise ProviderError("redis: HTTP 400 — ERR unknown ACL subcommand", service="redis", status=400)

    async def pipeline(self, url: str, token: Secret, commands: Any) -> list[Any]:
        return [await self.command(url, token, *c) for c in commands]

    async def probe(self, url: str, token: Secret) -> ProbeResult:
        try:
            await self.command(url, token, "PING")
        except AuthError:
            return ProbeResult.REJECTED
        return ProbeResult.ACCEPTED


# -------------------------------------------------------------------------------- Upstash API
@dataclass
class FakeIndexState:
    id: str
    name: str
    product: str
    url: str
    token: str = field(default_factory=lambda: _tok("VT"))
    ro_token: str = field(default_factory=lambda: _tok("VR"))


class FakeDeveloper:
    """:class:`DeveloperAPI` over the world's databases, indexes and QStash user."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.resets: list[tuple[str, float]] = []

    def _native(self, db_id: str) -> FakeDB:
        db = self.world.dbs.get(db_id)
        if db is None or db.management is not Management.NATIVE:
            raise NotFoundError(f"upstash: database {db_id} not found", service="upstash", status=404)
        return db

    @staticmethod
    def _model(db: FakeDB) -> RedisDatabase:
        return RedisDatabase(
            database_id=db.id,
            database_name=db.name,
            endpoint=db.url,
            port=6379,
            password=Secret(db.password),
            rest_token=Secret(db.rest_token),
            read_only_rest_token=Secret(db.ro_token),
        )

    async def list_redis(self) -> list[RedisDatabase]:
        return [self._model(db) for db in self.world.dbs.values() if db.management is Management.NATIVE]

    async def get_redis(self, database_id: str) -> RedisDatabase:
        return self._model(self._native(database_id))

    async def reset_redis_password(self, database_id: str) -> RedisDatabase:
        db = self._native(database_id)
        db.reset()
        self.resets.append((database_id, time.time()))
        return self._model(db)

    async def set_credential_protection(self, database_id: str, enabled: bool) -> None:
        return None

    def _index(self, product: str, index_id: str) -> FakeIndexState:
        idx = self.world.indexes.get(index_id)
        if idx is None or idx.product != product:
            raise NotFoundError(
                f"upstash: {product} index {index_id} not found", service="upstash", status=404
            )
        return idx

    async def list_vector(self) -> list[VectorIndex]:
        return [await self.get_vector(i.id) for i in self.world.indexes.values() if i.product == "vector"]

    async def get_vector(self, index_id: str) -> VectorIndex:
        i = self._index("vector", index_id)
        return VectorIndex(
            id=i.id, name=i.name, endpoint=i.url, token=Secret(i.token), read_only_token=Secret(i.ro_token)
        )

    async def reset_vector(self, index_id: str) -> VectorIndex:
        i = self._index("vector", index_id)
        i.token, i.ro_token = _tok("VT"), _tok("VR")
        self.resets.append((index_id, time.time()))
        return await self.get_vector(index_id)

    async def list_search(self) -> list[SearchIndex]:
        return [await self.get_search(i.id) for i in self.world.indexes.values() if i.product == "search"]

    async def get_search(self, index_id: str) -> SearchIndex:
        i = self._index("search", index_id)
        return SearchIndex(
            id=i.id, name=i.name, endpoint=i.url, token=Secret(i.token), read_only_token=Secret(i.ro_token)
        )

    async def reset_search(self, index_id: str) -> SearchIndex:
        i = self._index("search", index_id)
        i.token, i.ro_token = _tok("ST"), _tok("SR")
        return await self.get_search(index_id)

    async def list_qstash_users(self) -> list[QStashUser]:
        q = self.world.qstash_state
        return [QStashUser(id=q["user_id"], token=Secret(q["token"]), read_only_token=Secret(q["ro_token"]))]

    async def rotate_qstash_token(self, user_id: str) -> QStashUser:
        q = self.world.qstash_state
        q["token"], q["ro_token"] = _tok("eyJVc2VySUQi"), _tok("eyJVc2VyUk8i")
        self.resets.append((user_id, time.time()))
        return (await self.list_qstash_users())[0]


class FakeQStash:
    """:class:`QStashAPI`: keys and token checks."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.rolls = 0

    def _check(self, token: Secret) -> None:
        if token.reveal() != self.world.qstash_state["token"]:
            raise AuthError("qstash: HTTP 401", service="qstash", status=401)

    async def get_keys(self, token: Secret) -> SigningKeys:
        self._check(token)
        q = self.world.qstash_state
        return SigningKeys(current=Secret(q["current"]), next=Secret(q["next"]))

    async def rotate_keys(self, token: Secret) -> SigningKeys:
        self._check(token)
        q = self.world.qstash_state
        q["current"], q["next"] = q["next"], _tok("sig_")
        self.rolls += 1
        return await self.get_keys(token)

    async def check_token(self, token: Secret) -> bool:
        return token.reveal() == self.world.qstash_state["token"]


class FakeIndexAPI:
    """:class:`IndexAPI` for Vector/Search."""

    def __init__(self, world: FakeWorld, product: str) -> None:
        self.world = world
        self.product = product

    async def info(self, url: str, token: Secret) -> dict[str, Any]:
        for i in self.world.indexes.values():
            if i.url == url.rstrip("/") and token.reveal() in (i.token, i.ro_token):
                return {"vectorCount": 0}
        raise AuthError(
            f"{self.product}: HTTP 401 — Unauthorized: Invalid auth token", service=self.product, status=401
        )

    async def check_write(self, url: str, token: Secret) -> bool:
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
    comment: str | None = None
    updated_at: int = field(default_factory=_now_ms)


@dataclass
class FakeDeployment:
    id: str
    project_id: str
    target: str | None
    git_branch: str = ""
    custom_environment_id: str = ""
    env: dict[str, str] = field(default_factory=dict)
    created_at: int = field(default_factory=_now_ms)
    build_s: float = 0.0
    fail: bool = False
    promoted: bool = False

    @property
    def state(self) -> str:
        if time.time() * 1000 - self.created_at < self.build_s * 1000:
            return "BUILDING"
        return "ERROR" if self.fail else "READY"


@dataclass
class FakeProject:
    id: str
    name: str
    env: dict[str, FakeEnv] = field(default_factory=dict)
    custom_envs: dict[str, str] = field(default_factory=dict)
    """id → slug"""


class FakeVercel:
    """:class:`VercelAPI`: projects, env vars, shared vars, deployments that build and promote."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.calls: dict[str, int] = {}
        self.partial_failures = 0
        """the next upsert puts this many items in ``failed[]``"""
        self.fail_builds: set[str] = set()
        """project ids whose next builds end in ERROR"""
        self.edit_failures: dict[str, int] = {}
        """env id → times edit_env answers 500 before succeeding"""
        self.on_redeploy: Any = None
        """called with the source deployment before each redeploy (tests raise from it)"""

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _project(self, id_or_name: str) -> FakeProject:
        for p in self.world.projects.values():
            if id_or_name in (p.id, p.name):
                return p
        raise NotFoundError(f"vercel: project {id_or_name} not found", service="vercel", status=404)

    @staticmethod
    def _env_model(e: FakeEnv, decrypt: bool) -> EnvVar:
        value = Secret(e.value) if decrypt and e.type != "sensitive" else None
        return EnvVar(
            id=e.id,
            key=e.key,
            type=e.type,
            target=list(e.target),
            gitBranch=e.git_branch,
            customEnvironmentIds=list(e.custom_environment_ids),
            configurationId=e.configuration_id,
            comment=e.comment,
            decrypted=value is not None,
            updatedAt=e.updated_at,
            value=value,
        )

    def production(self, project_id: str) -> FakeDeployment | None:
        prods = [
            d
            for d in self.world.deployments.values()
            if d.project_id == project_id and d.target == "production" and d.state == "READY"
        ]
        return max(prods, key=lambda d: d.created_at) if prods else None

    async def list_projects(self) -> list[Project]:
        self._count("list_projects")
        return [await self.get_project(p.id) for p in self.world.projects.values()]

    async def get_project(self, id_or_name: str) -> Project:
        self._count("get_project")
        p = self._project(id_or_name)
        prod = self.production(p.id)
        targets = {"production": {"id": prod.id, "readyState": "READY"}} if prod else {}
        return Project(id=p.id, name=p.name, targets=targets)

    async def list_env(self, project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        self._count("list_env")
        return [self._env_model(e, False) for e in self._project(project_id).env.values()]

    async def get_env(self, project_id: str, env_id: str) -> EnvVar:
        self._count("get_env")
        env = self._project(project_id).env.get(env_id)
        if env is None:
            raise NotFoundError(f"vercel: env {env_id} not found", service="vercel", status=404)
        return self._env_model(env, True)

    async def upsert_env(self, project_id: str, items: list[EnvVarInput]) -> UpsertResult:
        self._count("upsert_env")
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
            created.append(self._env_model(match, False))
        return UpsertResult(created=created, failed=failed)

    async def edit_env(self, project_id: str, env_id: str, **changes: Any) -> EnvVar:
        self._count("edit_env")
        env = self._project(project_id).env.get(env_id)
        if env is None:
            raise NotFoundError(f"vercel: env {env_id} not found", service="vercel", status=404)
        if self.edit_failures.get(env_id, 0) > 0:
            self.edit_failures[env_id] -= 1
            raise ProviderError("vercel: HTTP 500", service="vercel", status=500)
        if "value" in changes:
            v = changes["value"]
            env.value = v.reveal() if isinstance(v, Secret) else str(v)
        env.updated_at = _now_ms()
        return self._env_model(env, False)

    async def delete_env(self, project_id: str, env_id: str) -> None:
        self._count("delete_env")
        self._project(project_id).env.pop(env_id, None)

    async def list_custom_environments(self, project_id: str) -> list[CustomEnvironment]:
        return [CustomEnvironment(id=i, slug=s) for i, s in self._project(project_id).custom_envs.items()]

    async def list_shared_env(self) -> list[SharedEnvVar]:
        return [await self.get_shared_env(i) for i in self.world.shared]

    async def get_shared_env(self, env_id: str) -> SharedEnvVar:
        self._count("get_shared_env")
        s = self.world.shared[env_id]
        return SharedEnvVar(
            id=env_id,
            key=s["key"],
            type=s["type"],
            target=s["target"],
            projectId=s["projects"],
            decrypted=True,
            value=Secret(s["value"]),
        )

    async def update_shared_env(self, updates: dict[str, dict[str, Any]]) -> UpsertResult:
        self._count("update_shared_env")
        for env_id, change in updates.items():
            v = change.get("value")
            if v is not None:
                self.world.shared[env_id]["value"] = v.reveal() if isinstance(v, Secret) else str(v)
        return UpsertResult()

    async def list_integration_configurations(self) -> list[IntegrationConfiguration]:
        return []

    async def list_deployments(
        self, project_id: str, *, target: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[Deployment]:
        self._count("list_deployments")
        out = [self._dep_model(d) for d in self.world.deployments.values() if d.project_id == project_id]
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
            git_branch=d.git_branch,
            custom_environment_id=d.custom_environment_id,
        )

    async def get_deployment(self, id_or_url: str) -> Deployment:
        self._count("get_deployment")
        d = self.world.deployments.get(id_or_url.split(".", 1)[0])
        if d is None:
            raise NotFoundError(f"vercel: deployment {id_or_url} not found", service="vercel", status=404)
        return self._dep_model(d)

    async def redeploy(self, deployment: Deployment, *, target: str | None = None) -> Deployment:
        self._count("redeploy")
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
            d.fail = True
        return self._dep_model(d)

    async def list_events(
        self, *, since: int | None = None, until: int | None = None, types: list[str] | None = None
    ) -> list[Event]:
        return []


# --------------------------------------------------------------------------------------- GitHub
class FakeGitHub:
    """:class:`GitHubAPI`: secrets stored in plaintext in the fake (tests read them directly)."""

    def __init__(self, world: FakeWorld) -> None:
        self.world = world
        self.denied: set[str] = set()
        """scope labels whose token lacks a scope (403)"""

    def _check(self, scope: SecretScope) -> None:
        if scope.label() in self.denied:
            raise AuthError(
                f"github: {scope.label()}: HTTP 403 — Resource not accessible by integration",
                service="github",
                status=403,
            )

    async def list_environments(self, repo: str) -> list[str]:
        return sorted({s.split(" env:", 1)[1] for s, _ in self.world.github if s.startswith(repo + " env:")})

    async def list_secrets(self, scope: SecretScope) -> list[SecretMeta]:
        self._check(scope)
        return [SecretMeta(name=n) for s, n in self.world.github if s == scope.label()]

    async def get_public_key(self, scope: SecretScope) -> PublicKey:
        self._check(scope)
        return PublicKey(key_id="k1", key="AAAA")

    async def put_secret(self, scope: SecretScope, name: str, value: Secret) -> None:
        self._check(scope)
        self.world.github[(scope.label(), name)] = value.reveal()

    async def delete_secret(self, scope: SecretScope, name: str) -> None:
        self.world.github.pop((scope.label(), name), None)


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
    github: dict[tuple[str, str], str] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0

    def __post_init__(self) -> None:
        self.redis = FakeRedis(self)
        self.developer = FakeDeveloper(self)
        self.qstash = FakeQStash(self)
        self.vercel = FakeVercel(self)
        self.gh = FakeGitHub(self)
        self.vector = FakeIndexAPI(self, "vector")
        self.search = FakeIndexAPI(self, "search")

    # -- building the world
    def add_db(self, name: str, management: Management = Management.NATIVE) -> FakeDB:
        db = FakeDB(
            _id("db_"), name, f"https://{name}.fake-upstash.io", f"{name}.fake-upstash.io", management
        )
        db.reset()
        self.dbs[db.id] = db
        return db

    def add_index(self, name: str, product: str = "vector") -> FakeIndexState:
        idx = FakeIndexState(_id("idx_"), name, product, f"https://{name}-{product}.fake-upstash.io")
        self.indexes[idx.id] = idx
        return idx

    def add_qstash(self) -> dict[str, str]:
        self.qstash_state = {
            "user_id": "qs_user_1",
            "token": _tok("eyJVc2VySUQi"),
            "ro_token": _tok("eyJVc2VyUk8i"),
            "current": _tok("sig_"),
            "next": _tok("sig_"),
        }
        return self.qstash_state

    def add_project(self, name: str, custom_envs: dict[str, str] | None = None) -> FakeProject:
        p = FakeProject(f"prj_{name}", name, custom_envs=dict(custom_envs or {}))
        self.projects[p.id] = p
        return p

    def add_env(self, project: FakeProject, key: str, value: str, **kw: Any) -> FakeEnv:
        e = FakeEnv(_id("env_"), key, value, **kw)
        project.env[e.id] = e
        return e

    def add_shared(self, key: str, value: str, projects: list[str], target: list[str] | None = None) -> str:
        sid = _id("shr_")
        self.shared[sid] = {
            "key": key,
            "value": value,
            "type": "encrypted",
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
        target: str | None,
        git_branch: str = "",
        custom_environment_id: str = "",
        ready: bool = False,
    ) -> FakeDeployment:
        d = FakeDeployment(
            _id("dpl_"),
            project_id,
            target,
            git_branch,
            custom_environment_id,
            self.snapshot(project_id, target, git_branch, custom_environment_id),
            build_s=0.0 if ready else self.build_s,
        )
        if ready:
            d.created_at -= 1000
        self.deployments[d.id] = d
        return d

    # -- serving and health
    def serving(self) -> list[FakeDeployment]:
        """Current production per project, latest READY per preview branch and custom env."""
        best: dict[tuple[str, str, str], FakeDeployment] = {}
        for d in self.deployments.values():
            if d.state != "READY":
                continue
            key = (d.project_id, d.target or "preview", d.custom_environment_id or d.git_branch)
            if key not in best or d.created_at > best[key].created_at:
                best[key] = d
        return list(best.values())

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

    def providers(self, **cfg: Any) -> Providers:
        """A :class:`Providers` bundle over the fakes."""
        config = Config(qstash_token=Secret(self.qstash_state["token"]) if self.qstash_state else None, **cfg)
        return Providers(
            config=config,
            vercel=self.vercel,
            github=self.gh,
            upstash=self.developer,
            qstash=self.qstash,
            redis=self.redis,
            vector=self.vector,
            search=self.search,
        )

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
            resource,
            name,
            management,
            None,
            endpoint,
            acl_user,
            tuple(fingerprint_of(r) for r in related),
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
                f"{d.id}.fake.vercel.app",
                d.custom_environment_id or (d.target or "preview"),
                d.git_branch,
                d.custom_environment_id,
                d.created_at,
                "READY",
                d.id in serving,
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
