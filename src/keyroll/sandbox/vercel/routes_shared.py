"""Team shared env var routes (``/v1/env``): list, get, create, batch update, delete, unlink."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse
from starlette.routing import BaseRoute

from keyroll.sandbox.vercel.app import Call, VercelApp, paginate
from keyroll.sandbox.vercel.errors import ApiError, bad_request, batch_failure, not_found, save_failed
from keyroll.sandbox.vercel.records import Project, SharedEnvVar
from keyroll.sandbox.vercel.render import shared_json
from keyroll.sandbox.vercel.state import VercelState
from keyroll.sandbox.vercel.validate import (
    TARGETS,
    check_fields,
    env_item,
    id_list,
    object_body,
    string_list,
)

__all__ = ["routes"]

_SHARED_TYPES = ("encrypted", "sensitive", "plain")
_NO_PROJECT = Project(id="", name="(team)", created_at=0, updated_at=0)
"""stand-in for item validation: shared vars have no custom environments of their own"""


def _shared(call: Call) -> SharedEnvVar:
    env_id = call.param("env_id")
    sv = call.state.shared.get(env_id) if call.team_scoped else None
    if sv is None:
        raise not_found(f"Shared Environment Variable {env_id} was not found.", envVarId=env_id)
    return sv


async def _team_body(call: Call, allowed: set[str]) -> dict[str, Any]:
    """The object body of a team-scoped write, with no property outside ``allowed``.

    :raises ApiError: 403 without a team; 400 for a bad body.
    """
    if not call.team_scoped:
        raise ApiError(403, "forbidden", "Shared environment variables belong to a team; pass teamId.")
    return object_body(await call.json(), allowed)


def _missing(env_id: str) -> dict[str, Any]:
    """A batch's ``failed`` entry for an id that names no shared variable."""
    return batch_failure("not_found", f"Shared variable {env_id} was not found.", envVarId=env_id)


def _project_ids(state: VercelState, value: Any, field: str) -> list[str]:
    ids = []
    for ref in string_list(value, field):
        project = state.project(ref)
        if project is None:
            raise bad_request(f"Project {ref!r} was not found.", projectId=ref)
        ids.append(project.id)
    return ids


def _clash(state: VercelState, key: str, target: list[str], ignore: str = "") -> SharedEnvVar | None:
    for sv in state.shared.values():
        if sv.id != ignore and sv.key == key and set(sv.target) & set(target):
            return sv
    return None


def _clash_error(key: str, target: list[str], other: SharedEnvVar) -> dict[str, Any]:
    return {
        "code": "existing_key_and_target",
        "message": f"A shared variable with the key `{key}` already exists for the target {','.join(target)}.",
        "key": key,
        "envVarKey": key,
        "envVarId": other.id,
        "target": target,
    }


async def list_shared(call: Call) -> Any:
    """``GET /v1/env`` → ``{data, pagination}`` (values stay ciphertext)."""
    if not call.team_scoped:
        return {"data": [], "pagination": {"count": 0, "next": None, "prev": None}}
    items = list(call.state.shared.values())
    search = call.query.get("search")
    project_id = call.query.get("projectId")
    ids = call.query.get("ids")
    exclude_ids = call.query.get("exclude_ids")
    exclude_project = call.query.get("exclude_projectId")
    if search:
        items = [s for s in items if search.lower() in s.key.lower()]
    if project_id:
        p = call.state.project(project_id)
        items = [s for s in items if p is not None and p.id in s.project_ids]
    if ids:
        wanted = set(ids.split(","))
        items = [s for s in items if s.id in wanted]
    if exclude_ids:
        unwanted = set(exclude_ids.split(","))
        items = [s for s in items if s.id not in unwanted]
    if exclude_project:
        items = [s for s in items if exclude_project not in s.project_ids]
    limit = call.int_query("limit", 100, lo=1, hi=100) or 100
    page, pagination = paginate(
        items,
        lambda s: s.created_at,
        limit=limit,
        until=call.int_query("until"),
        since=call.int_query("since"),
    )
    return {"data": [shared_json(call.state, s) for s in page], "pagination": pagination}


