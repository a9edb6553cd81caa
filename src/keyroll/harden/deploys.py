"""Redeploying a project's serving deployments and waiting for READY (for fixes that change values).

Serving deployments are chosen exactly as the inventory does
(:func:`keyroll.inventory.deployments.select_deployments`: the production alias target, the
latest READY preview per branch, each custom environment). A redeploy is what ``vercel
redeploy`` sends; the old deployment keeps serving until the new one is READY, so an app that
switches credentials this way never answers with a missing one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from keyroll.core.errors import RotationError
from keyroll.core.model import DeploymentRef
from keyroll.providers.vercel import Deployment, VercelAPI

__all__ = ["Redeployed", "probe_url", "redeploy_serving", "serving_deployments"]

_TERMINAL_BAD = frozenset({"ERROR", "CANCELED", "DELETED"})


@dataclass(frozen=True)
class Redeployed:
    """One redeploy: the deployment replaced and the new one."""

    old_id: str
    new_id: str
    url: str
    target: str
    seconds: float


async def serving_deployments(vercel: VercelAPI, project_id: str) -> list[DeploymentRef]:
    """The READY deployments that serve traffic for a project (re-read now, not from the inventory)."""
    from keyroll.inventory.deployments import select_deployments
    from keyroll.inventory.vercel import project_info

    project = project_info(await vercel.get_project(project_id))
    project.has_targets = True
    deployments = await vercel.list_deployments(project_id, state="READY", limit=100)
    return [r for r in select_deployments(project, deployments) if r.serving]


async def _wait_ready(vercel: VercelAPI, dep: Deployment, timeout_s: float, poll_s: float) -> Deployment:
    start = time.monotonic()
    delay = poll_s or 0.2
    current = dep
    while current.ready_state != "READY":
        if current.ready_state in _TERMINAL_BAD:
            raise RotationError(
                f"redeploy {current.id} ended {current.ready_state}",
                hint="the previous deployment still serves; fix the build, then run `keyroll harden --fix` again",
            )
        if time.monotonic() - start > timeout_s:
            raise RotationError(
                f"redeploy {current.id} not READY after {timeout_s:.0f}s", hint="check the build logs"
            )
        await asyncio.sleep(delay)
        if not poll_s:
            delay = min(delay * 1.5, 5.0)  # adaptive: fast for short builds, gentle for long ones
        current = await vercel.get_deployment(current.id)
    return current


async def redeploy_serving(
    vercel: VercelAPI, project_id: str, project_name: str, *, timeout_s: float = 900.0, poll_s: float = 0.0
) -> list[Redeployed]:
    """Redeploy every serving deployment of a project in parallel and wait until all are READY.

    :raises RotationError: a build ended ERROR/CANCELED or timed out (earlier deployments still serve).
    """
    refs = await serving_deployments(vercel, project_id)

    async def one(ref: DeploymentRef) -> Redeployed:
        t0 = time.monotonic()
        source = Deployment(
            id=ref.deployment_id,
            url=ref.url,
            name=project_name,
            projectId=project_id,
            target=ref.target if ref.target in ("production", "staging") else None,
            readyState="READY",
            git_branch=ref.git_branch,
            custom_environment_id=ref.custom_environment_id,
        )
        new = await vercel.redeploy(source)
        ready = await _wait_ready(vercel, new, timeout_s, poll_s)
        return Redeployed(ref.deployment_id, ready.id, ready.url, ref.target, time.monotonic() - t0)

    return list(await asyncio.gather(*(one(r) for r in refs)))


def _http_url(url: str, path: str) -> str:
    if url.startswith(("http://", "https://")):
        base = url
    elif url.startswith(("127.0.0.1", "localhost", "[::1]")):
        base = f"http://{url}"
    else:
        base = f"https://{url}"
    return base.rstrip("/") + "/" + path.lstrip("/")


async def probe_url(url: str, path: str, *, timeout_s: float = 10.0) -> tuple[int, str]:
    """GET a deployment's ``path``; returns ``(status, short body)`` (never raises for HTTP errors)."""
    async with httpx.AsyncClient(timeout=timeout_s, follow_redirects=True) as client:
        try:
            resp = await client.get(_http_url(url, path))
        except httpx.HTTPError as exc:
            return 0, type(exc).__name__
        return resp.status_code, resp.text[:200]
