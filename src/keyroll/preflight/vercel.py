"""Vercel platform risks for a plan (reference notes §12): each function is a preflight check,
``async def check(ctx) -> list[Risk]`` (:mod:`keyroll.preflight.context`), listed in :data:`CHECKS`.

* :func:`plan_tier` — the team's plan (``GET /v2/teams/{id}`` → ``billing.plan``), its build slots,
  and how many waves of builds the plan's redeploys take;
* :func:`quota_headroom` — the planned redeploys plus as many again as rollback reserve must fit in
  what is left of the day's deployments (the team's deployments of the last 24 h are counted);
* :func:`ignored_build_step` — projects whose redeploys Vercel would cancel (blocks without consent);
* :func:`protection` — Deployment Protection without a bypass secret: probes cannot see the app;
* :func:`hidden_env` — production vars the token cannot see (the inventory is incomplete);
* :func:`staging_targets` — ``staging`` deployments (redeployed as staging, alias checked);
* :func:`integration_managed` — Marketplace-managed resources (a dashboard step for a person).
"""

from __future__ import annotations

import asyncio
import time

from keyroll.core.model import Management
from keyroll.preflight.context import BYPASS_IGNORED_BUILD_STEP, Check, PreflightContext
from keyroll.preflight.model import Risk, Severity
from keyroll.providers.vercel.models import Project
from keyroll.providers.vercel.plans import DAY_MS, PlanInfo, plan_info
from keyroll.providers.vercel.protocol import VercelAPI

__all__ = [
    "CHECKS",
    "hidden_env",
    "ignored_build_step",
    "integration_managed",
    "plan_tier",
    "protection",
    "quota_headroom",
    "staging_targets",
    "team_plan",
]


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


async def project(ctx: PreflightContext, project_id: str) -> Project | None:
    """One project's settings (``GET /v9/projects/{id}``), read once per preflight."""
    vercel = _vercel(ctx)
    if vercel is None:
        return None

    async def read() -> Project:
        return await vercel.get_project(project_id)

    return await ctx.once(f"vercel.project:{project_id}", read)


async def _projects(ctx: PreflightContext) -> list[Project]:
    found = await asyncio.gather(*(project(ctx, pid) for pid in ctx.project_ids))
    return [p for p in found if p is not None]


def _redeployed(ctx: PreflightContext) -> set[str]:
    if ctx.plan is None:
        return {d.project_id for d in ctx.inventory.deployments if d.serving}
    return {d.project_id for cp in ctx.plan.credentials for d in cp.deployments}


async def ignored_build_step(ctx: PreflightContext) -> list[Risk]:
    """Projects with an Ignored Build Step: Vercel cancels their redeploys (CANCELED), so the rotation
    would roll back. Blocks unless ``--bypass-ignored-build-step`` (cleared for the run, restored after)."""
    redeployed = _redeployed(ctx)
    found = [p for p in await _projects(ctx) if p.command_for_ignoring_build_step and p.id in redeployed]
    if not found:
        return []
    names = ", ".join(sorted(p.name for p in found))
    consented = BYPASS_IGNORED_BUILD_STEP in ctx.consents
    return [
        Risk(
            check="vercel.ignored-build-step",
            severity=Severity.WARN if consented else Severity.BLOCK,
            subject=p.name,
            message=(
                f"Ignored Build Step set on {p.name}: it will be cleared for the rotation and restored after"
                if consented
                else f"Ignored Build Step set on {len(found)} project(s) ({names}): Vercel would cancel their "
                "redeploys, leaving the old credential built in"
            ),
            fix=""
            if consented
            else "pass --bypass-ignored-build-step (cleared for the rotation, the exact "
            "value restored after) or remove the setting",
            data={"project_id": p.id, "project": p.name, "consented": consented},
        )
        for p in sorted(found, key=lambda p: p.name)
    ]


def _protected(p: Project) -> bool:
    return bool(p.sso_protection or p.password_protection)


