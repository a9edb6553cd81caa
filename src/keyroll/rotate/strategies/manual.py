"""A credential keyroll cannot mint → the user supplies the new value (stdin or a file, never
argv); keyroll writes every copy in place, redeploys, waits READY and probes; revoking the old
value at its issuer is a human step the user confirms.

The revoke step has its own gate on top of :func:`~keyroll.rotate.gates.revoke_gate` (every
serving deployment rebuilt after its write and READY):

* a probe must have passed — a deployment answering 2xx on ``--health-path`` without naming the
  old fingerprint, or a provider probe that accepted the new value; nothing else proves the new
  value works;
* unreadable copies the plan could not write (``probably the same value — unverified`` with
  several candidates) must be confirmed as updated by hand (``--confirm-unverified``): until
  then the run waits, nothing is rolled back.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.model import (
    ActionName,
    Confidence,
    CredentialPlan,
    LocationKind,
    Plan,
    Step,
    StepKind,
    Strategy,
)
from keyroll.core.steps import (
    LocationSpec,
    ManualRevokeParams,
    ManualValueParams,
    ProbeNewParams,
    group_spec_of,
)
from keyroll.rotate.gates import revoke_gate
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, distribution_steps, rescan_step
from keyroll.rotate.runtime import Action, GateFailed, Probe, Runtime, WaitingForHuman, gid_of
from keyroll.rotate.strategies.common import base_spec

__all__ = ["ACTIONS", "build", "describe_copy", "needs_probe", "probe_evidence"]


def _provider_probe(cp: CredentialPlan) -> bool:
    """True when a provider adapter recognised the credential: its ``probe`` tells whether the
    new value is accepted (no built-in probe knows a manually rotated credential)."""
    group = group_spec_of(cp.steps[0]) if cp.steps else None
    return bool(group is not None and group.adapter)


def needs_probe(plan: Plan) -> list[str]:
    """Manual credentials of ``plan`` that only ``--health-path`` can probe before their revoke
    step (the revoke gate refuses without a passed probe)."""
    return [
        cp.credential for cp in plan.credentials if cp.strategy is Strategy.MANUAL and not _provider_probe(cp)
    ]


def describe_copy(spec: LocationSpec) -> str:
    """A value-free name for one copy: ``vercel admin STRIPE_SECRET_KEY [production] (sensitive)``."""
    kind = spec.kind.value
    if spec.is_vercel:
        owner = (
            "shared" if spec.kind is LocationKind.VERCEL_SHARED_ENV else spec.project_name or spec.project_id
        )
        scope = ",".join(spec.targets + spec.custom_environment_ids)
        branch = f"@{spec.git_branch}" if spec.git_branch else ""
        kind_note = f" ({spec.type})" if spec.type else ""
        return f"vercel {owner} {spec.key} [{scope}{branch}]{kind_note}"
    if spec.kind is LocationKind.GITHUB_SECRET:
        return f"github {spec.repo} {spec.scope} {spec.name}"
    return f"{kind} {spec.path or spec.key}".strip()


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for a manually rotated credential."""
    spec = base_spec(ctx)
    primary = ctx.group.primary
    if primary.adapter:  # recognised by an adapter that cannot mint: its probe still gates the revoke
        spec = replace(spec, adapter=primary.adapter, adapter_kind=primary.adapter_kind)
    gid, fp = ctx.gid, ctx.fp
    mint = Step(
        f"{gid}/mint",
        StepKind.MINT,
        fp,
        f"read the new value of {fp} (stdin or --value-file)",
        (),
        ManualValueParams(group=spec).to_params(),
    )
    steps = [mint]
    dist, tails = distribution_steps(ctx, ctx.locations, values="new", after=[mint.id])
    steps += dist
    probe = Step(
        f"{gid}/probe",
        StepKind.PROBE,
        fp,
        "probe the new deployments",
        tuple(tails),
        ProbeNewParams(values="new", phase=1).to_params(),
    )
    untouched = sorted({describe_copy(a) for a in ctx.ambiguous})
    blind = sorted({describe_copy(loc) for loc in ctx.locations if loc.confidence != Confidence.EXACT})
    text = f"Revoke the old value {fp} at the service that issued it, then confirm."
    revoke = Step(
        f"{gid}/revoke",
        StepKind.HUMAN,
        fp,
        "revoke the old value at its issuer",
        (probe.id,),
        ManualRevokeParams(instructions=text, unverified=tuple(untouched)).to_params(),
        destructive=True,
    )
    rescan = rescan_step(gid, fp, after=revoke.id)
    steps += [probe, revoke, rescan]
    warnings = [f"{c}: probably the same value — unverified; written blind" for c in blind]
    warnings += [
        f"{c}: probably the same value — unverified; NOT written by this plan: update it by hand, "
        "then confirm with --confirm-unverified (the revoke step waits for it)"
        for c in untouched
    ]
    return StrategyPlan(steps, human_steps=[text], warnings=warnings)


