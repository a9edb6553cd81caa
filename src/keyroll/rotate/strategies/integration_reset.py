"""Vector / Search / QStash token created through the Vercel integration → a guided reset.

Such resources live in a Vercel-owned Upstash account the Developer API cannot reach, so a
person resets them in the console (Vercel → Integrations → Upstash → Manage → the resource →
Open in Upstash → Reset). The old token dies at that moment: this is a cutover, not an overlap,
and it needs ``--accept-downtime``. That Vercel then shows the new values is **not confirmed**,
so after the reset keyroll reads the integration's vars and, where they still hold the old value,
asks the person for the new credential (stdin or ``--value-file OLD_FP=PATH``, never argv; each
role — token, read-only token — is asked under its own old value's fingerprint). It checks the new
token with the provider, writes it everywhere itself and redeploys every project at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from keyroll.core.errors import KeyrollError, RotationError
from keyroll.core.model import ActionName, LocationKind, Step, StepKind
from keyroll.core.secret import Fingerprint, Secret
from keyroll.core.steps import GroupSpec, GuidedResetParams, GuidedValuesParams, LocationSpec, locations_of
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, cutover_tail
from keyroll.rotate.runtime import Action, Probe, Runtime, WaitingForHuman, gid_of
from keyroll.rotate.strategies.common import base_spec

__all__ = ["ACTIONS", "build", "instructions"]

_WHAT = {"vector": "Vector index", "search": "Search index", "qstash": "QStash"}
_RESET = {"vector": "Reset Password", "search": "Reset Password", "qstash": "Reset token"}
RESYNC_GRACE_S = 10.0
"""how long keyroll looks for the new value in Vercel before asking the person for it"""


def instructions(product: str, name: str) -> str:
    """What the person clicks (no API can do it for an integration-created resource)."""
    what = _WHAT.get(product, product)
    return (
        f"Reset the {what} {name}: Vercel dashboard → Integrations → Upstash → Manage → select it → "
        f"Open in Upstash → {_RESET.get(product, 'Reset')}. The old token stops working at once; keyroll "
        "then takes the new value from Vercel (or asks you for it), writes it everywhere and redeploys."
    )


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for one integration-managed index's (or QStash user's) tokens."""
    spec = base_spec(ctx)
    gid, fp = ctx.gid, ctx.fp
    product = spec.product
    name = spec.resource_name or spec.rest_url or gid
    text = instructions(product, name)
    reset = Step(
        f"{gid}/reset",
        StepKind.HUMAN,
        fp,
        f"a person resets the {_WHAT.get(product, product)} {name} in the Upstash console (the old token dies now)",
        (),
        GuidedResetParams(group=spec, instructions=text).to_params(),
        destructive=True,
    )
    collect = Step(
        f"{gid}/collect",
        StepKind.MINT,
        fp,
        "read the new value from Vercel, or ask for it (stdin or --value-file)",
        (reset.id,),
        GuidedValuesParams(
            locations=tuple(loc for loc in ctx.locations if loc.kind is LocationKind.VERCEL_ENV)
        ).to_params(),
    )
    steps = [reset, collect]
    steps += cutover_tail(ctx, collect.id)
    warnings = [
        f"managed by the Vercel integration: a person resets it; the old token dies at that moment and requests "
        f"fail until each project's new deployment is READY (≈ {ctx.build_estimate_s:.0f} s after the new value "
        "is known) — this is not an overlap"
    ]
    return StrategyPlan(
        steps,
        expected_outage_s=ctx.build_estimate_s,
        requires_downtime_consent=True,
        human_steps=[text],
        warnings=warnings,
    )


async def _probe(rt: Runtime, spec: GroupSpec, token: Secret) -> Probe:
    url = str(spec.rest_url or "")
    if spec.product == "qstash":
        return await rt.probe_qstash(token, url or None)
    if not url:
        return Probe.UNKNOWN
    return await rt.probe_index(spec.product, url, token)


