"""JSON shapes of the emulated objects, with the real API's field names (reference notes §5–§12)."""

from __future__ import annotations

import zlib
from typing import Any

from keyroll.sandbox.vercel.records import (
    CustomEnvironment,
    Deployment,
    EnvVar,
    Event,
    Integration,
    Project,
    SharedEnvVar,
)
from keyroll.sandbox.vercel.state import VercelState

__all__ = [
    "custom_env_json",
    "deployment_json",
    "env_json",
    "event_json",
    "integration_json",
    "project_json",
    "shared_json",
    "team_json",
    "user_json",
]


def _value_fields(type_: str, value: str, ciphertext: str, decrypted: bool) -> dict[str, Any]:
    if type_ == "sensitive":
        return {"decrypted": False}
    if type_ in ("plain", "system"):
        return {"value": value, "decrypted": False}
    if decrypted:
        return {"value": value, "decrypted": True}
    return {"value": ciphertext, "decrypted": False}


def env_json(ev: EnvVar, *, decrypted: bool = False) -> dict[str, Any]:
    """A project env var; ``value`` is ciphertext unless ``decrypted`` (absent for sensitive)."""
    out: dict[str, Any] = {
        "id": ev.id,
        "key": ev.key,
        "type": ev.type,
        "target": list(ev.target),
        "configurationId": ev.configuration_id,
        "contentHint": ev.content_hint,
        "comment": ev.comment,
        "createdAt": ev.created_at,
        "updatedAt": ev.updated_at,
        "createdBy": ev.created_by,
        "updatedBy": ev.updated_by,
        "customEnvironmentIds": list(ev.custom_environment_ids),
        "system": ev.type == "system",
        "securityIssues": [],
    }
    if ev.git_branch is not None:
        out["gitBranch"] = ev.git_branch
    out.update(_value_fields(ev.type, ev.value, ev.ciphertext, decrypted))
    return out


def shared_json(state: VercelState, sv: SharedEnvVar, *, decrypted: bool = False) -> dict[str, Any]:
    """A team shared env var."""
    out: dict[str, Any] = {
        "id": sv.id,
        "key": sv.key,
        "type": sv.type,
        "target": list(sv.target),
        "projectId": list(sv.project_ids),
        "ownerId": state.team["id"],
        "applyToAllCustomEnvironments": sv.apply_to_all_custom_environments,
        "comment": sv.comment,
        "createdAt": sv.created_at,
        "created": sv.created_at,
        "updatedAt": sv.updated_at,
        "createdBy": sv.created_by,
        "updatedBy": sv.updated_by,
        "securityIssues": [],
    }
    out.update(_value_fields(sv.type, sv.value, sv.ciphertext, decrypted))
    return out


def custom_env_json(ce: CustomEnvironment, state: VercelState, project: Project) -> dict[str, Any]:
    """A custom environment."""
    current = [
        state.deployment_url(d)
        for d in state.deployments.values()
        if d.project_id == project.id and d.custom_env_id == ce.id and state.serving(d, state.now())
    ]
    return {
        "id": ce.id,
        "slug": ce.slug,
        "type": ce.type,
        "description": ce.description,
        "branchMatcher": ce.branch_matcher,
        "domains": [],
        "currentDeploymentAliases": current,
        "createdAt": ce.created_at,
        "updatedAt": ce.updated_at,
    }


def _creator(state: VercelState) -> dict[str, Any]:
    return {
        "uid": state.user["id"],
        "username": state.user["username"],
        "email": state.user.get("email", ""),
    }


