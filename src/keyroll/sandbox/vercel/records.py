"""The records of the emulated Vercel team: projects, env vars, shared vars, custom environments,
deployments, events and integrations.

Plain dataclasses holding what the real API stores (values in plaintext: the API shows
``ciphertext`` instead). :class:`~keyroll.sandbox.vercel.state.VercelState` holds and changes
them under its lock; :mod:`keyroll.sandbox.vercel.render` turns them into API JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CustomEnvironment",
    "Deployment",
    "EnvVar",
    "Event",
    "Integration",
    "Project",
    "SharedEnvVar",
]


@dataclass
class EnvVar:
    """A project env var; ``value`` is the plaintext (the API shows ``ciphertext`` instead)."""

    id: str
    key: str
    value: str
    type: str
    target: list[str]
    git_branch: str | None
    custom_environment_ids: list[str]
    configuration_id: str | None
    content_hint: dict[str, Any] | None
    comment: str
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    ciphertext: str = ""


@dataclass
class SharedEnvVar:
    """A team shared env var, linked to projects by id."""

    id: str
    key: str
    value: str
    type: str
    target: list[str]
    project_ids: list[str]
    apply_to_all_custom_environments: bool
    comment: str
    created_at: int
    updated_at: int
    created_by: str
    updated_by: str
    ciphertext: str = ""


@dataclass
class CustomEnvironment:
    """A project's custom environment."""

    id: str
    slug: str
    type: str
    description: str
    branch_matcher: dict[str, str] | None
    created_at: int
    updated_at: int


@dataclass
class Project:
    """A project and its env vars (insertion ordered)."""

    id: str
    name: str
    created_at: int
    updated_at: int
    paused: bool = False
    framework: str = "nextjs"
    repo: str | None = None
    custom_envs: dict[str, CustomEnvironment] = field(default_factory=dict)
    env: dict[str, EnvVar] = field(default_factory=dict)
    production_id: str | None = None
    """the deployment the production alias points at"""
    staging_id: str | None = None
    """the deployment the staging alias points at (``target: "staging"``)"""
    command_for_ignoring_build_step: str | None = None
    """Ignored Build Step: when set, every redeploy of an existing deployment is CANCELED"""
    sso_protection: dict[str, Any] | None = None
    """Vercel Authentication: deployment URLs other than the current production deployment answer
    401 without the bypass header (Vercel turns it on by default; sandbox fleets opt in per project)"""
    password_protection: dict[str, Any] | None = None
    protection_bypass: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Protection Bypass for Automation secrets → ``{"scope": "automation-bypass", …}``"""
    hidden_production_env: int = 0
    """how many production env vars the env list hides (``hiddenProductionEnvCount``)"""

    def custom_env(self, slug_or_id: str) -> CustomEnvironment | None:
        """A custom environment by id or slug."""
        if slug_or_id in self.custom_envs:
            return self.custom_envs[slug_or_id]
        for ce in self.custom_envs.values():
            if ce.slug == slug_or_id:
                return ce
        return None


@dataclass
class Deployment:
    """A deployment with the env snapshot it was built with."""

    id: str
    project_id: str
    name: str
    target: str | None
    """``production`` or ``None`` (preview and custom environments), as the real API"""
    git_branch: str
    custom_env_id: str | None
    created_at: int
    building_at: int
    ready_at: int
    build_error: bool
    env: dict[str, str]
    meta: dict[str, str]
    source: str
    creator: str
    canceled_at: int | None = None
    cancel_reason: str = ""
    """why the platform cancelled it (``ignored_build_step``); empty when a user cancelled"""
    finalized: bool = False
    alias: list[str] = field(default_factory=list)
    was_promoted: bool = False

    @property
    def slot_end(self) -> int:
        """When this build gives its build slot back (READY/ERROR, or cancelled)."""
        if self.canceled_at is not None:
            return min(self.canceled_at, self.ready_at)
        return self.ready_at

    def state(self, now_ms: int) -> str:
        """``QUEUED``, ``BUILDING``, ``READY``, ``ERROR`` or ``CANCELED`` at ``now_ms``."""
        if self.canceled_at is not None and now_ms >= self.canceled_at:
            return "CANCELED"
        if now_ms < self.building_at:
            return "QUEUED"
        if now_ms < self.ready_at:
            return "BUILDING"
        return "ERROR" if self.build_error else "READY"


@dataclass
class Event:
    """An activity event (``/v3/events``); never holds a value."""

    id: str
    type: str
    text: str
    created_at: int
    principal_id: str
    principal_type: str
    project_id: str | None
    entity_id: str | None
    payload: dict[str, Any]


@dataclass
class Integration:
    """An installed integration configuration."""

    id: str
    slug: str
    integration_id: str
    status: str
    created_at: int
    project_ids: list[str] = field(default_factory=list)
