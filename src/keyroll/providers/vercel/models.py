"""Vercel REST API models: what keyroll reads from and sends to Vercel (pydantic).

Facts: ``shared/reference/vercel-api.md``. Shapes are as loose as @vercel/sdk's models allow
(``target`` a string or an array, ``id`` absent, the v6 and v13 deployment shapes). Values of env
vars are :class:`Secret` in the models, ``None`` when not readable (ciphertext or sensitive), and
never serialised (``exclude=True``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from keyroll.core.secret import Secret

__all__ = [
    "CustomEnvironment",
    "Deployment",
    "EnvList",
    "EnvVar",
    "EnvVarInput",
    "Event",
    "IntegrationConfiguration",
    "Project",
    "SharedEnvVar",
    "UpsertResult",
    "malformed_line",
]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="allow", populate_by_name=True, arbitrary_types_allowed=True, frozen=False
    )


class Project(_Model):
    """A project (``GET /v10/projects``)."""

    id: str
    name: str
    account_id: str = Field(default="", alias="accountId")
    created_at: int = Field(default=0, alias="createdAt")
    updated_at: int = Field(default=0, alias="updatedAt")
    paused: bool = False
    targets: dict[str, Any] = Field(default_factory=dict)
    """``targets.production`` = current production deployment summary (id, url, readyState …)"""
    command_for_ignoring_build_step: str | None = Field(default=None, alias="commandForIgnoringBuildStep")
    """Ignored Build Step: when set, Vercel cancels same-commit redeploys (CANCELED)"""
    sso_protection: dict[str, Any] | None = Field(default=None, alias="ssoProtection")
    password_protection: dict[str, Any] | None = Field(default=None, alias="passwordProtection")


def _target_list(data: Any) -> Any:
    """``target`` as a list: the API (and @vercel/sdk's models) allow one string or an array."""
    if isinstance(data, dict) and isinstance(data.get("target"), str):
        return {**data, "target": [data["target"]]}
    if isinstance(data, dict) and data.get("target") is None and "target" in data:
        return {**data, "target": []}
    return data


class EnvVar(_Model):
    """A project env var. ``value`` is the plaintext as a Secret when decrypted, else ``None``.

    Shapes as loose as @vercel/sdk's models allow: ``target`` a string or an array, ``id`` absent
    (``""``: the var cannot be read on its own)."""

    id: str = ""
    key: str
    type: str = "encrypted"
    target: list[str] = Field(default_factory=list)
    git_branch: str | None = Field(default=None, alias="gitBranch")
    custom_environment_ids: list[str] = Field(default_factory=list, alias="customEnvironmentIds")
    configuration_id: str | None = Field(default=None, alias="configurationId")
    content_hint: dict[str, Any] | None = Field(default=None, alias="contentHint")
    comment: str | None = None
    decrypted: bool = False
    created_at: int = Field(default=0, alias="createdAt")
    updated_at: int = Field(default=0, alias="updatedAt")
    value: Secret | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _readable_value(cls, data: Any) -> Any:
        return _wrap_value(_target_list(data))


def _wrap_value(data: Any) -> Any:
    """API dict -> model input: ``value`` becomes a Secret when it is plaintext (type plain/system,
    or ``decrypted``), and is dropped when it is ciphertext or absent (sensitive)."""
    if not isinstance(data, dict) or isinstance(data.get("value"), Secret) or "value" not in data:
        return data
    out = dict(data)
    raw = out.pop("value")
    readable = out.get("type") in ("plain", "system") or bool(out.get("decrypted"))
    if isinstance(raw, str) and raw and readable and out.get("type") != "sensitive":
        out["value"] = Secret(raw)
    return out


class EnvList(list[EnvVar]):
    """A project's env vars plus what the answer said about the ones it did not list."""

    hidden_production: int = 0
    """``hiddenProductionEnvCount``: production vars this token may not see (only counted)"""
    malformed: list[str]
    """one line per item keyroll could not read (endpoint, field, what is wrong)"""

    def __init__(self, items: Iterable[EnvVar] = (), *, hidden_production: int = 0) -> None:
        super().__init__(items)
        self.hidden_production = hidden_production
        self.malformed = []


def malformed_line(endpoint: str, index: int, exc: ValidationError) -> str:
    """One line naming the endpoint, the item's field and what is wrong (never a value)."""
    err = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{endpoint}: item {index}{'.' + where if where else ''}: {err.get('msg', 'unexpected shape')}"


class EnvVarInput(_Model):
    """One item of a create/upsert body (``POST /v10/projects/{id}/env``)."""

    key: str
    value: Secret = Field(exclude=True)
    type: str = "encrypted"
    target: list[str] = Field(default_factory=list)
    git_branch: str | None = Field(default=None, alias="gitBranch")
    custom_environment_ids: list[str] = Field(default_factory=list, alias="customEnvironmentIds")
    comment: str | None = None


class UpsertResult(_Model):
    """``{created, failed}`` of an upsert; ``failed`` items keep Vercel's ``error`` objects (values dropped).

    For :meth:`VercelClient.update_shared_env`, ``created`` holds the updated shared vars.
    """

    created: list[EnvVar] = Field(default_factory=list)
    failed: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def failed_keys(self) -> list[str]:
        """Keys (or env ids) of the failed items, for messages."""
        out = []
        for item in self.failed:
            inner = item.get("error")
            err: dict[str, Any] = inner if isinstance(inner, dict) else item
            out.append(str(err.get("envVarKey") or err.get("key") or err.get("envVarId") or "?"))
        return out


class SharedEnvVar(_Model):
    """A team shared env var (``/v1/env``); ``project_ids`` are the linked projects."""

    id: str
    key: str
    type: str = "encrypted"
    target: list[str] = Field(default_factory=list)
    project_ids: list[str] = Field(default_factory=list, alias="projectId")
    comment: str | None = None
    decrypted: bool = False
    updated_at: int = Field(default=0, alias="updatedAt")
    apply_to_all_custom_environments: bool = Field(default=False, alias="applyToAllCustomEnvironments")
    value: Secret | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _readable_value(cls, data: Any) -> Any:
        return _wrap_value(_target_list(data))


class CustomEnvironment(_Model):
    """A custom environment of a project."""

    id: str
    slug: str
    type: str = "preview"
    branch_matcher: dict[str, Any] | None = Field(default=None, alias="branchMatcher")


class Deployment(_Model):
    """A deployment (list item or ``/v13/deployments/{id}``); ``id`` accepts ``uid`` too."""

    id: str
    url: str = ""
    name: str = ""
    project_id: str = Field(default="", alias="projectId")
    target: str | None = None
    ready_state: str = Field(default="QUEUED", alias="readyState")
    ready_substate: str | None = Field(default=None, alias="readySubstate")
    created_at: int = Field(default=0, alias="createdAt")
    building_at: int | None = Field(default=None, alias="buildingAt")
    """when the build got a build slot and started (ms); absent while ``QUEUED``"""
    ready_at: int | None = Field(default=None, alias="ready")
    """when the build became READY (ms; ``ready``, or ``readyAt``); absent before, and after ERROR"""
    git_branch: str = ""
    """from ``meta.githubCommitRef`` / ``gitSource.ref`` when known"""
    custom_environment_id: str = ""
    alias: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    error_code: str | None = Field(default=None, alias="errorCode")

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        """Accept both the v6 list item (``uid``, ``state``, ``created``) and the v13 shape."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if "id" not in out and "uid" in out:
            out["id"] = out["uid"]
        if "readyState" not in out and "state" in out:
            out["readyState"] = out["state"]
        if "createdAt" not in out and "created" in out:
            out["createdAt"] = out["created"]
        if out.get("ready") is None and out.get("readyAt") is not None:
            out["ready"] = out["readyAt"]
        meta = out.get("meta") or {}
        git = out.get("gitSource") or {}
        if not out.get("git_branch"):
            out["git_branch"] = str(
                meta.get("githubCommitRef") or meta.get("gitlabCommitRef") or git.get("ref") or ""
            )
        ce = out.get("customEnvironment")
        if not out.get("custom_environment_id") and isinstance(ce, dict):
            out["custom_environment_id"] = str(ce.get("id") or "")
        if out.get("alias") is None:
            out["alias"] = []
        return out

    @property
    def is_terminal(self) -> bool:
        """READY, ERROR or CANCELED: polling can stop."""
        return self.ready_state in ("READY", "ERROR", "CANCELED")


class IntegrationConfiguration(_Model):
    """An installed integration (``GET /v1/integrations/configurations``)."""

    id: str
    slug: str = ""
    integration_id: str = Field(default="", alias="integrationId")
    projects: list[str] = Field(default_factory=list)
    status: str = ""


class Event(_Model):
    """An activity event (``GET /v3/events``)."""

    id: str
    type: str = ""
    """optional in @vercel/sdk's ``UserEvent``: ``""`` when the event has none"""
    text: str = ""
    created_at: int = Field(default=0, alias="createdAt")
    principal_id: str = Field(default="", alias="principalId")
    entities: list[dict[str, Any]] = Field(default_factory=list)
    payload: dict[str, Any] | None = None
