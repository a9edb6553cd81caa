"""In-memory state of the emulated Vercel team: projects, env vars, shared vars, deployments, events.

Pure Python, no HTTP: the routes in :mod:`keyroll.sandbox.vercel.app` translate requests into
calls on :class:`VercelState`; the records it holds are in :mod:`keyroll.sandbox.vercel.records`. Every mutation happens under one lock, so hooks called from
other threads (tests, the load generator) see consistent data.

Deployments move QUEUED → BUILDING → READY (or ERROR) as time passes; the transition is
computed lazily from their timestamps (:meth:`VercelState.refresh`), and a production
deployment that becomes READY is promoted to the project's production alias.
"""

from __future__ import annotations

import base64
import os
import random
import string
import threading
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyroll.sandbox.vercel.plan import DAY_MS, PlanLimits, plan_limits
from keyroll.sandbox.vercel.records import (
    Deployment,
    EnvVar,
    Event,
    Integration,
    Project,
    SharedEnvVar,
)
from keyroll.sandbox.world import World

__all__ = ["VercelState"]

_ALNUM = string.ascii_letters + string.digits


def _env_target(target: str | None) -> str:
    """Which env vars a deployment of ``target`` is built with: a ``staging`` deployment takes the
    Preview ones (unconfirmed: Vercel documents no Staging env target)."""
    return "production" if target == "production" else "preview"


