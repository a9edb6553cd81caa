"""A credential keyroll cannot mint → the user supplies the new value (stdin or a file, never
argv); keyroll distributes, redeploys and verifies; revoking the old value at its issuer is a
human step the user confirms."""

from __future__ import annotations

from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.model import Step, StepKind
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, distribution_steps
from keyroll.rotate.runtime import Action, Runtime, WaitingForHuman, gid_of
from keyroll.rotate.strategies.common import base_spec

__all__ = ["ACTIONS", "build"]


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for a manually rotated credential."""
    spec = base_spec(ctx)
    gid, fp = ctx.gid, ctx.fp
    mint = Step(
        f"{gid}/mint",
        StepKind.MINT,
        fp,
        f"read the new value of {fp} (stdin or --value-file)",
        (),
        {"action": "manual_value", "group": spec},
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
        {"action": "probe_new", "values": "new", "phase": 1},
    )
    text = f"Revoke the old value {fp} at the service that issued it, then confirm."
    revoke = Step(
        f"{gid}/revoke",
        StepKind.HUMAN,
        fp,
        "revoke the old value at its issuer",
        (probe.id,),
        {"action": "human_revoke", "instructions": text},
        destructive=True,
    )
    rescan = Step(
        f"{gid}/rescan", StepKind.RESCAN, fp, "read the written vars back", (revoke.id,), {"action": "rescan"}
    )
    steps += [probe, revoke, rescan]
    return StrategyPlan(steps, human_steps=[text])


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


ACTIONS: dict[str, Action] = {"manual_value": Action(_value)}
