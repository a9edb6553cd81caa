"""Custom environments by name: the slugs (``staging``) behind the ids env vars and deployments carry.

Env vars scope to custom environments by id (``customEnvironmentIds``) and deployments name
theirs by id (``customEnvironment.id``); people know them by slug. After the inventory is
assembled, :func:`fill_custom_environment_slugs` asks ``GET /v9/projects/{id}/custom-environments``
once for each project whose locations or deployments mention a custom environment — none for
teams that use none — and fills the display-only slug fields
(:attr:`~keyroll.core.model.Location.custom_environment_slugs`,
:attr:`~keyroll.core.model.DeploymentRef.custom_environment_slug`). A project whose list cannot
be read keeps its ids (a note, not an unknown: nothing about the credentials is missing).
"""

from __future__ import annotations

import asyncio
import dataclasses

from keyroll.core.errors import KeyrollError
from keyroll.core.model import Inventory, Location, LocationKind
from keyroll.core.progress import Progress
from keyroll.inventory.limiter import Limiter
from keyroll.providers.vercel.protocol import VercelAPI

__all__ = ["custom_environment_projects", "fill_custom_environment_slugs", "with_slugs"]


def custom_environment_projects(inventory: Inventory) -> list[str]:
    """Project ids whose locations or deployments mention a custom environment (a shared var's
    custom environments belong to one of its linked projects)."""
    out: dict[str, None] = {}
    for loc in inventory.locations:
        if not loc.custom_environment_ids:
            continue
        if loc.project_id:
            out[loc.project_id] = None
        elif loc.kind is LocationKind.VERCEL_SHARED_ENV:
            out.update(dict.fromkeys(loc.linked_project_ids))
    for d in inventory.deployments:
        if d.custom_environment_id:
            out[d.project_id] = None
    return list(out)


def _named(loc: Location, slugs: dict[str, str]) -> Location:
    names = tuple(slugs.get(ce, "") for ce in loc.custom_environment_ids)
    if not any(names) or names == loc.custom_environment_slugs:
        return loc
    return dataclasses.replace(loc, custom_environment_slugs=names)


def with_slugs(inventory: Inventory, slugs: dict[str, str]) -> Inventory:
    """A copy whose locations and deployments carry the slugs of their custom environment ids."""
    if not slugs:
        return inventory
    deployments = tuple(
        dataclasses.replace(d, custom_environment_slug=slugs[d.custom_environment_id])
        if d.custom_environment_id in slugs
        else d
        for d in inventory.deployments
    )
    locations = tuple(_named(loc, slugs) for loc in inventory.locations)
    return dataclasses.replace(inventory, locations=locations, deployments=deployments)


async def fill_custom_environment_slugs(
    vercel: VercelAPI, inventory: Inventory, limiter: Limiter, progress: Progress
) -> Inventory:
    """``inventory`` with custom environment slugs filled in (one list call per project that needs it).

    Never raises for a provider failure: that project's custom environments stay ids.
    """
    projects = custom_environment_projects(inventory)
    if not projects:
        return inventory

    async def one(project_id: str) -> dict[str, str]:
        try:
            envs = await limiter.run(vercel.list_custom_environments, project_id)
        except KeyrollError as exc:
            progress.note(f"custom environments of {project_id} could not be listed: {exc.message}")
            return {}
        return {e.id: e.slug for e in envs if e.slug}

    slugs: dict[str, str] = {}
    for found in await asyncio.gather(*(one(p) for p in projects)):
        slugs.update(found)
    return with_slugs(inventory, slugs)
