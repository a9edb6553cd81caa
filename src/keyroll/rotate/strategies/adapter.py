"""A credential a provider adapter can mint → overlap, then the adapter revokes the old one.

``mint`` (the adapter makes a second credential with the same rights — for Postgres the other
login role of an alternating pair; a locally generated password is journaled *before* the
provider sees it) → distribute → redeploy → probe (the adapter's probe on the new value, plus
``--health-path``) → ``revoke`` (gated; the adapter's revoke, or a human step when it has none)
→ probe the old value rejected → read the written vars back.

The group spec carries the adapter's name and credential kind; the adapter is looked up in
:func:`keyroll.adapters.registry.registry` when a step runs.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import replace
from typing import Any

from keyroll.adapters.interface import AdapterContext, CredentialRef, Minted, ProviderAdapter
from keyroll.core.errors import KeyrollError, RotationError
from keyroll.core.model import ActionName, Step, StepKind
from keyroll.core.secret import Secret
from keyroll.core.steps import (
    AdapterMintParams,
    AdapterRevokeParams,
    GroupSpec,
    HumanParams,
    ProbeNewParams,
    ProbeOldParams,
)
from keyroll.rotate.gates import revoke_gate
from keyroll.rotate.pipeline import PlanContext, StrategyPlan, distribution_steps, rescan_step
from keyroll.rotate.runtime import Action, Runtime, gid_of
from keyroll.rotate.strategies.common import base_spec

__all__ = ["ACTIONS", "adapter_context", "adapter_of", "build", "credential_ref", "undo_mint"]


def adapter_of(spec: GroupSpec) -> ProviderAdapter:
    """The adapter a group spec names.

    :raises ConfigError: it is not installed (any more).
    """
    from keyroll.adapters.registry import get_registry

    return get_registry().get(str(spec.adapter or ""))


def adapter_context(rt: Runtime) -> AdapterContext:
    """What an adapter may use during a run: its settings, the run's HTTP client, the providers."""
    settings = getattr(rt.providers.config, "adapter_settings", {}) or {}
    return AdapterContext(settings=dict(settings), http=rt.http, providers=rt.providers, note=rt.note)


def credential_ref(
    spec: GroupSpec, values: dict[str, Secret], *, principal: str = ""
) -> CredentialRef | None:
    """The credential of a value set (``password``/``value`` + ``username``) as an adapter sees it."""
    secret = values.get("password") or values.get("value") or values.get("token")
    if secret is None:
        return None
    user = values.get("username")
    return CredentialRef(
        adapter=str(spec.adapter or ""),
        kind=str(spec.adapter_kind or ""),
        secret=secret,
        principal=principal or (user.reveal() if user is not None else str(spec.acl_user or "")),
        endpoint=str(spec.endpoint or ""),
        resource_id=str(spec.resource_id or ""),
        product=str(spec.product or "other"),
    )


def build(ctx: PlanContext) -> StrategyPlan:
    """Steps for a credential whose adapter mints and (usually) revokes."""
    from keyroll.adapters.registry import get_registry

    spec = base_spec(ctx)
    primary = ctx.group.primary
    spec = replace(
        spec,
        adapter=primary.adapter,
        adapter_kind=primary.adapter_kind,
        **_url_parts(str(spec.endpoint or "")),
    )
    gid, fp = ctx.gid, ctx.fp
    adapter = get_registry().get(primary.adapter)
    warnings: list[str] = []
    human_steps: list[str] = []
    logins = {loc.project_id or loc.env_id for loc in ctx.locations if loc.role == "username"}
    bare = [
        loc
        for loc in ctx.locations
        if loc.role == "password" and (loc.project_id or loc.env_id) not in logins
    ]
    if bare:
        keys = ", ".join(sorted({loc.label for loc in bare}))
        warnings.append(
            f"{keys} hold(s) the bare password: the new credential belongs to another login "
            "(alternating users), so a separate user-name variable next to it must change too"
        )
    mint = Step(
        f"{gid}/mint",
        StepKind.MINT,
        fp,
        f"{adapter.name}: make a second credential with the same rights as {primary.acl_user or fp}",
        (),
        AdapterMintParams(group=spec).to_params(),
    )
    steps = [mint]
    dist, tails = distribution_steps(ctx, ctx.locations, values="new", after=[mint.id])
    steps += dist
    probe = Step(
        f"{gid}/probe",
        StepKind.PROBE,
        fp,
        f"{adapter.name}: probe the new credential and the new deployments",
        tuple(tails),
        ProbeNewParams(values="new", phase=1).to_params(),
    )
    steps.append(probe)
    if adapter.can_revoke:
        revoke = Step(
            f"{gid}/revoke",
            StepKind.REVOKE,
            fp,
            f"{adapter.name}: revoke the old credential {fp}",
            (probe.id,),
            AdapterRevokeParams().to_params(),
            destructive=True,
        )
        verify_old = Step(
            f"{gid}/verify-old",
            StepKind.PROBE,
            fp,
            "probe that the old credential is rejected",
            (revoke.id,),
            ProbeOldParams().to_params(),
        )
        steps += [revoke, verify_old]
        last = verify_old.id
    else:
        text = f"Revoke the old value {fp} at {adapter.title or adapter.name}, then confirm."
        revoke = Step(
            f"{gid}/revoke",
            StepKind.HUMAN,
            fp,
            "revoke the old value at its issuer",
            (probe.id,),
            HumanParams(action=ActionName.HUMAN_REVOKE, instructions=text).to_params(),
            destructive=True,
        )
        steps.append(revoke)
        human_steps.append(text)
        last = revoke.id
    steps.append(rescan_step(gid, fp, after=last))
    return StrategyPlan(steps, warnings=warnings, human_steps=human_steps)


