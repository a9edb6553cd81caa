"""The rotation engine: executes a plan's DAG with a write-ahead journal.

For every step: the intent is journaled, the action runs, the outcome is journaled. Steps run
as soon as their dependencies are done (per-project pipelines; builds share
``max_parallel_builds`` slots). A step found ``running`` on resume (the process died between
intent and outcome) is settled by reading provider state back before anything is repeated.

A failure before revocation restores the old values (still valid in overlap strategies),
redeploys what was redeployed, and removes what was minted. After revocation there is no going
back: ``keyroll resume`` retries forward.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx

from keyroll.core.errors import (
    AuthError,
    ConsentRequired,
    ExitCode,
    JournalError,
    RotationError,
    UsageError,
)
from keyroll.core.model import (
    CredentialKind,
    CredentialPlan,
    Inventory,
    Plan,
    RunState,
    Step,
    StepKind,
    StepState,
    Strategy,
)
from keyroll.core.priority import PrioritySemaphore, urgent
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.roles import credential_role
from keyroll.core.secret import Secret
from keyroll.journal.events import StepRecord
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
from keyroll.rotate.distribute import write_locations
from keyroll.rotate.dryrun import walk
from keyroll.rotate.gates import ACTIONS as GATE_ACTIONS
from keyroll.rotate.gates import probe_values
from keyroll.rotate.options import ApplyOptions, CredentialOutcome, HumanActions, RunResult, SecretSource
from keyroll.rotate.planner import inventory_digest, validate_plan
from keyroll.rotate.redeploy import await_ready, reconcile_redeploy, redeploy
from keyroll.rotate.runtime import Action, Probe, QuotaPaused, Runtime, WaitingForHuman, gid_of
from keyroll.rotate.strategies import ACTIONS as STRATEGY_ACTIONS
from keyroll.rotate.strategies import RESTORE_ON_FAILURE, UNDO_MINT
from keyroll.rotate.strategies.common import describe_error

__all__ = ["ACTIONS", "Engine", "PlanDriftError", "group_state"]

MILESTONES = ("pending", "minted", "distributed", "deployed", "verified", "revoked", "done")
TERMINAL = frozenset({RunState.DONE, RunState.ROLLED_BACK, RunState.CLOSED})
"""Run states nothing more happens in (``resume`` and ``rollback`` have nothing to do)."""


class PlanDriftError(RotationError):
    """The plan was made for another state of the world; nothing was changed."""

    exit_code = ExitCode.USAGE


async def _write(step: Step, rt: Runtime) -> dict[str, Any]:
    gid = gid_of(step)
    values = rt.values(gid, str(step.params["values"]))
    return await write_locations(
        rt,
        str(step.params["target"]),
        list(step.params["locations"]),
        values,
        rt.spec(step),
        old=rt.values(gid, "old"),
        gid=gid,
    )


ACTIONS: dict[str, Action] = {
    "write": Action(_write),
    "redeploy": Action(redeploy, reconcile_redeploy),
    "await": Action(await_ready),
    **GATE_ACTIONS,
    **STRATEGY_ACTIONS,
}


def _overlap_builds_pending(plan: Plan, done: set[str], stopped: set[str]) -> bool:
    """A credential without an outage window still has redeploys to make or wait for."""
    return any(
        s.kind in (StepKind.REDEPLOY, StepKind.AWAIT_READY) and s.id not in done
        for cp in plan.credentials
        if not cp.requires_downtime_consent and gid_of(cp.steps[0]) not in stopped
        for s in cp.steps
    )


def _is_revoke(step: Step) -> bool:
    return step.destructive and (
        step.kind in (StepKind.REVOKE, StepKind.HUMAN) or bool(step.params.get("cutover_reset"))
    )


def group_state(cp: CredentialPlan, records: dict[str, StepRecord]) -> str:
    """Where a credential is in pending → minted → distributed → deployed → verified → revoked →
    done (or ``rolled_back`` / ``failed`` / ``waiting``), from its journaled steps."""
    gid = cp.steps[0].id.split("/", 1)[0]
    rb = records.get(f"{gid}/rollback")
    if rb is not None and rb.state is StepState.ROLLED_BACK:
        return "rolled_back"

    def ok(s: Step) -> bool:
        r = records.get(s.id)
        return r is not None and r.state in (StepState.DONE, StepState.SKIPPED)

    if all(ok(s) for s in cp.steps):
        return "done"
    if any((r := records.get(s.id)) is not None and r.state is StepState.FAILED for s in cp.steps):
        return "failed"
    if any(
        (r := records.get(s.id)) is not None and r.state is StepState.PENDING and r.detail.get("waiting")
        for s in cp.steps
    ):
        return "waiting"
    phase1 = [s for s in cp.steps if int(s.params.get("phase", 1) or 1) == 1]
    reached = "pending"
    if cp.steps and ok(cp.steps[0]):
        reached = "minted"
    writes = [s for s in phase1 if s.kind is StepKind.WRITE_ENV]
    if reached == "minted" and all(ok(s) for s in writes):
        reached = "distributed"
    readies = [s for s in phase1 if s.kind is StepKind.AWAIT_READY]
    if reached == "distributed" and all(ok(s) for s in readies):
        reached = "deployed"
    probes = [s for s in cp.steps if s.params.get("action") == "probe_new"]
    if reached == "deployed" and probes and ok(probes[0]):
        reached = "verified"
    if any(_is_revoke(s) and ok(s) for s in cp.steps):
        reached = "revoked" if MILESTONES.index(reached) < MILESTONES.index("revoked") else reached
    return reached


def _old_values(inv: Inventory, cp: CredentialPlan, spec: dict[str, Any]) -> dict[str, Secret]:
    """The current values of a group's credentials by role (what a rollback restores)."""
    out: dict[str, Secret] = {}
    live = [str(f) for f in spec.get("credentials", {}).values()]
    # the live value of each role first (a stale or dead copy never stands for the credential)
    ordered = live + [f for f in spec.get("fingerprints", [cp.credential]) if f not in live]
    for fp in ordered:
        cred = inv.credential(fp)
        if cred is None or cred.value is None:
            continue
        if cp.strategy is Strategy.MANUAL:
            out.setdefault("value", cred.value)
            continue
        out.setdefault(credential_role(cred), cred.value)
        if cred.kind is CredentialKind.URL_WITH_PASSWORD:
            parts = urllib.parse.urlsplit(cred.value.reveal())
            if parts.password:
                out.setdefault("password", Secret(urllib.parse.unquote(parts.password)))
    user = str(spec.get("acl_user") or "")
    if cp.strategy in (Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD):
        out["username"] = Secret(user or "default")
    elif cp.strategy is Strategy.ADAPTER and user:
        out["username"] = Secret(user)
    return out


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
        boundary_hook: Callable[[Plan, str, Step], None] = crash.maybe_crash,
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

    # -- pre-flight -----------------------------------------------------------------------
    def _check_consent(self, plan: Plan, options: ApplyOptions, done: set[str] | None = None) -> None:
        done = done or set()
        cutover = [
            cp
            for cp in plan.credentials
            if cp.requires_downtime_consent and not all(s.id in done for s in cp.steps)
        ]
        if cutover and not options.accept_downtime:
            raise ConsentRequired(
                f"{len(cutover)} credential(s) need a cutover with a short outage ({cutover[0].credential}, {cutover[0].strategy})",
                hint="pass --accept-downtime or set accept_downtime = true in keyroll.toml [policy] (recorded in the journal and the report)",
            )
        destructive = [s for s in plan.steps if s.destructive and s.id not in done]
        if destructive and not options.yes:
            raise ConsentRequired(
                f"{len(destructive)} destructive step(s) need consent (e.g. {destructive[0].description})",
                hint="pass --yes or confirm interactively",
            )

    async def _preflight(self, plan: Plan, inv: Inventory) -> dict[str, dict[str, Secret]]:
        problems = validate_plan(plan)
        if problems:
            raise UsageError(
                f"the plan is malformed: {problems[0]}", hint="make a new one with `keyroll plan`"
            )
        digest = inventory_digest(inv)
        if digest != plan.inventory_digest:
            raise PlanDriftError(
                "the plan was made for a different state than today's inventory (drift)",
                hint="something changed since `keyroll plan`; run it again and review the new plan",
            )
        self._check_consent(plan, self.options)
        if not self.journal.has_key:
            raise JournalError(
                "no journal key: credentials must be journaled encrypted before they are used",
                hint="set KEYROLL_JOURNAL_KEY (32+ characters) or use an OS keyring",
            )
        olds: dict[str, dict[str, Secret]] = {}
        need_vercel = any(
            s.params.get("target") in ("vercel", "shared") or s.kind is StepKind.REDEPLOY for s in plan.steps
        )
        if need_vercel and self.providers.vercel is None:
            raise UsageError(
                "the plan writes Vercel env vars but VERCEL_TOKEN is not set",
                hint="export it or pass --env-file",
            )
        github_scopes: dict[tuple[str, str], dict[str, Any]] = {}
        group_problems: list[UsageError] = []
        for cp in plan.credentials:
            spec = dict(next((s.params["group"] for s in cp.steps if "group" in s.params), {}))
            gid = cp.steps[0].id.split("/", 1)[0]
            old = _old_values(inv, cp, spec)
            await self._fill_from_provider(cp, spec, old)
            olds[gid] = old
            if spec.get("stale"):
                self._stale[cp.credential] = dict(spec["stale"])
            try:
                self._check_group(cp, spec, old)
            except UsageError as exc:  # every credential's problem at once, not one per attempt
                group_problems.append(exc)
            for s in cp.steps:
                if s.params.get("target") == "github":
                    for loc in s.params["locations"]:
                        github_scopes[(loc["repo"], loc.get("scope", "repo"))] = loc
        if len(group_problems) == 1:
            raise group_problems[0]
        if group_problems:
            raise UsageError(
                f"{len(group_problems)} credentials cannot be rotated as planned: "
                + "; ".join(f"({i}) {p.message}" for i, p in enumerate(group_problems, 1)),
                hint="; ".join(dict.fromkeys(p.hint for p in group_problems if p.hint)),
            )
        await self._check_qstash_token(plan)
        if github_scopes:
            if self.providers.github is None:
                raise UsageError(
                    "the plan updates GitHub Actions secrets but GITHUB_TOKEN is not set",
                    hint="export it or pass --env-file",
                )
            from keyroll.rotate.distribute import _scope

            async def key(loc: dict[str, Any]) -> None:
                assert self.providers.github is not None
                await self.providers.github.get_public_key(_scope(loc))  # missing scope → AuthError (exit 2)

            await asyncio.gather(*(key(loc) for loc in github_scopes.values()))
        return olds

    async def _check_qstash_token(self, plan: Plan) -> None:
        """The QStash token keyroll runs with must work before the first write when the plan calls
        QStash with it (signing keys roll; a token rotated earlier and not updated is dead)."""
        token = self.providers.config.qstash_token
        if self.providers.qstash is None or token is None:
            return
        if not any(cp.strategy is Strategy.QSTASH_SIGNING for cp in plan.credentials):
            return
        try:
            await self.providers.qstash.get_keys(token)
        except AuthError:
            source = self.providers.config.sources.get("QSTASH_TOKEN", "the environment")
            raise UsageError(
                f"QSTASH_TOKEN ({token.fingerprint}, from {source}) is rejected by QStash",
                hint="it was probably rotated: put the current token there (Upstash console → QStash), "
                "check with `keyroll doctor`",
            ) from None

    def _refuse_unfinished(self) -> None:
        """A new run must not start while an earlier one holds minted-but-unrevoked state."""
        last = self.journal.latest_run()
        if last is None or last.state in TERMINAL:
            return
        plan = self.journal.plan(last.id)
        records = self.journal.step_records(last.id)
        open_groups = [
            cp.credential
            for cp in plan.credentials
            if group_state(cp, records) not in ("done", "rolled_back")
        ]
        if open_groups:
            raise UsageError(
                f"run {last.id} is unfinished ({len(open_groups)} credential(s), e.g. {open_groups[0]})",
                hint="finish it with `keyroll resume`, undo it with `keyroll rollback`, or close it with "
                f"`keyroll abandon {last.id} --reason …` first",
            )

    async def _fill_from_provider(
        self, cp: CredentialPlan, spec: dict[str, Any], old: dict[str, Secret]
    ) -> None:
        """Native Redis held by the default user: the Developer API says which values are live.

        A copy of another value in the same role is stale or dead: it is replaced like the others
        and reported (``spec["stale"]``), never a reason to stop (issue #17, case 1)."""
        if (
            cp.strategy is not Strategy.REDIS_ACL
            or spec.get("management") != "native"
            or spec.get("acl_user") not in ("", "default")
        ):
            return
        if self.providers.upstash is None or not spec.get("resource_id"):
            return
        db = await self.providers.upstash.get_redis(spec["resource_id"])
        known = dict(spec.get("credentials", {}))
        stale = dict(spec.get("stale", {}))
        for role, value in (
            ("rest_token", db.rest_token),
            ("readonly_rest_token", db.read_only_rest_token),
            ("password", db.password),
        ):
            if value is None:
                continue
            if role in known and known[role] != value.fingerprint:
                stale.setdefault(known[role], "not the live value the Developer API lists (a stale copy)")
            known[role] = value.fingerprint
            old[role] = value
        spec["credentials"], spec["stale"] = known, stale
        if not spec.get("rest_url"):
            spec["rest_url"] = db.rest_url

    def _check_group(self, cp: CredentialPlan, spec: dict[str, Any], old: dict[str, Secret]) -> None:
        name = spec.get("resource_name") or cp.credential
        roles = {
            loc["role"]
            for s in cp.steps
            for loc in s.params.get("locations", [])
            if s.params.get("action") == "write"
        }
        if cp.strategy in RESTORE_ON_FAILURE and cp.strategy is not Strategy.MANUAL:
            missing = sorted(
                r for r in roles if r not in old and not (r == "url" and "password" in old) and r != "value"
            )
            if missing:
                raise UsageError(
                    f"cannot rotate {name} safely: the current {', '.join(missing)} value is unknown, so a failure could not be rolled back",
                    hint="let keyroll read it (Developer API credentials, or a non-sensitive copy), or use --strategy CRED=manual",
                )
        if cp.strategy is Strategy.REDIS_ACL and "rest_token" not in old and self.providers.upstash is None:
            raise UsageError(
                f"no token can run ACL commands on {name}",
                hint="set UPSTASH_EMAIL/UPSTASH_API_KEY, or keep a readable copy of the default REST token",
            )
        if cp.strategy is Strategy.QSTASH_SIGNING and self.providers.config.qstash_token is None:
            raise UsageError(
                "rotating QStash signing keys needs QSTASH_TOKEN", hint="export it or pass --env-file"
            )
        if (
            cp.strategy in (Strategy.QSTASH_TOKEN, Strategy.INDEX_RESET, Strategy.REDIS_CUTOVER)
            and self.providers.upstash is None
        ):
            raise UsageError(
                f"resetting {name} needs the Upstash Developer API",
                hint="set UPSTASH_EMAIL and UPSTASH_API_KEY",
            )
        if (
            cp.strategy is Strategy.REDIS_ACL
            and spec.get("revoke_mode") == "reset_default"
            and self.providers.upstash is None
        ):
            raise UsageError(
                f"resetting the default password of {name} needs the Upstash Developer API",
                hint="set UPSTASH_EMAIL and UPSTASH_API_KEY",
            )
        if cp.strategy is Strategy.MANUAL and self.secret_source is None:
            raise UsageError(
                f"{cp.credential} is rotated manually: a new value is needed",
                hint="pass --value-file FP=PATH (or pipe it on stdin)",
            )

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
        self._refuse_unfinished()
        olds = await self._preflight(plan, inventory)
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
                "would fail" if failure and failure["credential"] == cp.credential else "pending",
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
        result = self._result(run_id, plan, self.journal.step_records(run_id), started)
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
        self._check_consent(plan, options, done)
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
                if state in ("done", "rolled_back"):
                    continue
                await self._rollback_group(rt, cp, "requested with `keyroll rollback`")
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
                float(s.params.get("build_estimate_s", 0) or 0)
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
            await self._execute(rt)
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

    async def _execute(self, rt: Runtime) -> None:
        plan = rt.plan
        rt.records = self.journal.step_records(rt.run_id)
        done = {sid for sid, r in rt.records.items() if r.state in (StepState.DONE, StepState.SKIPPED)}
        stopped: set[str] = set()
        unfinished_rollbacks: list[CredentialPlan] = []
        for cp in plan.credentials:
            gid = gid_of(cp.steps[0])
            if group_state(cp, rt.records) == "rolled_back":
                stopped.add(gid)
                continue
            rb = rt.records.get(f"{gid}/rollback")
            if rb is not None and (
                rb.state is StepState.RUNNING
                or (rb.state is StepState.FAILED and rb.detail.get("rollback") != "not possible")
            ):
                # a rollback was under way: finish it, never go forward on restored values
                stopped.add(gid)
                unfinished_rollbacks.append(cp)
        failed: dict[str, BaseException] = {}
        tasks: dict[str, Any] = {
            gid_of(cp.steps[0]): rt.progress.task(f"{cp.strategy} {cp.credential}", total=len(cp.steps))
            for cp in plan.credentials
        }
        for cp in plan.credentials:
            n = sum(1 for s in cp.steps if s.id in done)
            if n:
                rt.progress.advance(tasks[gid_of(cp.steps[0])], n)
        for step in plan.steps:
            rec = rt.records.get(step.id)
            if step.kind is StepKind.AWAIT_READY and rec is not None and rec.state is StepState.FAILED:
                # the build it waited for ended ERROR/CANCELED: retrying means building again
                done.discard(str(step.params.get("redeploy_step")))
        started: set[str] = set()
        running: dict[asyncio.Task[None], Step] = {}
        try:
            await self._schedule(rt, plan, done, started, running, stopped, failed, tasks)
        except BaseException:
            # stopped (Ctrl-C, cancellation): no step may outlive the engine or touch a closed
            # journal; an interrupted step keeps its intent without outcome and is read back on resume
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise
        for cp in unfinished_rollbacks:
            await self._rollback_group(rt, cp, "resuming an interrupted rollback")
        for cp in plan.credentials:
            gid = gid_of(cp.steps[0])
            if gid in failed:
                await self._rollback_group(rt, cp, describe_error(failed[gid]))
            rt.progress.finish(tasks[gid])

    async def _schedule(
        self,
        rt: Runtime,
        plan: Plan,
        done: set[str],
        started: set[str],
        running: dict[asyncio.Task[None], Step],
        stopped: set[str],
        failed: dict[str, BaseException],
        tasks: dict[str, Any],
    ) -> None:
        """Start every step whose dependencies are done; record how each ends."""
        while True:
            deferred: list[Step] = []
            for step in plan.steps:
                gid = gid_of(step)
                if step.id in done or step.id in started or gid in stopped or rt.paused:
                    continue
                if all(d in done for d in step.depends_on):
                    if step.params.get("cutover_reset") and _overlap_builds_pending(plan, done, stopped):
                        deferred.append(step)  # open the window when no other build queues ahead
                        continue
                    started.add(step.id)
                    running[asyncio.create_task(self._step(rt, step))] = step
            if not running:
                for step in deferred:  # nothing else can move: never wait forever
                    started.add(step.id)
                    running[asyncio.create_task(self._step(rt, step))] = step
            if not running:
                break
            finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                step = running.pop(task)
                gid = gid_of(step)
                exc = task.exception()
                if exc is None:
                    done.add(step.id)
                    rt.progress.advance(tasks[gid])
                    continue
                stopped.add(gid)
                if isinstance(exc, QuotaPaused):
                    if not rt.paused:
                        rt.note(f"paused: {exc.message}")
                    rt.paused = exc.message
                    continue
                if isinstance(exc, WaitingForHuman):
                    rt.note(f"{step.credential}: {exc.message}")
                    continue
                if not isinstance(exc, Exception):
                    raise exc
                failed[gid] = exc
                rt.note(f"{step.credential}: {step.id} failed: {describe_error(exc)}")

    async def _step(self, rt: Runtime, step: Step) -> None:
        # a cutover's steps go first wherever keyroll queues (rate limits, build slots): its
        # window lasts until its builds are READY
        rt.active.add(step.id)
        try:
            with urgent(rt.group_of(step).requires_downtime_consent):
                await self._run_step(rt, step)
        finally:
            rt.active.discard(step.id)

    async def _run_step(self, rt: Runtime, step: Step) -> None:
        action = ACTIONS.get(str(step.params.get("action")))
        if action is None:
            raise UsageError(
                f"step {step.id} has an unknown action", hint="make a new plan with this keyroll version"
            )
        rec = rt.records.get(step.id)
        j = self.journal
        when = step.params.get("when")
        if isinstance(when, dict) and not rt.detail(str(when.get("step"))).get(str(when.get("key"))):
            # a conditional step (e.g. the emergency cutover after a reset that killed the ACL
            # user's token): its condition did not happen, so it is skipped, not run
            self._boundary(rt.plan, "before", step)
            self._outcome(
                rt,
                step,
                StepState.SKIPPED,
                {"skipped": f"{when.get('key')} not reported by {when.get('step')}"},
            )
            self._boundary(rt.plan, "after", step)
            return
        # an intent without outcome, a failure that may have come after the action (a 5xx
        # answer to a reset that happened), or a step left to a person who may have done it
        # since: read provider state back before acting (or asking) again
        if (
            rec is not None
            and rec.state in (StepState.RUNNING, StepState.FAILED, StepState.PENDING)
            and action.reconcile is not None
        ):
            detail = await action.reconcile(step, rt)
            if detail is not None:
                self._outcome(rt, step, StepState.DONE, {**detail, "reconciled": True})
                return
        intent: dict[str, Any] = {"description": step.description}
        if step.destructive:
            intent.update(destructive=True, consent="--yes" if rt.options.yes else "interactive")
            if rt.options.force_revoke:
                intent["force_revoke_allowed"] = True
            if step.params.get("cutover_reset"):
                intent["accept_downtime"] = rt.options.accept_downtime
                intent["accept_downtime_source"] = rt.options.sources.get(
                    "accept_downtime", "--accept-downtime" if rt.options.accept_downtime else ""
                )
        e = j.append(
            rt.run_id,
            step.id,
            "intent",
            StepState.RUNNING,
            kind=step.kind,
            credential=step.credential,
            project_id=step.project_id,
            detail=intent,
        )
        rt.records[step.id] = StepRecord(step.id, StepState.RUNNING, intent, intent, e.ts)
        self._boundary(rt.plan, "before", step)
        try:
            detail = await action.run(step, rt)
        except WaitingForHuman as exc:
            self._outcome(rt, step, StepState.PENDING, {"waiting": exc.message})
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._outcome(
                rt, step, StepState.FAILED, {"error": describe_error(exc), "error_type": type(exc).__name__}
            )
            raise
        self._boundary(rt.plan, "after", step)
        state = StepState.SKIPPED if detail.get("skipped") else StepState.DONE
        self._outcome(rt, step, state, detail)

    def _outcome(self, rt: Runtime, step: Step, state: StepState, detail: dict[str, Any]) -> None:
        e = self.journal.append(
            rt.run_id,
            step.id,
            "outcome",
            state,
            kind=step.kind,
            credential=step.credential,
            project_id=step.project_id,
            detail=detail,
        )
        prev = rt.records.get(step.id)
        rt.records[step.id] = StepRecord(step.id, state, e.detail, prev.intent_detail if prev else {}, e.ts)

    # -- rollback -----------------------------------------------------------------------
    async def _rollback_group(self, rt: Runtime, cp: CredentialPlan, reason: str) -> None:
        gid = gid_of(cp.steps[0])
        records = rt.records

        def log(
            sid: str,
            phase: str,
            state: StepState,
            kind: StepKind | None = None,
            project_id: str = "",
            *,
            detail: dict[str, Any] | None = None,
        ) -> None:
            """One journal entry of this credential's rollback."""
            self.journal.append(
                rt.run_id,
                sid,
                phase,
                state,
                kind=kind,
                credential=cp.credential,
                project_id=project_id,
                detail=detail,
            )

        touched = {
            sid
            for sid, r in records.items()
            if r.state in (StepState.RUNNING, StepState.DONE, StepState.FAILED, StepState.SKIPPED)
        }
        revoked = [
            s
            for s in cp.steps
            if _is_revoke(s)
            and s.id in touched
            and not (
                records[s.id].state in (StepState.FAILED, StepState.PENDING)
                and records[s.id].detail.get("error_type") in ("GateFailed", "WaitingForHuman", None)
            )
        ]
        uncertain = [
            s
            for s in cp.steps
            if _is_revoke(s) and s.id in records and records[s.id].state is not StepState.DONE
        ]
        if uncertain and not any(records[s.id].state is StepState.DONE for s in revoked):
            # a revoke that failed, never reported back, or was left to a person may have happened
            # (the dashboard reset done while the run waited): the provider knows
            verdict = await self._old_values_verdict(rt, cp)
            if verdict is Probe.ACCEPTED:
                revoked = []
            elif verdict is Probe.REJECTED:
                revoked = uncertain
        rb_id = f"{gid}/rollback"
        changed = [s.id for s in cp.steps if s.id in touched and records[s.id].state is not StepState.FAILED]
        if not revoked and cp.strategy not in RESTORE_ON_FAILURE and not changed:
            unchanged: dict[str, Any] = {"reason": reason, "nothing_changed": True, "problems": []}
            log(rb_id, "outcome", StepState.ROLLED_BACK, detail=unchanged)
            rt.records[rb_id] = StepRecord(rb_id, StepState.ROLLED_BACK, unchanged, {}, time.time())
            rt.note(f"{cp.credential}: rolled back (nothing had changed)")
            return
        if revoked or cp.strategy not in RESTORE_ON_FAILURE:
            # the old value is dead: only forward is left (the new values are in the journal);
            # `keyroll abandon` closes the run with a reason if forward cannot work either
            why = "already revoked" if revoked else f"{cp.strategy} cannot restore old values"
            log(
                rb_id,
                "note",
                StepState.FAILED,
                detail={"rollback": "not possible", "why": why, "reason": reason},
            )
            rt.note(
                f"{cp.credential}: no rollback ({why}); `keyroll resume` finishes it forward, "
                f"`keyroll abandon {rt.run_id} --reason …` closes the run"
            )
            return
        log(rb_id, "intent", StepState.RUNNING, detail={"reason": reason})
        rt.note(f"{cp.credential}: rolling back ({reason})")
        old = rt.values(gid, "old")
        restored: list[str] = []
        problems: list[str] = []
        writes = [s for s in cp.steps if s.params.get("action") == "write" and s.id in touched]
        for s in writes:
            specs = [
                loc
                for loc in s.params["locations"]
                if loc["role"] in old
                or (loc["role"] == "url" and "password" in old)
                or loc["role"] == "value"
            ]
            if not specs:
                continue
            sid = f"{gid}/rollback/{s.id.split('/', 1)[1]}"
            log(sid, "intent", StepState.RUNNING, StepKind.WRITE_ENV, s.project_id)
            try:
                detail = await write_locations(
                    rt,
                    str(s.params["target"]),
                    specs,
                    old,
                    rt.spec(s),
                    old=rt.values(gid, str(s.params["values"])),
                    restore=True,
                )
                log(sid, "outcome", StepState.ROLLED_BACK, StepKind.WRITE_ENV, s.project_id, detail=detail)
                restored.append(s.id)
            except Exception as exc:
                problems.append(f"{s.id}: {describe_error(exc)}")
                log(
                    sid,
                    "outcome",
                    StepState.FAILED,
                    StepKind.WRITE_ENV,
                    s.project_id,
                    detail={"error": describe_error(exc)},
                )
        redeployed: list[dict[str, Any]] = []
        for s in cp.steps:
            if s.kind is not StepKind.REDEPLOY or s.id not in touched or problems:
                continue
            sid = f"{gid}/rollback/{s.id.split('/', 1)[1]}"
            log(sid, "intent", StepState.RUNNING, StepKind.REDEPLOY, s.project_id)
            try:
                refs = await self._serving_new(rt, s)
                if not refs:
                    log(
                        sid,
                        "outcome",
                        StepState.SKIPPED,
                        StepKind.REDEPLOY,
                        s.project_id,
                        detail={"reason": "no build with the new value serves"},
                    )
                    continue
                again = replace(s, id=sid, params={**s.params, "deployments": refs})
                detail = await redeploy(again, rt, written_at=time.time())
                rt.records[sid] = StepRecord(sid, StepState.DONE, detail, {}, time.time())
                ready_step = replace(
                    s, id=f"{sid}/ready", kind=StepKind.AWAIT_READY, params={"redeploy_step": sid}
                )
                ready = await await_ready(ready_step, rt)
                log(
                    sid,
                    "outcome",
                    StepState.ROLLED_BACK,
                    StepKind.REDEPLOY,
                    s.project_id,
                    detail={**detail, **ready},
                )
                redeployed.extend(detail.get("deployments", []))
            except Exception as exc:
                problems.append(f"{s.id}: {describe_error(exc)}")
                log(
                    sid,
                    "outcome",
                    StepState.FAILED,
                    StepKind.REDEPLOY,
                    s.project_id,
                    detail={"error": describe_error(exc)},
                )
        undone: dict[str, Any] = {}
        residue: list[dict[str, str]] = []
        undo = UNDO_MINT.get(cp.strategy)
        if undo is not None and cp.steps[0].id in touched and not problems:
            try:
                undone = await undo(cp.steps[0], rt)
            except Exception as exc:
                # the old values are back and serving: what this run minted is left over, and a
                # person removes it (a retry would fail the same way — the rollback ends here)
                residue.append(
                    {
                        "what": f"{cp.steps[0].description} (created by this run)",
                        "do": f"remove it by hand (keyroll could not: {describe_error(exc)})",
                    }
                )
        detail = {
            "reason": reason,
            "restored": restored,
            "redeployed": redeployed,
            "undone": undone,
            "problems": problems,
            "residue": residue,
        }
        state = StepState.ROLLED_BACK if not problems else StepState.FAILED
        log(rb_id, "outcome", state, detail=detail)
        rt.records[rb_id] = StepRecord(rb_id, state, detail, {}, time.time())
        if problems:
            rt.note(f"{cp.credential}: rollback incomplete: {problems[0]}")
        elif residue:
            rt.note(
                f"{cp.credential}: rolled back; left for a person: {residue[0]['what']} — {residue[0]['do']}"
            )
        else:
            rt.note(f"{cp.credential}: rolled back")

    async def _old_values_verdict(self, rt: Runtime, cp: CredentialPlan) -> Probe:
        """``ACCEPTED`` when the provider still accepts every old value of the group (so it was not
        revoked), ``REJECTED`` when it rejects one, ``UNKNOWN`` when it cannot tell."""
        gid = gid_of(cp.steps[0])
        old = rt.values(gid, "old")
        old.pop("username", None)
        try:
            results = await probe_values(rt, rt.spec(cp.steps[0]), old)
        except Exception:
            return Probe.UNKNOWN
        if any(r["result"] == Probe.REJECTED.value for r in results):
            return Probe.REJECTED
        if results and all(r["result"] == Probe.ACCEPTED.value for r in results):
            return Probe.ACCEPTED
        return Probe.UNKNOWN

    async def _serving_new(self, rt: Runtime, step: Step) -> list[dict[str, Any]]:
        """The source refs whose rotated build reached READY (so serves the new value): those are
        redeployed again on rollback; ERROR/CANCELED builds never served. Builds still running are
        waited for, since they would start serving the new value after the rollback."""
        rec = rt.records.get(step.id)
        builds = list((rec.detail if rec else {}).get("deployments", []))
        if rec is not None and rec.state is StepState.RUNNING:
            return list(step.params.get("deployments", []))  # unknown which builds exist: redo all
        refs = {r["deployment_id"]: r for r in step.params.get("deployments", [])}
        out: list[dict[str, Any]] = []
        for b in builds:
            deadline = time.time() + rt.options.build_timeout_s
            while True:
                state = (await rt.vercel.get_deployment(b["new"])).ready_state
                if state in ("READY", "ERROR", "CANCELED", "DELETED") or time.time() > deadline:
                    break
                await asyncio.sleep(max(rt.options.poll_interval_s, 0.01))
            if state == "READY" and b["old"] in refs:
                out.append(refs[b["old"]])
        return out

    # -- results ------------------------------------------------------------------------
    def _finish(self, rt: Runtime, started: float) -> RunResult:
        rt.records = self.journal.step_records(rt.run_id)
        result = self._result(rt.run_id, rt.plan, rt.records, started)
        self.journal.set_run_state(
            rt.run_id,
            result.state,
            detail={"credentials": {c.credential: c.state for c in result.credentials}},
        )
        return replace(result, api_calls=self.providers.api_calls())

    def _result(self, run_id: str, plan: Plan, records: dict[str, StepRecord], started: float) -> RunResult:
        outcomes = []
        waiting = ""
        for cp in plan.credentials:
            state = group_state(cp, records)
            gid = gid_of(cp.steps[0])
            error = ""
            window = None
            pairs: list[tuple[str, str]] = []
            forced = False
            for s in cp.steps:
                rec = records.get(s.id)
                if rec is None:
                    continue
                if rec.state is StepState.FAILED and not error:
                    error = str(rec.detail.get("error", ""))
                if rec.state is StepState.PENDING and rec.detail.get("waiting") and not waiting:
                    waiting = str(rec.detail["waiting"])
                if "window_s" in rec.detail:
                    window = float(rec.detail["window_s"])
                if rec.detail.get("force_revoke"):
                    forced = True
                if s.kind is StepKind.REDEPLOY and rec.state is StepState.DONE:
                    pairs.extend((d["old"], d["new"]) for d in rec.detail.get("deployments", []))
            rb = records.get(f"{gid}/rollback")
            if rb is not None and rb.detail.get("problems"):
                error = error or "; ".join(rb.detail["problems"])
            if rb is not None and rb.detail.get("residue") and state == "rolled_back":
                error = "residue: " + "; ".join(str(r.get("what", "")) for r in rb.detail["residue"])
            outcomes.append(
                CredentialOutcome(cp.credential, cp.strategy, state, error, window, tuple(pairs), forced)
            )
        states = {o.state for o in outcomes}
        if states <= {"done"}:
            run_state = RunState.DONE
        elif states <= {"done", "rolled_back"}:
            run_state = RunState.ROLLED_BACK
        elif "failed" in states:
            run_state = RunState.FAILED
        elif "waiting" in states:
            run_state = RunState.WAITING
        elif "rolled_back" not in states:
            run_state = RunState.INTERRUPTED
        else:
            run_state = RunState.FAILED
        finished = time.time()
        windows = [o.window_s for o in outcomes if o.window_s is not None]
        timings = {"total": round(finished - started, 3)}
        if windows:
            timings["max_window_s"] = max(windows)
        return RunResult(
            run_id, run_state, tuple(outcomes), started, finished, waiting=waiting, timings=timings
        )
