"""Redeploying a project's serving deployments and waiting for READY (for fixes that change values).

Serving deployments are chosen exactly as the inventory does
(:func:`keyroll.inventory.deployments.select_deployments`: the production alias target, the
latest READY preview per branch, each custom environment); the redeploys, the wait and the
health probe are the rotation package's own service (:func:`keyroll.rotate.service.redeploy_and_wait`,
:func:`keyroll.rotate.redeploy.probe_deployment`). The old deployment keeps serving until the new
one is READY, so an app that switches credentials this way never answers with a missing one.
"""

from __future__ import annotations

import httpx

from keyroll.core.model import DeploymentRef
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.providers.factory import Providers
from keyroll.providers.vercel.protocol import VercelAPI
from keyroll.rotate.service import Redeployment, redeploy_and_wait

__all__ = ["probe_new", "redeploy_serving", "serving_deployments"]


async def serving_deployments(vercel: VercelAPI, project_id: str) -> list[DeploymentRef]:
    """The READY deployments that serve traffic for a project (re-read now, not from the inventory)."""
    from keyroll.inventory.deployments import select_deployments
    from keyroll.inventory.vercel import project_info

    project = project_info(await vercel.get_project(project_id))
    project.has_targets = True
    deployments = await vercel.list_deployments(project_id, state="READY", limit=100)
    return [r for r in select_deployments(project, deployments) if r.serving]


async def redeploy_serving(
    providers: Providers,
    project_id: str,
    project_name: str,
    *,
    timeout_s: float = 900.0,
    poll_s: float = 0.0,
    progress: Progress = NULL_PROGRESS,
) -> list[Redeployment]:
    """Redeploy every serving deployment of a project and wait until all are READY.

    :raises RotationError: a build ended ERROR/CANCELED or timed out (earlier deployments still serve).
    """
    assert providers.vercel is not None
    refs = await serving_deployments(providers.vercel, project_id)
    return await redeploy_and_wait(
        providers.vercel,
        refs,
        project_id=project_id,
        project_name=project_name,
        timeout_s=timeout_s,
        poll_s=poll_s or 0.5,
        progress=progress,
    )


async def probe_new(url: str, path: str, written_keys: set[str]) -> tuple[bool, str]:
    """The engine's deployment probe: 2xx on ``path`` (a 5xx naming only other keys is not ours)."""
    from keyroll.rotate.redeploy import probe_deployment

    async with httpx.AsyncClient(timeout=15.0, follow_redirects=True) as http:
        result = await probe_deployment(http, url, path, set(), written_keys)
    return bool(result.get("ok")), f"HTTP {result.get('status', result.get('error', '?'))}"
