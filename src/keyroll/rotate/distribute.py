"""Writing values where the copies live: Vercel project vars, team shared vars, GitHub Actions
secrets and (with ``--rewrite-files``) local files.

* Copies are written in waves: a signing roll's ``signing_current`` copies (retries included)
  before the rest, so no intermediate env lacks the key QStash signs with.
* Vercel project vars are updated in place — an array upsert per project when every item's
  type and scope are known (one request), else ``PATCH`` per var — keeping type (sensitive stays
  sensitive), targets, git branch, custom environments, comment and integration link. Never
  delete + recreate. Every ``failed[]`` item is retried, then the step fails (→ rollback).
  A 2xx answer confirms a write (Vercel answers with the value encrypted, so it cannot be
  compared); the ``rescan`` step reads every written copy back once, at the end.
* Team shared vars: one ``PATCH /v1/env`` for all of them; project links untouched.
* GitHub: ``put_secret`` (sealed box) per secret.
* Files (:mod:`keyroll.rotate.files`): the old value is replaced in place in the same form; only
  configuration gets the new value, records of the past are redacted.

Values are rendered per copy by :func:`keyroll.rotate.render.render` from a value set
(``role → Secret``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from keyroll.core.errors import KeyrollError, ProviderError, RotationError
from keyroll.core.model import LocationKind
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec, LocationSpec
from keyroll.providers.github import SecretScope
from keyroll.providers.vercel.models import EnvVarInput
from keyroll.rotate.files import write_files
from keyroll.rotate.render import render
from keyroll.rotate.runtime import Runtime

__all__ = ["write_locations"]

_WRITABLE_TYPES = frozenset({"plain", "encrypted", "sensitive"})


def _render_journaled(
    rt: Runtime,
    gid: str,
    specs: list[LocationSpec],
    values: Mapping[str, Secret],
    currents: list[Secret | None],
    endpoint: GroupSpec,
) -> list[Secret]:
    """Render every copy; a value that is not itself in the set (a URL built around a new
    password, an encoded form) is journaled as ``<gid>:rendered:<fp>`` before it is written, so
    that verify can probe exactly what was written."""
    known = {v.fingerprint for v in values.values()}
    out = []
    for spec, current in zip(specs, currents, strict=True):
        value = render(spec, values, current, endpoint)
        if gid and value.fingerprint not in known:
            name = "rendered:" + value.fingerprint.split(":", 1)[-1]
            if not rt.has_value(gid, "rendered", name.split(":", 1)[1]):
                rt.put_value(gid, "rendered", name.split(":", 1)[1], value)
            known.add(value.fingerprint)
        out.append(value)
    return out


async def _current_value(rt: Runtime, spec: LocationSpec) -> Secret | None:
    """The readable current value of a Vercel var (needed to keep a URL's other parts)."""
    url_copy = spec.role == "url" or (spec.role == "value" and spec.form in ("url", "url_encoded"))
    if not url_copy or spec.type == "sensitive":
        return None
    try:
        if spec.kind is LocationKind.VERCEL_SHARED_ENV:
            return (await rt.vercel.get_shared_env(spec.env_id)).value
        return (await rt.vercel.get_env(spec.project_id, spec.env_id)).value
    except KeyrollError:
        return None


_FIRST_ROLES = ("signing_current",)
"""Roles written (retries included) before the others. A signing roll moves the old NEXT key
into CURRENT and a new key into NEXT; with CURRENT written first, every intermediate env holds
the key QStash signs with, so a deployment built in between still verifies deliveries."""


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One detail from the waves' details: lists concatenated, counts added."""
    out: dict[str, Any] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out[k] + v if k in out else v
    return out


def _waves(specs: list[LocationSpec]) -> list[list[LocationSpec]]:
    first = [s for s in specs if s.role in _FIRST_ROLES]
    rest = [s for s in specs if s.role not in _FIRST_ROLES]
    return [w for w in (first, rest) if w]


async def _write_project(
    rt: Runtime,
    project_id: str,
    specs: list[LocationSpec],
    values: Mapping[str, Secret],
    endpoint: GroupSpec,
    gid: str = "",
) -> dict[str, Any]:
    currents = await asyncio.gather(*(_current_value(rt, s) for s in specs))
    rendered = _render_journaled(rt, gid, specs, values, list(currents), endpoint)
    batch: list[tuple[LocationSpec, Secret]] = []
    single: list[tuple[LocationSpec, Secret]] = []
    for spec, value in zip(specs, rendered, strict=True):
        batchable = (
            spec.type in _WRITABLE_TYPES
            and not spec.configuration_id
            and bool(spec.targets or spec.custom_environment_ids)
        )
        (batch if batchable else single).append((spec, value))
    if len(batch) < 2:
        single.extend(batch)
        batch = []
    calls = 0
    retry: list[tuple[LocationSpec, Secret]] = []
    deleted: list[dict[str, str]] = []
    if batch:
        items = [
            EnvVarInput(
                key=s.key,
                value=v,
                type=s.type,
                target=list(s.targets),
                gitBranch=s.git_branch or None,
                customEnvironmentIds=list(s.custom_environment_ids),
            )
            for s, v in batch
        ]
        result = await rt.vercel.upsert_env(project_id, items)
        calls += 1
        expected = {s.env_id for s, _ in batch}
        ours = {s.key for s, _ in batch}
        got = {e.id for e in result.created}
        retry = [(s, v) for s, v in batch if s.env_id not in got]
        # an upsert that created a new var instead of updating ours: remove that duplicate
        for extra in result.created:
            if extra.id not in expected and extra.key in ours:
                with contextlib.suppress(KeyrollError):
                    await rt.vercel.delete_env(project_id, extra.id)
                    calls += 1
                    deleted.append({"id": extra.id, "key": extra.key})  # audit: keyroll's own delete
    single.extend(retry)
    attempts = max(1, rt.options.write_retries)

    async def patch(spec: LocationSpec, value: Secret) -> None:
        nonlocal calls
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                calls += 1
                # the 2xx answer is the confirmation; the rescan step reads every copy back
                await rt.vercel.edit_env(project_id, spec.env_id, verify=False, value=value)
                return
            except ProviderError as exc:
                last = exc
                if exc.status is not None and exc.status < 500 and exc.status != 429:
                    break
                await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
        raise RotationError(
            f"could not write {spec.key} of {spec.project_name or project_id}: {last}",
            hint="the credential is rolled back; run `keyroll resume` or `keyroll apply` again",
        )

    await asyncio.gather(*(patch(s, v) for s, v in single))
    return {
        "written": [
            {"env_id": s.env_id, "key": s.key, "fp": v.fingerprint, "role": s.role}
            for s, v in zip(specs, rendered, strict=True)
        ],
        "batched": len(batch),
        "retried": len(retry),
        "calls": calls,
        **({"deleted": deleted} if deleted else {}),
    }


async def _write_shared(
    rt: Runtime,
    specs: list[LocationSpec],
    values: Mapping[str, Secret],
    endpoint: GroupSpec,
    gid: str = "",
) -> dict[str, Any]:
    currents = await asyncio.gather(*(_current_value(rt, s) for s in specs))
    rendered = dict(
        zip(
            [s.env_id for s in specs],
            _render_journaled(rt, gid, specs, values, list(currents), endpoint),
            strict=True,
        )
    )
    pending = dict(rendered)
    attempts = max(1, rt.options.write_retries) + 1
    for attempt in range(attempts):
        result = await rt.vercel.update_shared_env({i: {"value": v} for i, v in pending.items()})
        failed_ids = {
            str(
                (f.get("error") or {}).get("envVarId")
                or (f.get("error") or {}).get("id")
                or f.get("id")
                or ""
            )
            for f in result.failed
        }
        if not result.failed:
            pending = {}
            break
        pending = {i: v for i, v in pending.items() if i in failed_ids or "" in failed_ids}
        await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
    if pending:
        keys = sorted(s.key for s in specs if s.env_id in pending)
        raise RotationError(f"could not update team shared var(s) {', '.join(keys)}")
    return {"written": [{"env_id": i, "fp": v.fingerprint} for i, v in rendered.items()]}


def _scope(spec: LocationSpec) -> SecretScope:
    scope = spec.scope or "repo"
    if scope == "org":
        # inventory records org secrets with repo "org:<name>"
        return SecretScope(kind="org", org=spec.repo.removeprefix("org:"))
    if scope.startswith("env:"):
        return SecretScope(kind="env", repo=spec.repo, environment=scope[4:])
    return SecretScope(kind="repo", repo=spec.repo)


async def _write_github(
    rt: Runtime,
    specs: list[LocationSpec],
    values: Mapping[str, Secret],
    endpoint: GroupSpec,
    gid: str = "",
) -> dict[str, Any]:
    out = []
    rendered = _render_journaled(rt, gid, specs, values, [None] * len(specs), endpoint)
    for spec, value in zip(specs, rendered, strict=True):
        await rt.github.put_secret(_scope(spec), spec.name, value)
        out.append(
            {
                "repo": spec.repo,
                "scope": spec.scope,
                "name": spec.name,
                "fp": value.fingerprint,
            }
        )
    return {"written": out}


async def write_locations(
    rt: Runtime,
    target: str,
    specs: list[LocationSpec],
    values: Mapping[str, Secret],
    endpoint: GroupSpec,
    *,
    old: Mapping[str, Secret] | None = None,
    restore: bool = False,
    gid: str = "",
) -> dict[str, Any]:
    """Write ``values`` to every copy in ``specs`` (all of one ``target``: vercel/shared/github/files).

    With ``gid``, derived values (URLs, encoded forms) are journaled before they are written.

    :raises RotationError: a write kept failing after retries.
    :raises ProviderError: a provider refused (auth, not found).
    """
    started = rt.now()
    if target == "vercel":
        project_id = specs[0].project_id
        detail = _merged(
            [await _write_project(rt, project_id, wave, values, endpoint, gid) for wave in _waves(specs)]
        )
    elif target == "shared":
        detail = _merged([await _write_shared(rt, wave, values, endpoint, gid) for wave in _waves(specs)])
    elif target == "github":
        detail = await _write_github(rt, specs, values, endpoint, gid)
    elif target == "files":
        detail = await write_files(rt, specs, values, old or {}, restore=restore)
    else:
        raise RotationError(f"unknown write target {target}")
    detail["env_written_at"] = rt.now()
    detail["write_started_at"] = started
    return detail
