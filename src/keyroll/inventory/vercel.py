"""Source: every env var of every Vercel project in scope, and the team's shared env vars.

Lists come back with ciphertext (``shared/reference/vercel-api.md`` §6.2), so each readable
var is fetched decrypted one by one — concurrently, bounded by the :class:`Limiter`, paced by
the client's token buckets. Vars whose value cannot be read back (``sensitive``, legacy
``secret``) are never requested: their key, scope, ``configurationId`` and ``contentHint``
are all there is. A 403 on a project, a project deleted mid-listing (404), or a read that
still fails after the client's retries becomes an :class:`Unknown`, never a crash.
"""

from __future__ import annotations

import asyncio
from typing import Any

from keyroll.core.errors import AuthError, KeyrollError, NotFoundError, UsageError
from keyroll.core.model import Unknown
from keyroll.core.progress import Progress
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.options import InventoryOptions
from keyroll.inventory.records import EnvRecord, ProjectInfo, VercelSnapshot
from keyroll.providers.vercel.models import EnvVar, Project, SharedEnvVar
from keyroll.providers.vercel.protocol import VercelAPI

__all__ = ["UNREADABLE_TYPES", "collect_vercel", "project_info"]

UNREADABLE_TYPES = frozenset({"sensitive", "secret"})
"""Types whose value the API never returns (``secret`` is the legacy secret reference)."""
SKIPPED_TYPES = frozenset({"system"})
"""``VERCEL_URL`` and friends: set by Vercel per deployment, never a stored credential."""


def _extra(model: Any, name: str) -> Any:
    extra = getattr(model, "model_extra", None) or {}
    return extra.get(name)


def project_info(project: Project) -> ProjectInfo:
    """The parts of a project inventory uses (``targets.production``, linked repository)."""
    targets = project.targets or {}
    production = targets.get("production") if isinstance(targets, dict) else None
    link = _extra(project, "link") or {}
    repo = repo_type = repo_host = ""
    if isinstance(link, dict):
        org = str(link.get("org") or link.get("owner") or link.get("projectNamespace") or "")
        name = str(link.get("repo") or link.get("slug") or link.get("projectName") or "")
        repo = f"{org}/{name}" if org and name else name
        repo_type = str(link.get("type") or "")
        repo_host = str(link.get("host") or "")
    return ProjectInfo(
        id=project.id,
        name=project.name,
        paused=bool(project.paused),
        production=dict(production) if isinstance(production, dict) else {},
        has_targets="targets" in project.model_fields_set or bool(targets),
        repo=repo,
        repo_type=repo_type,
        repo_host=repo_host,
    )


def _readable(var: EnvVar | SharedEnvVar) -> bool:
    return var.value is not None and (var.decrypted or var.type == "plain")


def _record(var: EnvVar, project: ProjectInfo) -> EnvRecord:
    return EnvRecord(
        shared=False,
        env_id=var.id,
        key=var.key,
        type=var.type,
        targets=tuple(var.target),
        git_branch=var.git_branch or "",
        custom_environment_ids=tuple(var.custom_environment_ids),
        configuration_id=var.configuration_id or "",
        content_hint=var.content_hint,
        project_id=project.id,
        project_name=project.name,
        value=var.value if _readable(var) else None,
    )


def _shared_record(var: SharedEnvVar) -> EnvRecord:
    return EnvRecord(
        shared=True,
        env_id=var.id,
        key=var.key,
        type=var.type,
        targets=tuple(var.target),
        custom_environment_ids=tuple(_extra(var, "customEnvironmentIds") or ()),
        configuration_id=str(_extra(var, "configurationId") or ""),
        content_hint=_extra(var, "contentHint"),
        linked_project_ids=tuple(var.project_ids),
        all_custom_environments=bool(
            getattr(var, "apply_to_all_custom_environments", False)
            or _extra(var, "applyToAllCustomEnvironments")
        ),
        value=var.value if _readable(var) else None,
    )


