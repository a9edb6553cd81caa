"""Vercel REST API: models, the :class:`VercelAPI` Protocol, and the httpx client.

Facts: ``shared/reference/vercel-api.md``. Values of env vars are :class:`Secret` in the
models; ``None`` when not readable (ciphertext or sensitive).
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from keyroll.core.secret import Secret

__all__ = [
    "CustomEnvironment",
    "Deployment",
    "EnvVar",
    "EnvVarInput",
    "Event",
    "IntegrationConfiguration",
    "Project",
    "SharedEnvVar",
    "UpsertResult",
    "VercelAPI",
]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, arbitrary_types_allowed=True, frozen=False
    )


class Project(_Model):
    """A project (``GET /v10/projects``)."""

    id: str
    name: str
    account_id: str = Field(default="", alias="accountId")
    created_at: int = Field(default=0, alias="createdAt")
    updated_at: int = Field(default=0, alias="updatedAt")
    paused: bool = False
    targets: dict[str, Any] = Field(default_factory=dict)
    """``targets.production`` = current production deployment summary (id, url, readyState …)"""


class EnvVar(_Model):
    """A project env var. ``value`` is the plaintext as a Secret when decrypted, else ``None``."""

    id: str
    key: str
    type: str = "encrypted"
    target: list[str] = Field(default_factory=list)
    git_branch: str | None = Field(default=None, alias="gitBranch")
    custom_environment_ids: list[str] = Field(default_factory=list, alias="customEnvironmentIds")
    configuration_id: str | None = Field(default=None, alias="configurationId")
    content_hint: dict[str, Any] | None = Field(default=None, alias="contentHint")
    comment: str | None = None
    decrypted: bool = False
    created_at: int = Field(default=0, alias="createdAt")
    updated_at: int = Field(default=0, alias="updatedAt")
    value: Secret | None = Field(default=None, exclude=True)


class EnvVarInput(_Model):
    """One item of a create/upsert body (``POST /v10/projects/{id}/env``)."""

    key: str
    value: Secret = Field(exclude=True)
    type: str = "encrypted"
    target: list[str] = Field(default_factory=list)
    git_branch: str | None = Field(default=None, alias="gitBranch")
    custom_environment_ids: list[str] = Field(default_factory=list, alias="customEnvironmentIds")
    comment: str | None = None


class UpsertResult(_Model):
    """``{created, failed}`` of an upsert; ``failed`` items keep Vercel's ``error`` objects (values dropped)."""

    created: list[EnvVar] = Field(default_factory=list)
    failed: list[dict[str, Any]] = Field(default_factory=list)


class SharedEnvVar(_Model):
    """A team shared env var (``/v1/env``); ``project_ids`` are the linked projects."""

    id: str
    key: str
    type: str = "encrypted"
    target: list[str] = Field(default_factory=list)
    project_ids: list[str] = Field(default_factory=list, alias="projectId")
    comment: str | None = None
    decrypted: bool = False
    updated_at: int = Field(default=0, alias="updatedAt")
    value: Secret | None = Field(default=None, exclude=True)


class CustomEnvironment(_Model):
    """A custom environment of a project."""

    id: str
    slug: str
    type: str = "preview"
    branch_matcher: dict[str, Any] | None = Field(default=None, alias="branchMatcher")


class Deployment(_Model):
    """A deployment (list item or ``/v13/deployments/{id}``); ``id`` accepts ``uid`` too."""

    id: str
    url: str = ""
    name: str = ""
    project_id: str = Field(default="", alias="projectId")
    target: str | None = None
    ready_state: str = Field(default="QUEUED", alias="readyState")
    ready_substate: str | None = Field(default=None, alias="readySubstate")
    created_at: int = Field(default=0, alias="createdAt")
    git_branch: str = ""
    """from ``meta.githubCommitRef`` / ``gitSource.ref`` when known"""
    custom_environment_id: str = ""
    alias: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class IntegrationConfiguration(_Model):
    """An installed integration (``GET /v1/integrations/configurations``)."""

    id: str
    slug: str = ""
    integration_id: str = Field(default="", alias="integrationId")
    projects: list[str] = Field(default_factory=list)
    status: str = ""


class Event(_Model):
    """An activity event (``GET /v3/events``)."""

    id: str
    type: str
    text: str = ""
    created_at: int = Field(default=0, alias="createdAt")
    principal_id: str = Field(default="", alias="principalId")
    entities: list[dict[str, Any]] = Field(default_factory=list)
    payload: dict[str, Any] | None = None


class VercelAPI(Protocol):
    """What keyroll needs from Vercel. All calls are team-scoped by the client's config."""

    async def list_projects(self) -> list[Project]:
        """Every project (all pages)."""
        ...

    async def get_project(self, id_or_name: str) -> Project:
        """One project with ``targets``."""
        ...

    async def list_env(self, project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        """A project's env vars; values may be ciphertext (``value`` None) — use :meth:`get_env`."""
        ...

    async def get_env(self, project_id: str, env_id: str) -> EnvVar:
        """One env var, decrypted where the type allows (sensitive: ``value`` None)."""
        ...

    async def upsert_env(self, project_id: str, items: list[EnvVarInput]) -> UpsertResult:
        """Batch create-or-update (``?upsert=true``, array body); partial failures in ``failed``."""
        ...

    async def edit_env(self, project_id: str, env_id: str, **changes: Any) -> EnvVar:
        """PATCH one env var in place (``value`` may be a Secret); keeps id, type and scope unless changed."""
        ...

    async def delete_env(self, project_id: str, env_id: str) -> None:
        """Delete one env var."""
        ...

    async def list_custom_environments(self, project_id: str) -> list[CustomEnvironment]:
        """Custom environments of a project."""
        ...

    async def list_shared_env(self) -> list[SharedEnvVar]:
        """Team shared env vars (values usually not decrypted)."""
        ...

    async def get_shared_env(self, env_id: str) -> SharedEnvVar:
        """One shared env var, decrypted where allowed."""
        ...

    async def update_shared_env(self, updates: dict[str, dict[str, Any]]) -> UpsertResult:
        """``PATCH /v1/env`` with ``{updates: {id: {...}}}`` (``value`` may be a Secret)."""
        ...

    async def list_integration_configurations(self) -> list[IntegrationConfiguration]:
        """Installed integrations."""
        ...

    async def list_deployments(
        self, project_id: str, *, target: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[Deployment]:
        """Deployments of a project, newest first (all pages up to ``limit`` when given)."""
        ...

    async def get_deployment(self, id_or_url: str) -> Deployment:
        """One deployment."""
        ...

    async def redeploy(self, deployment: Deployment, *, target: str | None = None) -> Deployment:
        """``POST /v13/deployments?forceNew=1`` from ``deployment`` (same target/custom env)."""
        ...

    async def list_events(
        self, *, since: int | None = None, until: int | None = None, types: list[str] | None = None
    ) -> list[Event]:
        """Activity events in a window (ms timestamps)."""
        ...
