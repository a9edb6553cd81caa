"""The emulated GitHub Actions secrets API over HTTP (a Starlette app over a :class:`GitHubState`).

Faithful to the REST API where keyroll and ``gh`` touch it: ``GET /user`` (with
``X-OAuth-Scopes``), repository environments, secret lists (``{total_count, secrets}``,
``per_page``/``page`` with a ``Link`` header), the scope's public key, ``PUT`` with
``{encrypted_value, key_id}`` (201 created / 204 updated), ``DELETE`` (204). Errors are
GitHub's ``{"message", "documentation_url", "status"}`` with 401/403/404/422.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from nacl.exceptions import CryptoError
from nacl.public import SealedBox
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyroll.sandbox.github.state import (
    ApiError,
    GitHubState,
    Repo,
    SecretScope,
    StoredSecret,
)
from keyroll.sandbox.guard import Guard
from keyroll.sandbox.world import World

__all__ = ["DEFAULT_LIMITS", "GitHubApp"]

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_LIMITS = {"core": 5000}
"""GitHub's primary limit for a personal access token: 5,000 requests per hour."""


Handler = Callable[[Request], Awaitable[Response]]


class GitHubApp:
    """The Starlette app over a :class:`GitHubState`."""

    def __init__(self, world: World, state: GitHubState) -> None:
        self.world = world
        self.state = state
        self.guard = Guard(world, "github", DEFAULT_LIMITS)

    def _headers(self) -> dict[str, str]:
        return {
            "X-OAuth-Scopes": ", ".join(self.state.scopes),
            "X-Accepted-OAuth-Scopes": "repo",
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Api-Version-Selected": "2022-11-28",
            "X-GitHub-Request-Id": secrets.token_hex(8).upper(),
        }

    def wrap(self, handler: Handler, *, org_scope: bool = False) -> Handler:
        """Latency, auth, rate limit, faults and error mapping around a handler."""

        async def endpoint(request: Request) -> Response:
            await self.guard.delay()
            headers = self._headers()
            try:
                self._authorize(request, org_scope)
                rate = self.guard.take("core")
                headers.update(rate.headers())
                headers["X-RateLimit-Used"] = str(rate.limit - rate.remaining)
                headers["X-RateLimit-Resource"] = "core"
                if not rate.allowed:
                    if self.guard.storm_left() > 0:
                        raise ApiError(
                            429,
                            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                            headers={"Retry-After": str(rate.retry_after_s)},
                        )
                    raise ApiError(
                        403,
                        f"API rate limit exceeded for user {self.state.login}.",
                        headers={"Retry-After": str(max(1, math.ceil(rate.reset_s - self.world.clock())))},
                    )
                faults = self.world.faults
                if self.guard.roll("timeout", faults.timeout_rate):
                    await asyncio.sleep(faults.timeout_s)
                    raise ApiError(504, "We couldn't respond to your request in time.")
                if self.guard.roll("error", faults.error_rate):
                    raise ApiError(502, "Server Error")
                response = await handler(request)
            except ApiError as exc:
                response = exc.response()
                for k, v in exc.headers.items():
                    headers[k] = v
            except Exception:
                log.exception("github sandbox: unexpected error in %s %s", request.method, request.url.path)
                response = ApiError(500, "Server Error").response()
            for k, v in headers.items():
                response.headers[k] = v
            return response

        return endpoint

    def _authorize(self, request: Request, org_scope: bool) -> None:
        auth = request.headers.get("authorization", "")
        if not auth:
            raise ApiError(401, "Requires authentication")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token.strip() != self.state.token:
            raise ApiError(401, "Bad credentials")
        if org_scope and "admin:org" not in self.state.scopes:
            raise ApiError(403, "Resource not accessible by personal access token")
        if not org_scope and "repo" not in self.state.scopes and request.url.path != "/user":
            raise ApiError(403, "Resource not accessible by personal access token")

    # -- lookups ----------------------------------------------------------------------
    def repo(self, request: Request) -> Repo:
        """The addressed repository (``/repos/{owner}/{repo}`` or ``/repositories/{id}``)."""
        params = request.path_params
        with self.state.lock:
            if "repo_id" in params:
                for r in self.state.repos.values():
                    if str(r.id) == params["repo_id"]:
                        return r
            else:
                r_found = self.state.repos.get(f"{params['owner']}/{params['repo']}".lower())
                if r_found is not None:
                    return r_found
        raise ApiError(404, "Not Found")

    def scope(self, request: Request) -> SecretScope:
        """The secret scope a path addresses."""
        params = request.path_params
        if "org" in params:
            org = self.state.orgs.get(params["org"].lower())
            if org is None:
                raise ApiError(404, "Not Found")
            return org
        repo = self.repo(request)
        if "env" in params:
            env = repo.environments.get(params["env"])
            if env is None:
                raise ApiError(404, "Not Found")
            return env
        return repo.scope

    # -- handlers ---------------------------------------------------------------------
    async def user(self, request: Request) -> Response:
        """``GET /user``."""
        return JSONResponse({"login": self.state.login, "id": 1, "type": "User", "name": self.state.login})

    async def get_repo(self, request: Request) -> Response:
        """``GET /repos/{owner}/{repo}``."""
        r = self.repo(request)
        owner, _, name = r.full_name.partition("/")
        return JSONResponse(
            {"id": r.id, "name": name, "full_name": r.full_name, "owner": {"login": owner}, "private": True}
        )

    async def environments(self, request: Request) -> Response:
        """``GET /repos/{owner}/{repo}/environments``."""
        r = self.repo(request)
        page, per_page = _paging(request)
        names = sorted(r.environments)
        chunk = names[(page - 1) * per_page : page * per_page]
        items: list[dict[str, Any]] = [
            {
                "id": 100 + i,
                "name": n,
                "url": f"/repos/{r.full_name}/environments/{n}",
                "created_at": r.env_created.get(n, ""),
                "updated_at": r.env_created.get(n, ""),
                "protection_rules": [],
                "deployment_branch_policy": None,
            }
            for i, n in enumerate(chunk)
        ]
        return JSONResponse(
            {"total_count": len(names), "environments": items},
            headers=_link(request, page, per_page, len(names)),
        )

    async def list_secrets(self, request: Request) -> Response:
        """``GET …/secrets`` → ``{total_count, secrets}``."""
        scope = self.scope(request)
        page, per_page = _paging(request)
        with self.state.lock:
            names = sorted(scope.secrets)
            chunk = names[(page - 1) * per_page : page * per_page]
            items = [self._meta(request, n, scope.secrets[n]) for n in chunk]
        return JSONResponse(
            {"total_count": len(names), "secrets": items}, headers=_link(request, page, per_page, len(names))
        )

    def _meta(self, request: Request, name: str, s: StoredSecret) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "created_at": s.created_at, "updated_at": s.updated_at}
        if "org" in request.path_params:
            meta["visibility"] = s.visibility
            if s.visibility == "selected":
                meta["selected_repositories_url"] = (
                    f"/orgs/{request.path_params['org']}/actions/secrets/{name}/repositories"
                )
        return meta

    async def org_repos(self, request: Request) -> Response:
        """``GET /orgs/{org}/repos`` → a bare array of repositories (``Link`` paging). An org exists
        when the fleet names it or one of its repositories; anything else is 404, as for a user."""
        org = request.path_params["org"].lower()
        page, per_page = _paging(request)
        with self.state.lock:
            repos = sorted(
                (r for r in self.state.repos.values() if r.full_name.partition("/")[0].lower() == org),
                key=lambda r: r.full_name.lower(),
            )
            if not repos and org not in self.state.orgs:
                raise ApiError(404, "Not Found")
            chunk = repos[(page - 1) * per_page : page * per_page]
            items = [
                {
                    "id": r.id,
                    "name": r.full_name.partition("/")[2],
                    "full_name": r.full_name,
                    "owner": {"login": r.full_name.partition("/")[0], "type": "Organization"},
                    "private": True,
                    "archived": False,
                }
                for r in chunk
            ]
        return JSONResponse(items, headers=_link(request, page, per_page, len(repos)))

    async def repo_org_secrets(self, request: Request) -> Response:
        """``GET /repos/{owner}/{repo}/actions/organization-secrets``: the secrets of the owner
        organization this repository may use (visibility ``all``, ``private`` — every sandbox
        repository is private — or ``selected`` with this repository), names and dates only.
        Needs repository access, not ``admin:org`` (GitHub REST "List repository organization
        secrets")."""
        r = self.repo(request)
        page, per_page = _paging(request)
        owner = r.full_name.partition("/")[0].lower()
        with self.state.lock:
            org = self.state.orgs.get(owner)
            shared = (
                []
                if org is None
                else [
                    n
                    for n in sorted(org.secrets)
                    if org.secrets[n].visibility != "selected"
                    or r.id in org.secrets[n].selected_repository_ids
                ]
            )
            chunk = shared[(page - 1) * per_page : page * per_page]
            items = [
                {"name": n, "created_at": org.secrets[n].created_at, "updated_at": org.secrets[n].updated_at}
                for n in chunk
                if org is not None
            ]
        return JSONResponse(
            {"total_count": len(shared), "secrets": items},
            headers=_link(request, page, per_page, len(shared)),
        )

    async def public_key(self, request: Request) -> Response:
        """``GET …/secrets/public-key`` → ``{key_id, key}``."""
        scope = self.scope(request)
        key = base64.b64encode(bytes(scope.key.public_key)).decode()
        return JSONResponse({"key_id": scope.key_id, "key": key})

    async def get_secret(self, request: Request) -> Response:
        """``GET …/secrets/{name}`` → metadata (never the value)."""
        scope = self.scope(request)
        name = request.path_params["name"]
        with self.state.lock:
            s = scope.secrets.get(name)
            if s is None:
                raise ApiError(404, "Not Found")
            return JSONResponse(self._meta(request, name, s))

    async def put_secret(self, request: Request) -> Response:
        """``PUT …/secrets/{name}`` with ``{encrypted_value, key_id}`` → 201 created / 204 updated."""
        scope = self.scope(request)
        name = request.path_params["name"]
        if not _NAME_RE.match(name) or name.upper().startswith("GITHUB_"):
            raise _invalid(
                "name",
                "Secret names can only contain alphanumeric characters or underscores, "
                "must not start with a number or GITHUB_.",
            )
        body = await _json(request)
        encrypted, key_id = body.get("encrypted_value"), body.get("key_id")
        if not isinstance(encrypted, str) or not encrypted:
            raise _invalid("encrypted_value", "encrypted_value is required and must be a string.")
        if not isinstance(key_id, str) or not key_id:
            raise _invalid("key_id", "key_id is required and must be a string.")
        if key_id != scope.key_id:
            raise _invalid("key_id", "key_id does not match the current public key of this scope.")
        try:
            value = SealedBox(scope.key).decrypt(base64.b64decode(encrypted, validate=True)).decode("utf-8")
        except (binascii.Error, ValueError, CryptoError, UnicodeDecodeError):
            raise _invalid(
                "encrypted_value", "encrypted_value could not be decrypted with this scope's key."
            ) from None
        extra: dict[str, Any] = {}
        if "org" in request.path_params:
            visibility = body.get("visibility")
            if visibility not in ("all", "private", "selected"):
                raise _invalid("visibility", "visibility must be one of all, private, selected.")
            ids = body.get("selected_repository_ids", [])
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise _invalid(
                    "selected_repository_ids", "selected_repository_ids must be an array of integers."
                )
            extra = {"visibility": visibility, "selected_repository_ids": ids}
        created = self.state.put(scope, name, value, **extra)
        return JSONResponse({}, status_code=201) if created else Response(status_code=204)

    async def org_secret_repos(self, request: Request) -> Response:
        """``GET /orgs/{org}/actions/secrets/{name}/repositories`` (visibility ``selected``)."""
        scope = self.scope(request)
        with self.state.lock:
            s = scope.secrets.get(request.path_params["name"])
            if s is None:
                raise ApiError(404, "Not Found")
            by_id = {r.id: r for r in self.state.repos.values()}
            repos = [
                {"id": i, "full_name": by_id[i].full_name, "name": by_id[i].full_name.split("/")[-1]}
                for i in s.selected_repository_ids
                if i in by_id
            ]
        return JSONResponse({"total_count": len(repos), "repositories": repos})

    async def delete_secret(self, request: Request) -> Response:
        """``DELETE …/secrets/{name}`` → 204 (404 when absent)."""
        scope = self.scope(request)
        name = request.path_params["name"]
        with self.state.lock:
            if scope.secrets.pop(name, None) is None:
                raise ApiError(404, "Not Found")
        return Response(status_code=204)

    def build(self) -> Starlette:
        """All routes; unknown ones answer GitHub's 404 ``Not Found``."""
        routes: list[Route] = [
            Route("/user", self.wrap(self.user), methods=["GET"]),
            Route("/repos/{owner}/{repo}", self.wrap(self.get_repo), methods=["GET"]),
            Route("/repos/{owner}/{repo}/environments", self.wrap(self.environments), methods=["GET"]),
            Route("/orgs/{org}/repos", self.wrap(self.org_repos), methods=["GET"]),
            Route(
                "/repos/{owner}/{repo}/actions/organization-secrets",
                self.wrap(self.repo_org_secrets),
                methods=["GET"],
            ),
        ]
        prefixes = [
            ("/repos/{owner}/{repo}/actions/secrets", False),
            ("/repos/{owner}/{repo}/environments/{env}/secrets", False),
            ("/repositories/{repo_id}/environments/{env}/secrets", False),
            ("/orgs/{org}/actions/secrets", True),
        ]
        routes.append(
            Route(
                "/orgs/{org}/actions/secrets/{name}/repositories",
                self.wrap(self.org_secret_repos, org_scope=True),
                methods=["GET"],
            )
        )
        for prefix, org in prefixes:
            routes += [
                Route(prefix, self.wrap(self.list_secrets, org_scope=org), methods=["GET"]),
                Route(f"{prefix}/public-key", self.wrap(self.public_key, org_scope=org), methods=["GET"]),
                Route(f"{prefix}/{{name}}", self.wrap(self.get_secret, org_scope=org), methods=["GET"]),
                Route(f"{prefix}/{{name}}", self.wrap(self.put_secret, org_scope=org), methods=["PUT"]),
                Route(f"{prefix}/{{name}}", self.wrap(self.delete_secret, org_scope=org), methods=["DELETE"]),
            ]

        async def not_found(request: Request, exc: Exception) -> Response:
            status = getattr(exc, "status_code", 404)
            if status == 405:
                return ApiError(404, "Not Found").response()
            return ApiError(404, "Not Found").response()

        return Starlette(routes=routes, exception_handlers={HTTPException: not_found})


def _invalid(field_name: str, message: str) -> ApiError:
    return ApiError(
        422,
        "Validation Failed",
        errors=[{"resource": "Secret", "field": field_name, "code": "invalid", "message": message}],
    )


def _paging(request: Request) -> tuple[int, int]:
    try:
        per_page = int(request.query_params.get("per_page", "30"))
        page = int(request.query_params.get("page", "1"))
    except ValueError:
        raise ApiError(422, "Invalid request.\n\nper_page and page must be integers.") from None
    return max(1, page), min(100, max(1, per_page))


def _link(request: Request, page: int, per_page: int, total: int) -> dict[str, str]:
    last = max(1, math.ceil(total / per_page))
    base = str(request.url.remove_query_params(["page"]))
    sep = "&" if "?" in base else "?"
    links = []
    if page < last:
        links.append(f'<{base}{sep}page={page + 1}>; rel="next"')
        links.append(f'<{base}{sep}page={last}>; rel="last"')
    if page > 1:
        links.append(f'<{base}{sep}page={page - 1}>; rel="prev"')
        links.append(f'<{base}{sep}page=1>; rel="first"')
    return {"Link": ", ".join(links)} if links else {}


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        raise ApiError(400, "Problems parsing JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Problems parsing JSON")
    return body