def deployment_json(state: VercelState, dep: Deployment, *, list_item: bool = False) -> dict[str, Any]:
    """A deployment: the v6 list item shape (``uid``, ``state``) or the v13 shape (``id``, ``status``)."""
    now = state.now()
    ready_state = dep.state(now)
    project = state.projects.get(dep.project_id)
    ce = project.custom_envs.get(dep.custom_env_id) if project and dep.custom_env_id else None
    if ready_state == "READY" and dep.target == "production":
        substate: str | None = "PROMOTED" if dep.was_promoted else "STAGED"
    else:
        substate = None
    out: dict[str, Any] = {
        "name": dep.name,
        "url": state.deployment_url(dep),
        "projectId": dep.project_id,
        "createdAt": dep.created_at,
        "readyState": ready_state,
        "readySubstate": substate,
        "target": dep.target,
        "type": "LAMBDAS",
        "creator": _creator(state),
        "meta": dict(dep.meta),
        "source": dep.source,
        "aliasAssigned": dep.ready_at if dep.was_promoted else None,
        "aliasError": None,
        "inspectorUrl": f"https://vercel.com/{state.team.get('slug', '')}/{dep.name}/{dep.id[4:]}",
        "isRollbackCandidate": dep.was_promoted and not dep.alias and ready_state == "READY",
    }
    if now >= dep.building_at and not (dep.canceled_at is not None and dep.canceled_at < dep.building_at):
        out["buildingAt"] = dep.building_at  # absent while QUEUED: the build has not started
    if ready_state in ("READY", "ERROR"):
        out["ready"] = dep.ready_at
    if ce is not None:
        out["customEnvironment"] = {"id": ce.id, "slug": ce.slug, "type": ce.type}
    if list_item:
        out = {"uid": dep.id, "state": ready_state, "created": dep.created_at, **out}
        return out
    out = {"id": dep.id, "status": ready_state, **out}
    # v13 answers a boolean here and the time in aliasAssignedAt (@vercel/sdk's GetDeploymentResponseBody);
    # the v6 list item keeps the timestamp
    out["aliasAssigned"] = bool(dep.was_promoted or dep.alias)
    out["aliasAssignedAt"] = dep.ready_at if (dep.was_promoted or dep.alias) else None
    out["alias"] = list(dep.alias)
    out["version"] = 2
    out["regions"] = ["iad1"]
    out["public"] = False
    out["gitSource"] = {"type": "github", "ref": dep.git_branch, "sha": dep.meta.get("githubCommitSha", "")}
    if project is not None:
        out["project"] = {"id": project.id, "name": project.name, "framework": project.framework}
    if ready_state == "ERROR":
        out["errorCode"] = "BUILD_FAILED"
        out["errorMessage"] = "The build failed (injected by the sandbox: error_builds)."
    return out


def _hostname(state: VercelState, dep: Deployment) -> str:
    return f"{dep.name}-{dep.id[4:13].lower()}-{state.team.get('slug', 'team')}.vercel.app"


def _summary(state: VercelState, dep: Deployment) -> dict[str, Any]:
    """The deployment summary of ``targets.production`` and ``latestDeployments``."""
    full = deployment_json(state, dep)
    keys = (
        "id",
        "url",
        "name",
        "createdAt",
        "buildingAt",
        "ready",
        "readyState",
        "readySubstate",
        "target",
        "alias",
        "aliasAssigned",
        "aliasError",
        "meta",
        "creator",
        "type",
        "customEnvironment",
    )
    out = {k: full[k] for k in keys if k in full}
    out.update(
        {
            "createdIn": "iad1",
            "deploymentHostname": _hostname(state, dep),
            "plan": state.limits.plan,
            "private": True,
            "builds": [],
        }
    )
    if out.get("ready") is not None:
        out["readyAt"] = out["ready"]
    return out


def project_json(state: VercelState, project: Project, *, full: bool = False) -> dict[str, Any]:
    """A project (list item, or the ``GET /v9/projects/{id}`` shape with ``full``)."""
    deps = sorted(
        (d for d in state.deployments.values() if d.project_id == project.id),
        key=lambda d: d.created_at,
        reverse=True,
    )
    out: dict[str, Any] = {
        "id": project.id,
        "name": project.name,
        "accountId": state.team["id"],
        "createdAt": project.created_at,
        "updatedAt": project.updated_at,
        "framework": project.framework,
        "nodeVersion": "20.x",
        "live": False,
        "paused": project.paused,
        "directoryListing": False,
        "autoAssignCustomDomains": True,
        "latestDeployments": [_summary(state, d) for d in deps[:5]],
        "targets": {},
        "alias": [],
        "deploymentExpiration": {
            "expirationDays": 180,
            "expirationDaysProduction": 365,
            "expirationDaysCanceled": 30,
            "expirationDaysErrored": 90,
            "deploymentsToKeep": 10,
        },
        "resourceConfig": {"functionDefaultRegions": ["iad1"]},
        "defaultResourceConfig": {"functionDefaultRegions": ["iad1"]},
        "serverlessFunctionRegion": "iad1",
        "commandForIgnoringBuildStep": project.command_for_ignoring_build_step,
        "ssoProtection": project.sso_protection,
        "passwordProtection": project.password_protection,
    }
    if project.protection_bypass:
        out["protectionBypass"] = {k: dict(v) for k, v in project.protection_bypass.items()}
    if project.production_id and project.production_id in state.deployments:
        current = _summary(state, state.deployments[project.production_id])
        out["targets"]["production"] = current
        out["alias"] = [
            {
                "domain": state.production_alias(project),
                "environment": "production",
                "target": "PRODUCTION",
                "deployment": current,
                "createdAt": project.created_at,
            }
        ]
    if project.repo:
        org, _, repo = project.repo.partition("/")
        # the SDK's GetProjectsLink1 (type "github"): org, repo, repoId, repoOwnerId,
        # gitCredentialId, productionBranch, deployHooks, createdAt, updatedAt, sourceless
        out["link"] = {
            "type": "github",
            "org": org,
            "repo": repo,
            "repoId": zlib.crc32(project.repo.encode()) % 10**9,
            "repoOwnerId": zlib.crc32(org.encode()) % 10**8,
            "gitCredentialId": f"cred_{zlib.crc32(org.encode()):08x}",
            "productionBranch": "main",
            "deployHooks": [],
            "sourceless": True,
            "createdAt": project.created_at,
            "updatedAt": project.created_at,
        }
    if full:
        out["customEnvironments"] = [
            custom_env_json(ce, state, project) for ce in project.custom_envs.values()
        ]
        out["env"] = [env_json(ev) for ev in project.env.values()]
    return out


