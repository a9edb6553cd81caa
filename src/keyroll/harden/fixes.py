"""``--fix``: carry out the fixes keyroll can apply, each read back before it counts as done.

* **not-sensitive** — convert in place: ``PATCH`` the var with ``type: sensitive`` (the call
  ``vercel env update --sensitive`` makes) keeping value, targets, branch, custom environments
  and comment; a var that also targets Development first loses Development in that same
  ``PATCH`` and a non-sensitive Development copy is then created (as the dashboard's conversion
  does). Production and Preview builds never see the var missing; values are unchanged, so no
  redeploy is needed.
* **credential-protection-off** is not here: the Developer API has no endpoint for it, so the
  finding carries console instructions instead (``checks/credential_protection.py``).
* **read-only-suffices / shared-credential** — move projects onto their own ACL users
  (:mod:`keyroll.harden.move_fix`): mint, journal, write env, redeploy, wait READY, verify.

With ``dry_run`` nothing is changed: each outcome lists the steps that would run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from keyroll.core.errors import KeyrollError
from keyroll.core.progress import Progress
from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Finding, FixOutcome, Rule
from keyroll.harden.journal import HardenJournal
from keyroll.harden.moves import Move, plan_move
from keyroll.providers.factory import Providers

__all__ = ["Fixer"]

_BUILD = ("production", "preview")


class Fixer:
    """Applies fixable findings with the configured providers."""

    def __init__(self, providers: Providers, ctx: HardenContext, options: Any, progress: Progress) -> None:
        self.providers = providers
        self.ctx = ctx
        self.options = options
        self.progress = progress
        self.journal: HardenJournal | None = None

    async def run(self, findings: list[Finding]) -> list[FixOutcome]:
        """Fix each finding (moves run concurrently per project); one outcome per finding.

        :raises JournalError: the harden journal cannot be opened.
        """
        if self.options.dry_run:
            return await self._run(findings)
        self.journal = HardenJournal.open(self.providers.config, self.options.journal_path)
        outcomes: list[FixOutcome] = []
        try:
            outcomes = await self._run(findings)
        finally:
            self.journal.finish(bool(outcomes) and all(o.applied for o in outcomes))
        return outcomes

    async def _run(self, findings: list[Finding]) -> list[FixOutcome]:
        outcomes: list[FixOutcome] = []
        # moves first: a var that is both moved and made sensitive gets the new value, then the
        # type (its Development copy then holds the new credential too)
        move_findings = [f for f in findings if f.rule in (Rule.READ_ONLY_SUFFICES, Rule.SHARED_CREDENTIAL)]
        if move_findings:
            outcomes.extend(await self._moves(move_findings))
        for f in findings:
            if f.rule is Rule.NOT_SENSITIVE:
                outcomes.append(await self._guard(f, self._sensitive(f)))
        return outcomes

    async def _guard(self, f: Finding, coro: Any) -> FixOutcome:
        try:
            result: FixOutcome = await coro
            return result
        except KeyrollError as exc:
            return FixOutcome(f.id, False, f"not fixed: {exc.message}", error=exc.format_message())

    # -- not-sensitive -------------------------------------------------------------------
    async def _sensitive(self, f: Finding) -> FixOutcome:
        from keyroll.harden.sensitive_fix import convert_project_var, convert_shared_var

        vercel = self.providers.vercel
        d = f.details
        env_id, key = str(d["env_id"]), str(d["key"])
        targets = [str(t) for t in d.get("targets", [])]
        build = [t for t in targets if t in _BUILD]
        if d.get("shared"):
            label = f"shared var {key}"
            plan = [f"make {label} sensitive (in place, else re-created behind per-project bridges)"]
        else:
            label = f"project {f.project} env {key}"
            plan = [
                f"make {label} sensitive for {','.join(build) or 'its custom environments'}, keeping value, "
                "branch, custom environments and comment (in place, else removed and re-added behind a "
                "temporary team variable so no build misses it)"
            ]
            if "development" in targets:
                plan.append(
                    f"create {key} [development] as a non-sensitive copy (Development cannot be sensitive)"
                )
        if self.options.dry_run or vercel is None:
            return FixOutcome(f.id, False, f"would convert {label} to sensitive", tuple(plan), dry_run=True)
        if d.get("shared"):
            conv = await convert_shared_var(vercel, env_id, label)
        else:
            conv = await convert_project_var(vercel, str(d["project_id"]), env_id, label)
        if self.journal is not None and conv.evidence.get("fingerprint"):
            fp = str(conv.evidence["fingerprint"])
            pid = str(d.get("project_id", ""))
            for eid in {conv.evidence.get("sensitive_env_id"), conv.evidence.get("development_env_id")} - {
                None,
                "",
            }:
                self.journal.written(f"harden:sensitive:{env_id}", pid, str(eid), key, fp)
        summary = f"{label} is sensitive ({conv.method})" if conv.ok else f"{label}: not converted"
        self.progress.note(summary)
        return FixOutcome(
            f.id, conv.ok, summary, tuple(conv.steps), error=conv.error, evidence=dict(conv.evidence)
        )

    # -- moves ---------------------------------------------------------------------------
    def plan_moves(self, findings: list[Finding]) -> dict[str, list[Move]]:
        """The moves each finding needs (a read-only move also takes the project off a shared credential)."""
        by_finding: dict[str, list[Move]] = {}
        read_only_projects: set[tuple[str, str]] = set()
        for f in findings:
            if f.rule is not Rule.READ_ONLY_SUFFICES:
                continue
            pid = next((p for p, facts in self.ctx.projects.items() if facts.name == f.project), "")
            move = plan_move(self.ctx, pid, f.credential, read_only=True) if pid else None
            by_finding[f.id] = [move] if move is not None else []
            read_only_projects.add((pid, f.credential))
        for f in findings:
            if f.rule is not Rule.SHARED_CREDENTIAL:
                continue
            moves = []
            cred = self.ctx.credential(f.credential)
            read_only = cred is not None and cred.kind.value == "readonly_rest_token"
            for pid in self.ctx.projects_of(f.credential):
                if (pid, f.credential) in read_only_projects:
                    continue
                m = plan_move(self.ctx, pid, f.credential, read_only=read_only)
                if m is not None:
                    moves.append(m)
            by_finding[f.id] = moves
        return by_finding

    async def _moves(self, findings: list[Finding]) -> list[FixOutcome]:
        from keyroll.harden.move_fix import MoveRunner

        plan = self.plan_moves(findings)
        unique: dict[tuple[str, str], Move] = {}
        for moves in plan.values():
            for m in moves:
                unique.setdefault((m.project_id, m.credential), m)
        runner = MoveRunner(self.providers, self.ctx, self.options, self.progress, self.journal)
        try:
            results = await runner.run(list(unique.values()))
        except KeyrollError as exc:
            return [FixOutcome(f.id, False, "not fixed", error=exc.format_message()) for f in findings]
        outcomes = []
        for f in findings:
            moves = plan.get(f.id, [])
            done = [results[(m.project_id, m.credential)] for m in moves]
            steps = tuple(s for r in done for s in r.steps)
            errors = [r.error for r in done if r.error]
            applied = bool(done) and all(r.applied for r in done)
            dry = bool(done) and all(r.dry_run for r in done)
            summary = "; ".join(r.summary for r in done) or "nothing to move"
            outcomes.append(
                FixOutcome(
                    f.id,
                    applied,
                    summary,
                    steps,
                    error="; ".join(errors),
                    dry_run=dry,
                    evidence={"moves": [r.evidence for r in done]},
                )
            )
        return outcomes


async def gather_limited(n: int, coros: list[Any]) -> list[Any]:
    """``asyncio.gather`` with at most ``n`` running at once."""
    sem = asyncio.Semaphore(max(1, n))

    async def one(c: Any) -> Any:
        async with sem:
            return await c

    return list(await asyncio.gather(*(one(c) for c in coros)))
