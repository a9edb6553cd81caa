"""In-memory fakes of the provider Protocols, shaped for inventory tests.

Each fake holds plain state that a test builds up, behaves like the real API where inventory
cares (list returns ciphertext, get-one decrypts, sensitive never returns a value, 403/404
injectable per call) and counts calls and the peak number of requests in flight.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keyroll.config import Config
from keyroll.core.errors import AuthError, KeyrollError, NotFoundError
from keyroll.core.secret import Secret
from keyroll.providers.factory import Providers
from keyroll.providers.github import SecretMeta, SecretScope
from keyroll.providers.upstash.developer import QStashUser, RedisDatabase, SearchIndex, VectorIndex
from keyroll.providers.upstash.qstash import SigningKeys
from keyroll.providers.vercel import (
    CustomEnvironment,
    Deployment,
    EnvVar,
    IntegrationConfiguration,
    Project,
    SharedEnvVar,
)


def token(prefix: str = "AX") -> str:
    """A random credential-looking value (long enough for the canary)."""
    return prefix + secrets.token_urlsafe(30)


class _Counting:
    def __init__(self, latency: float = 0.0) -> None:
        self.calls: Counter[str] = Counter()
        self.in_flight = 0
        self.peak = 0
        self.latency = latency
        self.failures: dict[tuple[str, str], KeyrollError] = {}

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
        return sum(self.calls.values())


@dataclass
class _Var:
    id: str
    key: str
    value: str
    type: str = "encrypted"
    target: list[str] = field(default_factory=list)
    gitBranch: str | None = None
    customEnvironmentIds: list[str] = field(default_factory=list)
    configurationId: str | None = None
    contentHint: dict[str, Any] | None = None


class FakeVercel(_Counting):
    """Projects, env vars, shared vars, deployments."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency)
        self.projects: dict[str, dict[str, Any]] = {}
        self.envs: dict[str, list[_Var]] = {}
        self.shared: list[tuple[_Var, list[str]]] = []
        self.deployments: dict[str, list[dict[str, Any]]] = {}
        self.configs: list[IntegrationConfiguration] = []
        self.custom_envs: dict[str, dict[str, str]] = {}
        """project id → {custom environment id: slug}"""
        self._n = 0

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n:04d}"

    def add_project(self, name: str, *, paused: bool = False, link_repo: str = "") -> str:
        pid = self._id("prj_")
        body: dict[str, Any] = {"id": pid, "name": name, "paused": paused, "targets": {}}
        if link_repo:
            org, repo = link_repo.split("/")
            body["link"] = {"type": "github", "org": org, "repo": repo}
        self.projects[pid] = body
        self.envs[pid] = []
        self.deployments[pid] = []
        return pid

    def add_env(self, pid: str, key: str, value: str, target: list[str] | None = None, **kw: Any) -> str:
        var = _Var(id=self._id("env_"), key=key, value=value, target=target or [], **kw)
        self.envs[pid].append(var)
        return var.id

    def add_shared(
        self, key: str, value: str, projects: list[str], target: list[str] | None = None, **kw: Any
    ) -> str:
        var = _Var(
            id=self._id("shr_"), key=key, value=value, target=target or ["production", "preview"], **kw
        )
        self.shared.append((var, projects))
        return var.id

    def add_deployment(
        self,
        pid: str,
        *,
        target: str | None = None,
        branch: str = "",
        custom: str = "",
        created: int,
        state: str = "READY",
        alias: bool = False,
    ) -> str:
        did = self._id("dpl_")
        d = {
            "id": did,
            "url": f"app-{did}.vercel.app",
            "projectId": pid,
            "target": target,
            "readyState": state,
            "createdAt": created,
            "git_branch": branch,
            "custom_environment_id": custom,
        }
        self.deployments[pid].append(d)
        if alias:
            self.projects[pid]["targets"] = {
                "production": {"id": did, "url": d["url"], "readyState": "READY"}
            }
        return did

    @staticmethod
    def _model(var: _Var, *, decrypted: bool) -> EnvVar:
        readable = var.type == "plain" or (decrypted and var.type != "sensitive")
        data = {
            "id": var.id,
            "key": var.key,
            "type": var.type,
            "target": var.target,
            "gitBranch": var.gitBranch,
            "customEnvironmentIds": var.customEnvironmentIds,
            "configurationId": var.configurationId,
            "contentHint": var.contentHint,
            "decrypted": decrypted and readable and var.type != "plain",
        }
        model = EnvVar.model_validate(data)
        model.value = Secret(var.value) if readable else None
        return model

    async def list_projects(self) -> list[Project]:
        await self._enter("list_projects")
        return [Project.model_validate(p) for p in self.projects.values()]

    async def get_project(self, id_or_name: str) -> Project:
        await self._enter("get_project", id_or_name)
        for p in self.projects.values():
            if id_or_name in (p["id"], p["name"]):
                return Project.model_validate(p)
        raise NotFoundError(f"vercel: project {id_or_name}: HTTP 404 not_found", service="vercel", status=404)

    async def list_env(self, project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        await self._enter("list_env", project_id)
        return [self._model(v, decrypted=False) for v in self.envs[project_id]]

    async def get_env(self, project_id: str, env_id: str) -> EnvVar:
        await self._enter("get_env", env_id)
        for v in self.envs[project_id]:
            if v.id == env_id:
                return self._model(v, decrypted=True)
        raise NotFoundError("vercel: env: HTTP 404", service="vercel", status=404)

    def _shared_model(self, var: _Var, projects: list[str], *, decrypted: bool) -> SharedEnvVar:
        readable = var.type == "plain" or (decrypted and var.type != "sensitive")
        model = SharedEnvVar.model_validate(
            {"id": var.id, "key": var.key, "type": var.type, "target": var.target, "projectId": projects}
        )
        model.value = Secret(var.value) if readable else None
        model.decrypted = readable and decrypted
        return model

    async def list_shared_env(self) -> list[SharedEnvVar]:
        await self._enter("list_shared_env")
        return [self._shared_model(v, p, decrypted=False) for v, p in self.shared]

    async def get_shared_env(self, env_id: str) -> SharedEnvVar:
        await self._enter("get_shared_env", env_id)
        for v, p in self.shared:
            if v.id == env_id:
                return self._shared_model(v, p, decrypted=True)
        raise NotFoundError("vercel: shared env: HTTP 404", service="vercel", status=404)

    async def list_integration_configurations(self) -> list[IntegrationConfiguration]:
        await self._enter("list_integration_configurations")
        return list(self.configs)

    async def list_custom_environments(self, project_id: str) -> list[CustomEnvironment]:
        await self._enter("list_custom_environments", project_id)
        return [CustomEnvironment(id=i, slug=s) for i, s in self.custom_envs.get(project_id, {}).items()]

    async def list_deployments(
        self, project_id: str, *, target: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[Deployment]:
        await self._enter("list_deployments", project_id)
        out = []
        for d in sorted(self.deployments[project_id], key=lambda d: -d["createdAt"]):
            if state and d["readyState"] != state:
                continue
            out.append(Deployment.model_validate(d))
        return out[:limit]


class FakeDeveloper(_Counting):
    """Upstash Developer API with Redis databases, indexes and QStash users."""

    def __init__(self) -> None:
        super().__init__()
        self.redis: list[RedisDatabase] = []
        self.vector: list[VectorIndex] = []
        self.search: list[SearchIndex] = []
        self.users: list[QStashUser] = []
        self.hide_in_list = False

    def add_redis(self, name: str, endpoint: str) -> RedisDatabase:
        db = RedisDatabase(
            database_id=f"db-{name}",
            database_name=name,
            endpoint=endpoint,
            password=Secret(token("pw")),
            rest_token=Secret(token("AX")),
            read_only_rest_token=Secret(token("An")),
        )
        self.redis.append(db)
        return db

    def add_vector(self, name: str, endpoint: str) -> VectorIndex:
        vi = VectorIndex(
            id=f"vec-{name}",
            name=name,
            endpoint=endpoint,
            token=Secret(token("ABU")),
            read_only_token=Secret(token("ABR")),
        )
        self.vector.append(vi)
        return vi

    def add_qstash_user(self) -> QStashUser:
        u = QStashUser(
            id="qs-eu", region="eu-central-1", token=Secret("eyJVc2VySUQiOi" + secrets.token_hex(20))
        )
        self.users.append(u)
        return u

    async def list_redis(self) -> list[RedisDatabase]:
        await self._enter("list_redis")
        if self.hide_in_list:
            return [
                RedisDatabase(database_id=d.database_id, database_name=d.database_name, endpoint=d.endpoint)
                for d in self.redis
            ]
        return list(self.redis)

    async def get_redis(self, database_id: str) -> RedisDatabase:
        await self._enter("get_redis", database_id)
        return next(d for d in self.redis if d.database_id == database_id)

    async def list_vector(self) -> list[VectorIndex]:
        await self._enter("list_vector")
        return list(self.vector)

    async def get_vector(self, index_id: str) -> VectorIndex:
        await self._enter("get_vector", index_id)
        return next(v for v in self.vector if v.id == index_id)

    async def list_search(self) -> list[SearchIndex]:
        await self._enter("list_search")
        return list(self.search)

    async def get_search(self, index_id: str) -> SearchIndex:
        await self._enter("get_search", index_id)
        return next(v for v in self.search if v.id == index_id)

    async def list_qstash_users(self) -> list[QStashUser]:
        await self._enter("list_qstash_users")
        return list(self.users)


class FakeQStash(_Counting):
    """Signing keys readable with any known token."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: set[str] = set()
        self.current = Secret("sig_" + secrets.token_hex(16))
        self.next = Secret("sig_" + secrets.token_hex(16))

    async def get_keys(self, token: Secret) -> SigningKeys:
        await self._enter("get_keys")
        if token.reveal() not in self.tokens:
            raise AuthError("qstash: GET /v2/keys: HTTP 401", service="qstash", status=401)
        return SigningKeys(current=self.current, next=self.next)


class FakeGitHub(_Counting):
    """Repo, environment and org secrets by name."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[str, list[str]] = {}
        self.environments: dict[str, list[str]] = {}

    async def list_environments(self, repo: str) -> list[str]:
        await self._enter("list_environments", repo)
        return list(self.environments.get(repo, []))

    async def list_secrets(self, scope: SecretScope) -> list[SecretMeta]:
        await self._enter("list_secrets", scope.label())
        return [
            SecretMeta(name=n, updated_at="2026-04-01T10:00:00Z") for n in self.secrets.get(scope.label(), [])
        ]


class FakeRedis(_Counting):
    """``ACL WHOAMI`` answered from a token → user map."""

    def __init__(self) -> None:
        super().__init__()
        self.users: dict[str, str] = {}

    async def command(self, url: str, token: Secret, *args: str | int) -> Any:
        await self._enter("command")
        user = self.users.get(token.reveal())
        if user is None:
            raise AuthError("redis: HTTP 401 — WRONGPASS", service="redis", status=401)
        if list(args) == ["ACL", "WHOAMI"]:
            return user
        return "OK"


def providers(
    *,
    vercel: FakeVercel | None = None,
    upstash: FakeDeveloper | None = None,
    qstash: FakeQStash | None = None,
    github: FakeGitHub | None = None,
    redis: FakeRedis | None = None,
    qstash_token: str | None = None,
) -> Providers:
    """A :class:`Providers` bundle around the fakes."""
    cfg = Config(
        vercel_token=Secret("vercel-token-0123456789"),
        qstash_token=Secret(qstash_token) if qstash_token else None,
        qstash_url="https://qstash.example",
    )
    return Providers(
        config=cfg,
        vercel=vercel,  # type: ignore[arg-type]
        upstash=upstash,  # type: ignore[arg-type]
        qstash=qstash,  # type: ignore[arg-type]
        github=github,  # type: ignore[arg-type]
        redis=redis,  # type: ignore[arg-type]
    )