def _category(type_: str) -> str:
    """The primary category of an event type (the SDK's closed ``Categories`` enum)."""
    if "env-variable" in type_:
        return "env-variable"
    for prefix in ("deployment", "integration", "project", "team", "domain"):
        if type_.startswith(prefix):
            return prefix
    return "other"


def event_json(state: VercelState, ev: Event, *, with_payload: bool) -> dict[str, Any]:
    """An activity event."""
    user = (
        {"uid": state.user["id"], "username": state.user["username"], "email": state.user.get("email", "")}
        if ev.principal_type == "user"
        else None
    )
    out: dict[str, Any] = {
        "id": ev.id,
        "text": ev.text,
        "entities": [],
        "type": ev.type,
        "categories": [_category(ev.type)],
        "createdAt": ev.created_at,
        "principalId": ev.principal_id,
        "userId": ev.principal_id,
        "principal": {"type": ev.principal_type, "id": ev.principal_id},
        "viaIds": [],
        "via": [],
    }
    if user is not None:
        out["user"] = user
    if with_payload:
        out["payload"] = dict(ev.payload)
    return out


def integration_json(state: VercelState, integration: Integration) -> dict[str, Any]:
    """An integration configuration (``GET /v1/integrations/configurations``)."""
    return {
        "id": integration.id,
        "integrationId": integration.integration_id,
        "slug": integration.slug,
        "ownerId": state.team["id"],
        "teamId": state.team["id"],
        "userId": state.user["id"],
        "projects": list(integration.project_ids),
        "projectSelection": "selected",
        "scopes": ["read-write:integration-configuration", "read-write:project-env-vars"],
        "status": integration.status,
        "source": "marketplace",
        "installationType": "marketplace",
        "createdAt": integration.created_at,
        "updatedAt": integration.created_at,
    }


def user_json(state: VercelState) -> dict[str, Any]:
    """``GET /v2/user``."""
    return {
        "user": {
            "id": state.user["id"],
            "uid": state.user["id"],
            "email": state.user.get("email", ""),
            "name": state.user["username"],
            "username": state.user["username"],
            "avatar": None,
            "defaultTeamId": state.team["id"],
            "version": "northstar",
            "softBlock": None,
            "createdAt": 1_600_000_000_000,
            "billing": {"plan": "pro"},
        }
    }


def team_json(state: VercelState) -> dict[str, Any]:
    """``GET /v2/teams/{id}``."""
    return {
        "id": state.team["id"],
        "slug": state.team["slug"],
        "name": state.team.get("name") or state.team["slug"],
        "avatar": None,
        "createdAt": 1_600_000_000_000,
        "creatorId": state.user["id"],
        "membership": {
            "role": "OWNER",
            "confirmed": True,
            "uid": state.user["id"],
            "createdAt": 1_600_000_000_000,
        },
        "billing": {"plan": state.limits.plan},
        "sensitiveEnvironmentVariablePolicy": "off",
        "softBlock": None,
    }
