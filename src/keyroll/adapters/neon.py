"""The Neon adapter: Postgres URLs on ``*.neon.tech`` (Neon projects, Vercel Postgres, the Neon
Vercel Marketplace integration), rotated through Neon's role API with alternating roles.

Neon API v2 (neon.com/docs/reference/api; base ``https://console.neon.tech/api/v2``, bearer
``NEON_API_KEY``):

* find the project and branch of the URL's endpoint (``ep-…``, ``-pooler`` stripped):
  ``GET /projects`` then ``GET /projects/{project_id}/endpoints``;
* **mint** — the other role of the pair (``app`` ↔ ``app_clone``, as the Postgres adapter):
  ``POST /projects/{project_id}/branches/{branch_id}/roles`` ``{"role": {"name": …}}`` the first
  time (201, the password is in the answer), ``POST …/roles/{role_name}/reset_password`` after
  that; then wait until every returned operation is ``finished`` ("The new password is ready to
  use when the last operation finishes") and ``GRANT <role> TO <role>_clone`` over SQL as the
  current role (the project owner has ``CREATEROLE``) so the new role has the same privileges;
* **revoke** — ``POST …/roles/{old}/reset_password`` and discard the answer: "The old password
  remains valid until last operation finishes", so keyroll waits for the operations and the
  probe then proves the old value dead.

Neon drops the compute's connections on these calls (documented for create and reset); apps
reconnect — the sandbox's deployments retry a dropped connection, not a refused login.
``423 Locked`` (another operation runs) is retried with backoff.
"""

from __future__ import annotations

import asyncio
import re
import urllib.parse
from typing import Any

from keyroll.adapters.interface import (
    AdapterContext,
    AdapterError,
    CredentialRef,
    Detection,
    Minted,
    Setting,
    Verdict,
)
from keyroll.adapters.postgres import (
    CLONE_SUFFIX,
    PostgresAdapter,
    _reason,
    alternate_role,
    connection_url,
    driver,
    endpoint_of,
    parse_url,
)
from keyroll.core.secret import Secret

__all__ = ["NeonAdapter", "endpoint_id_of"]

DEFAULT_API = "https://console.neon.tech"
_HOST = re.compile(r"^(ep-[a-z0-9-]+?)(-pooler)?\.[a-z0-9.-]+\.neon\.(tech|build)$")


def endpoint_id_of(host: str) -> str:
    """``ep-cool-darkness-123456`` from a Neon host (pooled or not); ``""`` for other hosts."""
    m = _HOST.match(host.lower())
    return m.group(1) if m else ""


