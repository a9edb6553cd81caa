"""The fake Vercel API: projects, env vars, shared vars and deployments that build and promote.

An env list carries ciphertext (plain values readable, sensitive ones absent) and only the
per-id read decrypts, as the real API does. Deployments snapshot their env, build for
``build_s`` seconds (after ``queued_s`` QUEUED) and end in their ``outcome``; a production build
takes the production alias once READY unless staged.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from keyroll.core.errors import NotFoundError, ProviderError
from keyroll.core.secret import Secret
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
from tests.fakes.common import FakeAPI, new_id, now_ms

if TYPE_CHECKING:
    from tests.fakes.world import FakeWorld


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
    updated_at: int = field(default_factory=now_ms)


@dataclass
class FakeDeployment:
    """A deployment: builds for ``build_s`` seconds from ``created_at``, then ends in ``outcome``."""

    id: str
    project_id: str
    target: str | None
    git_branch: str = ""
    custom_environment_id: str = ""
    env: dict[str, str] = field(default_factory=dict)
    created_at: int = field(default_factory=now_ms)
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
    def ready_at(self) -> int | None:
        """When the build became READY (ms; Vercel's ``ready``), once it has."""
        if self.state != "READY":
            return None
        return self.created_at + int((self.queued_s + self.build_s) * 1000)

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
                    new_id("env_"),
                    item.key,
                    item.value.reveal(),
                    item.type,
                    list(item.target),
                    item.git_branch,
                    list(item.custom_environment_ids),
                )
                p.env[match.id] = match
            else:
                match.value, match.type, match.updated_at = item.value.reveal(), item.type, now_ms()
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
        env.updated_at = now_ms()
        return self._env_model(env, decrypt=False)

    async def delete_env(self, project_id: str, env_id: str) -> None:
        await self._enter("delete_env", env_id)
        self._env(project_id, env_id)  # a var that is gone: 404, as Vercel answers
        del self._project(project_id).env[env_id]

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
        """Updated vars come back in ``created``; unknown ids and refused changes in ``failed``."""
        await self._enter("update_shared_env")
        result = UpsertResult()
        for env_id, change in updates.items():
            s = self.world.shared.get(env_id)
            if s is None:
                message = f"Shared variable {env_id} was not found."
                result.failed.append({"error": {"code": "not_found", "message": message, "envVarId": env_id}})
                continue
            if (change.get("type", s["type"]) == "sensitive") != (s["type"] == "sensitive"):
                message = "Shared variables cannot be converted to or from Sensitive."
                result.failed.append(
                    {
                        "error": {
                            "code": "bad_request",
                            "message": message,
                            "envVarId": env_id,
                            "key": s["key"],
                        }
                    }
                )
                continue
            v = change.get("value")
            if v is not None:
                s["value"] = v.reveal() if isinstance(v, Secret) else str(v)
            s["type"] = change.get("type", s["type"])
            s["target"] = list(change.get("target", s["target"]))
            data = {"id": env_id, "key": s["key"], "type": s["type"], "target": s["target"]}
            result.created.append(EnvVar.model_validate(_scoped_value(data, s["value"], decrypt=False)))
        return result

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
            ready=d.ready_at,
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
