"""A project's deployments as verify sees them: which serve, which are older, what they answer.

:func:`read_project` reads a project and its READY deployments once (two API calls; a third
only when a deployment names a custom environment the project read did not);
:func:`serving` picks the ones that serve traffic (DESIGN.md: the production alias target,
the latest READY deployment of each preview branch and of each custom environment).
:func:`http_probe` asks a deployment's own URL whether it answers, and which credential
fingerprints it reports (the sandbox's deployments list them; real apps usually do not).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyroll.core.errors import KeyrollError
from keyroll.core.secret import Secret
from keyroll.providers.vercel.models import Deployment, Project
from keyroll.providers.vercel.protocol import VercelAPI

__all__ = ["HttpAnswer", "ProjectDeployments", "http_probe", "read_project", "serving"]

_FP = re.compile(r"sha256:[0-9a-f]{8}")
_PLATFORM_CODE = re.compile(
    r"\b(DEPLOYMENT_PAUSED|DEPLOYMENT_NOT_FOUND|DEPLOYMENT_DISABLED|DEPLOYMENT_BLOCKED)\b"
)
_LOOPBACK = ("127.", "localhost", "[::1]")


@dataclass(frozen=True)
class ProjectDeployments:
    """One project's READY deployments, read at ``read_at`` (epoch seconds)."""

    project_id: str
    name: str = ""
    production_id: str = ""
    """the deployment the production alias points at (``targets.production``), '' when none"""
    deployments: tuple[Deployment, ...] = ()
    read_at: float = 0.0
    error: str = ""
    """why the project could not be read ('' when it was)"""
    paused: bool = False
    """a paused project's deployments answer 503 ``DEPLOYMENT_PAUSED`` until it is resumed"""
    custom_environments: dict[str, str] = field(default_factory=dict, compare=False)
    """custom environment id → slug, as far as the project says"""

    def by_id(self, deployment_id: str) -> Deployment | None:
        """A READY deployment by id."""
        for d in self.deployments:
            if d.id == deployment_id:
                return d
        return None

    def scope(self, d: Deployment) -> str:
        """Where a deployment serves, for titles: its custom environment's slug (the id when the
        slug is unknown), else its git branch or target."""
        ce = d.custom_environment_id
        if ce:
            return self.custom_environments.get(ce, ce)
        return d.git_branch or d.target or "preview"


def _production_summary(project: Project) -> dict[str, Any]:
    prod = project.targets.get("production") if isinstance(project.targets, dict) else None
    return prod if isinstance(prod, dict) else {}


async def read_project(
    vercel: VercelAPI, project_id: str, *, limit: int = 100, clock: Callable[[], float] = time.time
) -> ProjectDeployments:
    """Read a project and its READY deployments; failures are recorded in ``error``, not raised."""
    try:
        project = await vercel.get_project(project_id)
        deployments = await vercel.list_deployments(project.id, state="READY", limit=limit)
    except KeyrollError as exc:
        return ProjectDeployments(project_id=project_id, read_at=clock(), error=exc.message)
    slugs = await _custom_environments(vercel, project, deployments)
    prod = _production_summary(project)
    prod_id = str(prod.get("id") or prod.get("uid") or "")
    ready = [d for d in deployments if d.ready_state == "READY"]
    if prod_id and not any(d.id == prod_id for d in ready) and prod:
        # the alias target may be older than the listed page: keep it from the summary
        summary = dict(prod)
        summary.setdefault("id", prod_id)
        summary.setdefault("readyState", "READY")
        summary.setdefault("target", "production")
        ready.append(Deployment.model_validate(summary))
    ready.sort(key=lambda d: d.created_at, reverse=True)
    return ProjectDeployments(
        project_id=project.id,
        name=project.name,
        production_id=prod_id,
        deployments=tuple(ready),
        read_at=clock(),
        paused=bool(project.paused),
        custom_environments=slugs,
    )


