"""``--fix``: carry out the fixes keyroll can apply, each read back before it counts as done.

* **not-sensitive** — convert in place: ``PATCH`` the var with ``type: sensitive`` (the call
  ``vercel env update --sensitive`` makes) keeping value, targets, branch, custom environments
  and comment; a var that also targets Development first loses Development in that same
  ``PATCH`` and a non-sensitive Development copy is then created (as the dashboard's conversion
  does). Production and Preview builds never see the var missing; values are unchanged, so no
  redeploy is needed.
* **credential-protection-off** — enable it through the Developer API (current credentials stay
  valid).
* **read-only-suffices / shared-credential** — move projects onto their own ACL users
  (:mod:`keyroll.harden.move_fix`): mint, journal, write env, redeploy, wait READY, verify.

With ``dry_run`` nothing is changed: each outcome lists the steps that would run.
"""

from __future__ import annotations

import asyncio
from typing import Any

from keyroll.core.errors import KeyrollError
from keyroll.core.progress import Progress
from keyroll.core.secret import Secret
from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Finding, FixOutcome, Rule
from keyroll.harden.moves import Move, plan_move
from keyroll.providers.factory import Providers
from keyroll.providers.vercel import EnvVarInput

__all__ = ["Fixer"]

_BUILD = ("production", "preview")


class Fixer:
    """Applies fixable findings with the configured providers."""

    def __init__(self, providers: Providers, ctx: HardenContext, options: Any, progress: Progress) -> None:
        self.providers = providers
        self.ctx = ctx
        self.options = options
        self.progress = progress

    async def run(self, findings: list[Finding]) -> list[FixOutcome]:
        """Fix each finding (moves run concurrently per project); one outcome per finding."""
        outcomes: list[FixOutcome] = []
        for f in findings:
            if f.rule is Rule.NOT_SENSITIVE:
                outcomes.append(await self._guard(f, self._sensitive(f)))
            elif f.rule is Rule.CREDENTIAL_PROTECTION_OFF:
                outcomes.append(await self._guard(f, self._protection(f)))
        move_findings = [f for f in findings if f.rule in (Rule.READ_ONLY_SUFFICES, Rule.SHARED_CREDENTIAL)]
        if move_findings:
            outcomes.extend(await self._moves(move_findings))
        return outcomes

    async def _guard(self, f: Finding, coro: Any) -> FixOutcome:
        try:
            result: FixOutcome = await coro
            return result
        except KeyrollError as exc:
            return FixOutcome(f.id, False, f"not fixed: {exc.message}", error=exc.format_message())

    # -- not-sensitive -------------------------------------------------------------------
    async def _sensitive(self, f: Finding) -> FixOutcome:
        vercel = self.providers.vercel
        d = f.details
        env_id, key = str(d["env_id"]), str(d["key"])
        targets = [str(t) for t in d.get("targets", [])]
        build = [t for t in targets if t in _BUILD]
        split = "development" in targets
        if d.get("shared"):
            steps = [f"PATCH /v1/env {env_id}: type sensitive (value, targets and links kept)"]
            if self.options.dry_run or vercel is None:
                return FixOutcome(
                    f.id, False, f"would make shared var {key} sensitive", tuple(steps), dry_run=True
                )
            shared = await vercel.get_shared_env(env_id)
            if shared.value is None:
                return FixOutcome(
                    f.id, False, f"shared var {key}: value not readable", tuple(steps), error="unreadable"
                )
            res = await vercel.update_shared_env({env_id: {"type": "sensitive", "value": shared.value}})
            if res.failed:
                return FixOutcome(
                    f.id, False, f"shared var {key}: update failed", tuple(steps), error=str(res.failed[0])
                )
            shared_after = await vercel.get_shared_env(env_id)
            ok = shared_after.type == "sensitive"
            return FixOutcome(f.id, ok, f"shared var {key} is {shared_after.type}", tuple(steps))
        project_id = str(d["project_id"])
        project = f.project or project_id
        steps = [
            f"PATCH project {project} env {key} ({env_id}): type sensitive, target {','.join(build) or '—'}"
            + (f", branch {d['git_branch']}" if d.get("git_branch") else "")
            + ", value/comment/custom environments kept"
        ]
        if split:
            steps.append(
                f"create project {project} env {key} [development], non-sensitive, same value and comment"
            )
        if self.options.dry_run or vercel is None:
            return FixOutcome(
                f.id, False, f"would convert {project} {key} to sensitive", tuple(steps), dry_run=True
            )
        current = await vercel.get_env(project_id, env_id)
        if current.value is None:
            return FixOutcome(
                f.id,
                False,
                f"{project} {key}: value not readable, left as is",
                tuple(steps),
                error="value not readable",
            )
        if current.type == "sensitive":
            return FixOutcome(f.id, True, f"{project} {key} is already sensitive", tuple(steps))
        value: Secret = current.value
        changes: dict[str, Any] = {"type": "sensitive", "value": value, "key": current.key, "target": build}
        if current.git_branch:
            changes["git_branch"] = current.git_branch
        if current.custom_environment_ids:
            changes["custom_environment_ids"] = list(current.custom_environment_ids)
        if current.comment:
            changes["comment"] = current.comment
        if not build and not current.custom_environment_ids:
            return FixOutcome(
                f.id, False, f"{project} {key} only targets development", tuple(steps), error="dev only"
            )
        await vercel.edit_env(project_id, env_id, **changes)
        evidence: dict[str, Any] = {"env_id": env_id, "fingerprint": value.fingerprint}
        if split:
            res = await vercel.upsert_env(
                project_id,
                [
                    EnvVarInput(
                        key=current.key,
                        value=value,
                        type="encrypted" if current.type not in ("plain", "encrypted") else current.type,
                        target=["development"],
                        comment=current.comment,
                    )
                ],
            )
            if res.failed:
                return FixOutcome(
                    f.id,
                    False,
                    f"{project} {key}: sensitive now, but the Development copy failed",
                    tuple(steps),
                    error=str(res.failed[0].get("error", res.failed[0]))[:200],
                    evidence=evidence,
                )
            evidence["development_env_id"] = res.created[0].id if res.created else ""
        after = await vercel.get_env(project_id, env_id)
        ok = after.type == "sensitive" and sorted(after.target) == sorted(build)
        if split:
            envs = await vercel.list_env(project_id)
            dev_ok = any(e.key == current.key and e.target == ["development"] for e in envs)
            ok = ok and dev_ok
        return FixOutcome(
            f.id,
            ok,
            f"{project} {key} is {after.type} [{','.join(after.target)}]"
            + (" + development copy" if split else ""),
            tuple(steps),
            error="" if ok else "read-back does not match",
            evidence=evidence,
        )

    # -- credential protection -----------------------------------------------------------
    async def _protection(self, f: Finding) -> FixOutcome:
        db_id = str(f.details["database_id"])
        steps = [f"POST Developer API: enable credential protection on {f.details.get('database', db_id)}"]
        upstash = self.providers.upstash
        if self.options.dry_run or upstash is None:
            return FixOutcome(f.id, False, "would enable credential protection", tuple(steps), dry_run=True)
        await upstash.set_credential_protection(db_id, True)
        from keyroll.harden.collect import database_facts

        after = database_facts(await upstash.get_redis(db_id))
        ok = after.credential_protection is True
        return FixOutcome(
            f.id,
            ok,
            "credential protection enabled" if ok else "credential protection not confirmed by read-back",
            tuple(steps),
            error="" if ok else "read-back",
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
        runner = MoveRunner(self.providers, self.ctx, self.options, self.progress)
        results = await runner.run(list(unique.values()))
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