async def protection(ctx: PreflightContext) -> list[Risk]:
    """Deployment Protection: a protected deployment answers 401 to keyroll's HTTP probes unless a
    Protection Bypass for Automation secret is configured (never blocks)."""
    out = []
    for p in await _projects(ctx):
        if not _protected(p):
            continue
        kinds = [
            k
            for k, v in (("Vercel Authentication", p.sso_protection), ("password", p.password_protection))
            if v
        ]
        if ctx.config.bypass_for(p.id, p.name) is not None:
            out.append(
                Risk(
                    check="vercel.protection",
                    severity=Severity.INFO,
                    subject=p.name,
                    message=f"{' and '.join(kinds)} protection: probes send the configured bypass secret",
                    data={"project_id": p.id, "bypass": True},
                )
            )
            continue
        out.append(
            Risk(
                check="vercel.protection",
                severity=Severity.WARN,
                subject=p.name,
                message=f"{' and '.join(kinds)} protection: deployments other than production answer 401, "
                "so they are 'not probed: protected' (neither a pass nor a failure)",
                fix="set VERCEL_AUTOMATION_BYPASS_SECRET or [protection_bypass] "
                f'{p.name} = "ENV_VAR" in keyroll.toml to a Protection Bypass for Automation secret',
                data={"project_id": p.id, "bypass": False},
            )
        )
    return out


async def hidden_env(ctx: PreflightContext) -> list[Risk]:
    """Projects whose env list hides production vars (``hiddenProductionEnvCount``): the inventory is
    incomplete there and verify cannot pass (from the inventory's unknowns; no extra read)."""
    return [
        Risk(
            check="vercel.hidden-env",
            severity=Severity.WARN,
            subject=u.where.removeprefix("vercel project "),
            message=u.reason.split(" — ", 1)[0],
            fix="use a token of a member who may see production variables",
            data={"project_id": u.project_id},
        )
        for u in ctx.inventory.unknowns
        if "hiddenProductionEnvCount" in u.reason
    ]


async def staging_targets(ctx: PreflightContext) -> list[Risk]:
    """Deployments with ``target: staging`` in the plan: redeployed as staging, their alias checked."""
    refs = (
        [d for cp in ctx.plan.credentials for d in cp.deployments]
        if ctx.plan is not None
        else [d for d in ctx.inventory.deployments if d.serving]
    )
    staging = {d.deployment_id: d for d in refs if d.target == "staging"}
    by_project: dict[str, int] = {}
    for d in staging.values():
        by_project[d.project_id] = by_project.get(d.project_id, 0) + 1
    return [
        Risk(
            check="vercel.staging-target",
            severity=Severity.INFO,
            subject=ctx.project_name(pid),
            message=f"{n} staging deployment(s): redeployed with target staging (not preview); the new "
            "build must take the staging alias",
            data={"project_id": pid, "deployments": n},
        )
        for pid, n in sorted(by_project.items())
    ]


async def integration_managed(ctx: PreflightContext) -> list[Risk]:
    """Credentials of Upstash resources made through the Vercel Marketplace integration: their final
    reset is a dashboard action (a person), after which Vercel re-syncs the env vars."""
    creds = {c.fingerprint: c for c in ctx.inventory.credentials}
    planned = [cp.credential for cp in ctx.plan.credentials] if ctx.plan is not None else list(creds)
    out = []
    for fp in planned:
        c = creds.get(fp)
        if c is None or c.management is not Management.VERCEL_INTEGRATION:
            continue
        out.append(
            Risk(
                check="vercel.integration-managed",
                severity=Severity.INFO,
                subject=f"{c.product} {c.resource_name or c.resource_id or fp}",
                message="managed by the Vercel integration: the final reset is a dashboard step for a person; "
                "keyroll waits until Vercel re-syncs the new value, then redeploys",
                data={"credential": fp},
            )
        )
    return out


CHECKS: tuple[Check, ...] = (
    plan_tier,
    quota_headroom,
    ignored_build_step,
    protection,
    hidden_env,
    staging_targets,
    integration_managed,
)
"""The Vercel checks, in report order."""
