"""The context every step handler gets: providers, journal, options, value sets, probes.

Value sets are named collections of secrets of one group (``old``, ``new``, ``reset``,
``roll1``, ``roll2``, ``admin``), stored in the journal as ``<gid>:<set>:<role>`` — encrypted,
and always *before* any of them is sent anywhere.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyroll.core.errors import AuthError, KeyrollError, ProviderError, RotationError
from keyroll.core.model import CredentialPlan, Plan, Step, StepKind, StepState
from keyroll.core.priority import PrioritySemaphore
from keyroll.core.progress import Progress
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec, group_spec_of
from keyroll.journal.events import StepRecord
from keyroll.journal.store import Journal
from keyroll.providers.factory import Providers
from keyroll.providers.github import GitHubAPI
from keyroll.providers.upstash.developer import DeveloperAPI
from keyroll.providers.upstash.qstash import QStashAPI
from keyroll.providers.upstash.vector import IndexAPI
from keyroll.providers.vercel.protocol import VercelAPI
from keyroll.rotate.buildstats import BuildStats
from keyroll.rotate.options import ApplyOptions, HumanActions, SecretSource
from keyroll.rotate.ready import ReadyWatcher

__all__ = [
    "Action",
    "BuildFailed",
    "GateFailed",
    "Probe",
    "QuotaPaused",
    "Runtime",
    "WaitingForHuman",
]


class Probe(enum.StrEnum):
    """Tri-state result of asking a provider whether it accepts a credential."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNKNOWN = "unknown"


class BuildFailed(RotationError):
    """A redeploy ended in ERROR/CANCELED or timed out."""


class GateFailed(RotationError):
    """A pre-revoke gate failed (deployment not fresh, probe failed, interlock)."""


class WaitingForHuman(RotationError):
    """A human step has no one to perform it in this process; ``keyroll resume`` continues."""

    exit_code = RotationError.exit_code


class QuotaPaused(WaitingForHuman):
    """Vercel's daily deployment quota is spent mid-run: the run pauses (journaled, nothing rolled
    back, no further step starts); ``keyroll resume`` continues once the quota resets."""


@dataclass(frozen=True)
class Action:
    """How one ``params["action"]`` runs, is settled after a crash, and is undone."""

    run: Callable[[Step, Runtime], Awaitable[dict[str, Any]]]
    reconcile: Callable[[Step, Runtime], Awaitable[dict[str, Any] | None]] | None = None
    """read provider state back: the outcome if the action already happened, else ``None``"""