async def _reset(step: Step, rt: Runtime) -> dict[str, Any]:
    params = GuidedResetParams.of(step)
    text = params.instructions if params.instructions is not None else step.description
    if rt.human is None:
        raise WaitingForHuman(
            f"waiting for a person: {text}",
            hint="do it, then run `keyroll resume` (it checks that it was done)",
        )
    asked = rt.now()
    await rt.human.perform(step, text)
    done = rt.now()
    old = rt.get_value(gid_of(step), "old", "token")
    result = await _probe(rt, rt.spec(step), old) if old is not None else Probe.UNKNOWN
    if result is Probe.ACCEPTED:
        raise RotationError(
            "the old token still works — the console reset was not done",
            hint="reset it in the Upstash console, then run `keyroll resume`",
        )
    return {
        "human_asked_at": asked,
        "human_done_at": done,
        "revoked_at": done,
        "reset_at": done,
        "old_probe": result.value,
    }


async def _reset_reconcile(step: Step, rt: Runtime) -> dict[str, Any] | None:
    old = rt.get_value(gid_of(step), "old", "token")
    if old is None or await _probe(rt, rt.spec(step), old) is not Probe.REJECTED:
        return None
    rec = rt.records.get(step.id)
    at = rec.ts if rec else rt.now()
    return {
        "human_asked_at": at,
        "human_done_at": rt.now(),
        "revoked_at": at,
        "old_probe": Probe.REJECTED.value,
    }


async def _from_vercel(
    rt: Runtime, locations: Sequence[LocationSpec], role: str, old_fp: str
) -> Secret | None:
    """The value Vercel now shows for ``role`` on a var of the integration, if it changed."""
    for loc in locations:
        if loc.role != role:
            continue
        try:
            var = await rt.vercel.get_env(loc.project_id, loc.env_id)
        except KeyrollError:
            continue
        if var.value is not None and var.value.reveal() and var.value.fingerprint != old_fp:
            return var.value
    return None


async def _values(step: Step, rt: Runtime) -> dict[str, Any]:
    gid = gid_of(step)
    spec = rt.spec(step)
    old = rt.fingerprints(gid, "old")
    locations = GuidedValuesParams.of(step).locations
    written = {
        loc.role for s in rt.group_of(step).steps if s.action == ActionName.WRITE for loc in locations_of(s)
    }
    roles = sorted(written | {"token"})
    sources: dict[str, str] = {}
    deadline = rt.now() + RESYNC_GRACE_S
    for role in roles:
        value = rt.get_value(gid, "new", role)
        while value is None and locations:
            value = await _from_vercel(rt, locations, role, old.get(role, ""))
            if value is not None or rt.now() > deadline:
                break
            await asyncio.sleep(max(rt.options.poll_interval_s, 0.2))
        if value is not None:
            sources[role] = "vercel"
        else:
            if rt.secret_source is None:
                raise WaitingForHuman(
                    f"Vercel still shows the old {role} of {step.credential}: the new value is needed",
                    hint="run `keyroll resume --value-file FP=PATH` (or pipe it on stdin); copy it from the Upstash console",
                )
            # asked under the old value's own fingerprint: --value-file OLD_FP=PATH per role
            ask = dataclasses.replace(step, credential=Fingerprint(old[role])) if old.get(role) else step
            value = await rt.secret_source.new_value(
                ask,
                f"new {role.replace('_', ' ')} of {spec.resource_name or step.credential} (Vercel still shows the old one)",
            )
            if not value or value.fingerprint == old.get(role):
                raise RotationError(
                    f"the {role} given is empty or the old one",
                    hint="copy the new value from the Upstash console",
                )
            sources[role] = "person"
        if role == "token" and await _probe(rt, spec, value) is Probe.REJECTED:
            raise RotationError(
                f"the new {role} is rejected by Upstash",
                hint="copy it again from the Upstash console, then `keyroll resume`",
            )
        rt.put_value(gid, "new", role, value)
    return {"new": rt.fingerprints(gid, "new"), "sources": sources}


ACTIONS: dict[str, Action] = {
    ActionName.GUIDED_RESET: Action(_reset, _reset_reconcile),
    ActionName.GUIDED_VALUES: Action(_values),
}
