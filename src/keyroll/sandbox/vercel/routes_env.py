"""Project env var routes: list, get (decrypted), create/upsert, edit, delete, batch delete.

Path versions follow what clients send (reference notes §6): list/create on v8–v10, get one
on v1/v9/v10, edit on v9/v10, delete on v8–v10, batch delete on v1.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from keyroll.sandbox.vercel.app import Call, VercelApp
from keyroll.sandbox.vercel.errors import ApiError, bad_request, not_found, save_failed
from keyroll.sandbox.vercel.records import EnvVar, Project
from keyroll.sandbox.vercel.render import env_json
from keyroll.sandbox.vercel.validate import TARGETS, env_changes, env_item, id_list, object_body

__all__ = ["routes"]


def _conflict_error(item: dict[str, Any], clash: EnvVar) -> dict[str, Any]:
    target = item["target"] or ["custom"]
    return {
        "code": "ENV_CONFLICT",
        "message": (
            f"A variable with the name `{item['key']}` already exists for the target "
            f"{','.join(target)} on branch {item.get('gitBranch') or 'undefined'}"
        ),
        "key": item["key"],
        "envVarKey": item["key"],
        "envVarId": clash.id,
        "target": item["target"],
        "gitBranch": item.get("gitBranch"),
        "action": "Update the existing variable or use `upsert=true`",
    }


def _env(call: Call, project: Project) -> EnvVar:
    env_id = call.param("env_id")
    ev = project.env.get(env_id)
    if ev is None:
        raise not_found(f"Environment Variable {env_id} was not found.", envVarId=env_id)
    return ev


async def list_env(call: Call) -> Any:
    """``GET /v10/projects/{p}/env`` — values stay ciphertext even with ``decrypt=true``."""
    project = call.project(call.param("project"))
    branch = call.query.get("gitBranch")
    ce_ref = call.query.get("customEnvironmentId") or call.query.get("customEnvironmentSlug")
    target = call.query.get("target")
    ce = project.custom_env(ce_ref) if ce_ref else None
    if ce_ref and ce is None:
        raise not_found(f"Custom environment {ce_ref} was not found.")
    envs = []
    hidden = 0
    for ev in project.env.values():
        if hidden < project.hidden_production_env and "production" in ev.target:
            hidden += 1  # not listed, only counted (a role that cannot see production vars)
            continue
        if branch is not None and ev.git_branch not in (None, branch):
            continue
        if target and target not in ev.target:
            continue
        if ce is not None and ce.id not in ev.custom_environment_ids:
            continue
        envs.append(env_json(ev))
    if call.flag("decrypt"):
        call.state.add_event(
            "env-variable-read",
            f"Environment variables of project {project.name} were listed with decrypt=true",
            project=project,
            payload={"decrypt": True},
        )
    if hidden:
        return {"envs": envs, "hiddenProductionEnvCount": hidden}
    return {"envs": envs}


async def get_env(call: Call) -> Any:
    """``GET /v1/projects/{p}/env/{id}`` — decrypted, except sensitive vars."""
    project = call.project(call.param("project"))
    ev = _env(call, project)
    call.state.add_event(
        "env-variable-read",
        f"Environment variable {ev.key} of project {project.name} was read",
        project=project,
        entity_id=ev.id,
        payload={"key": ev.key, "target": ev.target},
    )
    return env_json(ev, decrypted=True)


async def create_env(call: Call) -> Any:
    """``POST /v10/projects/{p}/env[?upsert=true]`` with one object or an array → 201 ``{created, failed}``."""
    project = call.project(call.param("project"))
    body = await call.json()
    single = isinstance(body, dict)
    if not single and not isinstance(body, list):
        raise bad_request("Invalid request: body should be object or array.")
    raw_items = [body] if single else body
    if not raw_items:
        raise bad_request("Invalid request: body should NOT have fewer than 1 items.")
    if len(raw_items) > 1000:
        raise bad_request("Invalid request: body should NOT have more than 1000 items.")
    items = [env_item(raw, project, where="" if single else f"[{i}].") for i, raw in enumerate(raw_items)]
    upsert = call.query.get("upsert", "").lower() in ("1", "true")
    state = call.state
    by = state.user["id"]
    created: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    with state.lock:
        for item in items:
            if state.roll_fault("partial", state.world.faults.partial_rate):
                failed.append(
                    save_failed(
                        key=item["key"],
                        envVarKey=item["key"],
                        target=item["target"],
                        gitBranch=item.get("gitBranch"),
                    )
                )
                continue
            clashes = state.conflicts(project, item)
            if clashes and not upsert:
                if single:
                    raise ApiError(400, **_conflict_error(item, clashes[0]))
                failed.append({"error": _conflict_error(item, clashes[0])})
                continue
            if clashes and len(clashes) > 1:
                failed.append({"error": _conflict_error(item, clashes[1])})
                continue
            if clashes:
                ev = clashes[0]
                # An upsert never converts to or from sensitive (that needs remove + add); it
                # widens the scope so the key resolves to the new value everywhere asked for.
                if (item["type"] == "sensitive") == (ev.type == "sensitive"):
                    ev.type = item["type"]
                ev.comment = item["comment"] or ev.comment
                ev.target = sorted(set(ev.target) | set(item["target"]), key=TARGETS.index)
                ev.custom_environment_ids = sorted(
                    set(ev.custom_environment_ids) | set(item["customEnvironmentIds"])
                )
                state.set_env_value(project, ev, item["value"], by=by)
                kind, verb = "env-variable-edit", "updated"
            else:
                ev = state.make_env(project, item, by=by)
                project.env[ev.id] = ev
                project.updated_at = ev.updated_at
                kind, verb = "env-variable-add", "added"
            state.add_event(
                kind,
                f"Environment variable {ev.key} {verb} in project {project.name}",
                project=project,
                entity_id=ev.id,
                payload={"key": ev.key, "target": ev.target, "gitBranch": ev.git_branch, "upsert": upsert},
            )
            created.append(env_json(ev))
    payload: dict[str, Any] = {
        "created": created[0] if single and created else created,
        "failed": failed,
    }
    return JSONResponse(payload, status_code=201)


async def edit_env(call: Call) -> Any:
    """``PATCH /v9/projects/{p}/env/{id}`` — returns the updated var (value encrypted)."""
    project = call.project(call.param("project"))
    body = await call.json()
    state = call.state
    with state.lock:
        ev = _env(call, project)
        current = {
            "key": ev.key,
            "value": ev.value,
            "type": ev.type,
            "target": list(ev.target),
            "gitBranch": ev.git_branch,
            "customEnvironmentIds": list(ev.custom_environment_ids),
            "comment": ev.comment,
        }
        item = env_changes(body, project, current)
        clashes = state.conflicts(project, item, ignore=ev.id)
        if clashes:
            raise ApiError(400, **_conflict_error(item, clashes[0]))
        ev.key, ev.type, ev.comment = item["key"], item["type"], item["comment"]
        ev.target, ev.git_branch = item["target"], item["gitBranch"]
        ev.custom_environment_ids = item["customEnvironmentIds"]
        state.set_env_value(project, ev, item["value"], by=state.user["id"])
        state.add_event(
            "env-variable-edit",
            f"Environment variable {ev.key} edited in project {project.name}",
            project=project,
            entity_id=ev.id,
            payload={"key": ev.key, "target": ev.target, "changed": sorted(body)},
        )
        return env_json(ev)


def _delete(call: Call, project: Project, ev: EnvVar) -> dict[str, Any]:
    state = call.state
    del project.env[ev.id]
    project.updated_at = state.world.stamp_ms()
    state.add_event(
        "env-variable-delete",
        f"Environment variable {ev.key} deleted from project {project.name}",
        project=project,
        entity_id=ev.id,
        payload={"key": ev.key, "target": ev.target},
    )
    return env_json(ev)


async def delete_env(call: Call) -> Any:
    """``DELETE /v9/projects/{p}/env/{id}`` → the deleted var."""
    project = call.project(call.param("project"))
    with call.state.lock:
        return _delete(call, project, _env(call, project))


async def delete_env_batch(call: Call) -> Any:
    """``DELETE /v1/projects/{p}/env`` body ``{ids}`` → ``{deleted, ids}``."""
    project = call.project(call.param("project"))
    ids = id_list(object_body(await call.json(), {"ids"}))
    deleted = []
    with call.state.lock:
        for env_id in ids:
            ev = project.env.get(env_id)
            if ev is not None:
                _delete(call, project, ev)
                deleted.append(env_id)
    return {"deleted": len(deleted), "ids": deleted}


async def pull_env(call: Call) -> Any:
    """``GET /v3/env/pull/{p}/{target}[/{gitBranch}]`` (``vercel env pull``) → ``{env: {KEY: value}}``,
    decrypted; sensitive vars come back empty as they do for the real CLI."""
    state = call.state
    project = call.project(call.param("project"))
    target = call.param("target")
    branch = call.request.path_params.get("branch", "")
    ce = None
    if target not in ("production", "preview", "development"):
        ce = project.custom_env(target)
        if ce is None:
            raise not_found(f"Custom environment {target} was not found.")
    values: dict[str, str] = {}
    with state.lock:
        branch_vars = []
        for ev in project.env.values():
            if ce is not None:
                if ce.id not in ev.custom_environment_ids:
                    continue
            elif target not in ev.target:
                continue
            if ev.git_branch is not None:
                if ev.git_branch == branch:
                    branch_vars.append(ev)
                continue
            values[ev.key] = "" if ev.type == "sensitive" else ev.value
        for ev in branch_vars:
            values[ev.key] = "" if ev.type == "sensitive" else ev.value
    state.add_event(
        "env-variable-read",
        f"Environment variables of project {project.name} ({target}) were pulled",
        project=project,
        payload={"target": target, "gitBranch": branch or None, "keys": sorted(values)},
    )
    return {"env": values}


def routes(app: VercelApp) -> list[BaseRoute]:
    """Every env var route."""
    out: list[BaseRoute] = []
    for v in ("v8", "v9", "v10"):
        out.append(app.route(f"/{v}/projects/{{project}}/env", "env_read", list_env, ["GET"]))
        out.append(app.route(f"/{v}/projects/{{project}}/env", "env_write", create_env, ["POST"]))
        out.append(
            app.route(f"/{v}/projects/{{project}}/env/{{env_id}}", "env_write", delete_env, ["DELETE"])
        )
    for v in ("v1", "v9", "v10"):
        out.append(app.route(f"/{v}/projects/{{project}}/env/{{env_id}}", "env_read", get_env, ["GET"]))
    for v in ("v9", "v10"):
        out.append(app.route(f"/{v}/projects/{{project}}/env/{{env_id}}", "env_write", edit_env, ["PATCH"]))
    out.append(app.route("/v1/projects/{project}/env", "env_write", delete_env_batch, ["DELETE"]))
    out.append(app.route("/v3/env/pull/{project}/{target}", "env_read", pull_env, ["GET"]))
    out.append(app.route("/v3/env/pull/{project}/{target}/{branch}", "env_read", pull_env, ["GET"]))
    return out
