"""Deployment routes: list, get, create/redeploy, cancel — and the deployments' own URLs.

A new deployment snapshots the project's effective env at creation and builds for
``world.build_seconds``. A READY deployment answers at ``/_d/<id>/…`` through
``world.behaviour(env_snapshot, request)``; anything else answers like Vercel's edge does
for a deployment that is not there (404 ``DEPLOYMENT_NOT_FOUND``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.vercel.app import Call, VercelApp, paginate
from keyroll.sandbox.vercel.errors import ApiError, bad_request, not_found
from keyroll.sandbox.vercel.plan import DAY_MS
from keyroll.sandbox.vercel.records import Deployment, Project
from keyroll.sandbox.vercel.render import deployment_json
from keyroll.sandbox.vercel.state import VercelState
from keyroll.sandbox.vercel.validate import check_fields, string_map

__all__ = ["routes"]

_STATES = {"BUILDING", "ERROR", "INITIALIZING", "QUEUED", "READY", "CANCELED", "BLOCKED"}
_CREATE_FIELDS = {
    "name",
    "project",
    "deploymentId",
    "target",
    "customEnvironmentSlugOrId",
    "meta",
    "gitSource",
    "gitMetadata",
    "files",
    "withLatestCommit",
    "projectSettings",
    "monorepoManager",
    "functions",
    "routes",
    "regions",
    "public",
    "source",
}


async def list_deployments(call: Call) -> Any:
    """``GET /v6/deployments`` (and v7) with ``projectId``, ``target``, ``state``, ``limit``,
    ``until``/``since``, ``branch``, ``meta-<key>=<value>`` filters."""
    if not call.team_scoped:
        return {"deployments": [], "pagination": {"count": 0, "next": None, "prev": None}}
    state = call.state
    now = state.now()
    deps = list(state.deployments.values())
    project_ids = [p for p in call.query.getlist("projectIds") if p]
    if call.query.get("projectId"):
        project_ids.append(call.query["projectId"])
    app_name = call.query.get("app")
    if project_ids:
        wanted = set()
        for ref in project_ids:
            project = state.project(ref)
            if project is not None:
                wanted.add(project.id)
        deps = [d for d in deps if d.project_id in wanted]
    if app_name:
        deps = [d for d in deps if d.name == app_name]
    target = call.query.get("target")
    if target == "production":
        deps = [d for d in deps if d.target == "production"]
    elif target == "preview":
        deps = [d for d in deps if d.target != "production"]
    elif target:
        raise bad_request(
            'Invalid request: `target` should be equal to one of the allowed values "production, preview".'
        )
    states = call.query.get("state")
    if states:
        wanted_states = {s.strip().upper() for s in states.split(",") if s.strip()}
        if not wanted_states <= _STATES:
            raise bad_request("Invalid request: `state` has an unknown value.")
        deps = [d for d in deps if d.state(now) in wanted_states]
    branch = call.query.get("branch")
    if branch:
        deps = [d for d in deps if d.git_branch == branch]
    for name, value in call.query.items():
        if name.startswith("meta-"):
            deps = [d for d in deps if d.meta.get(name[5:]) == value]
    if call.flag("rollbackCandidate"):
        deps = [d for d in deps if d.was_promoted and not d.alias]
    limit = call.int_query("limit", 20, lo=1, hi=100) or 20
    page, pagination = paginate(
        deps,
        lambda d: d.created_at,
        limit=limit,
        until=call.int_query("until") or call.int_query("to"),
        since=call.int_query("since") or call.int_query("from"),
    )
    return {
        "deployments": [deployment_json(state, d, list_item=True) for d in page],
        "pagination": pagination,
    }


def _deployment(call: Call) -> Deployment:
    ref = call.param("ref")
    dep = call.state.find_deployment(ref) if call.team_scoped else None
    if dep is None:
        raise not_found(f"Deployment {ref} was not found.")
    return dep


async def get_deployment(call: Call) -> Any:
    """``GET /v13/deployments/{idOrUrl}``."""
    return deployment_json(call.state, _deployment(call))


async def cancel_deployment(call: Call) -> Any:
    """``PATCH /v12/deployments/{id}/cancel``: only QUEUED/BUILDING deployments can be canceled."""
    dep = _deployment(call)
    state = call.state
    with state.lock:
        if dep.state(state.now()) not in ("QUEUED", "BUILDING"):
            raise bad_request("Only queued or building deployments can be canceled.")
        dep.canceled_at = state.now()
        dep.finalized = True
    return deployment_json(state, dep)


def _create_params(state: VercelState, body: dict[str, Any]) -> dict[str, Any]:
    """Validate a create body and work out project, target, branch and custom environment."""
    check_fields(body, _CREATE_FIELDS)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request("Invalid request: missing required property `name`.")
    ref = body.get("project")
    if ref is not None and not isinstance(ref, str):
        raise bad_request("Invalid request: `project` should be string.")
    project = state.project(ref or name)
    if project is None:
        raise not_found(f"Project {ref or name} was not found.")
    meta = string_map(body.get("meta", {}), "meta")
    target = body.get("target")
    if target is not None and not isinstance(target, str):
        raise bad_request("Invalid request: `target` should be string.")
    ce_ref = body.get("customEnvironmentSlugOrId")
    if ce_ref is not None and not isinstance(ce_ref, str):
        raise bad_request("Invalid request: `customEnvironmentSlugOrId` should be string.")
    source: Deployment | None = None
    if body.get("deploymentId") is not None:
        if not isinstance(body["deploymentId"], str):
            raise bad_request("Invalid request: `deploymentId` should be string.")
        source = state.find_deployment(body["deploymentId"])
        if source is None or source.project_id != project.id:
            raise not_found(f"Deployment {body['deploymentId']} was not found in project {project.name}.")
    git = body.get("gitSource")
    if git is not None and not isinstance(git, dict):
        raise bad_request("Invalid request: `gitSource` should be object.")
    if source is None and git is None and "files" not in body:
        raise ApiError(
            400,
            "missing_files",
            "Invalid request: a deployment needs `files`, `gitSource` or a `deploymentId` to redeploy.",
        )
    branch = source.git_branch if source else "main"
    if git is not None and isinstance(git.get("ref"), str) and git["ref"]:
        branch = git["ref"]
    ce = None
    if target not in (None, "production", "preview", "staging"):
        ce_ref = ce_ref or target
        target = None
    if ce_ref:
        ce = project.custom_env(ce_ref)
        if ce is None:
            raise not_found(f"Custom environment {ce_ref} was not found in project {project.name}.")
    elif target is None and source is not None and source.custom_env_id:
        # a redeploy keeps the source's custom environment unless told otherwise
        ce = project.custom_envs.get(source.custom_env_id)
    if ce is not None:
        target = None
    return {
        "project": project,
        "target": target if target in ("production", "staging") else None,
        "branch": branch,
        "ce": ce,
        "meta": {**(source.meta if source else {}), **meta, "githubCommitRef": branch},
        "source": "redeploy" if source else ("git" if git else "cli"),
    }


def check_daily_cap(state: VercelState) -> None:
    """Refuse a new deployment past the plan's deployments per day.

    :raises ApiError: 402 ``api-deployments-free-per-day``; ``limit.reset`` is now + 24 h on every
        refused call, as reported in vercel/vercel#17426, and ``Retry-After`` says the same in seconds.
    """
    cap = state.limits.deployments_per_day
    if cap is None:
        return
    now = state.now()
    if state.deployments_today(now) < cap:
        return
    raise ApiError(
        402,
        "api-deployments-free-per-day",
        f'Resource is limited - try again in 24 hours (more than {cap}, code: "api-deployments-free-per-day").',
        headers={"Retry-After": str(DAY_MS // 1000)},
        limit={"total": cap, "remaining": 0, "reset": now + DAY_MS},
    )


async def create_deployment(call: Call) -> Any:
    """``POST /v13/deployments[?forceNew=1]`` — ``name`` required; ``target`` omitted ⇒ preview."""
    if not call.team_scoped:
        raise not_found("Project not found.")
    body = await call.json()
    if not isinstance(body, dict):
        raise bad_request("Invalid request: body should be object.")
    state = call.state
    params = _create_params(state, body)
    project = params["project"]
    check_daily_cap(state)
    if state.roll_fault("builds_rate_limited", state.world.faults.builds_rate_limited):
        raise ApiError(
            429,
            "builds_rate_limited",
            "You have reached the build rate limit for your plan. Try again later.",
            headers={"Retry-After": "3600"},
        )
    dep = state.create_deployment(
        project,
        target=params["target"],
        git_branch=params["branch"],
        custom_env_id=params["ce"].id if params["ce"] else None,
        meta=params["meta"],
        source=params["source"],
        redeploy=params["source"] == "redeploy",
    )
    state.add_event(
        "deployment",
        f"Deployment {dep.id} of project {project.name} created ({dep.target or 'preview'})",
        project=project,
        entity_id=dep.id,
        payload={
            "deploymentId": dep.id,
            "name": dep.name,
            "target": dep.target,
            "redeployOf": body.get("deploymentId"),
            "customEnvironmentId": dep.custom_env_id,
        },
    )
    return deployment_json(state, dep)


def _serve_error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers={"x-vercel-error": code}
    )


def protected(project: Project, dep: Deployment) -> bool:
    """Whether Deployment Protection guards this deployment's URL: Vercel Authentication
    (``ssoProtection``) or Password Protection on, and the deployment is not public under its
    ``deploymentType`` (``preview``: only non-production builds are guarded; ``all``: every one;
    the others: all but the current production deployment)."""
    guards = [g for g in (project.sso_protection, project.password_protection) if g]
    for guard in guards:
        kind = guard.get("deploymentType", "all_except_custom_domains")
        if kind == "all":
            return True
        if kind == "preview":
            if dep.target != "production":
                return True
            continue
        if dep.id != project.production_id:
            return True
    return False


def bypassed(project: Project, request: Request) -> bool:
    """The request carries one of the project's Protection Bypass for Automation secrets."""
    secret = request.headers.get("x-vercel-protection-bypass") or request.query_params.get(
        "x-vercel-protection-bypass"
    )
    return bool(secret) and secret in project.protection_bypass