async def get_shared(call: Call) -> Any:
    """``GET /v1/env/{id}`` — decrypted unless sensitive."""
    sv = _shared(call)
    call.state.add_event(
        "shared-env-variable-read",
        f"Shared environment variable {sv.key} was read",
        entity_id=sv.id,
        payload={"key": sv.key, "projectIds": list(sv.project_ids)},
    )
    return shared_json(call.state, sv, decrypted=True)


async def create_shared(call: Call) -> Any:
    """``POST /v1/env`` body ``{evs:[{key,value,comment?}], type?, target?, projectId?, …}`` → 201."""
    body = await _team_body(
        call, {"evs", "type", "target", "projectId", "applyToAllCustomEnvironments", "comment"}
    )
    evs = body.get("evs")
    if not isinstance(evs, list) or not evs:
        raise bad_request("Invalid request: missing required property `evs`.")
    type_ = body.get("type", "encrypted")
    if type_ not in _SHARED_TYPES:
        raise bad_request(
            f'Invalid request: `type` should be equal to one of the allowed values "{", ".join(_SHARED_TYPES)}".'
        )
    target = body.get("target", list(TARGETS))
    apply_all = body.get("applyToAllCustomEnvironments", False)
    if not isinstance(apply_all, bool):
        raise bad_request("Invalid request: `applyToAllCustomEnvironments` should be boolean.")
    state = call.state
    project_ids = _project_ids(state, body.get("projectId", []), "projectId")
    items = []
    for i, raw in enumerate(evs):
        if isinstance(raw, dict):
            check_fields(raw, {"key", "value", "comment"}, f"evs[{i}]")
            raw = {**raw, "type": type_, "target": target}
        items.append(env_item(raw, _NO_PROJECT, where=f"evs[{i}]."))
    created: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    with state.lock:
        for item in items:
            other = _clash(state, item["key"], item["target"])
            if other is not None:
                if len(items) == 1:
                    raise ApiError(409, **_clash_error(item["key"], item["target"], other))
                failed.append({"error": _clash_error(item["key"], item["target"], other)})
                continue
            ts = state.world.stamp_ms()
            sv = SharedEnvVar(
                id=state.new_id("env_", 20),
                key=item["key"],
                value=item["value"],
                type=item["type"],
                target=item["target"],
                project_ids=list(project_ids),
                apply_to_all_custom_environments=apply_all,
                comment=item["comment"],
                created_at=ts,
                updated_at=ts,
                created_by=state.user["id"],
                updated_by=state.user["id"],
                ciphertext=state.encrypt(item["value"]),
            )
            state.shared[sv.id] = sv
            state.add_event(
                "shared-env-variable-create",
                f"Shared environment variable {sv.key} created",
                entity_id=sv.id,
                payload={"key": sv.key, "target": sv.target, "projectIds": sv.project_ids},
            )
            created.append(shared_json(state, sv))
    return JSONResponse({"created": created, "failed": failed}, status_code=201)


def _apply_update(state: VercelState, sv: SharedEnvVar, raw: Any) -> list[str]:
    """Validate and apply one update; returns the changed field names."""
    if not isinstance(raw, dict):
        raise bad_request("Invalid request: each update should be object.")
    check_fields(raw, {"key", "value", "target", "type", "comment", "projectId", "projectIdUpdates"})
    merged = {
        "key": raw.get("key", sv.key),
        "value": raw.get("value", sv.value),
        "type": raw.get("type", sv.type),
        "target": raw.get("target", sv.target),
        "comment": raw.get("comment", sv.comment),
    }
    item = env_item(merged, _NO_PROJECT)
    if item["type"] not in _SHARED_TYPES:
        raise bad_request(f"Invalid request: `type` should be one of {', '.join(_SHARED_TYPES)}.")
    if (item["type"] == "sensitive") != (sv.type == "sensitive"):
        raise bad_request("Shared variables cannot be converted to or from Sensitive.", key=sv.key)
    other = _clash(state, item["key"], item["target"], ignore=sv.id)
    if other is not None:
        raise ApiError(409, **_clash_error(item["key"], item["target"], other))
    project_ids = list(sv.project_ids)
    if "projectId" in raw:
        project_ids = _project_ids(state, raw["projectId"], "projectId")
    if "projectIdUpdates" in raw:
        upd = raw["projectIdUpdates"]
        if not isinstance(upd, dict):
            raise bad_request("Invalid request: `projectIdUpdates` should be object.")
        check_fields(upd, {"link", "unlink"}, "projectIdUpdates")
        for pid in _project_ids(state, upd.get("link", []), "projectIdUpdates.link"):
            if pid not in project_ids:
                project_ids.append(pid)
        unlink = set(_project_ids(state, upd.get("unlink", []), "projectIdUpdates.unlink"))
        project_ids = [p for p in project_ids if p not in unlink]
    sv.key, sv.type, sv.target, sv.comment = item["key"], item["type"], item["target"], item["comment"]
    sv.project_ids = project_ids
    if item["value"] != sv.value:
        sv.value = item["value"]
        sv.ciphertext = state.encrypt(item["value"])
    sv.updated_at = state.world.stamp_ms()
    sv.updated_by = state.user["id"]
    return sorted(raw)


