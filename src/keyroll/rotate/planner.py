"""``make_plan``: from an inventory to a deterministic DAG of steps per rotatable credential.

Pure: no I/O, no clock — the same inventory gives the same plan JSON (the plan's
``created_at`` is the inventory's ``generated_at`` and its id a digest of the content).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from keyroll.core.errors import UsageError
from keyroll.core.model import (
    Confidence,
    CredentialPlan,
    Inventory,
    LocationKind,
    Plan,
    Step,
    Strategy,
)
from keyroll.core.serde import to_jsonable
from keyroll.rotate.groups import build_groups
from keyroll.rotate.pipeline import PlanContext, projects_of
from keyroll.rotate.strategies import BUILDERS

__all__ = ["inventory_digest", "make_plan", "validate_plan"]


def inventory_digest(inventory: Inventory) -> str:
    """``keyroll.inventory.digest`` (the inventory package owns the definition)."""
    try:
        from keyroll.inventory import digest
    except ImportError:  # inventory package not installed yet: same idea, local definition
        return _fallback_digest(inventory)
    return str(digest(inventory))


def _fallback_digest(inventory: Inventory) -> str:
    payload = {
        "credentials": sorted(json.dumps(to_jsonable(c), sort_keys=True) for c in inventory.credentials),
        "locations": sorted(json.dumps(to_jsonable(loc), sort_keys=True) for loc in inventory.locations),
        "deployments": sorted(
            json.dumps(to_jsonable(d), sort_keys=True) for d in inventory.deployments if d.serving
        ),
    }
    return "sha256:" + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _common_warnings(ctx: PlanContext) -> list[str]:
    inv = ctx.inventory
    out: list[str] = []
    projects = projects_of(ctx.locations)
    for project_id in projects:
        old = ctx.deployments(project_id, serving=False)
        if old:
            name = ctx.project_name(project_id) or project_id
            ids = ", ".join(d.deployment_id for d in old[:3])
            out.append(
                f"{name}: {len(old)} older deployment(s) still answer with the old credential and will fail after "
                f"revocation ({ids}{'…' if len(old) > 3 else ''})"
            )
            prod = [d.deployment_id for d in old if d.target == "production" and d.state == "READY"]
            if prod:
                out.append(
                    f"{name}: instant rollback to {', '.join(prod[:3])} would serve a revoked credential (rollback candidates)"
                )
    if not projects and any(loc.is_vercel for loc in ctx.locations):
        out.append("the credential's Vercel vars are linked to no project")
    unverified = [loc for loc in ctx.locations if loc.confidence != Confidence.EXACT]
    if unverified:
        out.append(
            f"{len(unverified)} cop{'y' if len(unverified) == 1 else 'ies'} could not be read (sensitive vars, CI secrets): "
            "written blind from the key's meaning"
        )
    if ctx.ambiguous:
        names = ", ".join(sorted({a.label for a in ctx.ambiguous})[:3])
        out.append(
            f"{len(ctx.ambiguous)} unreadable cop{'y' if len(ctx.ambiguous) == 1 else 'ies'} may hold this or another "
            f"credential ({names}): not written — update by hand"
        )
    files = [loc for loc in ctx.locations if loc.kind is LocationKind.FILE]
    if files:
        out.append(
            f"{len(files)} local file cop{'y' if len(files) == 1 else 'ies'}: rewritten only with --rewrite-files"
        )
    fps = set(ctx.group.fingerprints)
    commits = [loc for loc in inv.locations if loc.kind is LocationKind.GIT_COMMIT and loc.fingerprint in fps]
    if commits:
        out.append(
            f"{len(commits)} cop{'y' if len(commits) == 1 else 'ies'} in git history are not rewritten (dead after revocation)"
        )
    if not ctx.locations:
        out.append("no copy of this credential was found anywhere")
    return out


def validate_plan(plan: Plan) -> list[str]:
    """Structural problems: duplicate ids, unknown dependencies, cycles (empty when valid)."""
    problems: list[str] = []
    ids: dict[str, Step] = {}
    for s in plan.steps:
        if s.id in ids:
            problems.append(f"duplicate step id {s.id}")
        ids[s.id] = s
    for s in plan.steps:
        for d in s.depends_on:
            if d not in ids:
                problems.append(f"{s.id} depends on unknown step {d}")
    state: dict[str, int] = {}

    def visit(sid: str) -> bool:
        if state.get(sid) == 1:
            return False
        if state.get(sid) == 2:
            return True
        state[sid] = 1
        ok = all(visit(d) for d in ids[sid].depends_on if d in ids)
        state[sid] = 2
        return ok

    for sid in ids:
        if not visit(sid):
            problems.append(f"dependency cycle through {sid}")
            break
    return problems


def make_plan(
    inventory: Inventory,
    *,
    credentials: Sequence[str] | None = None,
    all_upstash: bool = False,
    strategies: Mapping[str, Strategy] | None = None,
    build_seconds_estimate: float = 60.0,
) -> Plan:
    """One :class:`CredentialPlan` per rotatable unit of the selected credentials.

    :param credentials: fingerprints (or unique prefixes) to rotate; their whole group comes along.
    :param all_upstash: rotate every Upstash credential of the inventory.
    :param strategies: per-fingerprint strategy overrides.
    :raises UsageError: nothing selected, unknown/ambiguous fingerprint, or a strategy that
        cannot rotate a selected credential.
    """
    groups = build_groups(inventory, credentials=credentials, all_upstash=all_upstash, strategies=strategies)
    if not groups:
        raise UsageError(
            "the inventory holds no Upstash credential to rotate", hint="run `keyroll inventory`"
        )
    plans: list[CredentialPlan] = []
    for group in groups:
        ctx = PlanContext(inventory, group, build_seconds_estimate)
        sp = BUILDERS[group.strategy](ctx)
        deployments = tuple(d for p in projects_of(ctx.locations) for d in ctx.deployments(p))
        plans.append(
            CredentialPlan(
                credential=group.primary.fingerprint,
                strategy=group.strategy,
                steps=tuple(sp.steps),
                expected_outage_s=sp.expected_outage_s,
                requires_downtime_consent=sp.requires_downtime_consent,
                projects=tuple(projects_of(ctx.locations)),
                deployments=deployments,
                human_steps=tuple(sp.human_steps),
                warnings=tuple(sp.warnings + _common_warnings(ctx)),
            )
        )
    plans = _order_qstash(plans)
    digest = inventory_digest(inventory)
    body = json.dumps({"digest": digest, "credentials": to_jsonable(plans)}, sort_keys=True)
    plan = Plan(
        id="plan-" + hashlib.sha256(body.encode()).hexdigest()[:12],
        created_at=inventory.generated_at,
        inventory_digest=digest,
        credentials=tuple(plans),
    )
    problems = validate_plan(plan)
    if problems:  # a bug in a strategy builder, not user input
        raise AssertionError("; ".join(problems))
    return plan


def _order_qstash(plans: list[CredentialPlan]) -> list[CredentialPlan]:
    """The QStash token reset waits for the signing-key rolls, which call QStash with that token."""
    signing_tails = [cp.steps[-1].id for cp in plans if cp.strategy is Strategy.QSTASH_SIGNING]
    if not signing_tails:
        return plans
    out = []
    for cp in plans:
        if cp.strategy is Strategy.QSTASH_TOKEN:
            first = cp.steps[0]
            first = Step(
                first.id,
                first.kind,
                first.credential,
                first.description,
                tuple(first.depends_on) + tuple(signing_tails),
                first.params,
                first.destructive,
                first.project_id,
            )
            cp = CredentialPlan(
                cp.credential,
                cp.strategy,
                (first, *cp.steps[1:]),
                cp.expected_outage_s,
                cp.requires_downtime_consent,
                cp.projects,
                cp.deployments,
                cp.human_steps,
                cp.warnings,
            )
        out.append(cp)
    return out
