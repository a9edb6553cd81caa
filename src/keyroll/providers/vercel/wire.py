"""The Vercel wire: rate-limit classes of the endpoints and the request/response bodies.

:func:`endpoint_class` sorts each request into the token bucket it spends (:data:`LIMITS`);
the body helpers turn models into the JSON Vercel takes (the one place a value is revealed for
sending) and strip the values Vercel echoes back in ``failed[]`` items.
"""

from __future__ import annotations

from typing import Any

from keyroll.core.errors import UsageError
from keyroll.core.secret import Secret
from keyroll.providers.vercel.models import EnvVar, EnvVarInput, UpsertResult

__all__ = [
    "LIMITS",
    "QUOTA_CODES",
    "TERMINAL",
    "UPSERT_BATCH",
    "change_json",
    "endpoint_class",
    "input_json",
    "strip_values",
    "upsert_result",
]

QUOTA_CODES = frozenset({"api-deployments-free-per-day", "builds_rate_limited"})
"""Error codes of a spent daily deployment/build quota (402 / 429): not worth retrying today
(reference notes §12; the Vercel CLI's ``handleDeploymentError`` does not retry ``builds_rate_limited``)."""

LIMITS: dict[str, tuple[float, float]] = {
    "env_read": (500.0, 60.0),
    "env_write": (120.0, 60.0),
    "deployments_create": (60.0, 60.0),
    "deployments_read": (500.0, 60.0),
    "events": (100.0, 60.0),
    "default": (200.0, 60.0),
}
"""Seeds of the token buckets (requests, seconds) per endpoint class. Vercel limits per endpoint
without publishing the numbers (reference notes §4); the buckets correct themselves from
``X-RateLimit-*`` headers and 429 ``Retry-After``."""

UPSERT_BATCH = 50
"""Items per ``POST …/env?upsert=true`` request; bigger batches are split."""

TERMINAL = ("READY", "ERROR", "CANCELED")


def endpoint_class(method: str, path: str) -> str:
    """The rate-limit class of a Vercel request: ``env_read``/``env_write``, ``deployments_create``/
    ``deployments_read``, ``events`` or ``default``."""
    segments = [s for s in path.split("?", 1)[0].split("/") if s]
    if "env" in segments:
        return "env_read" if method == "GET" else "env_write"
    if "deployments" in segments:
        return "deployments_read" if method == "GET" else "deployments_create"
    if segments[:2] == ["v3", "events"]:
        return "events"
    return "default"


def strip_values(obj: Any) -> Any:
    """A copy of a ``failed[]`` item without any ``value`` field (Vercel echoes values there)."""
    if isinstance(obj, dict):
        return {k: strip_values(v) for k, v in obj.items() if k != "value"}
    if isinstance(obj, list):
        return [strip_values(v) for v in obj]
    return obj


def input_json(item: EnvVarInput) -> dict[str, Any]:
    body: dict[str, Any] = {"key": item.key, "value": item.value.reveal(), "type": item.type}
    if item.target:
        body["target"] = list(item.target)
    if item.git_branch:
        body["gitBranch"] = item.git_branch
    if item.custom_environment_ids:
        body["customEnvironmentIds"] = list(item.custom_environment_ids)
    if item.comment is not None:
        body["comment"] = item.comment
    return body


_CHANGE_NAMES = {
    "key": "key",
    "value": "value",
    "type": "type",
    "target": "target",
    "git_branch": "gitBranch",
    "gitBranch": "gitBranch",
    "custom_environment_ids": "customEnvironmentIds",
    "customEnvironmentIds": "customEnvironmentIds",
    "comment": "comment",
}


def change_json(changes: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in _CHANGE_NAMES:
            raise UsageError(
                f"unknown env var field {name!r}", hint=f"known: {', '.join(sorted(_CHANGE_NAMES))}"
            )
        body[_CHANGE_NAMES[name]] = value.reveal() if isinstance(value, Secret) else value
    return body


def upsert_result(body: Any) -> UpsertResult:
    """``{created, failed}`` of a create/upsert answer (``created`` one item or a list; values
    stripped from ``failed``)."""
    created = body.get("created") if isinstance(body, dict) else None
    if isinstance(created, dict):
        created = [created]
    failed = body.get("failed") if isinstance(body, dict) else None
    return UpsertResult(
        created=[EnvVar.model_validate(c) for c in created or []],
        failed=[strip_values(f) for f in failed or []],
    )
