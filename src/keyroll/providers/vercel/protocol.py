"""What keyroll needs from Vercel: the :class:`VercelAPI` Protocol.

Every consumer (inventory, rotation, verify, harden, audit, preflight) is typed against this
Protocol; :class:`~keyroll.providers.vercel.client.VercelClient` implements it over HTTP and
``tests/fakes.py`` in memory. It is complete: every method a consumer calls is declared here
(the in-memory fake leaves out the shared-variable create/delete, which harden looks up with
``getattr`` and reports as unsupported).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

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

__all__ = ["VercelAPI"]


class VercelAPI(Protocol):
    """What keyroll needs from Vercel. All calls are team-scoped by the client's config."""

    async def list_projects(self) -> list[Project]:
        """Every project (all pages)."""
        ...

    async def find_projects(self, ids: Iterable[str], *, max_pages: int) -> dict[str, Project]:
        """Projects of ``ids`` (with ``targets``) from the team's project list, most recently
        updated first, reading at most ``max_pages`` pages and stopping once all were seen; a
        project not among them is absent from the result."""
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

    async def edit_env(self, project_id: str, env_id: str, *, verify: bool = True, **changes: Any) -> EnvVar:
        """PATCH one env var in place (``value`` may be a Secret); keeps id, type and scope unless
        changed. With ``verify`` a changed readable value is read back and compared by fingerprint."""
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

    async def create_shared_env(
        self,
        key: str,
        value: Secret,
        *,
        type: str = "encrypted",
        target: list[str] | None = None,
        project_ids: list[str] | None = None,
        comment: str | None = None,
    ) -> SharedEnvVar:
        """Create a team shared env var linked to ``project_ids`` (harden's sensitive bridge)."""
        ...

    async def delete_shared_env(self, env_ids: Iterable[str]) -> list[str]:
        """Delete shared env vars; the ids deleted."""
        ...

    async def list_integration_configurations(self) -> list[IntegrationConfiguration]:
        """Installed integrations."""
        ...

    async def get_team(self) -> dict[str, Any]:
        """``GET /v2/teams/{id}`` of the configured team (``billing.plan`` …)."""
        ...

    async def update_project(self, id_or_name: str, **settings: Any) -> Project:
        """``PATCH /v9/projects/{idOrName}`` with project settings (API field names)."""
        ...

    async def list_deployments(
        self,
        project_id: str | None,
        *,
        target: str | None = None,
        state: str | None = None,
        limit: int | None = 100,
        since: int | None = None,
    ) -> list[Deployment]:
        """Deployments of a project (of the whole team with ``project_id=None``), newest first:
        all pages up to ``limit`` (every page with ``None``), created after ``since`` (ms) when given."""
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