class NeonAdapter(PostgresAdapter):
    """Neon Postgres roles, rotated through the Neon API (alternating roles)."""

    name = "neon"
    title = "Neon (Vercel Postgres; alternating roles via the Neon API)"
    kinds = ("neon_role_password",)
    settings = (
        Setting("NEON_API_KEY", "a Neon API key of the account or organization that owns the project"),
        Setting("KEYROLL_NEON_API_URL", f"Neon API origin (default {DEFAULT_API})", secret=False),
    )
    priority = 20

    def detect(self, value: str, *, key: str = "") -> Detection | None:
        """A Postgres URL whose host is a Neon endpoint (``ep-….neon.tech``)."""
        parts = parse_url(value)
        if parts is None:
            return None
        endpoint_id = endpoint_id_of(parts["host"])
        if not endpoint_id:
            return None
        return Detection(
            adapter=self.name,
            kind="neon_role_password",
            secret=Secret(parts["password"]),
            in_url=True,
            principal=parts["user"],
            endpoint=endpoint_of(parts),
            resource_id=endpoint_id,
        )

    def propose(self, cred: CredentialRef) -> Secret | None:
        """Neon generates role passwords (the API answers with them)."""
        return None

    # -- the API -----------------------------------------------------------------------------
    async def _call(self, ctx: AdapterContext, method: str, path: str, body: Any = None) -> dict[str, Any]:
        import httpx

        key = ctx.setting("NEON_API_KEY")
        if key is None:
            raise AdapterError(
                "neon: NEON_API_KEY is not set", hint="export it or put it in the --env-file (never on argv)"
            )
        base = ctx.setting("KEYROLL_NEON_API_URL")
        url = (base.reveal().rstrip("/") if base else DEFAULT_API) + "/api/v2" + path
        headers = {"Authorization": f"Bearer {key.reveal()}", "Accept": "application/json"}
        client = ctx.http if isinstance(ctx.http, httpx.AsyncClient) else None
        own = client is None
        client = client or httpx.AsyncClient(timeout=30)
        try:
            delay = 0.2
            for attempt in range(8):
                try:
                    resp = await client.request(method, url, json=body, headers=headers, timeout=30)
                except httpx.HTTPError as exc:
                    if attempt == 7:
                        raise AdapterError(f"neon: {method} {path} failed ({type(exc).__name__})") from None
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 3.0)
                    continue
                retry = resp.status_code in (423, 429) or resp.status_code >= 500
                if retry and attempt < 7:  # another operation runs / rate limited / transient: back off
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 3.0)
                    continue
                if resp.status_code >= 400:
                    try:
                        message = str(resp.json().get("message", ""))[:160]
                    except ValueError:
                        message = ""
                    hint = "check NEON_API_KEY" if resp.status_code in (401, 403) else None
                    raise AdapterError(
                        f"neon: {method} {path} → {resp.status_code} {message}".strip(), hint=hint
                    )
                data = resp.json()
                return data if isinstance(data, dict) else {}
        finally:
            if own:
                await client.aclose()
        raise AdapterError(f"neon: {method} {path} kept failing")

    async def _locate(self, ctx: AdapterContext, endpoint_id: str) -> tuple[str, str]:
        """(project_id, branch_id) of an endpoint, from the projects the API key can see."""
        cursor = ""
        seen: set[str] = set()
        while True:
            query = "?limit=400" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
            page = await self._call(ctx, "GET", f"/projects{query}")
            projects = [p for p in page.get("projects", []) if p.get("id") not in seen]
            for project in projects:
                pid = str(project.get("id"))
                seen.add(pid)
                eps = await self._call(ctx, "GET", f"/projects/{pid}/endpoints")
                for ep in eps.get("endpoints", []):
                    if ep.get("id") == endpoint_id:
                        return pid, str(ep.get("branch_id"))
            cursor = str((page.get("pagination") or {}).get("cursor") or "")
            if not projects or not cursor:
                break
        raise AdapterError(
            f"neon: endpoint {endpoint_id} is not in any project NEON_API_KEY can see",
            hint="use an API key of the account or organization that owns the project",
        )

    async def _wait(self, ctx: AdapterContext, project_id: str, operations: list[dict[str, Any]]) -> None:
        """Until every operation is ``finished`` (``failed``/``error``/``cancelled`` raise)."""
        for op in operations:
            op_id = str(op.get("id"))
            status = str(op.get("status", ""))
            delay = 0.1
            for _ in range(600):
                if status == "finished":
                    break
                if status in ("failed", "error", "cancelled", "skipped"):
                    raise AdapterError(f"neon: operation {op_id} ({op.get('action')}) ended {status}")
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 2.0)
                got = await self._call(ctx, "GET", f"/projects/{project_id}/operations/{op_id}")
                status = str((got.get("operation") or {}).get("status", ""))
            else:
                raise AdapterError(f"neon: operation {op_id} did not finish")

    async def _new_password(
        self, ctx: AdapterContext, cred: CredentialRef, role: str
    ) -> tuple[Secret, dict[str, Any]]:
        endpoint_id = cred.resource_id or endpoint_id_of(urllib.parse.urlsplit(cred.endpoint).hostname or "")
        project_id, branch_id = await self._locate(ctx, endpoint_id)
        roles = f"/projects/{project_id}/branches/{branch_id}/roles"
        listed = await self._call(ctx, "GET", roles)
        exists = any(r.get("name") == role for r in listed.get("roles", []))
        if exists:
            answer = await self._call(
                ctx, "POST", f"{roles}/{urllib.parse.quote(role, safe='')}/reset_password"
            )
        else:
            answer = await self._call(ctx, "POST", roles, {"role": {"name": role}})
        password = str((answer.get("role") or {}).get("password") or "")
        if not password:
            raise AdapterError(f"neon: the answer for role {role} carried no password")
        secret = Secret(password)
        await self._wait(ctx, project_id, list(answer.get("operations") or []))
        state = {
            "project_id": project_id,
            "branch_id": branch_id,
            "endpoint_id": endpoint_id,
            "role": role,
            "created": not exists,
            "endpoint": cred.endpoint,
        }
        return secret, state

    async def mint(
        self, cred: CredentialRef, ctx: AdapterContext, *, proposed: Secret | None = None
    ) -> Minted:
        """Create (first time) or reset the other role via the API, then give it the same grants."""
        psycopg = driver()
        from psycopg import sql

        current = cred.principal
        other = alternate_role(current)
        reused = None
        if proposed is not None:  # a re-run after a crash: the password journaled last time may be in force
            again = CredentialRef(self.name, cred.kind, proposed, principal=other, endpoint=cred.endpoint)
            if (await self.probe(again, ctx)).verdict is Verdict.ACCEPTED:
                reused = proposed
        if reused is not None:
            password, state = (
                reused,
                {"role": other, "created": False, "reused": True, "endpoint": cred.endpoint},
            )
        else:
            password, state = await self._new_password(ctx, cred, other)
        granted = False
        if other.endswith(CLONE_SUFFIX):
            url = connection_url(cred.endpoint, current, cred.secret)
            try:
                async with await psycopg.AsyncConnection.connect(
                    url.reveal(), connect_timeout=10, autocommit=True
                ) as conn:
                    row = await (
                        await conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (other, current))
                    ).fetchone()
                    if not (row and row[0]):
                        await conn.execute(
                            sql.SQL("GRANT {} TO {}").format(sql.Identifier(current), sql.Identifier(other))
                        )
                        granted = True
            except psycopg.Error as exc:
                raise AdapterError(f"neon: granting {current} to {other} failed ({_reason(exc)})") from None
        return Minted(
            secret=password,
            principal=other,
            url=connection_url(cred.endpoint, other, password),
            state={**state, "previous_role": current, "granted": granted},
        )

    async def revoke(self, cred: CredentialRef, new: Minted | None, ctx: AdapterContext) -> dict[str, Any]:
        """Reset the old role's password through the API and throw the answer away."""
        _discarded, state = await self._new_password(ctx, cred, cred.principal)
        return {
            "role": cred.principal,
            "password": "reset (new one discarded)",
            "project_id": state["project_id"],
        }

    async def undo_mint(self, minted: Minted, ctx: AdapterContext) -> dict[str, Any]:
        """Rollback: reset the minted role's password (discarded)."""
        endpoint = str(minted.state.get("endpoint") or "")
        if not endpoint or not minted.principal:
            return {}
        ref = CredentialRef(
            self.name,
            "neon_role_password",
            minted.secret,
            principal=minted.principal,
            endpoint=endpoint,
            resource_id=str(minted.state.get("endpoint_id") or ""),
        )
        _discarded, _state = await self._new_password(ctx, ref, minted.principal)
        return {"role": minted.principal, "password": "reset (discarded)"}
