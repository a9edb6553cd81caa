"""Project and custom-environment routes."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.routing import BaseRoute

from keyroll.sandbox.vercel.app import Call, VercelApp, paginate
from keyroll.sandbox.vercel.errors import bad_request, not_found
from keyroll.sandbox.vercel.render import custom_env_json, project_json

__all__ = ["routes"]


async def list_projects(call: Call) -> Any:
    """``GET /v10/projects`` → ``{projects, pagination}``, newest ``updatedAt`` first.

    The cursor is ``pagination.next``; it is accepted back as ``until`` or ``from``.
    """
    if not call.team_scoped:
        return {"projects": [], "pagination": {"count": 0, "next": None, "prev": None}}
    projects = list(call.state.projects.values())
    search = call.query.get("search")
    if search:
        projects = [p for p in projects if search.lower() in p.name.lower()]
    repo = call.query.get("repo")
    if repo:
        projects = [p for p in projects if p.repo and (p.repo == repo or p.repo.split("/")[-1] == repo)]
    limit = call.int_query("limit", 20, lo=1, hi=100) or 20
    v10 = call.request.url.path.startswith("/v10/")
    token = call.query.get("from") or ""
    if v10 and token and not token.isdigit():
        until: int | None = _decode_cursor(token)
    else:
        until = call.int_query("until")
        if until is None:
            until = call.int_query("from")
    page, pagination = paginate(
        projects, lambda p: p.updated_at, limit=limit, until=until, since=call.int_query("since")
    )
    if v10 and pagination.get("next") is not None:
        # v10 answers a continuation token, to be sent back as ``from`` (the docs' example:
        # ``"next": "JBSWY3DPEHPK3PXP"``); older versions a timestamp for ``until``
        pagination = {**pagination, "next": _encode_cursor(int(pagination["next"]))}
    return {"projects": [project_json(call.state, p) for p in page], "pagination": pagination}


def _encode_cursor(stamp: int) -> str:
    return base64.b32encode(f"p:{stamp}".encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> int:
    try:
        raw = base64.b32decode(token + "=" * (-len(token) % 8)).decode()
        if not raw.startswith("p:"):
            raise ValueError(token)
        return int(raw[2:])
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise bad_request("Invalid request: `from` is not a valid continuation token.") from None


async def get_project(call: Call) -> Any:
    """``GET /v9/projects/{idOrName}`` with ``targets.production``."""
    return project_json(call.state, call.project(call.param("project")), full=True)


_SETTINGS = {
    "commandForIgnoringBuildStep": "command_for_ignoring_build_step",
    "ssoProtection": "sso_protection",
    "passwordProtection": "password_protection",
}
_SSO_TYPES = ("preview", "all", "all_except_custom_domains", "prod_deployment_urls_and_all_previews")
_OTHER_SETTINGS = {
    "name",
    "framework",
    "buildCommand",
    "devCommand",
    "installCommand",
    "outputDirectory",
    "rootDirectory",
    "nodeVersion",
    "autoAssignCustomDomains",
    "directoryListing",
}
"""accepted (as the real endpoint does) but not modelled: they change nothing here"""


async def update_project(call: Call) -> Any:
    """``PATCH /v9/projects/{idOrName}``: ``commandForIgnoringBuildStep`` (string or null),
    ``ssoProtection`` / ``passwordProtection`` (object or null); unknown fields → 400."""
    project = call.project(call.param("project"))
    body = await call.json()
    if not isinstance(body, dict):
        raise bad_request("Invalid request: body should be object.")
    unknown = sorted(set(body) - set(_SETTINGS) - _OTHER_SETTINGS)
    if unknown:
        raise bad_request(f"Invalid request: should NOT have additional property `{unknown[0]}`.")
    command = body.get("commandForIgnoringBuildStep", project.command_for_ignoring_build_step)
    if command is not None and not isinstance(command, str):
        raise bad_request("Invalid request: `commandForIgnoringBuildStep` should be string or null.")
    for key in ("ssoProtection", "passwordProtection"):
        value = body.get(key)
        if value is not None and not isinstance(value, dict):
            raise bad_request(f"Invalid request: `{key}` should be object or null.")
    sso = body.get("ssoProtection")
    if isinstance(sso, dict) and sso.get("deploymentType") not in _SSO_TYPES:
        raise bad_request(
            "Invalid request: `ssoProtection.deploymentType` should be equal to one of the allowed values "
            f'"{", ".join(_SSO_TYPES)}".'
        )
    with call.state.lock:
        for field_name, attr in _SETTINGS.items():
            if field_name in body:
                value = body[field_name]
                setattr(
                    project, attr, (value or None) if field_name == "commandForIgnoringBuildStep" else value
                )
        project.updated_at = call.state.world.stamp_ms()
    call.state.add_event(
        "project-settings-updated" if "commandForIgnoringBuildStep" in body else "project-updated",
        f"Project {project.name} settings updated ({', '.join(sorted(body))})",
        project=project,
        payload={"fields": sorted(body)},
    )
    return project_json(call.state, project, full=True)


async def list_custom_environments(call: Call) -> Any:
    """``GET /v9/projects/{p}/custom-environments`` → ``{accountLimit, environments}``."""
    project = call.project(call.param("project"))
    envs = list(project.custom_envs.values())
    branch = call.query.get("gitBranch")
    if branch:
        envs = [ce for ce in envs if (ce.branch_matcher or {}).get("pattern") == branch]
    return {
        "accountLimit": {"total": 12},
        "environments": [custom_env_json(ce, call.state, project) for ce in envs],
    }


async def get_custom_environment(call: Call) -> Any:
    """``GET /v9/projects/{p}/custom-environments/{slugOrId}``."""
    project = call.project(call.param("project"))
    ref = call.param("ref")
    ce = project.custom_env(ref)
    if ce is None:
        raise not_found(f"Custom environment {ref} was not found.")
    return custom_env_json(ce, call.state, project)


def routes(app: VercelApp) -> list[BaseRoute]:
    """Every project route."""
    out: list[BaseRoute] = []
    for v in ("v4", "v8", "v9", "v10"):
        out.append(app.route(f"/{v}/projects", "default", list_projects, ["GET"]))
    for v in ("v1", "v8", "v9", "v10"):
        out.append(app.route(f"/{v}/projects/{{project}}", "default", get_project, ["GET"]))
    out.append(app.route("/v9/projects/{project}", "default", update_project, ["PATCH"]))
    for v in ("v1", "v9"):
        out.append(
            app.route(
                f"/{v}/projects/{{project}}/custom-environments", "default", list_custom_environments, ["GET"]
            )
        )
        out.append(
            app.route(
                f"/{v}/projects/{{project}}/custom-environments/{{ref}}",
                "default",
                get_custom_environment,
                ["GET"],
            )
        )
    return out
