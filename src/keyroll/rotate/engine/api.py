"""The rotation engine: executes a plan's DAG with a write-ahead journal.

For every step: the intent is journaled, the action runs, the outcome is journaled. Steps run
as soon as their dependencies are done (:mod:`.scheduler`). A step found ``running`` on resume
(the process died between intent and outcome) is settled by reading provider state back before
anything is repeated. Nothing changes before the checks of :mod:`.preflight` pass.

A failure before revocation restores the old values (still valid in overlap strategies),
redeploys what was redeployed, and removes what was minted (:mod:`.rollback`). After revocation
there is no going back: ``keyroll resume`` retries forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx

from keyroll.core.model import Inventory, Milestone, Plan, RunState, StepKind, StepState
from keyroll.core.priority import PrioritySemaphore
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Secret
from keyroll.core.steps import RedeployParams
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.providers.factory import Providers
from keyroll.rotate import crash
from keyroll.rotate.build_step import (
    clear_ignored_build_steps,
    restore_ignored_build_steps,
    restores_pending,
)
from keyroll.rotate.buildstats import BuildStats
from keyroll.rotate.dryrun import walk
from keyroll.rotate.engine.preflight import check_consent, preflight, refuse_unfinished
from keyroll.rotate.engine.rollback import rollback_group
from keyroll.rotate.engine.scheduler import BoundaryHook, execute
from keyroll.rotate.engine.state import TERMINAL, group_state, run_result
from keyroll.rotate.options import ApplyOptions, CredentialOutcome, HumanActions, RunResult, SecretSource
from keyroll.rotate.runtime import Runtime

__all__ = ["Engine"]


class Engine:
    """Runs plans against the providers, journaling every step.

    :param human: carries out human steps (dashboard clicks); without it a run stops there
        and ``resume`` continues.
    :param secret_source: new values for the ``manual`` strategy.
    :param http: client for deployment health probes (one is created when omitted).
    :param boundary_hook: called at every step boundary (the crash hook; tests inject their own).
    """

    def __init__(
        self,
        providers: Providers,
        journal: Journal,
        options: ApplyOptions,
        progress: Progress = NULL_PROGRESS,
        human: HumanActions | None = None,
        *,
        secret_source: SecretSource | None = None,
        http: httpx.AsyncClient | None = None,
        boundary_hook: BoundaryHook = crash.maybe_crash,
    ) -> None:
        self.providers = providers
        self.journal = journal
        self.options = options
        self.progress = progress
        self.human = human
        self.secret_source = secret_source
        self._http = http
        self._boundary = boundary_hook
        self._stale: dict[str, dict[str, str]] = {}
        """credential → {fingerprint: why}: stale or dead copies found before the run (replaced, reported)"""

    # -- public API ---------------------------------------------------------------------
    async def apply(self, plan: Plan, *, inventory: Inventory | None = None) -> RunResult:
        """Execute ``plan``; ``inventory`` carries today's values (taken when omitted).

        :raises PlanDriftError: the inventory changed since the plan was made (exit 2, nothing changed).
        :raises ConsentRequired: destructive steps without ``yes`` / cutovers without ``accept_downtime``.
        :raises UsageError: missing clients, scopes or values (nothing changed).
        """
        if inventory is None:
            from keyroll.inventory import InventoryOptions, take_inventory

            inventory = await take_inventory(self.providers, InventoryOptions(), self.progress)
        refuse_unfinished(self.journal)
        found = await preflight(
            plan,
            inventory,
            self.providers,
            self.journal,
            self.options,
            manual_values=self.secret_source is not None,
        )
        self._stale.update(found.stale)
        olds = found.olds
        if self.options.dry_run:
            return await self._dry_run(plan, inventory, olds)
        self.journal.lock()
        record = self._options_record(self.options)
        if self._stale:
            record["stale_copies"] = self._stale
        run = self.journal.start_run(plan, record, inventory)
        for cred, copies in self._stale.items():
            for fp, why in sorted(copies.items()):
                self.progress.note(f"{cred}: copy {fp} is {why}: it is replaced too")
        for gid, values in olds.items():
            for role, value in values.items():
                self.journal.put_secret(run.id, f"{gid}:old:{role}", value)
        return await self._run(run.id, plan, self.options)

    async def _dry_run(
        self, plan: Plan, inventory: Inventory, olds: dict[str, dict[str, Secret]]
    ) -> RunResult:
        """Walk every step's read-only check (:mod:`keyroll.rotate.dryrun`) against a throw-away
        journal; the result names the first step the real run would fail at."""
        started = time.time()
        failure: dict[str, Any] | None
        with tempfile.TemporaryDirectory(prefix="keyroll-dry-") as tmp:
            journal = Journal.open(Path(tmp) / "journal.db", JournalKey.generate(), create=True)
            try:
                run = journal.start_run(plan, {"dry_run": True}, inventory)
                for gid, values in olds.items():
                    for role, value in values.items():
                        journal.put_secret(run.id, f"{gid}:old:{role}", value)
                real, self.journal = self.journal, journal
                rt = self._runtime(run.id, plan, self.options)
                try:
                    failure = await walk(rt, plan)
                finally:
                    self.journal = real
                    await self._close(rt)
            finally:
                journal.close()
        outcomes = tuple(
            CredentialOutcome(
                cp.credential,
                cp.strategy,
                Milestone.WOULD_FAIL
                if failure and failure["credential"] == cp.credential
                else Milestone.PENDING,
                failure["error"] if failure and failure["credential"] == cp.credential else "",
            )
            for cp in plan.credentials
        )
        extra: dict[str, Any] = {
            "steps": len(plan.steps),
            "destructive": [s.description for s in plan.steps if s.destructive],
        }
        if failure:
            extra["would_fail"] = failure
        return RunResult(
            "",
            RunState.FAILED if failure else RunState.DONE,
            outcomes,
            started,
            time.time(),
            dry_run=True,
            extra=extra,
        )

    async def _ended(
        self, run_id: str, plan: Plan, state: RunState, started: float, stored: dict[str, Any]
    ) -> RunResult:
        """A run that already ended: nothing to do, except putting back a project setting (an
        Ignored Build Step) whose restore failed when it ended — the journal still holds it."""
        extra: dict[str, Any] = {"nothing_to_do": True}
        rt = self._runtime(run_id, plan, self._merged_options(stored))
        if restores_pending(rt):
            self.journal.lock()
            extra["restored_build_steps"] = await restore_ignored_build_steps(rt)
        result = run_result(run_id, plan, self.journal.step_records(run_id), started)
        return replace(result, state=state, extra=extra)

    async def resume(self, run_id: str | None = None) -> RunResult:
        """Continue an interrupted or failed run (latest by default).

        :raises JournalError: no such run, or another process is running it.
        """
        run = self.journal.run(run_id)
        plan = self.journal.plan(run.id)
        if run.state in TERMINAL:
            return await self._ended(run.id, plan, run.state, run.started_at, run.options)
        self.journal.lock()
        options = self._merged_options(run.options)
        records = self.journal.step_records(run.id)
        done = {sid for sid, r in records.items() if r.state in (StepState.DONE, StepState.SKIPPED)}
        check_consent(plan, options, done)
        self.journal.set_run_state(
            run.id, RunState.RUNNING, detail={"resumed": True, "options": self._options_record(options)}
        )
        return await self._run(run.id, plan, options, resumed=True)

    async def rollback(self, run_id: str | None = None) -> RunResult:
        """Restore the old values of every credential of a run that is not yet revoked.

        :raises RotationError: the run finished — its old credentials are revoked.
        """
        run = self.journal.run(run_id)
        plan = self.journal.plan(run.id)
        if run.state in TERMINAL:  # done: the old credentials are revoked; nothing to roll back
            return await self._ended(run.id, plan, run.state, run.started_at, run.options)
        self.journal.lock()
        options = self._merged_options(run.options)
        rt = self._runtime(run.id, plan, options)
        try:
            # the rollback's redeploys would be cancelled too: clear again for them, restore after
            await clear_ignored_build_steps(rt)
            rt.records = self.journal.step_records(run.id)
            for cp in plan.credentials:
                state = group_state(cp, rt.records)
                if state in (Milestone.DONE, Milestone.ROLLED_BACK):
                    continue
                await rollback_group(rt, cp, "requested with `keyroll rollback`")
            rt.records = self.journal.step_records(run.id)
            return self._finish(rt, run.started_at)
        finally:
            with contextlib.suppress(BaseException):
                await asyncio.shield(restore_ignored_build_steps(rt))
            await self._close(rt)

    # -- execution ----------------------------------------------------------------------
    @staticmethod
    def _options_record(options: ApplyOptions) -> dict[str, Any]:
        rec = asdict(options)
        rec["file_paths"] = [str(p) for p in options.file_paths]
        return rec

    def _merged_options(self, stored: dict[str, Any]) -> ApplyOptions:
        o = self.options
        return replace(
            o,
            accept_downtime=o.accept_downtime or bool(stored.get("accept_downtime")),
            yes=o.yes or bool(stored.get("yes")),
            rewrite_files=o.rewrite_files or bool(stored.get("rewrite_files")),
            force_revoke=o.force_revoke or bool(stored.get("force_revoke")),
            bypass_ignored_build_step=o.bypass_ignored_build_step
            or bool(stored.get("bypass_ignored_build_step")),
            health_path=o.health_path if o.health_path is not None else stored.get("health_path"),
        )

    def _runtime(self, run_id: str, plan: Plan, options: ApplyOptions) -> Runtime:
        http = self._http or httpx.AsyncClient(timeout=15.0, follow_redirects=False)
        estimate = max(
            (
                RedeployParams.from_params(s.params).build_estimate_s
                for s in plan.steps
                if s.kind is StepKind.REDEPLOY
            ),
            default=60.0,
        )
        return Runtime(
            run_id=run_id,
            plan=plan,
            providers=self.providers,
            journal=self.journal,
            options=options,
            progress=self.progress,
            http=http,
            human=self.human,
            secret_source=self.secret_source,
            build_slots=PrioritySemaphore(max(1, options.max_parallel_builds)),
            builds=BuildStats(estimate),
        )

    async def _close(self, rt: Runtime) -> None:
        await rt.stop_watching()
        if self._http is None:
            with contextlib.suppress(Exception):
                await rt.http.aclose()

    async def _run(
        self, run_id: str, plan: Plan, options: ApplyOptions, *, resumed: bool = False
    ) -> RunResult:
        rt = self._runtime(run_id, plan, options)
        rt.resumed = resumed
        started = self.journal.run(run_id).started_at
        try:
            await clear_ignored_build_steps(rt)
            await execute(rt, self._boundary)
            await restore_ignored_build_steps(rt)
            return self._finish(rt, started)
        except BaseException:
            with contextlib.suppress(BaseException):
                await asyncio.shield(restore_ignored_build_steps(rt))
            with contextlib.suppress(Exception):
                self.journal.set_run_state(run_id, RunState.INTERRUPTED, detail={"reason": "stopped"})
            raise
        finally:
            await self._close(rt)

    # -- results ------------------------------------------------------------------------
    def _finish(self, rt: Runtime, started: float) -> RunResult:
        rt.records = self.journal.step_records(rt.run_id)
        result = run_result(rt.run_id, rt.plan, rt.records, started)
        self.journal.set_run_state(
            rt.run_id,
            result.state,
            detail={"credentials": {c.credential: c.state for c in result.credentials}},
        )
        return replace(result, api_calls=self.providers.api_calls())
