"""Vercel platform risks for a plan (reference notes §12): each function is a preflight check,
``async def check(ctx) -> list[Risk]`` (:mod:`keyroll.preflight.context`), listed in :data:`CHECKS`.

* :func:`plan_tier` — the team's plan (``GET /v2/teams/{id}`` → ``billing.plan``), its build slots,
  and how many waves of builds the plan's redeploys take;
* :func:`quota_headroom` — the planned redeploys plus as many again as rollback reserve must fit in
  what is left of the day's deployments (the team's deployments of the last 24 h are counted).
"""

from __future__ import annotations

import time

from keyroll.preflight.context import Check, PreflightContext
from keyroll.preflight.model import Risk, Severity
from keyroll.providers.vercel import VercelAPI
from keyroll.providers.vercel_plans import DAY_MS, PlanInfo, plan_info

__all__ = ["CHECKS", "plan_tier", "quota_headroom", "team_plan"]


def _vercel(ctx: PreflightContext) -> VercelAPI | None:
    return ctx.providers.vercel


async def team_plan(ctx: PreflightContext) -> PlanInfo | None:
    """The team's plan, read once per preflight (``None`` without a Vercel client)."""
    vercel = _vercel(ctx)
    if vercel is None:
        return None

    async def read() -> PlanInfo:
        info = plan_info(await vercel.get_team())
        ctx.facts["vercel.plan"] = info.plan
        ctx.facts["vercel.concurrent_builds"] = info.concurrent_builds
        ctx.facts["vercel.deployments_per_day"] = info.deployments_per_day
        return info

    return await ctx.once("vercel.team_plan", read)


async def plan_tier(ctx: PreflightContext) -> list[Risk]:
    """The plan tier and build parallelism: how many waves of builds the redeploys take."""
    info = await team_plan(ctx)
    if info is None:
        return []
    redeploys = ctx.planned_redeploys
    rounds = info.build_rounds(redeploys)
    guessed = "" if info.documented else " (not published for this plan: keyroll assumes the Pro figure)"
    message = (
        f"plan {info.plan}: {info.concurrent_builds} concurrent build(s){guessed}; "
        f"{redeploys} redeploy(s) build in {rounds} wave(s)"
    )
    severity = Severity.INFO
    fix = ""
    if redeploys and rounds > 1:
        severity = Severity.WARN
        fix = (
            "builds beyond the plan's slots wait in QUEUED: each wave adds one build time to the rotation; "
            "set [policy] max_parallel_builds if the team bought more slots"
        )
    return [
        Risk(
            check="vercel.plan-tier",
            severity=severity,
            subject=f"team {ctx.config.vercel_team_id or ctx.config.vercel_team_slug or '(personal)'}",
            message=message,
            fix=fix,
            data={
                "plan": info.plan,
                "concurrent_builds": info.concurrent_builds,
                "redeploys": redeploys,
                "build_waves": rounds,
                "documented": info.documented,
            },
        )
    ]


async def deployments_today(ctx: PreflightContext, cap: int) -> int:
    """Deployments the team created in the last 24 hours (counted up to ``cap``), read once."""
    vercel = _vercel(ctx)
    assert vercel is not None

    async def read() -> int:
        since = int(time.time() * 1000) - DAY_MS
        deps = await vercel.list_deployments(None, since=since, limit=cap)
        ctx.facts["vercel.deployments_last_24h"] = len(deps)
        return len(deps)

    return await ctx.once("vercel.deployments_today", read)


async def quota_headroom(ctx: PreflightContext) -> list[Risk]:
    """Blocks when the planned redeploys, plus as many again as rollback reserve, do not fit in what
    is left of the day's deployments; says how many fit and how to split the work."""
    info = await team_plan(ctx)
    if info is None or info.deployments_per_day is None:
        return []
    cap = info.deployments_per_day
    used = await deployments_today(ctx, cap)
    left = max(0, cap - used)
    redeploys = ctx.planned_redeploys
    needed = 2 * redeploys
    ctx.facts["vercel.deployments_left_today"] = left
    data = {"cap": cap, "used_last_24h": used, "left": left, "redeploys": redeploys, "needed": needed}
    subject = f"team {ctx.config.vercel_team_id or ctx.config.vercel_team_slug or '(personal)'}"
    if needed <= left:
        return [
            Risk(
                check="vercel.quota",
                severity=Severity.INFO,
                subject=subject,
                message=f"deployments today: {used} of {cap} used; {redeploys} redeploy(s) + {redeploys} "
                f"rollback reserve fit in the {left} left",
                data=data,
            )
        ]
    fit = left // 2
    return [
        Risk(
            check="vercel.quota",
            severity=Severity.BLOCK,
            subject=subject,
            message=f"the plan needs {redeploys} redeploy(s) + {redeploys} in reserve for a rollback, but only "
            f"{left} of the {cap} deployments a day are left ({used} in the last 24 h): {fit} redeploy(s) fit",
            fix="split the work: rotate fewer credentials per run (--credential FP) or fewer projects "
            "(--project NAME), or wait until older deployments leave the 24-hour window",
            data=data,
        )
    ]


CHECKS: tuple[Check, ...] = (plan_tier, quota_headroom)
"""The Vercel checks, in report order."""