async def update_shared(call: Call) -> Any:
    """``PATCH /v1/env`` body ``{updates: {id: {…}}}`` → ``{updated, failed}``."""
    body = await _team_body(call, {"updates"})
    updates = body.get("updates")
    if not isinstance(updates, dict) or not updates:
        raise bad_request("Invalid request: missing required property `updates`.")
    state = call.state
    updated: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    with state.lock:
        for env_id, raw in updates.items():
            sv = state.shared.get(env_id)
            if sv is None:
                failed.append(_missing(env_id))
                continue
            if state.roll_fault("partial", state.world.faults.partial_rate):
                failed.append(save_failed(envVarId=env_id, key=sv.key))
                continue
            try:
                changed = _apply_update(state, sv, raw)
            except ApiError as exc:
                failed.append(batch_failure(exc.code, exc.message, envVarId=env_id, key=sv.key))
                continue
            state.add_event(
                "shared-env-variable-update",
                f"Shared environment variable {sv.key} updated",
                entity_id=sv.id,
                payload={"key": sv.key, "changed": changed, "projectIds": list(sv.project_ids)},
            )
            updated.append(shared_json(state, sv))
    return {"updated": updated, "failed": failed}


async def delete_shared(call: Call) -> Any:
    """``DELETE /v1/env`` body ``{ids}`` → ``{deleted: [ids], failed}``."""
    ids = id_list(await _team_body(call, {"ids"}))
    state = call.state
    deleted, failed = [], []
    with state.lock:
        for env_id in ids:
            sv = state.shared.pop(env_id, None)
            if sv is None:
                failed.append(_missing(env_id))
                continue
            deleted.append(env_id)
            state.add_event(
                "shared-env-variable-delete",
                f"Shared environment variable {sv.key} deleted",
                entity_id=sv.id,
                payload={"key": sv.key, "projectIds": list(sv.project_ids)},
            )
    return {"deleted": deleted, "failed": failed}


async def unlink_shared(call: Call) -> Any:
    """``PATCH /v1/env/{id}/unlink/{projectId}`` → ``{id}``."""
    sv = _shared(call)
    project = call.project(call.param("project"))
    with call.state.lock:
        if project.id in sv.project_ids:
            sv.project_ids.remove(project.id)
            sv.updated_at = call.state.world.stamp_ms()
            call.state.add_event(
                "shared-env-variable-update",
                f"Shared environment variable {sv.key} unlinked from project {project.name}",
                project=project,
                entity_id=sv.id,
                payload={"key": sv.key, "unlink": [project.id]},
            )
    return {"id": sv.id}


def routes(app: VercelApp) -> list[BaseRoute]:
    """Every shared env var route."""
    return [
        app.route("/v1/env", "env_read", list_shared, ["GET"]),
        app.route("/v1/env/all", "env_read", list_shared, ["GET"]),
        app.route("/v1/env", "env_write", create_shared, ["POST"]),
        app.route("/v1/env", "env_write", update_shared, ["PATCH"]),
        app.route("/v1/env", "env_write", delete_shared, ["DELETE"]),
        app.route("/v1/env/{env_id}", "env_read", get_shared, ["GET"]),
        app.route("/v1/env/{env_id}/unlink/{project}", "env_write", unlink_shared, ["PATCH"]),
    ]