def serve(app: VercelApp) -> Route:
    """``/_d/<id>/…``: the deployment itself, answering with its env snapshot."""
    state = app.state

    async def endpoint(request: Request) -> Response:
        state.refresh()
        dep = state.deployments.get(request.path_params["dep_id"])
        if dep is None or dep.state(state.now()) != "READY":
            return _serve_error(404, "DEPLOYMENT_NOT_FOUND", "The deployment could not be found on Vercel.")
        project = state.projects.get(dep.project_id)
        if project is not None and project.paused:
            return _serve_error(503, "DEPLOYMENT_PAUSED", "This deployment is currently paused.")
        if project is not None and protected(project, dep) and not bypassed(project, request):
            # Vercel Authentication / Password Protection: 401 with the login page for a browser;
            # automation passes with x-vercel-protection-bypass (or the query parameter of that name)
            return Response("Authentication Required", status_code=401, media_type="text/html")
        behaviour = app.world.behaviour
        if behaviour is None:
            return JSONResponse(
                {"deployment": dep.id, "env": {k: fingerprint_of(v) for k, v in sorted(dep.env.items())}}
            )
        try:
            return await behaviour(dict(dep.env), request)
        except Exception as exc:
            return _serve_error(500, "FUNCTION_INVOCATION_FAILED", f"behaviour failed: {type(exc).__name__}")

    return Route(
        "/_d/{dep_id}/{rest:path}", endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    )


def routes(app: VercelApp) -> list[BaseRoute]:
    """Every deployment route, plus the deployments' URLs."""
    out: list[BaseRoute] = []
    for v in ("v6", "v7"):
        out.append(app.route(f"/{v}/deployments", "deployments_read", list_deployments, ["GET"]))
    for v in ("v11", "v12", "v13"):
        out.append(app.route(f"/{v}/deployments/{{ref:path}}", "deployments_read", get_deployment, ["GET"]))
    out.append(app.route("/v12/deployments/{ref}/cancel", "deployments_create", cancel_deployment, ["PATCH"]))
    out.append(app.route("/v13/deployments", "deployments_create", create_deployment, ["POST"]))
    serve_route = serve(app)
    out.append(serve_route)
    out.append(
        Route("/_d/{dep_id}", serve_route.endpoint, methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
    )
    return out
