"""``verify``: prove a rotation finished — new values accepted, old ones rejected, no stale copy.

:func:`verify` takes what the rotation left behind (a journal, or a :class:`RunLog` read from
one) or, without a journal, an inventory plus the old values, and runs four families of checks:

1. probes (:mod:`.probes`): each new value is accepted, each old value rejected by the provider;
2. freshness (:mod:`.freshness`) and rollback (:mod:`.rollback`): every serving deployment of
   every affected project was built after that project's env write, answers, and (where it
   says) uses the new fingerprint; older production builds are rollback hazards;
3. stale copies (:mod:`.stale`): a fresh inventory that looks for the old values everywhere;
4. git history (reported separately: history is not rewritten).

What each credential's old and new values are comes from :mod:`.targets`.

Every check carries its evidence with a time. Provider failures become UNKNOWN checks, never
exceptions: a verification that could not look is not a pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from keyroll.core.errors import KeyrollError, UsageError
from keyroll.core.model import Credential, CredentialKind, Inventory, LocationKind, StepState
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Secret
from keyroll.journal.read import JournalReader, load_runlog
from keyroll.journal.runlog import RunLog
from keyroll.providers.factory import Providers
from keyroll.verify.deployments import HttpAnswer, ProjectDeployments, http_probe, read_project, serving
from keyroll.verify.freshness import freshness_checks
from keyroll.verify.probes import (
    SIGNING_KINDS,
    ProbeOutcome,
    probe_credential,
    probe_signing_keys,
)
from keyroll.verify.result import (
    Check,
    CheckCategory,
    CheckStatus,
    Evidence,
    EvidenceSource,
    Verdict,
    VerifyResult,
)
from keyroll.verify.rollback import rollback_checks
from keyroll.verify.stale import StaleInput, stale_checks
from keyroll.verify.targets import Target, targets_from_inventory, targets_from_log

__all__ = ["InventoryFn", "VerifyOptions", "verify"]

InventoryFn = Callable[[Providers, Any], Awaitable[Inventory]]
"""``take_inventory(providers, InventoryOptions)`` — injectable so tests can pass a fake."""


@dataclass(frozen=True)
class VerifyOptions:
    """What to verify and how far to look."""

    credentials: tuple[str, ...] = ()
    """fingerprints (or unique prefixes) to verify; empty: every credential of the run"""
    run_id: str | None = None
    """the journal run (default: the latest)"""
    paths: tuple[Path, ...] = ()
    """local files/directories to search for old values (plus every file the journal's inventory listed)"""
    git_repos: tuple[Path, ...] = ()
    """git repositories whose history is searched for old values"""
    old_values: tuple[Secret, ...] = ()
    """without a journal: the leaked values that must now be rejected"""
    health_path: str = "/"
    """path requested on each serving deployment's URL"""
    probe_deployments: bool = True
    """GET each serving deployment (off: creation times only)"""
    rescan: bool = True
    """take a fresh inventory for the stale-copy checks"""
    inventory_options: Any = None
    """base ``InventoryOptions`` for the fresh inventory (projects, GitHub repos/orgs)"""
    concurrency: int = 8
    http_timeout_s: float = 10.0


class _Verifier:
    def __init__(
        self, providers: Providers, options: VerifyOptions, progress: Progress, clock: Callable[[], float]
    ):
        self.p = providers
        self.o = options
        self.progress = progress
        self.clock = clock
        self.sem = asyncio.Semaphore(max(1, options.concurrency))
        self.notes: list[str] = []
        self.searched: tuple[str, ...] = ()

    # -- probes ----------------------------------------------------------------------------
    def _descriptor(self, t: Target, fp: str, *inventories: Inventory | None) -> Credential | None:
        if fp in t.descriptors:
            return t.descriptors[fp]
        c = _exact(fp, *inventories)
        if c is not None:
            return c
        if t.credential is not None:  # same product and endpoint as the credential it replaces
            return t.credential
        return None

    async def _probe(self, cred: Credential | None, secret: Secret) -> ProbeOutcome:
        if cred is None:
            return ProbeOutcome(
                Verdict.UNKNOWN,
                "product/endpoint unknown (no inventory in the journal)",
                self.clock(),
                secret.fingerprint,
            )
        async with self.sem:
            return await probe_credential(self.p, cred, secret, clock=self.clock)

    def qstash_tokens(self, targets: Sequence[Target], *invs: Inventory | None) -> list[Secret]:
        """Tokens to read the live signing keys with: new QStash tokens, then the configured one."""
        out: list[Secret] = []
        for t in targets:
            for s in t.new_values:
                d = _exact(s.fingerprint, *invs)
                if d is not None and d.kind is CredentialKind.QSTASH_TOKEN:
                    out.append(s)
        if self.p.config.qstash_token is not None:
            out.append(self.p.config.qstash_token)
        return out

    async def probe_checks(
        self, t: Target, before: Inventory | None, after: Inventory | None, tokens: Sequence[Secret]
    ) -> list[Check]:
        new_by_fp: dict[str, Secret] = {s.fingerprint: s for s in t.new_values}
        if after is not None:
            for c in after.credentials:
                if c.fingerprint in t.new_fps and c.value is not None:
                    new_by_fp.setdefault(c.fingerprint, c.value)
        old_by_fp: dict[str, Secret] = {s.fingerprint: s for s in t.old_values}
        for inv in (after, before):
            # values keyroll holds itself (e.g. the configured QSTASH_TOKEN) count as known old values
            for c in inv.credentials if inv is not None else ():
                if c.fingerprint in t.old_fps and c.value is not None:
                    old_by_fp.setdefault(c.fingerprint, c.value)
        new_desc = {f: self._descriptor(t, f, after, before) for f in new_by_fp}
        old_desc = {f: self._descriptor(t, f, before, after) for f in old_by_fp}
        keys = [
            s
            for f, s in (*new_by_fp.items(), *old_by_fp.items())
            if (d := new_desc.get(f) or old_desc.get(f)) is not None and d.kind in SIGNING_KINDS
        ]
        signing = await probe_signing_keys(self.p, keys, tokens, clock=self.clock) if keys else {}

        async def one(fp: str, secret: Secret, new: bool) -> Check:
            outcome = signing.get(fp)
            if outcome is None:
                outcome = await self._probe((new_desc if new else old_desc).get(fp), secret)
            return _probe_check(t, fp, outcome, new=new)

        jobs = [one(f, s, True) for f, s in sorted(new_by_fp.items())]
        jobs += [one(f, s, False) for f, s in sorted(old_by_fp.items())]
        checks = list(await asyncio.gather(*jobs))
        checks += [_missing_value_check(t, fp, new=True) for fp in sorted(t.new_fps - set(new_by_fp))]
        checks += [_missing_value_check(t, fp, new=False) for fp in sorted(t.old_fps - set(old_by_fp))]
        if not t.new_fps and not new_by_fp:
            checks.append(
                Check(
                    id=f"new_accepted:{t.fp}:none",
                    category=CheckCategory.NEW_ACCEPTED,
                    status=CheckStatus.UNKNOWN,
                    title=f"{t.fp}: no new value recorded for this credential",
                    credential=t.fp,
                    hint="the rotation may not have minted a replacement yet (keyroll status)",
                )
            )
        return checks

    # -- deployments ----------------------------------------------------------------------
    async def read_projects(self, projects: Sequence[str]) -> dict[str, ProjectDeployments]:
        if not projects:
            return {}
        if self.p.vercel is None:
            self.notes.append("deployments not checked: VERCEL_TOKEN is not set")
            return {
                p: ProjectDeployments(project_id=p, read_at=self.clock(), error="VERCEL_TOKEN is not set")
                for p in projects
            }
        vercel = self.p.vercel
        task = self.progress.task("verify: deployments", total=len(projects))

        async def one(pid: str) -> tuple[str, ProjectDeployments]:
            async with self.sem:
                snap = await read_project(vercel, pid, clock=self.clock)
            self.progress.advance(task)
            return pid, snap

        pairs = await asyncio.gather(*(one(p) for p in projects))
        self.progress.finish(task)
        return dict(pairs)

    async def answers(
        self, snaps: Sequence[ProjectDeployments], http: httpx.AsyncClient | None
    ) -> dict[str, HttpAnswer]:
        if not self.o.probe_deployments:
            return {}
        live = [d for s in snaps if not s.error for d in serving(s)]
        if not live:
            return {}

        async def one(client: httpx.AsyncClient, d: Any) -> tuple[str, HttpAnswer]:
            async with self.sem:
                bypass = self.p.config.bypass_for(d.project_id, d.name)
                return d.id, await http_probe(client, d, self.o.health_path, clock=self.clock, bypass=bypass)

        if http is not None:
            return dict(await asyncio.gather(*(one(http, d) for d in live)))
        async with httpx.AsyncClient(timeout=self.o.http_timeout_s, follow_redirects=True) as own:
            return dict(await asyncio.gather(*(one(own, d) for d in live)))

    # -- stale copies ----------------------------------------------------------------------
    async def rescan(
        self, inventory_fn: InventoryFn | None, before: Inventory | None, old_values: Sequence[Secret]
    ) -> tuple[Inventory | None, str, tuple[Path, ...], float]:
        """A fresh inventory that looks for the old values; records what it searched."""
        if not self.o.rescan:
            return None, "rescan disabled", (), self.clock()
        paths = list(self.o.paths)
        repos: list[str] = []
        orgs: list[str] = []
        if before is not None:
            # look again everywhere the rotation's inventory found a copy
            for loc in before.locations:
                if loc.kind is LocationKind.FILE and loc.path and Path(loc.path).exists():
                    paths.append(Path(loc.path))
                elif loc.kind is LocationKind.GITHUB_SECRET and loc.repo:
                    if loc.repo.startswith("org:"):
                        orgs.append(loc.repo.removeprefix("org:"))
                    else:
                        repos.append(loc.repo)
        paths = list(dict.fromkeys(paths))
        try:
            if inventory_fn is None:
                from keyroll.inventory import take_inventory

                inventory_fn = take_inventory
            from keyroll.inventory.options import InventoryOptions

            base = self.o.inventory_options or InventoryOptions()
            opts = _replace_options(
                base,
                paths=tuple(paths),
                git_repos=tuple(self.o.git_repos),
                extra_values=tuple(old_values),
                github_repos=tuple(dict.fromkeys((*base.github_repos, *repos))),
                github_orgs=tuple(dict.fromkeys((*base.github_orgs, *orgs))),
            )
            after = await inventory_fn(self.p, opts)
            self.searched = (
                *(f"path:{p}" for p in opts.paths),
                *(f"git:{g}" for g in opts.git_repos),
                *(f"github:{r}" for r in opts.github_repos),
                *(f"github-org:{o}" for o in opts.github_orgs),
            )
        except ImportError:
            return None, "inventory is not available in this build", tuple(paths), self.clock()
        except KeyrollError as exc:
            return None, f"inventory failed: {exc.message}", tuple(paths), self.clock()
        return after, "", tuple(paths), self.clock()


def _exact(fp: str, *inventories: Inventory | None) -> Credential | None:
    """The credential with exactly this fingerprint in the first inventory that has it."""
    for inv in inventories:
        if inv is not None:
            for c in inv.credentials:
                if c.fingerprint == fp:
                    return c
    return None


def _replace_options(base: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(base, **changes)


def _probe_check(t: Target, fp: str, outcome: ProbeOutcome, *, new: bool) -> Check:
    ev = Evidence(EvidenceSource.PROBE, outcome.what, outcome.at, fp)
    if new:
        status = {Verdict.VALID: CheckStatus.PASS, Verdict.INVALID: CheckStatus.FAIL}.get(
            outcome.verdict, CheckStatus.UNKNOWN
        )
        title = {
            CheckStatus.PASS: f"new value {fp} is accepted",
            CheckStatus.FAIL: f"new value {fp} is REJECTED by the provider",
        }.get(status, f"new value {fp}: acceptance unknown")
        hint = (
            ""
            if status is CheckStatus.PASS
            else "apps using it will fail: roll back (keyroll rollback) or re-mint"
        )
        return Check(
            f"new_accepted:{t.fp}:{fp}",
            CheckCategory.NEW_ACCEPTED,
            status,
            title,
            t.fp,
            evidence=(ev,),
            hint=hint,
        )
    status = {Verdict.INVALID: CheckStatus.PASS, Verdict.VALID: CheckStatus.FAIL}.get(
        outcome.verdict, CheckStatus.UNKNOWN
    )
    if status is CheckStatus.FAIL:
        title = f"old value {fp} is still ACCEPTED" + ("" if t.revoked_at is None else " after the revoke")
        hint = "revoke it: finish the rotation (keyroll resume) or reset it in the Upstash console"
    elif status is CheckStatus.PASS:
        title, hint = f"old value {fp} is rejected", ""
    else:
        title, hint = f"old value {fp}: rejection unknown", "rerun keyroll verify when the provider answers"
    return Check(
        f"old_rejected:{t.fp}:{fp}",
        CheckCategory.OLD_REJECTED,
        status,
        title,
        t.fp,
        evidence=(ev,),
        hint=hint,
    )


def _run_checks(log: RunLog, fp: str) -> list[Check]:
    """A warning when the journal shows unfinished steps for the credential."""
    states = log.step_states(fp)
    open_steps = [s for s in log.steps(fp) if states.get(s.id) not in (StepState.DONE, StepState.SKIPPED)]
    if not open_steps:
        return []
    last = log.entries_for(fp)[-1:] or ()
    evidence = tuple(
        Evidence(EvidenceSource.JOURNAL, f"last entry: {e.step_id} {e.state.value}", e.ts, str(e.seq))
        for e in last
    )
    first = open_steps[0]
    return [
        Check(
            id=f"run:{fp}",
            category=CheckCategory.RUN,
            status=CheckStatus.WARN,
            title=f"{len(open_steps)} step(s) of this rotation are not finished, first: {first.description} "
            f"({states.get(first.id, StepState.PENDING).value})",
            credential=fp,
            evidence=evidence,
            hint="keyroll status, then keyroll resume",
        )
    ]


def _missing_value_check(t: Target, fp: str, *, new: bool) -> Check:
    category = CheckCategory.NEW_ACCEPTED if new else CheckCategory.OLD_REJECTED
    which = "new" if new else "old"
    return Check(
        id=f"{category.value}:{t.fp}:{fp}",
        category=category,
        status=CheckStatus.UNKNOWN,
        title=f"{which} value {fp}: not probed (value not available to keyroll)",
        credential=t.fp,
        hint="open the journal with its key (KEYROLL_JOURNAL_KEY or the OS keyring) to probe it",
    )


async def verify(
    providers: Providers,
    source: JournalReader | RunLog | Inventory,
    options: VerifyOptions = VerifyOptions(),
    progress: Progress = NULL_PROGRESS,
    *,
    inventory_fn: InventoryFn | None = None,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], float] = time.time,
) -> VerifyResult:
    """Run every check for the selected credentials of a run (or of an inventory).

    :param source: an open journal (values for probes are decrypted from it), a :class:`RunLog`
        (no values: probes of journaled values are UNKNOWN unless the fresh inventory reads
        them), or an :class:`Inventory` with ``options.old_values``.
    :param inventory_fn: replaces :func:`keyroll.inventory.take_inventory` (tests).
    :param http: the client for GETs on deployment URLs (default: a fresh one with a timeout).
    :raises UsageError: a selected credential is not part of the run, or the run id is unknown.
    """
    started = clock()
    v = _Verifier(providers, options, progress, clock)
    journal: JournalReader | None = None
    log: RunLog | None = None
    if isinstance(source, Inventory):
        before: Inventory | None = source
        targets = targets_from_inventory(source, options.old_values, options.credentials)
        v.notes.append("no journal: deployment freshness is not checked (env change times unknown)")
    else:
        if isinstance(source, RunLog):
            log = source
        else:
            journal = source
            log = load_runlog(source, options.run_id)
        if log.run is None:
            raise UsageError("the journal holds no rotation run", hint="run keyroll apply first")
        before = log.inventory
        targets = targets_from_log(log, journal, options.credentials)
        v.notes.extend(f"journal: {p}" for p in (*log.integrity, *log.problems))
    old_values = [s for t in targets for s in t.old_values]
    after, after_error, scanned, after_at = await v.rescan(inventory_fn, before, old_values)
    if after_error:
        v.notes.append(f"stale copies: {after_error}")
    projects = list(dict.fromkeys(p for t in targets for p in t.projects)) if log is not None else []
    snaps = await v.read_projects(projects)
    answers = await v.answers(list(snaps.values()), http)
    checks: list[Check] = []
    task = progress.task("verify: probes", total=len(targets))
    tokens = v.qstash_tokens(targets, after, before)
    for t in targets:
        checks.extend(await v.probe_checks(t, before, after, tokens))
        progress.advance(task)
        if log is not None:
            checks.extend(_run_checks(log, t.fp))
            for pid in t.projects:
                snap = snaps[pid]
                kw: dict[str, Any] = {
                    "answers": answers,
                    "new_fps": t.new_fps,
                    "old_fps": t.old_fps,
                    "revoked": t.revoked_at is not None,
                }
                checks.extend(freshness_checks(snap, t.fp, t.env_written.get(pid), **kw))
                checks.extend(rollback_checks(snap, t.fp, t.env_written.get(pid), **kw))
        checks.extend(
            stale_checks(
                StaleInput(
                    fp=t.fp,
                    old_fps=frozenset(t.old_fps),
                    new_fps=frozenset(t.new_fps),
                    rotated_at=t.rotated_at or 0.0,
                    after_read_at=after_at,
                    before=before,
                    after=after,
                    after_error=after_error,
                    writes=log.env_writes(t.fp) if log is not None else (),
                    scanned_paths=scanned,
                )
            )
        )
    progress.finish(task)
    unique: dict[str, Check] = {}
    for c in checks:
        unique.setdefault(c.id, c)
    return VerifyResult(
        checks=tuple(unique.values()),
        started_at=started,
        finished_at=clock(),
        run_id=log.run_id if log is not None else "",
        credentials=tuple(t.fp for t in targets),
        notes=tuple(dict.fromkeys(v.notes)),
        searched=v.searched,
    )
