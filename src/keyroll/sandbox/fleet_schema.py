"""The shape of a fleet file (docs/sandbox.md), as pydantic models that reject unknown keys.

The Upstash section is validated for shape only (names, lists) and keeps extra keys: its
meaning belongs to the Upstash emulation.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "ENV_TYPES",
    "TARGETS",
    "CustomEnvironmentSpec",
    "DeploymentSpec",
    "EnvSpec",
    "FleetSpec",
    "GitHubSpec",
    "ProjectSpec",
    "SharedEnvSpec",
]

TARGETS = ("production", "preview", "development")
ENV_TYPES = ("plain", "encrypted", "sensitive", "system")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


def _targets(value: Any) -> Any:
    if isinstance(value, str):
        return [value]
    return value


class TeamSpec(_Strict):
    """The team every project belongs to."""

    id: str = "team_sandbox"
    slug: str = "acme"
    name: str = ""


class UserSpec(_Strict):
    """The user behind the sandbox's Vercel token."""

    id: str = "user_sandbox"
    username: str = "sandbox"
    email: str = "sandbox@example.com"


class RedisSpec(_Open):
    """An Upstash Redis database (meaning owned by the Upstash emulation)."""

    name: str
    managed_by: Literal["native", "vercel-integration"] = "native"
    configuration_id: str | None = None


class IndexSpec(_Open):
    """A Vector or Search index."""

    name: str


class UpstashSpec(_Open):
    """Upstash resources the fleet's templates refer to."""

    redis: list[RedisSpec] = Field(default_factory=list)
    vector: list[IndexSpec] = Field(default_factory=list)
    search: list[IndexSpec] = Field(default_factory=list)
    qstash: dict[str, Any] | list[dict[str, Any]] | None = None
    """one region (a mapping) or several (a list, the first is ``qstash.upstash.io``'s)"""


class PostgresSpec(_Strict):
    """A database on the sandbox's PostgreSQL server, owned by its own login role."""

    name: str
    role: str = ""
    """the login role (default: the database name)"""


class NeonSpec(_Strict):
    """A Neon project (one branch, one read-write endpoint) backed by the sandbox's PostgreSQL."""

    name: str
    database: str = "neondb"
    role: str = "neondb_owner"
    region: str = "aws-us-east-2"


class IntegrationSpec(_Strict):
    """An installed integration (``GET /v1/integrations/configurations``)."""

    id: str
    slug: str
    integration_id: str = ""
    status: str = "ready"


class CustomEnvironmentSpec(_Strict):
    """A project's custom environment."""

    slug: str
    type: Literal["production", "preview", "development"] = "preview"
    description: str = ""
    branch_matcher: dict[str, str] | None = None


class EnvSpec(_Strict):
    """A project env var; ``value`` may contain ``${…}`` templates."""

    key: str
    value: str
    target: list[Literal["production", "preview", "development"]] = Field(default_factory=list)
    type: Literal["plain", "encrypted", "sensitive", "system"] = "encrypted"
    git_branch: str | None = None
    custom_environments: list[str] = Field(default_factory=list)
    configuration_id: str | None = None
    content_hint: dict[str, Any] | None = None
    comment: str = ""

    _norm_target = field_validator("target", mode="before")(_targets)


class DeploymentSpec(_Strict):
    """A deployment that exists (READY) when the sandbox starts."""

    target: Literal["production", "preview", "staging"] | None = None
    git_branch: str | None = None
    custom_environment: str | None = None


class ProjectSpec(_Strict):
    """A Vercel project."""

    name: str
    id: str | None = None
    paused: bool = False
    framework: str = "nextjs"
    repo: str | None = None
    """``owner/name`` of the linked GitHub repository"""
    custom_environments: list[CustomEnvironmentSpec] = Field(default_factory=list)
    env: list[EnvSpec] = Field(default_factory=list)
    deployments: list[DeploymentSpec] = Field(default_factory=list)
    ignored_build_step: str | None = None
    """``commandForIgnoringBuildStep``: every redeploy of the project is CANCELED"""
    sso_protection: (
        Literal["preview", "all", "all_except_custom_domains", "prod_deployment_urls_and_all_previews"] | None
    ) = None
    """Vercel Authentication's ``deploymentType`` (off when absent)"""
    password_protection: bool = False
    protection_bypass_secret: str | None = None
    """a Protection Bypass for Automation secret (``x-vercel-protection-bypass``)"""
    hidden_production_env: int = Field(default=0, ge=0)
    """how many production vars the env list hides (``hiddenProductionEnvCount``)"""


_SharedTarget = Literal["production", "preview", "development"]


def _all_targets() -> list[_SharedTarget]:
    return ["production", "preview", "development"]


class SharedEnvSpec(_Strict):
    """A team shared env var linked to projects by name."""

    key: str
    value: str
    target: list[_SharedTarget] = Field(default_factory=_all_targets)
    type: Literal["plain", "encrypted", "sensitive"] = "encrypted"
    projects: list[str] = Field(default_factory=list)
    comment: str = ""
    apply_to_all_custom_environments: bool = False

    _norm_target = field_validator("target", mode="before")(_targets)


class GitHubSecretSpec(_Strict):
    """An Actions secret; ``value`` may contain templates."""

    name: str
    value: str


class GitHubRepoSpec(_Strict):
    """A repository with repository and environment secrets."""

    name: str
    secrets: list[GitHubSecretSpec] = Field(default_factory=list)
    environments: dict[str, list[GitHubSecretSpec]] = Field(default_factory=dict)


class GitHubOrgSpec(_Strict):
    """An organization with org secrets."""

    name: str
    secrets: list[GitHubSecretSpec] = Field(default_factory=list)


class GitHubSpec(_Strict):
    """Everything the GitHub emulation seeds."""

    repos: list[GitHubRepoSpec] = Field(default_factory=list)
    orgs: list[GitHubOrgSpec] = Field(default_factory=list)
    token_scopes: list[str] = Field(default_factory=lambda: ["repo", "admin:org", "workflow"])
    user: str = "sandbox-bot"


class FleetSpec(_Strict):
    """A whole fleet file."""

    name: str = ""
    description: str = ""
    team: TeamSpec = Field(default_factory=TeamSpec)
    user: UserSpec = Field(default_factory=UserSpec)
    upstash: UpstashSpec = Field(default_factory=UpstashSpec)
    postgres: list[PostgresSpec] = Field(default_factory=list)
    neon: list[NeonSpec] = Field(default_factory=list)
    integrations: list[IntegrationSpec] = Field(default_factory=list)
    projects: list[ProjectSpec] = Field(default_factory=list)
    shared_env: list[SharedEnvSpec] = Field(default_factory=list)
    github: GitHubSpec = Field(default_factory=GitHubSpec)
