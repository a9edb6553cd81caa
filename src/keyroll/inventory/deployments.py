"""Which deployments of an affected project serve, which older ones still answer, and which
env vars each was built with.

Serving (DESIGN.md, "What redeploy every affected deployment means"): the deployment behind
the production alias (``targets.production`` of the project — not "the newest production
build", which is wrong after an instant rollback or with staged builds), the latest READY
preview of every git branch, and the latest READY deployment of every custom environment.
Every other READY deployment still answers on its own URL with the env it was built with:
``serving=False``.

A deployment is built with the project vars of its target (for a preview, a var scoped to its
git branch shadows the branch-less one of the same key; a custom environment gets the vars
scoped to it), plus the team shared vars linked to the project, which a project var of the
same key overrides.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from keyroll.core.errors import KeyrollError
from keyroll.core.model import DeploymentRef, Unknown
from keyroll.core.progress import Progress
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.records import EnvRecord, ProjectInfo
from keyroll.inventory.vercel import project_info
from keyroll.providers.vercel.models import Deployment
from keyroll.providers.vercel.protocol import VercelAPI

__all__ = ["applies_to", "collect_deployments", "effective_env", "select_deployments"]

PREVIEW = "preview"
PRODUCTION = "production"
STAGING = "staging"
"""a ``target: "staging"`` deployment: its own staging alias, built with the Preview vars"""


def _ref(d: Deployment, *, target: str, serving: bool) -> DeploymentRef:
    return DeploymentRef(
        project_id=d.project_id,
        deployment_id=d.id,
        url=d.url,
        target=target,
        git_branch=d.git_branch,
        custom_environment_id=d.custom_environment_id,
        created_at=d.created_at,
        state=d.ready_state,
        serving=serving,
    )


def select_deployments(project: ProjectInfo, deployments: Iterable[Deployment]) -> list[DeploymentRef]:
    """Serving and older READY deployments of one project, newest first."""
    ready = sorted(
        (d for d in deployments if d.ready_state == "READY"), key=lambda d: d.created_at, reverse=True
    )
    for d in ready:
        if not d.project_id:
            d.project_id = project.id
    prod_id = str(project.production.get("id") or project.production.get("uid") or "")
    out: list[DeploymentRef] = []
    seen_groups: set[tuple[str, str]] = set()
    prod_found = False
    for d in ready:
        if d.custom_environment_id:
            group = ("custom", d.custom_environment_id)
            target = d.custom_environment_id
        elif d.target == PRODUCTION:
            group = (PRODUCTION, "")
            target = PRODUCTION
        elif d.target == STAGING:
            group = (STAGING, "")
            target = STAGING
        else:
            group = (PREVIEW, d.git_branch)
            target = PREVIEW
        if group[0] == PRODUCTION:
            serving = d.id == prod_id if prod_id else group not in seen_groups
        else:
            serving = group not in seen_groups
        seen_groups.add(group)
        prod_found = prod_found or (serving and group[0] == PRODUCTION)
        out.append(_ref(d, target=target, serving=serving))
    if prod_id and not prod_found and str(project.production.get("readyState", "READY")) == "READY":
        # the listing did not reach back to the aliased deployment: take it from the project
        summary = project.production
        out.append(
            DeploymentRef(
                project_id=project.id,
                deployment_id=prod_id,
                url=str(summary.get("url", "")),
                target=PRODUCTION,
                created_at=int(summary.get("createdAt", 0) or 0),
                state="READY",
                serving=True,
            )
        )
    out.sort(key=lambda r: (not r.serving, -r.created_at, r.deployment_id))
    return out


def applies_to(record: EnvRecord, deployment: DeploymentRef) -> bool:
    """True when a deployment of this kind is built with ``record`` (before shadowing)."""
    if deployment.custom_environment_id:
        return deployment.custom_environment_id in record.custom_environment_ids or (
            record.shared and record.all_custom_environments
        )
    if deployment.target == PRODUCTION:
        return PRODUCTION in record.targets
    if PREVIEW not in record.targets:
        return False
    return not record.git_branch or record.git_branch == deployment.git_branch


def effective_env(records: Iterable[EnvRecord], deployment: DeploymentRef) -> list[EnvRecord]:
    """The env vars a deployment was built with, after branch and project-over-shared shadowing."""
    by_key: dict[str, EnvRecord] = {}

    def rank(r: EnvRecord) -> int:
        return (0 if r.shared else 2) + (1 if r.git_branch else 0)

    for r in records:
        if not applies_to(r, deployment):
            continue
        if r.shared and deployment.project_id not in r.linked_project_ids:
            continue
        if not r.shared and r.project_id != deployment.project_id:
            continue
        current = by_key.get(r.key)
        if current is None or rank(r) > rank(current):
            by_key[r.key] = r
    return list(by_key.values())


async def collect_deployments(
    vercel: VercelAPI,
    projects: list[ProjectInfo],
    limiter: Limiter,
    progress: Progress,
) -> tuple[list[DeploymentRef], list[Unknown]]:
    """READY deployments of ``projects``, classified serving/older; failures become unknowns."""
    refs: list[DeploymentRef] = []
    unknowns: list[Unknown] = []
    task = progress.task("deployments", total=len(projects))

    async def one(project: ProjectInfo) -> None:
        try:
            if not project.has_targets:
                fresh = project_info(await limiter.run(vercel.get_project, project.id))
                project.production, project.has_targets = fresh.production, True
            deployments = await limiter.run(vercel.list_deployments, project.id, state="READY", limit=100)
        except KeyrollError as exc:
            unknowns.append(
                Unknown(
                    where=f"deployments of {project.name}",
                    reason=f"could not be listed: {exc.message}",
                    project_id=project.id,
                )
            )
            progress.note(f"deployments of {project.name}: {exc.message}")
        else:
            refs.extend(select_deployments(project, deployments))
        progress.advance(task)

    await asyncio.gather(*(one(p) for p in projects))
    progress.finish(task)
    refs.sort(key=lambda r: (r.project_id, not r.serving, -r.created_at, r.deployment_id))
    return refs, unknowns
