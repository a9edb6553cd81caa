"""Request-body validation with the real API's rules and ``Invalid request: …`` messages.

Every check raises :class:`~keyroll.sandbox.vercel.errors.ApiError` (400 ``bad_request``);
nothing here ever lets a malformed body through to the state, so arbitrary input cannot
crash the emulator. Messages name fields and keys, never values.
"""

from __future__ import annotations

import re
from typing import Any

from keyroll.sandbox.vercel.errors import ApiError, bad_request
from keyroll.sandbox.vercel.records import Project

__all__ = [
    "CREATABLE_TYPES",
    "MAX_VALUE_BYTES",
    "TARGETS",
    "check_fields",
    "env_changes",
    "env_item",
    "id_list",
    "object_body",
    "optional_str",
    "string_list",
    "string_map",
]

TARGETS = ("production", "preview", "development")
CREATABLE_TYPES = ("system", "encrypted", "plain", "sensitive")
MAX_VALUE_BYTES = 64 * 1024
"""Vercel's limit is 64 KB for all env vars of a deployment; one value above it can never fit."""
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_FIELDS = {
    "key",
    "value",
    "type",
    "target",
    "gitBranch",
    "comment",
    "customEnvironmentIds",
    "visibility",
}


def check_fields(body: dict[str, Any], allowed: set[str], where: str = "") -> None:
    """Reject properties the endpoint does not know."""
    for name in body:
        if name not in allowed:
            at = f"`{where}` " if where else ""
            raise bad_request(f"Invalid request: {at}should NOT have additional property `{name}`.")


def object_body(body: Any, allowed: set[str]) -> dict[str, Any]:
    """``body`` when it is an object with no property outside ``allowed``.

    :raises ApiError: 400 otherwise.
    """
    if not isinstance(body, dict):
        raise bad_request("Invalid request: body should be object.")
    check_fields(body, allowed)
    return body


def id_list(body: dict[str, Any]) -> list[str]:
    """The ``ids`` of a batch body: a non-empty array of strings.

    :raises ApiError: 400 otherwise.
    """
    ids = body.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise bad_request("Invalid request: `ids` should be a non-empty array of strings.")
    return ids


def _type_error(field: str, kind: str) -> ApiError:
    return bad_request(f"Invalid request: `{field}` should be {kind}.")


def optional_str(body: dict[str, Any], field: str, *, where: str = "") -> str | None:
    """A string field or ``None`` when absent/null."""
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _type_error(f"{where}{field}", "string")
    return value


