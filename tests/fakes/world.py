"""All fake state of a small team, and the fake APIs over it.

:class:`FakeWorld` holds Redis databases (native and integration-managed), QStash (token +
signing keys), Vector/Search indexes, Vercel projects with env vars (targets, git branches,
custom environments, sensitive, integration-managed, shared vars) and deployments, and GitHub
Actions secrets. Deployments answer health checks through :meth:`FakeWorld.http_client` by
really checking their snapshotted credentials against the fakes, and :meth:`FakeWorld.watch`
counts failed requests against every serving deployment while an operation runs (a tiny load
generator). :func:`small_world` builds a team exercising every location kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyroll.config import Config
from keyroll.core.model import Management
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.providers.factory import Providers
from keyroll.providers.upstash.developer import QStashUser
from keyroll.providers.vercel.models import IntegrationConfiguration
from tests.fakes.common import new_id, token
from tests.fakes.github import FakeGitHub
from tests.fakes.redis import FakeDB, FakeRedis
from tests.fakes.upstash import FakeDeveloper, FakeIndexAPI, FakeIndexState, FakeQStash
from tests.fakes.vercel import FakeDeployment, FakeEnv, FakeProject, FakeVercel


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
        db = FakeDB(new_id("db_"), name, host or f"{name}.fake-upstash.io", management)
        db.reset()
        self.dbs[db.id] = db
        return db

    def add_index(self, name: str, product: str = "vector", *, host: str = "") -> FakeIndexState:
        idx = FakeIndexState(new_id("idx_"), name, product, host or f"{name}-{product}.fake-upstash.io")
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
        e = FakeEnv(new_id("env_"), key, value, target=list(target or []), **kw)
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
        sid = new_id("shr_")
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
            new_id("dpl_"),
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