async def _custom_environments(
    vercel: VercelAPI, project: Project, deployments: Sequence[Deployment]
) -> dict[str, str]:
    """Id → slug of the project's custom environments: from the project read
    (``customEnvironments``), else — only when a deployment names one — from
    ``GET /v9/projects/{id}/custom-environments``; {} when neither says (titles keep the ids)."""
    listed = (project.model_extra or {}).get("customEnvironments")
    slugs = {
        str(e["id"]): str(e["slug"])
        for e in (listed if isinstance(listed, list) else ())
        if isinstance(e, dict) and e.get("id") and e.get("slug")
    }
    wanted = {d.custom_environment_id for d in deployments if d.custom_environment_id}
    if wanted <= slugs.keys():
        return slugs
    try:
        envs = await vercel.list_custom_environments(project.id)
    except KeyrollError:
        return slugs
    return {**slugs, **{e.id: e.slug for e in envs if e.slug}}


def _custom_env(d: Deployment) -> str:
    if d.custom_environment_id:
        return d.custom_environment_id
    ce = getattr(d, "customEnvironment", None) or d.meta.get("customEnvironmentId")
    if isinstance(ce, dict):
        return str(ce.get("id") or ce.get("slug") or "")
    return str(ce or "")


def _branch(d: Deployment) -> str:
    return d.git_branch or str(d.meta.get("githubCommitRef") or d.meta.get("branch") or "")


def serving(snapshot: ProjectDeployments) -> tuple[Deployment, ...]:
    """The deployments that serve traffic: production alias target, latest per branch / custom env."""
    out: dict[str, Deployment] = {}
    if snapshot.production_id:
        prod = snapshot.by_id(snapshot.production_id)
        if prod is not None:
            out[prod.id] = prod
    seen: set[tuple[str, str]] = set()
    for d in snapshot.deployments:  # newest first
        if d.target == "production":
            continue
        ce = _custom_env(d)
        key = ("custom", ce) if ce else ("branch", _branch(d))
        if key in seen:
            continue
        seen.add(key)
        out.setdefault(d.id, d)
    return tuple(out.values())


def deployment_url(d: Deployment) -> str:
    """``http://`` for loopback hosts (the sandbox), ``https://`` otherwise."""
    url = d.url
    if not url:
        return ""
    if url.startswith(("http://", "https://")):
        return url
    return ("http://" if url.startswith(_LOOPBACK) else "https://") + url


@dataclass(frozen=True)
class HttpAnswer:
    """What a deployment answered on its own URL."""

    status: int | None
    """HTTP status; None when no answer (network error, timeout)"""
    at: float
    fingerprints: frozenset[str] = field(default_factory=frozenset)
    """credential fingerprints the answer mentions (``sha256:…``)"""
    error: str = ""
    code: str = ""
    """Vercel's error code when the platform (not the app) answered, e.g. ``DEPLOYMENT_PAUSED``"""


async def http_probe(
    http: httpx.AsyncClient,
    d: Deployment,
    path: str = "/",
    *,
    clock: Callable[[], float] = time.time,
    bypass: Secret | None = None,
) -> HttpAnswer:
    """GET the deployment's URL + ``path`` (with ``x-vercel-protection-bypass`` when ``bypass``); never raises."""
    base = deployment_url(d)
    if not base:
        return HttpAnswer(None, clock(), error="deployment has no URL")
    url = base.rstrip("/") + "/" + path.lstrip("/")
    try:
        headers = {"x-vercel-protection-bypass": bypass.reveal()} if bypass is not None else None
        resp = await http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        return HttpAnswer(None, clock(), error=type(exc).__name__)
    text = resp.text[:65536]
    code = ""
    platform = _PLATFORM_CODE.search(text)
    if resp.status_code >= 400 and platform:
        code = platform.group(1)
    return HttpAnswer(resp.status_code, clock(), frozenset(_FP.findall(text)), code=code)
