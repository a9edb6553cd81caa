"""Vercel REST API: models, the :class:`VercelAPI` Protocol, and the httpx client.

Facts: ``shared/reference/vercel-api.md``. Values of env vars are :class:`Secret` in the
models; ``None`` when not readable (ciphertext or sensitive).

:class:`VercelClient` sends every request through :class:`~keyroll.providers.http.ApiClient`
(one token bucket per endpoint class, retries with backoff and jitter on 429/5xx/timeouts,
call counting) and scopes every call to the configured team.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from keyroll import __version__
from keyroll.config import Config
from keyroll.core.errors import ProviderError, UnavailableError, UsageError
from keyroll.core.secret import Secret
from keyroll.providers.http import ApiClient, RetryPolicy, bearer_client

__all__ = [
    "CustomEnvironment",
    "Deployment",
    "EnvVar",
    "EnvVarInput",
    "Event",
    "IntegrationConfiguration",
    "Project",
    "SharedEnvVar",
    "UpsertResult",
    "VercelAPI",
    "VercelClient",
    "endpoint_class",
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


class EnvVar(_Model):
    """A project env var. ``value`` is the plaintext as a Secret when decrypted, else ``None``."""

    id: str
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
        return _wrap_value(data)


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
        return _wrap_value(data)


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
    type: str
    text: str = ""
    created_at: int = Field(default=0, alias="createdAt")
    principal_id: str = Field(default="", alias="principalId")
    entities: list[dict[str, Any]] = Field(default_factory=list)
    payload: dict[str, Any] | None = None


class VercelAPI(Protocol):
    """What keyroll needs from Vercel. All calls are team-scoped by the client's config."""

    async def list_projects(self) -> list[Project]:
        """Every project (all pages)."""
        ...

    async def find_projects(self, ids: Iterable[str], *, max_pages: int) -> dict[str, Project]:
        """Projects of ``ids`` (with ``targets``) from the team's project list, most recently
        updated first, reading at most ``max_pages`` pages and stopping once all were seen; a
        project not among them is absent from the result."""
        ...

    async def get_project(self, id_or_name: str) -> Project:
        """One project with ``targets``."""
        ...

    async def list_env(self, project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        """A project's env vars; values may be ciphertext (``value`` None) — use :meth:`get_env`."""
        ...

    async def get_env(self, project_id: str, env_id: str) -> EnvVar:
        """One env var, decrypted where the type allows (sensitive: ``value`` None)."""
        ...

    async def upsert_env(self, project_id: str, items: list[EnvVarInput]) -> UpsertResult:
        """Batch create-or-update (``?upsert=true``, array body); partial failures in ``failed``."""
        ...

    async def edit_env(self, project_id: str, env_id: str, **changes: Any) -> EnvVar:
        """PATCH one env var in place (``value`` may be a Secret); keeps id, type and scope unless changed."""
        ...

    async def delete_env(self, project_id: str, env_id: str) -> None:
        """Delete one env var."""
        ...

    async def list_custom_environments(self, project_id: str) -> list[CustomEnvironment]:
        """Custom environments of a project."""
        ...

    async def list_shared_env(self) -> list[SharedEnvVar]:
        """Team shared env vars (values usually not decrypted)."""
        ...

    async def get_shared_env(self, env_id: str) -> SharedEnvVar:
        """One shared env var, decrypted where allowed."""
        ...

    async def update_shared_env(self, updates: dict[str, dict[str, Any]]) -> UpsertResult:
        """``PATCH /v1/env`` with ``{updates: {id: {...}}}`` (``value`` may be a Secret)."""
        ...

    async def list_integration_configurations(self) -> list[IntegrationConfiguration]:
        """Installed integrations."""
        ...

    async def get_team(self) -> dict[str, Any]:
        """``GET /v2/teams/{id}`` of the configured team (``billing.plan`` …)."""
        ...

    async def list_deployments(
        self,
        project_id: str | None,
        *,
        target: str | None = None,
        state: str | None = None,
        limit: int | None = 100,
        since: int | None = None,
    ) -> list[Deployment]:
        """Deployments of a project (of the whole team with ``project_id=None``), newest first:
        all pages up to ``limit`` (every page with ``None``), created after ``since`` (ms) when given."""
        ...

    async def get_deployment(self, id_or_url: str) -> Deployment:
        """One deployment."""
        ...

    async def redeploy(self, deployment: Deployment, *, target: str | None = None) -> Deployment:
        """``POST /v13/deployments?forceNew=1`` from ``deployment`` (same target/custom env)."""
        ...

    async def list_events(
        self, *, since: int | None = None, until: int | None = None, types: list[str] | None = None
    ) -> list[Event]:
        """Activity events in a window (ms timestamps)."""
        ...


# -- the client ----------------------------------------------------------------------------

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

_TERMINAL = ("READY", "ERROR", "CANCELED")


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


def _strip_values(obj: Any) -> Any:
    """A copy of a ``failed[]`` item without any ``value`` field (Vercel echoes values there)."""
    if isinstance(obj, dict):
        return {k: _strip_values(v) for k, v in obj.items() if k != "value"}
    if isinstance(obj, list):
        return [_strip_values(v) for v in obj]
    return obj


def _input_json(item: EnvVarInput) -> dict[str, Any]:
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


def _change_json(changes: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in _CHANGE_NAMES:
            raise UsageError(
                f"unknown env var field {name!r}", hint=f"known: {', '.join(sorted(_CHANGE_NAMES))}"
            )
        body[_CHANGE_NAMES[name]] = value.reveal() if isinstance(value, Secret) else value
    return body


class VercelClient:
    """:class:`VercelAPI` over HTTP.

    :param http: an ``httpx.AsyncClient`` with base URL and auth (see :meth:`from_config`).
    :param team_id: sent as ``teamId`` on every request (or ``team_slug`` as ``slug``).
    :param batch_size: items per upsert request.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        team_id: str = "",
        team_slug: str = "",
        limits: dict[str, tuple[float, float]] | None = None,
        retry: RetryPolicy | None = None,
        batch_size: int = UPSERT_BATCH,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.http = http
        self.team_id = team_id
        self.team_slug = team_slug
        self.batch_size = max(1, batch_size)
        self._sleep = sleep
        self.api = ApiClient(
            http,
            "vercel",
            limits=dict(limits or LIMITS),
            classify=endpoint_class,
            retry=retry or RetryPolicy(),
            hint_for_auth="check VERCEL_TOKEN and VERCEL_TEAM_ID: the token needs access to the team",
            sleep=sleep,
        )

    @classmethod
    def from_config(cls, cfg: Config, *, timeout: float = 30.0, **kwargs: Any) -> VercelClient:
        """A client for ``cfg.vercel_api_url`` with ``VERCEL_TOKEN`` and the team of ``cfg``.

        :raises ConfigError: ``VERCEL_TOKEN`` is not set.
        """
        cfg.require("VERCEL_TOKEN")
        assert cfg.vercel_token is not None
        http = bearer_client(
            cfg.vercel_api_url,
            cfg.vercel_token,
            timeout=timeout,
            headers={"User-Agent": f"keyroll/{__version__}", "Accept": "application/json"},
        )
        return cls(http, team_id=cfg.vercel_team_id, team_slug=cfg.vercel_team_slug, **kwargs)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    # -- plumbing ------------------------------------------------------------------------
    def _params(self, **extra: Any) -> dict[str, Any]:
        params: dict[str, Any] = {k: v for k, v in extra.items() if v is not None}
        if self.team_id:
            params["teamId"] = self.team_id
        elif self.team_slug:
            params["slug"] = self.team_slug
        return params

    async def _get(self, path: str, *, what: str, **params: Any) -> Any:
        resp = await self.api.request("GET", path, params=self._params(**params), what=what)
        return resp.json()

    async def _pages(
        self,
        path: str,
        field: str,
        *,
        what: str,
        limit: int | None = None,
        page_size: int = 100,
        max_pages: int | None = None,
        stop: Callable[[list[dict[str, Any]]], bool] | None = None,
        **params: Any,
    ) -> list[dict[str, Any]]:
        """Follow ``pagination.next`` until exhausted, ``limit`` items, ``max_pages`` pages, or
        ``stop(items so far)`` is true. A timestamp cursor goes back as ``until``; a continuation
        token (``GET /v10/projects`` answers e.g. ``"next": "JBSWY3DPEHPK3PXP"``) as ``from``."""
        items: list[dict[str, Any]] = []
        until: Any = None
        pages = 0
        while max_pages is None or pages < max_pages:
            pages += 1
            size = page_size if limit is None else max(1, min(page_size, limit - len(items)))
            token = isinstance(until, str) and not until.isdigit()
            cursor = {"from": until} if token else {"until": until}
            body = await self._get(path, what=what, limit=size, **cursor, **params)
            page = body.get(field) or []
            items.extend(page)
            nxt = (body.get("pagination") or {}).get("next")
            if not page or nxt is None or nxt == until or (limit is not None and len(items) >= limit):
                break
            if stop is not None and stop(items):
                break
            until = nxt
        return items if limit is None else items[:limit]

    # -- projects ------------------------------------------------------------------------
    async def list_projects(self) -> list[Project]:
        """Every project of the team (all pages)."""
        rows = await self._pages("/v10/projects", "projects", what="list projects")
        return [Project.model_validate(r) for r in rows]

    async def find_projects(self, ids: Iterable[str], *, max_pages: int) -> dict[str, Project]:
        """Projects of ``ids`` from ``GET /v10/projects`` (list items carry ``targets``), at most
        ``max_pages`` pages, stopping once every one was seen."""
        wanted = set(ids)
        if not wanted or max_pages < 1:
            return {}
        rows = await self._pages(
            "/v10/projects",
            "projects",
            what="list projects",
            max_pages=max_pages,
            stop=lambda items: wanted <= {str(r.get("id")) for r in items},
        )
        return {str(r["id"]): Project.model_validate(r) for r in rows if r.get("id") in wanted}

    async def get_project(self, id_or_name: str) -> Project:
        """One project with ``targets``.

        :raises NotFoundError: no such project in the team.
        """
        body = await self._get(f"/v9/projects/{quote(id_or_name, safe='')}", what=f"project {id_or_name}")
        return Project.model_validate(body)

    async def list_custom_environments(self, project_id: str) -> list[CustomEnvironment]:
        """Custom environments of a project."""
        body = await self._get(
            f"/v9/projects/{quote(project_id, safe='')}/custom-environments",
            what=f"project {project_id} custom environments",
        )
        return [CustomEnvironment.model_validate(e) for e in body.get("environments") or []]

    # -- project env vars ----------------------------------------------------------------
    def _env_path(self, project_id: str, version: str = "v10") -> str:
        return f"/{version}/projects/{quote(project_id, safe='')}/env"

    async def list_env(self, project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        """A project's env vars. Values are usually ciphertext here even with ``decrypt``
        (``value`` None); plain vars come back readable. Use :meth:`get_env` for one value."""
        params: dict[str, Any] = {"decrypt": "true"} if decrypt else {}
        rows: list[dict[str, Any]] = []
        until: Any = None
        while True:
            body = await self._get(
                self._env_path(project_id), what=f"project {project_id} env", until=until, **params
            )
            rows.extend(body.get("envs") or [])
            nxt = (body.get("pagination") or {}).get("next")
            if nxt is None or nxt == until:
                break
            until = nxt
        return [EnvVar.model_validate(r) for r in rows]

    async def get_env(self, project_id: str, env_id: str) -> EnvVar:
        """One env var, decrypted where the type allows (sensitive: ``value`` None).

        :raises NotFoundError: the var or project does not exist.
        """
        body = await self._get(
            f"/v1/projects/{quote(project_id, safe='')}/env/{quote(env_id, safe='')}",
            what=f"project {project_id} env var {env_id}",
        )
        return EnvVar.model_validate(body)

    async def create_env(self, project_id: str, item: EnvVarInput) -> EnvVar:
        """Create one env var (no upsert).

        :raises ProviderError: ``ENV_CONFLICT`` when the key already exists for that target.
        """
        resp = await self.api.request(
            "POST",
            self._env_path(project_id),
            params=self._params(),
            json=_input_json(item),
            what=f"project {project_id} env {item.key}",
        )
        body = resp.json()
        result = self._upsert_result(body)
        if result.failed or not result.created:
            raise ProviderError(
                f"vercel: project {project_id} env {item.key}: not created ({', '.join(result.failed_keys()) or 'no result'})",
                service="vercel",
                status=resp.status_code,
                hint="run again; keyroll writes idempotently",
            )
        return result.created[0]

    @staticmethod
    def _upsert_result(body: Any) -> UpsertResult:
        created = body.get("created") if isinstance(body, dict) else None
        if isinstance(created, dict):
            created = [created]
        failed = body.get("failed") if isinstance(body, dict) else None
        return UpsertResult(
            created=[EnvVar.model_validate(c) for c in created or []],
            failed=[_strip_values(f) for f in failed or []],
        )

    async def upsert_env(self, project_id: str, items: list[EnvVarInput]) -> UpsertResult:
        """Create or update vars in batches (``POST …/env?upsert=true`` with array bodies).

        Items Vercel could not write come back in ``failed`` (error objects, values removed);
        a batch rejected as a whole with a ``failed[]`` body counts all its items there.

        :raises ProviderError: the request failed for another reason (names the project and keys).
        """
        result = UpsertResult()
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            keys = ",".join(sorted({i.key for i in batch}))
            resp = await self.api.request(
                "POST",
                self._env_path(project_id),
                params=self._params(upsert="true"),
                json=[_input_json(i) for i in batch],
                what=f"project {project_id} env {keys}",
                ok=(400, 409),
            )
            body = resp.json() if resp.content else {}
            if resp.status_code >= 400:
                if isinstance(body, dict) and isinstance(body.get("failed"), list):
                    part = self._upsert_result(body)
                    if not part.failed:
                        part.failed = [_strip_values({"error": body.get("error", {})})]
                else:
                    raise self.api.error_for(resp, f"project {project_id} env {keys}")
            else:
                part = self._upsert_result(body)
            result.created.extend(part.created)
            result.failed.extend(part.failed)
        return result

    async def edit_env(self, project_id: str, env_id: str, *, verify: bool = True, **changes: Any) -> EnvVar:
        """PATCH one var in place (id, type and scope are kept unless changed); ``value`` may be a Secret.

        With ``verify`` (the default) a changed value is read back and compared by fingerprint
        (skipped for sensitive vars, which cannot be read).

        :raises ProviderError: the edit failed or the read-back shows another value.
        """
        body = _change_json(changes)
        resp = await self.api.request(
            "PATCH",
            f"/v9/projects/{quote(project_id, safe='')}/env/{quote(env_id, safe='')}",
            params=self._params(),
            json=body,
            what=f"project {project_id} env var {env_id}",
        )
        updated = EnvVar.model_validate(resp.json())
        new_value = changes.get("value")
        if not verify or new_value is None or updated.type == "sensitive":
            return updated
        expected = new_value if isinstance(new_value, Secret) else Secret(str(new_value))
        back = await self.get_env(project_id, env_id)
        if back.value is not None and back.value.fingerprint != expected.fingerprint:
            raise ProviderError(
                f"vercel: project {project_id} env {back.key}: read-back shows {back.value.fingerprint}, "
                f"expected {expected.fingerprint}",
                service="vercel",
                hint="someone else may be editing this variable; run again",
            )
        return back

    async def delete_env(self, project_id: str, env_id: str) -> None:
        """Delete one var.

        :raises NotFoundError: it does not exist.
        """
        await self.api.request(
            "DELETE",
            f"/v9/projects/{quote(project_id, safe='')}/env/{quote(env_id, safe='')}",
            params=self._params(),
            what=f"project {project_id} env var {env_id}",
        )

    async def delete_envs(self, project_id: str, env_ids: Iterable[str]) -> list[str]:
        """Batch delete (``DELETE /v1/projects/{p}/env`` with ``{ids}``); returns the ids deleted."""
        ids = list(env_ids)
        if not ids:
            return []
        resp = await self.api.request(
            "DELETE",
            f"/v1/projects/{quote(project_id, safe='')}/env",
            params=self._params(),
            json={"ids": ids},
            what=f"project {project_id} env ({len(ids)} vars)",
        )
        return [str(i) for i in resp.json().get("ids") or []]

    # -- shared env vars -----------------------------------------------------------------
    async def list_shared_env(self) -> list[SharedEnvVar]:
        """Team shared env vars (values not decrypted)."""
        rows = await self._pages("/v1/env", "data", what="list shared env vars")
        return [SharedEnvVar.model_validate(r) for r in rows]

    async def get_shared_env(self, env_id: str) -> SharedEnvVar:
        """One shared var, decrypted where allowed."""
        body = await self._get(f"/v1/env/{quote(env_id, safe='')}", what=f"shared env var {env_id}")
        return SharedEnvVar.model_validate(body)

    async def create_shared_env(
        self,
        key: str,
        value: Secret,
        *,
        type: str = "encrypted",
        target: list[str] | None = None,
        project_ids: list[str] | None = None,
        comment: str | None = None,
    ) -> SharedEnvVar:
        """Create a team shared var linked to ``project_ids``.

        :raises ProviderError: e.g. 409 ``existing_key_and_target``.
        """
        ev: dict[str, Any] = {"key": key, "value": value.reveal()}
        if comment is not None:
            ev["comment"] = comment
        body: dict[str, Any] = {
            "evs": [ev],
            "type": type,
            "target": target or ["production", "preview", "development"],
        }
        if project_ids:
            body["projectId"] = project_ids
        resp = await self.api.request(
            "POST", "/v1/env", params=self._params(), json=body, what=f"shared env var {key}"
        )
        data = resp.json()
        created = data.get("created") or []
        if not created:
            raise ProviderError(f"vercel: shared env var {key}: not created", service="vercel")
        return SharedEnvVar.model_validate(created[0])

    async def update_shared_env(self, updates: dict[str, dict[str, Any]]) -> UpsertResult:
        """``PATCH /v1/env`` with ``{updates: {id: {...}}}`` (``value`` may be a Secret).

        Updated vars come back in ``created``; per-var failures in ``failed`` (values removed).
        """
        body = {
            env_id: {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in change.items()}
            for env_id, change in updates.items()
        }
        resp = await self.api.request(
            "PATCH",
            "/v1/env",
            params=self._params(),
            json={"updates": body},
            what=f"shared env vars {','.join(sorted(updates))}",
        )
        data = resp.json()
        return UpsertResult(
            created=[EnvVar.model_validate(u) for u in data.get("updated") or []],
            failed=[_strip_values(f) for f in data.get("failed") or []],
        )

    async def delete_shared_env(self, env_ids: Iterable[str]) -> list[str]:
        """Delete shared vars; returns the ids deleted."""
        ids = list(env_ids)
        resp = await self.api.request(
            "DELETE",
            "/v1/env",
            params=self._params(),
            json={"ids": ids},
            what=f"shared env vars ({len(ids)})",
        )
        return [str(i) for i in resp.json().get("deleted") or []]

    # -- integrations, events, account ----------------------------------------------------
    async def list_integration_configurations(self) -> list[IntegrationConfiguration]:
        """Installed integrations of the team (``view=account``)."""
        body = await self._get(
            "/v1/integrations/configurations", what="integration configurations", view="account"
        )
        rows = body if isinstance(body, list) else body.get("configurations") or []
        return [IntegrationConfiguration.model_validate(r) for r in rows]

    async def list_events(
        self, *, since: int | None = None, until: int | None = None, types: list[str] | None = None
    ) -> list[Event]:
        """Activity events in ``[since, until)`` (ms), newest first, all pages."""
        out: list[dict[str, Any]] = []
        cursor = until
        while True:
            body = await self._get(
                "/v3/events",
                what="activity events",
                since=since,
                until=cursor,
                types=",".join(types) if types else None,
                limit=100,
                withPayload="true",
            )
            page = body.get("events") or []
            out.extend(page)
            if len(page) < 100:
                break
            oldest = min(int(e.get("createdAt") or 0) for e in page)
            if cursor is not None and oldest >= cursor:
                break
            cursor = oldest
        return [Event.model_validate(e) for e in out]

    async def get_user(self) -> dict[str, Any]:
        """``GET /v2/user`` → the ``user`` object."""
        resp = await self.api.request("GET", "/v2/user", what="current user")
        return dict(resp.json().get("user") or {})

    async def get_team(self) -> dict[str, Any]:
        """``GET /v2/teams/{id}`` for the configured team.

        :raises UsageError: no team is configured.
        """
        ref = self.team_id or self.team_slug
        if not ref:
            raise UsageError("no Vercel team configured", hint="set VERCEL_TEAM_ID")
        resp = await self.api.request("GET", f"/v2/teams/{quote(ref, safe='')}", what=f"team {ref}")
        return dict(resp.json())

    # -- deployments ---------------------------------------------------------------------
    async def list_deployments(
        self,
        project_id: str | None,
        *,
        target: str | None = None,
        state: str | None = None,
        limit: int | None = 100,
        since: int | None = None,
    ) -> list[Deployment]:
        """Deployments of a project (of the whole team with ``project_id=None``), newest first,
        up to ``limit`` (all pages as needed; every page with ``None``), created after ``since``
        (ms, exclusive) when given."""
        rows = await self._pages(
            "/v6/deployments",
            "deployments",
            what=f"project {project_id} deployments" if project_id else "team deployments",
            limit=limit,
            projectId=project_id,
            target=target,
            state=state,
            since=since,
        )
        return [Deployment.model_validate(r) for r in rows]

    async def get_deployment(self, id_or_url: str) -> Deployment:
        """One deployment by id or URL.

        :raises NotFoundError: no such deployment.
        """
        ref = id_or_url.split("://", 1)[-1]
        body = await self._get(f"/v13/deployments/{quote(ref, safe='')}", what=f"deployment {id_or_url}")
        return Deployment.model_validate(body)

    async def redeploy(self, deployment: Deployment, *, target: str | None = None) -> Deployment:
        """Rebuild ``deployment`` with the project's current env: what ``vercel redeploy`` sends
        (``POST /v13/deployments?forceNew=1`` with ``deploymentId``, ``name``, ``target``,
        ``customEnvironmentSlugOrId``, ``meta.action=redeploy``), keeping the source's target,
        git branch and custom environment unless ``target`` overrides.

        The request carries a ``meta.keyrollRequestId``; if it times out or fails with 5xx, the
        client looks for a deployment with that id before sending again, so one call never
        creates two deployments.
        """
        name = deployment.name
        if not name:
            name = (await self.get_project(deployment.project_id)).name
        request_id = uuid.uuid4().hex
        body: dict[str, Any] = {
            "deploymentId": deployment.id,
            "name": name,
            "meta": {"action": "redeploy", "keyrollRequestId": request_id},
        }
        if deployment.project_id:
            body["project"] = deployment.project_id
        effective = target if target is not None else deployment.target
        if deployment.custom_environment_id and target is None:
            body["customEnvironmentSlugOrId"] = deployment.custom_environment_id
        elif effective and effective != "preview":
            body["target"] = effective

        async def recover() -> httpx.Response | None:
            try:
                body_ = await self._get(
                    "/v6/deployments",
                    what=f"project {name} deployments",
                    projectId=deployment.project_id or name,
                    limit=5,
                    **{"meta-keyrollRequestId": request_id},
                )
            except ProviderError:
                return None
            found = body_.get("deployments") or []
            return httpx.Response(200, json=found[0]) if found else None

        resp = await self.api.request(
            "POST",
            "/v13/deployments",
            params=self._params(forceNew="1"),
            json=body,
            what=f"redeploy {name} ({deployment.id})",
            recover=recover,
        )
        return Deployment.model_validate(resp.json())

    async def wait_ready(
        self, deployment_id: str, *, timeout_s: float = 900.0, poll_s: float = 2.0
    ) -> Deployment:
        """Poll until the deployment is READY, ERROR or CANCELED (returns it) or ``timeout_s`` passes.

        :raises UnavailableError: still building after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            dep = await self.get_deployment(deployment_id)
            if dep.ready_state in _TERMINAL:
                return dep
            if time.monotonic() >= deadline:
                raise UnavailableError(
                    f"vercel: deployment {deployment_id} still {dep.ready_state} after {timeout_s:.0f}s",
                    service="vercel",
                    hint="check the build in the Vercel dashboard, then run again",
                )
            await self._sleep(poll_s)