class _Collector:
    def __init__(
        self, vercel: VercelAPI, options: InventoryOptions, limiter: Limiter, progress: Progress
    ) -> None:
        self.vercel = vercel
        self.options = options
        self.limiter = limiter
        self.progress = progress
        self.snap = VercelSnapshot()
        self.values_task = progress.task("vercel values", total=0)
        self._values_total = 0

    def unknown(self, where: str, reason: str, **fields: Any) -> None:
        self.snap.unknowns.append(Unknown(where=where, reason=reason, **fields))
        self.progress.note(f"{where}: {reason}")

    # -- projects --------------------------------------------------------------------------
    async def projects(self) -> list[ProjectInfo]:
        if self.options.projects:
            found = await asyncio.gather(*(self.one_project(p) for p in self.options.projects))
            unique = {p.id: p for p in found}
            infos = list(unique.values())
        else:
            infos = [project_info(p) for p in await self.limiter.run(self.vercel.list_projects)]
        if not self.options.include_paused:
            infos = [p for p in infos if not p.paused]
        return infos

    async def one_project(self, id_or_name: str) -> ProjectInfo:
        try:
            return project_info(await self.limiter.run(self.vercel.get_project, id_or_name))
        except NotFoundError:
            raise UsageError(
                f"Vercel project {id_or_name!r} not found",
                hint="check the name or id; without --project every project is listed",
            ) from None

    # -- values ------------------------------------------------------------------------------
    def _more(self, n: int) -> None:
        if n:
            self._values_total += n
            self.progress.advance(self.values_task, 0, total=self._values_total)

    async def read_value(self, record: EnvRecord) -> None:
        try:
            if record.shared:
                var: EnvVar | SharedEnvVar = await self.limiter.run(self.vercel.get_shared_env, record.env_id)
            else:
                var = await self.limiter.run(self.vercel.get_env, record.project_id, record.env_id)
        except NotFoundError:
            record.gone = True
            self.progress.note(f"{record.where()}: deleted during the inventory")
        except KeyrollError as exc:
            record.unreadable = _reason(exc)
            record.read_failed = True
        else:
            if var.value is not None:
                record.value = var.value
            else:
                record.unreadable = f"Vercel returned no value (type {var.type})"
                record.read_failed = var.type not in UNREADABLE_TYPES
        self.progress.advance(self.values_task)

    async def fill_values(self, records: list[EnvRecord]) -> None:
        todo: list[EnvRecord] = []
        for r in records:
            if r.value is not None:
                continue
            if r.type in UNREADABLE_TYPES:
                r.unreadable = f"{r.type}: Vercel never returns the value"
            elif r.type not in SKIPPED_TYPES:
                todo.append(r)
        self._more(len(todo))
        await asyncio.gather(*(self.read_value(r) for r in todo))

    # -- env of one project -------------------------------------------------------------------
    async def project_env(self, project: ProjectInfo, task: str) -> None:
        where = f"vercel project {project.name}"
        try:
            envs = await self.limiter.run(self.vercel.list_env, project.id, decrypt=True)
        except NotFoundError:
            self.unknown(where, "project disappeared during the inventory (404)", project_id=project.id)
            return
        except KeyrollError as exc:
            self.unknown(where, f"env vars could not be listed: {_reason(exc)}", project_id=project.id)
            return
        finally:
            self.progress.advance(task)
        hidden = int(getattr(envs, "hidden_production", 0) or 0)
        if hidden:
            self.unknown(
                where,
                f"{hidden} production env var(s) hidden from this token (hiddenProductionEnvCount): "
                "they are counted, not listed, so copies in them cannot be found — use a token of a "
                "member who may see production variables",
                project_id=project.id,
                targets=("production",),
            )
        for line in getattr(envs, "malformed", ()) or ():
            self.unknown(where, f"unexpected answer, item skipped: {line}", project_id=project.id)
        for v in envs:
            if not v.id and v.type not in SKIPPED_TYPES:
                self.unknown(
                    where,
                    f"env var {v.key} came without an id: its value cannot be read on its own",
                    project_id=project.id,
                    key=v.key,
                    targets=tuple(v.target),
                )
        records = [_record(v, project) for v in envs if v.type not in SKIPPED_TYPES and v.id]
        await self.fill_values(records)
        self.snap.records.extend(r for r in records if not r.gone)

    async def shared_env(self, in_scope: set[str]) -> None:
        try:
            shared = await self.limiter.run(self.vercel.list_shared_env)
        except KeyrollError as exc:
            self.unknown("vercel team shared env vars", f"could not be listed: {_reason(exc)}")
            return
        records = [_shared_record(v) for v in shared if v.type not in SKIPPED_TYPES]
        if self.options.projects:
            # shared vars linked to no project in scope cannot reach these projects' deployments
            records = [r for r in records if set(r.linked_project_ids) & in_scope]
        await self.fill_values(records)
        self.snap.records.extend(r for r in records if not r.gone)

    async def configurations(self) -> None:
        try:
            configs = await self.limiter.run(self.vercel.list_integration_configurations)
        except KeyrollError as exc:
            self.progress.note(f"vercel integrations could not be listed: {_reason(exc)}")
            return
        self.snap.configurations = {c.id: c.slug for c in configs}


def _reason(exc: KeyrollError) -> str:
    if isinstance(exc, AuthError) and exc.code and "challenge" in exc.code:
        return "Vercel asks for step-up authentication to read it (not possible with a token)"
    if isinstance(exc, AuthError):
        return f"access denied ({exc.status}): the token lacks a scope — {exc.message}"
    return exc.message


async def collect_vercel(
    vercel: VercelAPI, options: InventoryOptions, limiter: Limiter, progress: Progress
) -> VercelSnapshot:
    """Projects, their env vars and the team's shared env vars, values read where possible.

    :raises UsageError: a project named in ``options.projects`` does not exist.
    :raises ProviderError: the project list itself cannot be read (bad token, outage).
    """
    c = _Collector(vercel, options, limiter, progress)
    projects = await c.projects()
    c.snap.projects = {p.id: p for p in projects}
    task = progress.task("vercel projects", total=len(projects))
    await asyncio.gather(
        c.configurations(),
        c.shared_env(set(c.snap.projects)),
        *(c.project_env(p, task) for p in projects),
    )
    progress.finish(task)
    progress.finish(c.values_task)
    return c.snap
