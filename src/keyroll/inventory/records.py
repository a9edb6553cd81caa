"""What the sources hand to the resolver: raw sightings, before matching and classification.

Values stay :class:`~keyroll.core.secret.Secret`; nothing here is serialised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyroll.core.model import Credential, Form, Unknown
from keyroll.core.secret import Fingerprint, Secret

__all__ = [
    "EnvRecord",
    "GitHubSecretRecord",
    "ProjectInfo",
    "TextHit",
    "UpstashSnapshot",
    "VercelSnapshot",
]


@dataclass
class ProjectInfo:
    """A Vercel project as inventory needs it."""

    id: str
    name: str
    paused: bool = False
    production: dict[str, Any] = field(default_factory=dict)
    """``targets.production`` (the deployment that serves the production alias), when known"""
    has_targets: bool = False
    """False when the project listing carried no ``targets`` (fetch the project to learn them)"""
    repo: str = ""
    """linked git repository ``owner/name`` (or just ``name``) when Vercel says"""
    repo_type: str = ""
    """the link's ``type``: ``github``, ``github-limited``, ``github-custom-host``, ``gitlab``, ``bitbucket``"""
    repo_host: str = ""
    """``github-custom-host`` links only: the GitHub Enterprise host"""


@dataclass
class EnvRecord:
    """One Vercel env var (project or team shared) and, when readable, its value."""

    shared: bool
    env_id: str
    key: str
    type: str = "encrypted"
    targets: tuple[str, ...] = ()
    git_branch: str = ""
    custom_environment_ids: tuple[str, ...] = ()
    configuration_id: str = ""
    content_hint: dict[str, Any] | None = None
    project_id: str = ""
    project_name: str = ""
    linked_project_ids: tuple[str, ...] = ()
    all_custom_environments: bool = False
    value: Secret | None = None
    unreadable: str = ""
    """why ``value`` is None (``sensitive``, an error …); empty when the value was read"""
    read_failed: bool = False
    """True when a read failed (as opposed to a value that cannot be read by design)"""
    gone: bool = False
    """deleted between the listing and the read (404): no longer a location"""

    @property
    def hint_type(self) -> str:
        """``contentHint.type`` or ``""``."""
        return str((self.content_hint or {}).get("type", ""))

    def where(self) -> str:
        """A value-free description: ``vercel web UPSTASH_REDIS_REST_TOKEN [production]``."""
        scope = ",".join(self.targets) or ",".join(self.custom_environment_ids) or "-"
        if self.git_branch:
            scope += f"@{self.git_branch}"
        owner = "shared" if self.shared else (self.project_name or self.project_id)
        return f"vercel {owner} {self.key} [{scope}]"


@dataclass
class GitHubSecretRecord:
    """A GitHub Actions secret, by name (values are never readable)."""

    repo: str
    """``owner/repo`` (empty for org secrets)"""
    scope: str
    """``repo``, ``env:<name>`` or ``org``"""
    name: str
    updated_at: str = ""
    org: str = ""

    def where(self) -> str:
        """``github acme/web env:production QSTASH_TOKEN``."""
        owner = self.repo or f"org:{self.org}"
        return f"github {owner} {self.scope} {self.name}"


@dataclass(frozen=True)
class TextHit:
    """A known value found in a local file or in git history."""

    fingerprint: Fingerprint
    form: Form
    path: str
    line: int
    column: int
    commit: str = ""
    author_date: str = ""
    key: str = ""
    """the dotenv key on that line, when there is one"""
    update: str = ""
    """for a file a tool wrote (``vercel env pull``, a Doppler / Infisical export): the command
    that updates this copy (value-free)"""


@dataclass
class UpstashSnapshot:
    """Credentials minted by Upstash (values attached) and what could not be read there."""

    credentials: list[Credential] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)


@dataclass
class VercelSnapshot:
    """Projects, env vars and integration configurations of the team."""

    projects: dict[str, ProjectInfo] = field(default_factory=dict)
    records: list[EnvRecord] = field(default_factory=list)
    configurations: dict[str, str] = field(default_factory=dict)
    """integration configuration id → integration slug"""
    unknowns: list[Unknown] = field(default_factory=list)
