"""Activity events from Vercel (``/v3/events``) and Upstash (Developer API audit logs), normalised.

:func:`classify_vercel_type` and :func:`classify_upstash_action` put each event in an
:class:`EventCategory`; :func:`from_vercel` / :func:`from_upstash` turn the providers' records
into :class:`AuditEvent` (epoch seconds, actor, project). Pure functions, no I/O.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keyroll.core.redact import redact
from keyroll.verify.times import parse_time

__all__ = [
    "WRITE_CATEGORIES",
    "AuditEvent",
    "EventCategory",
    "classify_upstash_action",
    "classify_vercel_type",
    "from_upstash",
    "from_vercel",
    "parse_time",
]


class EventCategory(enum.StrEnum):
    """What kind of activity an event records."""

    ENV_READ = "env_read"
    """an env var value was read or decrypted"""
    ENV_CHANGE = "env_change"
    """an env var (project or shared) was added, edited, deleted, rotated or made sensitive"""
    TOKEN = "token"
    """an access token was created or deleted"""
    MEMBERSHIP = "membership"
    """team members, invites, roles"""
    DEPLOYMENT = "deployment"
    """deployments, aliases, promotions, instant rollbacks"""
    INTEGRATION = "integration"
    """integration installs, removals, credential rotations"""
    CREDENTIAL = "credential"
    """an Upstash credential was reset, rotated, or its protection changed"""
    OTHER = "other"


WRITE_CATEGORIES = frozenset(
    {
        EventCategory.ENV_CHANGE,
        EventCategory.TOKEN,
        EventCategory.MEMBERSHIP,
        EventCategory.INTEGRATION,
        EventCategory.CREDENTIAL,
    }
)
"""Categories whose events must be explained by the rotation's own journaled writes."""


@dataclass(frozen=True)
class AuditEvent:
    """One activity event, normalised; ``text`` is the provider's value-free description."""

    source: str
    """``vercel`` or ``upstash``"""
    id: str
    type: str
    category: EventCategory
    at: float
    """epoch seconds"""
    actor: str = ""
    """Vercel principal id / Upstash actor (email or API key name)"""
    project_id: str = ""
    entity_id: str = ""
    """the object acted on (env var id, deployment id, database id) when the event says"""
    text: str = ""
    own: bool = False
    """matched to one of keyroll's journaled actions"""
    unusual: bool = False
    reasons: tuple[str, ...] = ()
    """why it was flagged (or why it counts as keyroll's own)"""


_ENV_WORD = re.compile(r"(^|-)env(-|$)|environment-variable|env-var")


def classify_vercel_type(event_type: str) -> EventCategory:
    """Category of a Vercel event type (``env-variable-read`` → ENV_READ …).

    Types are matched by their words, so new variants (``env-variable-rotated``) land in the
    right bucket; unknown types are OTHER.
    """
    t = event_type.lower()
    is_env = bool(_ENV_WORD.search(t))
    if is_env and any(w in t for w in ("read", "decrypt", "pull", "reveal")):
        return EventCategory.ENV_READ
    if is_env or ("secret" in t and "integration" not in t):
        return EventCategory.ENV_CHANGE
    if "integration" in t or "marketplace" in t or "installation" in t:
        return EventCategory.INTEGRATION
    if "token" in t or "auth-method" in t:
        return EventCategory.TOKEN
    if any(w in t for w in ("member", "invite", "role", "join", "team-")):
        return EventCategory.MEMBERSHIP
    if any(w in t for w in ("deployment", "alias", "rollback", "promote", "rolling-release")):
        return EventCategory.DEPLOYMENT
    return EventCategory.OTHER


def classify_upstash_action(action: str) -> EventCategory:
    """Category of an Upstash audit-log action (``reset password``, ``create api key`` …)."""
    a = action.lower().replace("_", " ").replace("-", " ")
    if any(w in a for w in ("password", "reset", "rotate", "credential", "protection", "acl")):
        return EventCategory.CREDENTIAL
    if "key" in a or "token" in a:
        return EventCategory.TOKEN
    if any(w in a for w in ("member", "team", "invite", "role")):
        return EventCategory.MEMBERSHIP
    if "integration" in a or "vercel" in a:
        return EventCategory.INTEGRATION
    return EventCategory.OTHER


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _project_of(payload: Mapping[str, Any] | None) -> str:
    if not payload:
        return ""
    pid = payload.get("projectId")
    if isinstance(pid, str):
        return pid
    proj = payload.get("project")
    if isinstance(proj, Mapping) and isinstance(proj.get("id"), str):
        return str(proj["id"])
    ids = payload.get("projectIds")
    if isinstance(ids, list) and ids and isinstance(ids[0], str):
        return ids[0]
    return ""


def _entity_of(payload: Mapping[str, Any] | None) -> str:
    if not payload:
        return ""
    for key in ("id", "envId", "deploymentId", "uid"):
        v = payload.get(key)
        if isinstance(v, str):
            return v
    for key in ("env", "deployment"):
        sub = payload.get(key)
        if isinstance(sub, Mapping) and isinstance(sub.get("id"), str):
            return str(sub["id"])
    return ""


def from_vercel(event: Any) -> AuditEvent:
    """Normalise a Vercel event (``providers.vercel.Event`` or its JSON dict)."""
    payload = _get(event, "payload") or {}
    if not isinstance(payload, Mapping):
        payload = {}
    etype = str(_get(event, "type", "") or "")
    created = _get(event, "created_at")
    if created is None:
        created = _get(event, "createdAt", 0)
    actor = _get(event, "principal_id") or _get(event, "principalId") or _get(event, "userId") or ""
    return AuditEvent(
        source="vercel",
        id=str(_get(event, "id", "") or ""),
        type=etype,
        category=classify_vercel_type(etype),
        at=parse_time(created) or 0.0,
        actor=str(actor),
        project_id=str(_get(event, "project_id", "") or "") or _project_of(payload),
        entity_id=_entity_of(payload),
        text=redact(str(_get(event, "text", "") or ""))[:300],
    )


def from_upstash(record: Any) -> AuditEvent:
    """Normalise one Upstash audit-log record (``{log_id, actor, timestamp, action, entity, …}``)."""
    if hasattr(record, "model_dump"):
        record = record.model_dump(by_alias=False)
    code = _get(record, "action", "")
    text = str(_get(record, "action_string", "") or "")
    # ``action`` is a numeric code in the Developer API; ``action_string`` says what it means
    action = text or str(code or "")
    entity = str(_get(record, "entity", "") or "")
    secondary = str(_get(record, "secondary_entity", "") or "")
    source = str(_get(record, "source", "") or "")
    described = " ".join(
        p for p in (action, entity, secondary and f"({secondary})", source and f"via {source}") if p
    )
    return AuditEvent(
        source="upstash",
        id=str(_get(record, "log_id", "") or _get(record, "id", "") or ""),
        type=action,
        category=classify_upstash_action(action),
        at=parse_time(_get(record, "timestamp")) or 0.0,
        actor=str(_get(record, "actor", "") or ""),
        entity_id=entity,
        text=redact(described)[:300],
    )