class VercelState:
    """The whole emulated team. All public methods are thread-safe."""

    def __init__(self, world: World, *, team: dict[str, str], user: dict[str, str], token: str) -> None:
        self.world = world
        self.team = team
        self.user = user
        self.token = token
        self.lock = threading.RLock()
        self.projects: dict[str, Project] = {}
        self.shared: dict[str, SharedEnvVar] = {}
        self.deployments: dict[str, Deployment] = {}
        self.events: list[Event] = []
        self.integrations: dict[str, Integration] = {}
        self._rng = random.Random(f"vercel:{world.faults.seed}")
        self._aead = AESGCM(os.urandom(32))
        self.limits: PlanLimits = plan_limits(
            world.vercel_plan, builds_per_day=world.builds_per_day, concurrent_builds=world.concurrent_builds
        )
        """the plan's build slots and daily deployment cap"""
        self.roll_fault: Callable[[str, float], bool] = lambda kind, rate: False
        """deterministic fault decisions (the service's :class:`~keyroll.sandbox.guard.Guard`)"""

    # -- ids, time, crypto ------------------------------------------------------------------
    def new_id(self, prefix: str, n: int = 24) -> str:
        """A random id such as ``prj_…``/``dpl_…`` (deterministic from the fault seed)."""
        with self.lock:
            return prefix + "".join(self._rng.choice(_ALNUM) for _ in range(n))

    def new_hex(self, n: int = 40) -> str:
        """A random lowercase hex string (git shas)."""
        with self.lock:
            return f"{self._rng.getrandbits(4 * n):0{n}x}"

    def now(self) -> int:
        """Current time in ms."""
        return self.world.now_ms()

    def encrypt(self, value: str) -> str:
        """What the API shows instead of an encrypted value (real AES-GCM; no way back without the key)."""
        nonce = os.urandom(12)
        blob = self._aead.encrypt(nonce, value.encode(), None)
        return base64.b64encode(nonce + blob).decode()

    # -- lookups ----------------------------------------------------------------------------
    def project(self, id_or_name: str) -> Project | None:
        """A project by id or name."""
        with self.lock:
            p = self.projects.get(id_or_name)
            if p is not None:
                return p
            for p in self.projects.values():
                if p.name == id_or_name:
                    return p
            return None

    def deployment_url(self, dep: Deployment) -> str:
        """The deployment's ``url`` as the API shows it: a host and path without a scheme."""
        base = self.world.urls.get("vercel", "http://127.0.0.1:0")
        return f"{base.split('://', 1)[-1]}/_d/{dep.id}"

    def find_deployment(self, id_or_url: str) -> Deployment | None:
        """A deployment by id or by its url (with or without ``http://``)."""
        with self.lock:
            if id_or_url in self.deployments:
                return self.deployments[id_or_url]
            tail = id_or_url.rstrip("/").rsplit("/_d/", 1)
            if len(tail) == 2:
                return self.deployments.get(tail[1].split("/", 1)[0])
            return None

    def production_alias(self, project: Project) -> str:
        """The production domain of a project."""
        return f"{project.name}-{self.team.get('slug', 'team')}.vercel.app"

    def staging_alias(self, project: Project) -> str:
        """The alias the latest READY ``staging`` deployment gets (the SDK documents
        ``<project>-<team>.vercel.app``, which the sandbox gives production: ``-staging`` tells them apart)."""
        return f"{project.name}-staging-{self.team.get('slug', 'team')}.vercel.app"

    # -- events -----------------------------------------------------------------------------
    def add_event(
        self,
        type_: str,
        text: str,
        *,
        project: Project | None = None,
        entity_id: str | None = None,
        principal: tuple[str, str] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> Event:
        """Append an activity event (principal defaults to the token's user)."""
        pid, ptype = principal or (self.user["id"], "user")
        body = dict(payload or {})
        if project is not None:
            body.setdefault("projectId", project.id)
            body.setdefault("projectName", project.name)
        if entity_id is not None:
            body.setdefault("id", entity_id)
        ev = Event(
            id=self.new_id("evt_", 20),
            type=type_,
            text=text,
            created_at=self.world.stamp_ms(),
            principal_id=pid,
            principal_type=ptype,
            project_id=project.id if project else None,
            entity_id=entity_id,
            payload=body,
        )
        with self.lock:
            self.events.append(ev)
        return ev

    # -- env ----------------------------------------------------------------------------------
    def make_env(self, project: Project, item: dict[str, Any], *, by: str) -> EnvVar:
        """Build (not store) an env var from a validated item."""
        ts = self.world.stamp_ms()
        return EnvVar(
            id=self.new_id("", 16),
            key=item["key"],
            value=item["value"],
            type=item.get("type", "encrypted"),
            target=list(item.get("target", [])),
            git_branch=item.get("gitBranch"),
            custom_environment_ids=list(item.get("customEnvironmentIds", [])),
            configuration_id=item.get("configurationId"),
            content_hint=item.get("contentHint"),
            comment=item.get("comment", ""),
            created_at=ts,
            updated_at=ts,
            created_by=by,
            updated_by=by,
            ciphertext=self.encrypt(item["value"]),
        )

    def conflicts(self, project: Project, item: dict[str, Any], *, ignore: str | None = None) -> list[EnvVar]:
        """Env vars of ``project`` that clash with ``item``: same key and git branch,
        overlapping target or custom environment (Vercel's uniqueness rule)."""
        out = []
        targets = set(item.get("target", []))
        ces = set(item.get("customEnvironmentIds", []))
        for ev in project.env.values():
            if ev.id == ignore or ev.key != item["key"] or ev.git_branch != item.get("gitBranch"):
                continue
            if targets & set(ev.target) or ces & set(ev.custom_environment_ids):
                out.append(ev)
        return out

    def set_env_value(self, project: Project, ev: EnvVar, value: str, *, by: str) -> None:
        """Replace a var's value in place (keeps id, type and scope)."""
        ev.value = value
        ev.ciphertext = self.encrypt(value)
        ev.updated_at = self.world.stamp_ms()
        ev.updated_by = by
        project.updated_at = ev.updated_at

    # -- deployments --------------------------------------------------------------------------
    def effective_env(
        self, project: Project, target: str | None, git_branch: str, custom_env_id: str | None
    ) -> dict[str, str]:
        """What a new deployment of ``project`` would see: linked shared vars, then project
        vars for its target/custom environment, then branch-specific preview vars."""
        env: dict[str, str] = {}
        with self.lock:
            for sv in self.shared.values():
                if project.id not in sv.project_ids:
                    continue
                if custom_env_id is not None:
                    if sv.apply_to_all_custom_environments:
                        env[sv.key] = sv.value
                elif _env_target(target) in sv.target:
                    env[sv.key] = sv.value
            branch_vars: list[EnvVar] = []
            for ev in project.env.values():
                if custom_env_id is not None:
                    if custom_env_id in ev.custom_environment_ids:
                        env[ev.key] = ev.value
                    continue
                if _env_target(target) not in ev.target:
                    continue
                if ev.git_branch is None:
                    env[ev.key] = ev.value
                elif ev.git_branch == git_branch:
                    branch_vars.append(ev)
            for ev in branch_vars:
                env[ev.key] = ev.value
        return env

    def create_deployment(
        self,
        project: Project,
        *,
        target: str | None,
        git_branch: str,
        custom_env_id: str | None,
        meta: dict[str, str],
        source: str,
        ready_now: bool = False,
        redeploy: bool = False,
    ) -> Deployment:
        """Snapshot the effective env and start a build of ``world.build_seconds``.

        A redeploy (``redeploy``) of a project with an Ignored Build Step is cancelled as soon as its
        build starts: the command is not run; a same-commit redeploy is what diff-based commands
        (``git diff --quiet HEAD^ HEAD``, ``turbo-ignore``) skip."""
        with self.lock:
            created = self.world.stamp_ms()
            build_ms = 0 if ready_now else int(self.world.build_seconds * 1000)
            dep_id = self.new_id("dpl_", 28)
            error = False if ready_now else self._roll_build_error()
            queue_ms = min(build_ms // 10, 500)  # a build with a free slot starts this soon
            run_ms = build_ms - queue_ms
            # a fleet's ready deployment is READY from this instant: its creation stamp may run ahead
            # of the clock (stamps are strictly increasing, one ms apart while a fleet is seeded),
            # and a deployment READY only from that stamp answered 404 for the first ~0.3 s
            start = (
                self._slot_start(created + queue_ms, run_ms) if not ready_now else min(created, self.now())
            )
            dep = Deployment(
                id=dep_id,
                project_id=project.id,
                name=project.name,
                target=target,
                git_branch=git_branch,
                custom_env_id=custom_env_id,
                created_at=created,
                building_at=start,
                ready_at=start + run_ms,
                build_error=error,
                env=self.effective_env(project, target, git_branch, custom_env_id),
                meta=dict(meta),
                source=source,
                creator=self.user["id"],
            )
            if redeploy and project.command_for_ignoring_build_step and not ready_now:
                dep.canceled_at = start + max(1, run_ms // 10)
                dep.ready_at = dep.canceled_at
                dep.cancel_reason = "ignored_build_step"
            self.deployments[dep_id] = dep
            project.updated_at = created
            if ready_now:
                self._finalize(dep)
        return dep

    def _slot_start(self, earliest: int, run_ms: int) -> int:
        """When a build asked for at ``earliest`` and running ``run_ms`` gets a build slot.

        Builds take slots first come, first served (Vercel's concurrency queue): a new build starts
        at the first moment from ``earliest`` on where fewer than ``limits.concurrent_builds``
        earlier builds hold a slot for its whole run. Scheduled once, at creation: cancelling a
        build does not pull later ones forward (unconfirmed; the stricter choice).
        """
        limit = self.limits.concurrent_builds
        busy = [
            (d.building_at, d.slot_end)
            for d in self.deployments.values()
            if d.slot_end > earliest and d.slot_end > d.building_at
        ]
        if len(busy) < limit:
            return earliest
        candidates = sorted({earliest, *(end for _, end in busy if end > earliest)})
        for t in candidates:
            points = [t, *(b for b, _ in busy if t < b < t + run_ms)]
            if all(sum(1 for b, e in busy if b <= p < e) < limit for p in points):
                return t
        return candidates[-1]  # pragma: no cover - the last end always frees every slot

    def deployments_today(self, now: int) -> int:
        """Deployments created in the last 24 hours (the daily cap's count)."""
        with self.lock:
            return sum(1 for d in self.deployments.values() if d.created_at > now - DAY_MS)

    def _roll_build_error(self) -> bool:
        return self.roll_fault("error_builds", self.world.faults.error_builds)

    def refresh(self) -> None:
        """Finish builds whose time has come; promote new READY production deployments."""
        now = self.now()
        with self.lock:
            pending = [d for d in self.deployments.values() if not d.finalized and d.ready_at <= now]
            for dep in sorted(pending, key=lambda d: d.ready_at):
                self._finalize(dep)

    def _finalize(self, dep: Deployment) -> None:
        dep.finalized = True
        if dep.canceled_at is not None or dep.build_error or dep.target not in ("production", "staging"):
            return
        project = self.projects.get(dep.project_id)
        if project is None:
            return
        staging = dep.target == "staging"
        current = self.deployments.get((project.staging_id if staging else project.production_id) or "")
        if current is not None and current.created_at > dep.created_at:
            return
        if current is not None:
            current.alias = []
        if staging:
            dep.alias = [self.staging_alias(project)]
            project.staging_id = dep.id
            return
        dep.alias = [self.production_alias(project)]
        dep.was_promoted = True
        project.production_id = dep.id

    def serving(self, dep: Deployment, now: int) -> bool:
        """Whether a READY deployment currently serves traffic (production alias, latest
        preview of its branch, latest of its custom environment)."""
        return dep.id in self._serving_ids(now)

    def _serving_ids(self, now: int) -> set[str]:
        ids: set[str] = set()
        latest: dict[tuple[str, str, str], Deployment] = {}
        for dep in self.deployments.values():
            if dep.state(now) != "READY":
                continue
            if dep.target in ("production", "staging"):
                continue
            key = (dep.project_id, dep.custom_env_id or "", "" if dep.custom_env_id else dep.git_branch)
            if key not in latest or latest[key].created_at < dep.created_at:
                latest[key] = dep
        ids.update(d.id for d in latest.values())
        for project in self.projects.values():
            if project.production_id:
                ids.add(project.production_id)
            if project.staging_id:
                ids.add(project.staging_id)
        return ids

    def hook_view(self, dep: Deployment) -> dict[str, Any]:
        """The dict the ``vercel.deployments`` hooks return for a deployment."""
        url = self.deployment_url(dep)
        return {
            "id": dep.id,
            "url": url,
            "href": f"http://{url}",
            "project_id": dep.project_id,
            "project_name": dep.name,
            "target": dep.target or "preview",
            "git_branch": dep.git_branch,
            "custom_environment_id": dep.custom_env_id,
            "state": dep.state(self.now()),
            "created_at": dep.created_at,
            "env": dict(dep.env),
        }

    def serving_deployments(self) -> list[dict[str, Any]]:
        """READY deployments that serve traffic, excluding paused projects."""
        self.refresh()
        now = self.now()
        with self.lock:
            ids = self._serving_ids(now)
            out = []
            for dep in self.deployments.values():
                project = self.projects.get(dep.project_id)
                if dep.id in ids and project is not None and not project.paused:
                    out.append(self.hook_view(dep))
            return out

    def all_deployments(self) -> list[dict[str, Any]]:
        """Every deployment, oldest first."""
        self.refresh()
        with self.lock:
            return [self.hook_view(d) for d in self.deployments.values()]

    # -- integrations -------------------------------------------------------------------------
    def resync_integration(self, configuration_id: str, values: dict[str, str]) -> int:
        """Vercel's re-sync after a partner rotated credentials: update, by key, the env vars
        that carry ``configuration_id``; returns how many changed. Does not redeploy."""
        changed = 0
        principal = (configuration_id, "integration")
        with self.lock:
            touched: list[str] = []
            for project in self.projects.values():
                for ev in project.env.values():
                    if ev.configuration_id != configuration_id or ev.key not in values:
                        continue
                    if ev.value == values[ev.key]:
                        continue
                    self.set_env_value(project, ev, values[ev.key], by=configuration_id)
                    changed += 1
                    touched.append(project.id)
                    self.add_event(
                        "env-variable-edit",
                        f"Integration updated environment variable {ev.key} in project {project.name}",
                        project=project,
                        entity_id=ev.id,
                        principal=principal,
                        payload={"key": ev.key, "target": ev.target, "configurationId": configuration_id},
                    )
            integration = self.integrations.get(configuration_id)
            self.add_event(
                "integration-configuration-credential-rotated",
                f"Credentials of integration {integration.slug if integration else configuration_id} were rotated",
                entity_id=configuration_id,
                principal=principal,
                payload={
                    "configurationId": configuration_id,
                    "keys": sorted(values),
                    "projectIds": sorted(set(touched)),
                    "changed": changed,
                },
            )
        return changed