async def _value(step: Step, rt: Runtime) -> dict[str, Any]:
    gid = gid_of(step)
    value = rt.get_value(gid, "new", "value")
    if value is None:
        if rt.secret_source is None:
            raise WaitingForHuman(
                f"the new value of {step.credential} is needed",
                hint="run `keyroll resume --value-file FP=PATH` (or pipe it on stdin)",
            )
        value = await rt.secret_source.new_value(step, f"new value for {step.credential}")
        if not value:
            raise RotationError(f"an empty value was given for {step.credential}")
        if value.fingerprint == step.credential:
            raise RotationError(f"the new value of {step.credential} equals the old one")
        rt.put_value(gid, "new", "value", value)
    return {"new_fp": value.fingerprint}


def probe_evidence(step: Step, rt: Runtime) -> dict[str, Any]:
    """What the group's ``probe_new`` steps proved: deployments that answered 2xx on the health
    path, provider probes that accepted the new value."""
    healthy: list[str] = []
    accepted: list[str] = []
    for s in rt.group_of(step).steps:
        if s.action != ActionName.PROBE_NEW:
            continue
        detail = rt.detail(s.id)
        if not detail.get("ok"):
            continue
        healthy += [str(d.get("deployment")) for d in detail.get("deployments", []) if d.get("ok")]
        accepted += [
            str(p.get("fp")) for p in detail.get("probes", []) if p.get("result") == Probe.ACCEPTED.value
        ]
    return {"healthy_deployments": sorted(healthy), "provider_accepted": sorted(accepted)}


def _confirmed_by_flag(step: Step, rt: Runtime) -> bool:
    for ref in rt.options.confirm_revoked:
        fp = ref if ref.startswith("sha256:") else f"sha256:{ref}"
        if step.credential.startswith(fp):
            return True
    return False


async def _revoke(step: Step, rt: Runtime) -> dict[str, Any]:
    evidence = probe_evidence(step, rt)
    forced = False
    if not evidence["healthy_deployments"] and not evidence["provider_accepted"]:
        if not rt.options.force_revoke:
            raise GateFailed(
                f"refusing to revoke {step.credential}: no probe passed (no health path, no provider probe)",
                hint="apply again with --health-path PATH, or pass --force-revoke (recorded in the report)",
            )
        forced = True
    params = ManualRevokeParams.of(step)
    unverified = list(params.unverified)
    if unverified and not rt.options.confirm_unverified:
        raise WaitingForHuman(
            f"{len(unverified)} unreadable cop{'y' if len(unverified) == 1 else 'ies'} not written "
            f"(probably the same value — unverified): {'; '.join(unverified[:3])}",
            hint="update them by hand, then run `keyroll resume --confirm-unverified`",
        )
    gate = await revoke_gate(step, rt)
    instructions = params.instructions if params.instructions is not None else step.description
    asked = rt.now()
    if _confirmed_by_flag(step, rt):
        how = "--confirm-revoked"
    elif rt.human is not None:
        await rt.human.perform(step, instructions)
        how = "prompt"
    else:
        raise WaitingForHuman(
            f"waiting for a person: {instructions}",
            hint=f"do it, then run `keyroll resume --confirm-revoked {step.credential}`",
        )
    detail: dict[str, Any] = {
        **gate,
        "probe_evidence": evidence,
        "unverified_confirmed": unverified,
        "confirmed": True,
        "confirmed_by": how,
        "human_asked_at": asked,
        "human_done_at": rt.now(),
        "revoked_at": rt.now(),
    }
    if forced:
        detail.update(gate="forced", force_revoke=True, no_probe=True)
    return detail


ACTIONS: dict[str, Action] = {
    ActionName.MANUAL_VALUE: Action(_value),
    ActionName.MANUAL_REVOKE: Action(_revoke),
}
