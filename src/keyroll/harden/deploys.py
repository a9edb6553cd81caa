"""Redeploying a project's serving deployments and waiting for READY (for fixes that change values).

Serving deployments are chosen exactly as the inventory does
(:func:`keyroll.inventory.deployments.select_deployments`: the production alias target, the
latest READY preview per branch, each custom environment); the redeploys, the wait and the
health probe are the rotation engine's own (:mod:`keyroll.rotate.redeploy`), run on a small
two-step plan journaled in the harden journal. The old deployment keeps serving until the new
one is READY, so an app that switches credentials this way never answers with a missing one.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from keyroll.core.model import CredentialPlan, DeploymentRef, Plan, Step, StepKind, StepState, Strategy
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Fingerprint
from keyroll.providers.factory import Providers
from keyroll.providers.vercel import VercelAPI

if TYPE_CHECKING:
    from keyroll.journal.store import Journal

__all__ = ["Redeployed", "probe_new", "redeploy_serving", "serving_deployments"]


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


async def redeploy_serving(
    providers: Providers,
    journal: Journal,
    run_id: str,
    project_id: str,
    project_name: str,
    *,
    timeout_s: float = 900.0,
    poll_s: float = 0.0,
    progress: Progress = NULL_PROGRESS,
) -> list[Redeployed]:
    """Redeploy every serving deployment of a project and wait until all are READY — with the
    rotation engine's own ``redeploy`` / ``await_ready`` (build slots, adaptive polling).

    :raises RotationError: a build ended ERROR/CANCELED or timed out (earlier deployments still serve).
    """
    from keyroll.journal.events import StepRecord
    from keyroll.rotate.options import ApplyOptions
    from keyroll.rotate.redeploy import await_ready, redeploy
    from keyroll.rotate.runtime import Runtime

    assert providers.vercel is not None
    refs = await serving_deployments(providers.vercel, project_id)
    if not refs:
        return []
    t0 = time.monotonic()
    prefix = f"harden-{project_id}"
    step_r = Step(
        id=f"{prefix}/redeploy",
        kind=StepKind.REDEPLOY,
        credential=Fingerprint("harden"),
        description=f"redeploy the serving deployments of {project_name}",
        params={"deployments": [dataclasses.asdict(r) for r in refs], "project_name": project_name},
        project_id=project_id,
    )
    step_w = Step(
        id=f"{prefix}/await",
        kind=StepKind.AWAIT_READY,
        credential=Fingerprint("harden"),
        description=f"wait until {project_name}'s new deployments are READY",
        depends_on=(step_r.id,),
        params={"redeploy_step": step_r.id},
        project_id=project_id,
    )
    plan = Plan(
        id=prefix,
        created_at="",
        inventory_digest="",
        credentials=(CredentialPlan(Fingerprint("harden"), Strategy.MANUAL, (step_r, step_w)),),
    )
    options = ApplyOptions(build_timeout_s=timeout_s, poll_interval_s=poll_s or 0.5)
    async with httpx.AsyncClient(timeout=15.0) as http:
        rt = Runtime(run_id, plan, providers, journal, options, progress, http)
        started = await redeploy(step_r, rt, written_at=time.time())
        rt.records[step_r.id] = StepRecord(step_r.id, StepState.DONE, started, {}, time.time())
        ready = await await_ready(step_w, rt)
    by_old = {d["old"]: d for d in started["deployments"]}
    out = []
    for r in ready["ready"]:
        src = by_old.get(r["old"], {})
        out.append(
            Redeployed(
                r["old"],
                r["new"],
                str(r.get("url") or src.get("url", "")),
                str(src.get("target", "")),
                float(r.get("build_s") or (time.monotonic() - t0)),
            )
        )
    return out


async def probe_new(url: str, path: str, written_keys: set[str]) -> tuple[bool, str]:
    """The engine's deployment probe: 2xx on ``path`` (a 5xx naming only other keys is not ours)."""
    from keyroll.rotate.redeploy import probe_deployment

    async with httpx.AsyncClient(timeout=15.0, follow_redirects=True) as http:
        result = await probe_deployment(http, url, path, set(), written_keys)
    return bool(result.get("ok")), f"HTTP {result.get('status', result.get('error', '?'))}"