@dataclass
class Runtime:
    """State of one executing run, shared by every step handler."""

    run_id: str
    plan: Plan
    providers: Providers
    journal: Journal
    options: ApplyOptions
    progress: Progress
    http: httpx.AsyncClient
    human: HumanActions | None = None
    secret_source: SecretSource | None = None
    records: dict[str, StepRecord] = field(default_factory=dict)
    build_slots: PrioritySemaphore = field(default_factory=lambda: PrioritySemaphore(32))
    slot_tasks: set[asyncio.Task[None]] = field(default_factory=set)
    """one per build in flight: gives its build slot back when the build ends"""
    builds: BuildStats = field(default_factory=lambda: BuildStats(60.0))
    resumed: bool = False
    """this process continues a run another process started (its builds are not in project_builds)"""
    project_builds: dict[tuple[str, str], list[tuple[float, asyncio.Future[dict[str, Any]]]]] = field(
        default_factory=dict
    )
    """(project, source deployment) → builds started in this process (start time, result):
    a redeploy started after a group's env write already carries that write, so other groups adopt it"""
    active: set[str] = field(default_factory=set)
    """steps executing in this process right now"""
    paused: str = ""
    """why the run pauses (a spent quota): no further step starts; steps under way finish"""
    _steps: dict[str, Step] = field(default_factory=dict)
    _groups: dict[str, CredentialPlan] = field(default_factory=dict)
    _watcher: ReadyWatcher | None = None

    def __post_init__(self) -> None:
        for cp in self.plan.credentials:
            for s in cp.steps:
                self._steps[s.id] = s
                self._groups[s.id.split("/", 1)[0]] = cp

    # -- plan lookups -----------------------------------------------------------------
    @property
    def plan_step_ids(self) -> set[str]:
        """Ids of every step of the plan."""
        return set(self._steps)

    def step(self, step_id: str) -> Step:
        """A step of the plan by id."""
        return self._steps[step_id]

    def group_of(self, step: Step) -> CredentialPlan:
        """The credential plan a step belongs to."""
        return self._groups[gid_of(step)]

    def spec(self, step: Step) -> GroupSpec:
        """The group spec (resource ids, endpoint, fingerprints by role) stored on the first step."""
        for s in self.group_of(step).steps:
            spec = group_spec_of(s)
            if spec is not None:
                return spec
        return GroupSpec()

    def group_steps(
        self, step: Step, *, kind: StepKind | None = None, action: str | None = None
    ) -> list[Step]:
        """Steps of the same group, optionally filtered."""
        return [
            s
            for s in self.group_of(step).steps
            if (kind is None or s.kind is kind) and (action is None or s.action == action)
        ]

    def detail(self, step_id: str) -> dict[str, Any]:
        """The journaled outcome detail of a finished step (empty if none)."""
        rec = self.records.get(step_id)
        return dict(rec.detail) if rec and rec.state is StepState.DONE else {}

    def done(self, step_id: str) -> bool:
        """True when the step finished (or was skipped)."""
        rec = self.records.get(step_id)
        return rec is not None and rec.state in (StepState.DONE, StepState.SKIPPED)

    def done_at(self, step_id: str) -> float:
        """When a finished step's outcome was journaled (0 if not finished)."""
        rec = self.records.get(step_id)
        return rec.ts if rec and rec.state is StepState.DONE else 0.0

    # -- value sets ---------------------------------------------------------------------
    def put_value(self, gid: str, value_set: str, role: str, value: Secret) -> None:
        """Journal one value (encrypted) before anything uses it."""
        self.journal.put_secret(self.run_id, f"{gid}:{value_set}:{role}", value)

    def has_value(self, gid: str, value_set: str, role: str) -> bool:
        """True when the journal holds this value."""
        return self.journal.has_secret(self.run_id, f"{gid}:{value_set}:{role}")

    def get_value(self, gid: str, value_set: str, role: str) -> Secret | None:
        """One value from the journal, or ``None``."""
        if not self.has_value(gid, value_set, role):
            return None
        return self.journal.get_secret(self.run_id, f"{gid}:{value_set}:{role}")

    def values(self, gid: str, value_set: str) -> dict[str, Secret]:
        """Every value of a set (``role → Secret``)."""
        prefix = f"{gid}:{value_set}:"
        return {
            name[len(prefix) :]: self.journal.get_secret(self.run_id, name)
            for name in self.journal.secret_fingerprints(self.run_id)
            if name.startswith(prefix)
        }

    def fingerprints(self, gid: str, value_set: str) -> dict[str, str]:
        """``role → fingerprint`` of a set (no decryption)."""
        prefix = f"{gid}:{value_set}:"
        return {
            name[len(prefix) :]: fp
            for name, fp in self.journal.secret_fingerprints(self.run_id).items()
            if name.startswith(prefix)
        }

    # -- clients ------------------------------------------------------------------------
    @property
    def vercel(self) -> VercelAPI:
        """The Vercel client (:raises RotationError: not configured)."""
        if self.providers.vercel is None:
            raise RotationError("VERCEL_TOKEN is not set", hint="export it or pass --env-file")
        return self.providers.vercel

    @property
    def watcher(self) -> ReadyWatcher:
        """The one watcher every wait for a build goes through (created on first use)."""
        if self._watcher is None:
            self._watcher = ReadyWatcher(
                self.vercel,
                self.builds,
                poll_interval_s=self.options.poll_interval_s,
                timeout_s=self.options.build_timeout_s,
            )
        return self._watcher

    async def stop_watching(self) -> None:
        """Stop the build watcher, if one was started, and the slot keepers waiting on it."""
        if self._watcher is not None:
            await self._watcher.close()
        for task in list(self.slot_tasks):
            task.cancel()
        if self.slot_tasks:
            await asyncio.gather(*self.slot_tasks, return_exceptions=True)

    @property
    def github(self) -> GitHubAPI:
        """The GitHub client."""
        if self.providers.github is None:
            raise RotationError("GITHUB_TOKEN is not set", hint="export it or pass --env-file")
        return self.providers.github

    @property
    def upstash(self) -> DeveloperAPI:
        """The Upstash Developer API client."""
        if self.providers.upstash is None:
            raise RotationError(
                "UPSTASH_EMAIL / UPSTASH_API_KEY are not set", hint="export them or pass --env-file"
            )
        return self.providers.upstash

    @property
    def qstash(self) -> QStashAPI:
        """The QStash client."""
        if self.providers.qstash is None:
            raise RotationError("QSTASH_TOKEN is not set", hint="export it or pass --env-file")
        return self.providers.qstash

    def index(self, product: str) -> IndexAPI:
        """The Vector or Search data client."""
        client = self.providers.vector if product == "vector" else self.providers.search
        if client is None:
            raise RotationError(f"no {product} client")
        return client

    async def qstash_token_for(self, url: str) -> Secret:
        """A QStash token of the region at ``url`` (each region has its own): :meth:`qstash_token`
        when that region accepts it, else the region's user's token from the Developer API.

        :raises RotationError: no token of that region can be found.
        """
        token = self.qstash_token()
        if not url or await self.probe_qstash(token, url) is not Probe.REJECTED:
            return token
        for cp in self.plan.credentials:  # a token of that region minted in this run
            if cp.strategy.value == "qstash_token":
                gid = cp.steps[0].id.split("/", 1)[0]
                spec = self.spec(cp.steps[0])
                new = self.get_value(gid, "new", "token")
                if new is not None and (spec.rest_url or "") == url:
                    return new
        if self.providers.upstash is not None:
            for user in await self.providers.upstash.list_qstash_users():
                if user.token is not None and user.url == url:
                    return user.token
        raise RotationError(
            f"no QStash token of the region at {url}",
            hint="QSTASH_TOKEN belongs to another region: set UPSTASH_EMAIL/UPSTASH_API_KEY so keyroll can read it",
        )

    def qstash_token(self) -> Secret:
        """The QStash token to call QStash with: a token minted in this run wins over the config's."""
        for cp in self.plan.credentials:
            if cp.strategy.value == "qstash_token":
                gid = cp.steps[0].id.split("/", 1)[0]
                new = self.get_value(gid, "new", "token")
                if new is not None:
                    return new
        token = self.providers.config.qstash_token
        if token is None:
            raise RotationError("QSTASH_TOKEN is not set", hint="export it or pass --env-file")
        return token

    # -- probes -------------------------------------------------------------------------
    async def probe_redis(self, url: str, token: Secret, *, readonly: bool = False) -> Probe:
        """Does Redis REST accept ``token``? (401 → rejected; a reply or NOPERM → accepted)."""
        redis = self.providers.redis
        if redis is None:
            return Probe.UNKNOWN
        try:
            if readonly:
                await redis.command(url, token, "EXISTS", "keyroll:probe")
            else:
                await redis.command(url, token, "PING")
        except AuthError:
            return Probe.REJECTED
        except ProviderError as exc:
            text = str(exc)
            if "NOPERM" in text:
                return Probe.ACCEPTED
            if "WRONGPASS" in text or "Unauthorized" in text or exc.status == 401:
                return Probe.REJECTED
            return Probe.UNKNOWN
        except KeyrollError:
            return Probe.UNKNOWN
        return Probe.ACCEPTED

    async def probe_index(self, product: str, url: str, token: Secret) -> Probe:
        """Does a Vector/Search index accept ``token``?"""
        try:
            await self.index(product).info(url, token)
        except AuthError:
            return Probe.REJECTED
        except KeyrollError:
            return Probe.UNKNOWN
        return Probe.ACCEPTED

    async def probe_qstash(self, token: Secret, url: str | None = None) -> Probe:
        """Does QStash (the region at ``url``, default the configured one) accept ``token``?"""
        try:
            ok = await self.qstash.check_token(token, url=url or None)
        except KeyrollError:
            return Probe.UNKNOWN
        return Probe.ACCEPTED if ok else Probe.REJECTED

    def note(self, message: str) -> None:
        """A live-log line (no values)."""
        self.progress.note(message)

    @staticmethod
    def now() -> float:
        """Epoch seconds."""
        return time.time()


def gid_of(step: Step) -> str:
    """The group id part of a step id."""
    return step.id.split("/", 1)[0]