def _url_parts(endpoint: str) -> dict[str, Any]:
    """Scheme, host, port, path and query of a URL endpoint: what a URL copy is rebuilt from when
    its current value cannot be read (:func:`keyroll.rotate.render.render_url`)."""
    if "://" not in endpoint:
        return {}
    parts = urllib.parse.urlsplit(endpoint)
    try:
        port = parts.port
    except ValueError:
        port = None
    scheme = "postgresql" if parts.scheme in ("postgres", "postgresql") else parts.scheme
    return {
        "scheme": scheme,
        "host": parts.hostname or "",
        "port": port or 5432,
        "path": parts.path,
        "query": parts.query,
    }


def _minted(rt: Runtime, step: Step) -> Minted | None:
    gid = gid_of(step)
    new = rt.get_value(gid, "new", "password")
    if new is None:
        return None
    user = rt.get_value(gid, "new", "username")
    mint_step = next((s for s in rt.group_of(step).steps if s.action == ActionName.ADAPTER_MINT), None)
    detail = rt.detail(mint_step.id) if mint_step is not None else {}
    return Minted(secret=new, principal=user.reveal() if user else "", state=dict(detail.get("state", {})))


async def _mint(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    gid = gid_of(step)
    adapter = adapter_of(spec)
    old = credential_ref(spec, rt.values(gid, "old"))
    if old is None:
        raise RotationError(
            f"the current value of {step.credential} is unknown",
            hint="the adapter needs it to act as (or find) the current login; make the var readable",
        )
    ctx = adapter_context(rt)
    proposed = rt.get_value(gid, "new", "password")
    if proposed is None:
        proposed = adapter.propose(old)
        if proposed is not None:
            rt.put_value(gid, "new", "password", proposed)  # journaled before the provider sees it
    try:
        minted = await adapter.mint(old, ctx, proposed=proposed)
    except KeyrollError:
        raise
    except Exception as exc:  # an adapter's driver error: never its text (it may echo SQL)
        raise RotationError(
            f"{adapter.name}: minting a credential for {step.credential} failed ({type(exc).__name__})"
        ) from None
    if proposed is None or minted.secret != proposed:
        rt.put_value(gid, "new", "password", minted.secret)
    rt.put_value(gid, "new", "username", Secret(minted.principal or old.principal))
    principal = minted.principal or old.principal
    return {
        "adapter": adapter.name,
        "principal": principal,
        "new_fp": minted.secret.fingerprint,
        "users": [{"user": principal, "password_fp": minted.secret.fingerprint}],
        "state": dict(minted.state),
    }


async def _revoke(step: Step, rt: Runtime) -> dict[str, Any]:
    evidence = await revoke_gate(step, rt)
    spec = rt.spec(step)
    gid = gid_of(step)
    adapter = adapter_of(spec)
    old = credential_ref(spec, rt.values(gid, "old"))
    if old is None:
        raise RotationError(f"the current value of {step.credential} is not in the journal")
    before = rt.now()
    try:
        result = await adapter.revoke(old, _minted(rt, step), adapter_context(rt))
    except KeyrollError:
        raise
    except Exception as exc:
        raise RotationError(
            f"{adapter.name}: revoking {step.credential} failed ({type(exc).__name__})",
            hint="`keyroll resume` tries again",
        ) from None
    return {**evidence, **result, "revoke_started_at": before, "revoked_at": rt.now()}


async def undo_mint(step: Step, rt: Runtime) -> dict[str, Any]:
    """Rollback: the adapter withdraws what it minted (the old credential still works)."""
    minted = _minted(rt, step)
    if minted is None:
        return {}
    adapter = adapter_of(rt.spec(step))
    result = await adapter.undo_mint(minted, adapter_context(rt))
    return {"undone_fp": minted.secret.fingerprint, **result}


async def probe_with_adapter(rt: Runtime, spec: GroupSpec, values: dict[str, Secret]) -> list[dict[str, Any]]:
    """``probe_values`` for adapter groups: ``[{role, fp, result}]`` from the adapter's probe."""
    ref = credential_ref(spec, values)
    if ref is None:
        return []
    adapter = adapter_of(spec)
    try:
        result = await adapter.probe(ref, adapter_context(rt))
        verdict, reason = result.verdict.value, result.reason
    except Exception as exc:  # a probe never fails a step by itself: unknown
        verdict, reason = "unknown", f"probe raised {type(exc).__name__}"
    role = "password" if "password" in values else next(iter(values), "value")
    return [{"role": role, "fp": ref.secret.fingerprint, "result": verdict, "what": reason}]


ACTIONS: dict[str, Action] = {
    ActionName.ADAPTER_MINT: Action(_mint),
    ActionName.ADAPTER_REVOKE: Action(_revoke),
}