def string_list(value: Any, field: str) -> list[str]:
    """A list of strings (a single string is accepted as a one-item list, as the API does)."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(field, "array of strings")
    return list(value)


def string_map(value: Any, field: str) -> dict[str, str]:
    """An object whose values are strings (``meta``)."""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _type_error(field, "object with string values")
    return dict(value)


def _targets(value: Any, field: str) -> list[str]:
    targets = string_list(value, field)
    for i, t in enumerate(targets):
        if t not in TARGETS:
            raise bad_request(
                f"Invalid request: `{field}[{i}]` should be equal to one of the allowed values "
                f'"{", ".join(TARGETS)}".'
            )
    return sorted(set(targets), key=TARGETS.index)


def _key(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _type_error(field, "string")
    if not value or len(value) > 256 or not _KEY_RE.match(value):
        raise bad_request(
            "The name of your Environment Variable contains invalid characters. Only letters, digits "
            "and underscores are allowed. Furthermore, the name should not start with a digit."
        )
    return value


def _value(value: Any, field: str, key: str) -> str:
    if not isinstance(value, str):
        raise _type_error(field, "string")
    if value == "":
        raise bad_request(f"Invalid request: `{field}` should NOT be shorter than 1 characters.", key=key)
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise bad_request(
            f"The value of the Environment Variable {key} exceeds the maximum size of 64 KB.", key=key
        )
    return value


def _type(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _type_error(field, "string")
    if value not in CREATABLE_TYPES:
        raise bad_request(
            f"Invalid request: `{field}` should be equal to one of the allowed values "
            f'"{", ".join(CREATABLE_TYPES)}".'
        )
    return value


def _custom_envs(value: Any, field: str, project: Project) -> list[str]:
    ids = []
    for ref in string_list(value, field):
        ce = project.custom_env(ref)
        if ce is None:
            raise bad_request(f"Custom environment {ref!r} not found in project {project.name}.")
        ids.append(ce.id)
    return sorted(set(ids))


def _scope_rules(item: dict[str, Any], where: str) -> None:
    if not item["target"] and not item["customEnvironmentIds"]:
        raise bad_request(f"Invalid request: `{where}target` should NOT have fewer than 1 items.")
    if item.get("gitBranch") is not None:
        if item["target"] != ["preview"]:
            raise bad_request(
                "You can only set a Git branch for Environment Variables that target only Preview.",
                key=item["key"],
            )
        if not item["gitBranch"] or len(item["gitBranch"]) > 250:
            raise bad_request(f"Invalid request: `{where}gitBranch` is not a valid branch name.")
    if item["type"] == "sensitive" and "development" in item["target"]:
        raise bad_request(
            "Sensitive Environment Variables cannot be created in the Development environment.",
            key=item["key"],
        )


def env_item(raw: Any, project: Project, *, where: str = "") -> dict[str, Any]:
    """Validate one create/upsert item; returns it normalised (lists, custom env ids).

    :raises ApiError: 400 ``bad_request`` naming the field.
    """
    if not isinstance(raw, dict):
        raise bad_request(f"Invalid request: `{where or 'body'}` should be object.")
    check_fields(raw, _ENV_FIELDS, where.rstrip("."))
    for name in ("key", "value", "type"):
        if name not in raw:
            raise bad_request(
                f"Invalid request: {where and f'`{where[:-1]}` '}missing required property `{name}`."
            )
    key = _key(raw["key"], f"{where}key")
    item: dict[str, Any] = {
        "key": key,
        "value": _value(raw["value"], f"{where}value", key),
        "type": _type(raw["type"], f"{where}type"),
        "target": _targets(raw.get("target") or [], f"{where}target"),
        "gitBranch": optional_str(raw, "gitBranch", where=where),
        "customEnvironmentIds": _custom_envs(
            raw.get("customEnvironmentIds") or [], f"{where}customEnvironmentIds", project
        ),
        "comment": optional_str(raw, "comment", where=where) or "",
    }
    optional_str(raw, "visibility", where=where)
    if len(item["comment"]) > 500:
        raise bad_request(f"Invalid request: `{where}comment` should NOT be longer than 500 characters.")
    _scope_rules(item, where)
    return item


def env_changes(raw: Any, project: Project, current: dict[str, Any]) -> dict[str, Any]:
    """Validate a PATCH body against the var's current fields; returns the merged item.

    :raises ApiError: 400 ``bad_request`` naming the field.
    """
    if not isinstance(raw, dict):
        raise bad_request("Invalid request: `body` should be object.")
    check_fields(raw, _ENV_FIELDS)
    item = dict(current)
    if "key" in raw:
        item["key"] = _key(raw["key"], "key")
    if "value" in raw:
        item["value"] = _value(raw["value"], "value", item["key"])
    if "type" in raw:
        new_type = _type(raw["type"], "type")
        if (new_type == "sensitive") != (current["type"] == "sensitive"):
            raise bad_request(
                "Existing Environment Variables cannot be converted to or from Sensitive; "
                "remove it and add it again.",
                key=item["key"],
            )
        item["type"] = new_type
    if "target" in raw:
        item["target"] = _targets(raw["target"] or [], "target")
    if "gitBranch" in raw:
        item["gitBranch"] = optional_str(raw, "gitBranch") or None
    if "customEnvironmentIds" in raw:
        item["customEnvironmentIds"] = _custom_envs(
            raw["customEnvironmentIds"] or [], "customEnvironmentIds", project
        )
    if "comment" in raw:
        item["comment"] = optional_str(raw, "comment") or ""
    optional_str(raw, "visibility")
    _scope_rules(item, "")
    return item
