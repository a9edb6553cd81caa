"""The Vercel REST client: :class:`VercelClient` implements
:class:`~keyroll.providers.vercel.protocol.VercelAPI` over httpx, one method per endpoint.

Requests go through :class:`~keyroll.providers.vercel.session.VercelSession` (team scope, rate
limits, retries, paging); bodies are shaped in :mod:`.wire`. Writes are careful: an upsert's
partial failures come back in ``failed`` with values stripped, an edited value is read back and
compared by fingerprint, and a redeploy that times out is looked up by its request id before it
is sent again (one call never creates two deployments).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from keyroll.core.errors import ProviderError, UnavailableError, UsageError
from keyroll.core.secret import Secret
from keyroll.providers.vercel.models import (
    CustomEnvironment,
    Deployment,
    EnvList,
    EnvVar,
    EnvVarInput,
    Event,
    IntegrationConfiguration,
    Project,
    SharedEnvVar,
    UpsertResult,
    malformed_line,
)
from keyroll.providers.vercel.session import VercelSession
from keyroll.providers.vercel.wire import (
    TERMINAL,
    change_json,
    input_json,
    strip_values,
    upsert_result,
)

__all__ = ["VercelClient"]


class VercelClient(VercelSession):
    """:class:`~keyroll.providers.vercel.protocol.VercelAPI` over HTTP (build one with
    :meth:`~VercelSession.create`, or pass an ``httpx.AsyncClient`` to the constructor)."""

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

    async def update_project(self, id_or_name: str, **settings: Any) -> Project:
        """``PATCH /v9/projects/{idOrName}`` with settings by their API names (e.g.
        ``commandForIgnoringBuildStep=None``); the updated project.

        :raises NotFoundError: no such project.
        """
        resp = await self.api.request(
            "PATCH",
            f"/v9/projects/{quote(id_or_name, safe='')}",
            params=self._params(),
            json=settings,
            what=f"project {id_or_name} settings",
        )
        return Project.model_validate(resp.json())

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
        hidden = 0
        until: Any = None
        while True:
            body = await self._get(
                self._env_path(project_id), what=f"project {project_id} env", until=until, **params
            )
            rows.extend(body.get("envs") or [])
            hidden += int(body.get("hiddenProductionEnvCount") or 0)
            nxt = (body.get("pagination") or {}).get("next")
            if nxt is None or nxt == until:
                break
            until = nxt
        out = EnvList(hidden_production=hidden)
        endpoint = f"GET /v10/projects/{project_id}/env"
        for i, r in enumerate(rows):
            try:
                out.append(EnvVar.model_validate(r))
            except ValidationError as exc:
                out.malformed.append(malformed_line(endpoint, i, exc))
        return out

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
            json=input_json(item),
            what=f"project {project_id} env {item.key}",
        )
        body = resp.json()
        result = upsert_result(body)
        if result.failed or not result.created:
            raise ProviderError(
                f"vercel: project {project_id} env {item.key}: not created ({', '.join(result.failed_keys()) or 'no result'})",
                service="vercel",
                status=resp.status_code,
                hint="run again; keyroll writes idempotently",
            )
        return result.created[0]

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
                json=[input_json(i) for i in batch],
                what=f"project {project_id} env {keys}",
                ok=(400, 409),
            )
            body = resp.json() if resp.content else {}
            if resp.status_code >= 400:
                if isinstance(body, dict) and isinstance(body.get("failed"), list):
                    part = upsert_result(body)
                    if not part.failed:
                        part.failed = [strip_values({"error": body.get("error", {})})]
                else:
                    raise self.api.error_for(resp, f"project {project_id} env {keys}")
            else:
                part = upsert_result(body)
            result.created.extend(part.created)
            result.failed.extend(part.failed)
        return result

    async def edit_env(self, project_id: str, env_id: str, *, verify: bool = True, **changes: Any) -> EnvVar:
        """PATCH one var in place (id, type and scope are kept unless changed); ``value`` may be a Secret.

        With ``verify`` (the default) a changed value is read back and compared by fingerprint
        (skipped for sensitive vars, which cannot be read).

        :raises ProviderError: the edit failed or the read-back shows another value.
        """
        body = change_json(changes)
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
            failed=[strip_values(f) for f in data.get("failed") or []],
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
            if dep.ready_state in TERMINAL:
                return dep
            if time.monotonic() >= deadline:
                raise UnavailableError(
                    f"vercel: deployment {deployment_id} still {dep.ready_state} after {timeout_s:.0f}s",
                    service="vercel",
                    hint="check the build in the Vercel dashboard, then run again",
                )
            await self._sleep(poll_s)
