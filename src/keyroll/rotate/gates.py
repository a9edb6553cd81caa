"""Gates and probes: nothing is revoked (or rolled) until the evidence says it is safe.

* :func:`revoke_gate` — every write of the phase is done, every affected serving deployment
  was redeployed *after* its env write and is READY, the production alias points at the new
  build, and the probes passed. ``--force-revoke`` turns a failed gate into a journaled override.
* ``probe_new`` — the provider accepts every new value, and (with ``health_path``) every new
  deployment answers 2xx without naming an old fingerprint.
* ``probe_old`` — after revocation the provider rejects every old value.
* ``rescan`` — the copies keyroll wrote read back with the new fingerprints; file backups go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyroll.core.errors import KeyrollError, RotationError
from keyroll.core.model import ActionName, Step, StepKind, StepState
from keyroll.core.secret import Secret
from keyroll.core.steps import (
    GroupSpec,
    LocationSpec,
    ProbeNewParams,
    RedeployParams,
    WriteParams,
    is_cutover_reset,
    locations_of,
    phase_of,
)
from keyroll.rotate.files import backup_path
from keyroll.rotate.redeploy import probe_deployment, slot_of
from keyroll.rotate.runtime import Action, GateFailed, Probe, Runtime, gid_of

__all__ = ["ACTIONS", "probe_values", "revoke_gate"]


def _phase_steps(step: Step, rt: Runtime, phase: int) -> list[Step]:
    return [s for s in rt.group_of(step).steps if phase_of(s, default=0) == phase]


def _ready_slots(rt: Runtime, is_fresh: Callable[[str, str, float], bool]) -> dict[str, set[tuple[str, str]]]:
    """Slots (per project) that have a build of this run seen READY and created after the env
    write: the slot's latest READY deployment is at least that new, so it is fresh too."""
    ready: set[str] = set()
    for cp in rt.plan.credentials:
        for s in cp.steps:
            if s.kind is StepKind.AWAIT_READY:
                ready.update(r["new"] for r in rt.detail(s.id).get("ready", []) if r.get("state") == "READY")
    out: dict[str, set[tuple[str, str]]] = {}
    for cp in rt.plan.credentials:
        for s in cp.steps:
            if s.kind is not StepKind.REDEPLOY:
                continue
            for d in rt.detail(s.id).get("deployments", []):
                if d["new"] in ready and is_fresh(s.project_id, d["new"], float(d.get("created_at") or 0)):
                    slot = slot_of(d.get("target"), d.get("git_branch"), d.get("custom_environment_id"))
                    out.setdefault(s.project_id, set()).add(slot)
    return out


async def _production_targets(
    rt: Runtime, projects: set[str], problems: list[str]
) -> dict[str, dict[str, Any]]:
    """``targets.production`` of each project: from the team's project list when that takes fewer
    requests than one read per project, the rest read one by one. Unreadable ones go to ``problems``."""
    out: dict[str, dict[str, Any]] = {}
    if len(projects) >= 4:
        try:
            found = await rt.vercel.find_projects(projects, max_pages=len(projects) // 2)
        except KeyrollError:
            found = {}
        out = {pid: (p.targets or {}).get("production") or {} for pid, p in found.items()}

    async def one(project_id: str) -> None:
        try:
            project = await rt.vercel.get_project(project_id)
        except KeyrollError as exc:
            problems.append(f"{project_id}: cannot read the production target ({exc.message})")
            return
        out[project_id] = (project.targets or {}).get("production") or {}

    await asyncio.gather(*(one(p) for p in sorted(projects - set(out))))
    return out


async def revoke_gate(step: Step, rt: Runtime, *, phase: int = 1) -> dict[str, Any]:
    """Check that revoking (or rolling) is safe; returns the evidence for the journal.

    :raises GateFailed: a check failed and ``--force-revoke`` was not given.
    """
    problems: list[str] = []
    phase_steps = _phase_steps(step, rt, phase)
    written: dict[str, float] = {}
    for s in phase_steps:
        rec = rt.records.get(s.id)
        state = rec.state if rec else StepState.PENDING
        if state not in (StepState.DONE, StepState.SKIPPED):
            problems.append(f"{s.id} is {state.value}")
            continue
        if s.kind is StepKind.WRITE_ENV and s.action == ActionName.WRITE:
            at = float(rt.detail(s.id).get("env_written_at", 0.0))
            for spec in locations_of(s):
                for p in spec.project_ids:
                    written[p] = max(written.get(p, 0.0), at)
        if (
            s.kind is StepKind.PROBE
            and s.action == ActionName.PROBE_NEW
            and not rt.detail(s.id).get("ok", False)
        ):
            problems.append(f"{s.id}: probes did not pass")
    created_ms: dict[str, float] = {}
    fresh: dict[str, dict[str, float]] = {}
    """project → {deployment id: redeploy started} over every redeploy of the run (any credential)"""
    for cp in rt.plan.credentials:
        for s in cp.steps:
            if s.kind is StepKind.REDEPLOY:
                detail = rt.detail(s.id)
                for d in detail.get("deployments", []):
                    at = d.get("requested_at") or d.get("started_at") or detail.get("redeploy_started", 0.0)
                    fresh.setdefault(s.project_id, {})[d["new"]] = float(at)
                    created_ms[d["new"]] = float(d.get("created_at") or 0)
    prod_projects: set[str] = set()
    other_slots: dict[str, set[tuple[str, str]]] = {}
    for s in phase_steps:
        if s.kind is not StepKind.REDEPLOY:
            continue
        detail = rt.detail(s.id)
        started = float(detail.get("redeploy_started", 0.0))
        if (
            s.project_id in written
            and started
            and started < written[s.project_id]
            and not all(d.get("shared_build") for d in detail.get("deployments", []))
        ):
            problems.append(f"{s.project_id}: redeployed before its env write")
        for d in detail.get("deployments", []):
            slot = slot_of(d.get("target"), d.get("git_branch"), d.get("custom_environment_id"))
            if slot[0] == "production":
                prod_projects.add(s.project_id)
            else:
                other_slots.setdefault(s.project_id, set()).add(slot)

    def is_fresh(project_id: str, dep_id: str, created: float) -> bool:
        """Requested by this run after the write — or created (Vercel's clock) after it: a slow
        create request sent before the write still snapshots the env after it."""
        requested = fresh.get(project_id, {}).get(dep_id)
        if requested is not None and requested >= written.get(project_id, 0.0):
            return True
        created = created or created_ms.get(dep_id, 0.0)
        return bool(created) and created / 1000 >= written.get(project_id, float("inf"))

    if rt.providers.vercel is not None:
        covered = _ready_slots(rt, is_fresh)
        unproven = {p: sl - covered.get(p, set()) for p, sl in sorted(other_slots.items())}
        current = await _production_targets(rt, prod_projects, problems)

        async def check(project_id: str) -> None:
            """Production: the deployment the production alias points at is fresh."""
            if project_id not in current:
                return
            cur = current[project_id]
            cur_id = str(cur.get("id") or cur.get("uid") or "")
            if not cur_id or is_fresh(project_id, cur_id, float(cur.get("createdAt") or 0)):
                return
            try:  # not ours as far as the journal knows (e.g. built by a crashed process): ask Vercel
                created = float((await rt.vercel.get_deployment(cur_id)).created_at or 0)
            except KeyrollError:
                created = 0.0
            if not is_fresh(project_id, cur_id, created):
                problems.append(f"{project_id}: production serves {cur_id}, built before the env change")

        async def check_slots(project_id: str, slots: set[tuple[str, str]]) -> None:
            """Previews and custom environments this run has no fresh READY build of: the latest
            READY deployment of each slot is fresh."""
            try:
                recent = await rt.vercel.list_deployments(project_id, limit=50)
            except KeyrollError as exc:
                problems.append(f"{project_id}: cannot list deployments ({exc.message})")
                return
            latest: dict[tuple[str, str], Any] = {}
            for d in recent:
                slot = slot_of(d.target, d.git_branch, d.custom_environment_id)
                if d.ready_state != "READY" or slot not in slots:
                    continue
                if slot not in latest or d.created_at > latest[slot].created_at:
                    latest[slot] = d
            for slot, d in sorted(latest.items()):
                if not is_fresh(project_id, d.id, d.created_at):
                    problems.append(
                        f"{project_id} [{slot[0]} {slot[1]}]: serves {d.id}, built before the env change"
                    )

        await asyncio.gather(
            *(check(p) for p in sorted(prod_projects)),
            *(check_slots(p, sl) for p, sl in unproven.items() if sl),
        )
    evidence: dict[str, Any] = {
        "gate": "passed" if not problems else "failed",
        "gate_problems": sorted(problems),
    }
    if problems:
        if not rt.options.force_revoke:
            raise GateFailed(
                f"refusing to revoke: {problems[0]}"
                + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""),
                hint="fix the deployment and run `keyroll resume`, or pass --force-revoke (recorded in the report)",
            )
        evidence["gate"] = "forced"
        evidence["force_revoke"] = True
    return evidence


async def probe_values(rt: Runtime, spec: GroupSpec, values: dict[str, Secret]) -> list[dict[str, Any]]:
    """Ask the provider about each value of a set; ``[{role, fp, result}]``."""
    product = spec.product
    strategy = spec.strategy
    out: list[dict[str, Any]] = []
    if spec.adapter and spec.adapter != "upstash" and strategy in ("adapter", "manual"):
        from keyroll.rotate.strategies.adapter import probe_with_adapter

        return await probe_with_adapter(rt, spec, values)
    if strategy == "manual":
        return out
    if product == "redis":
        url = str(spec.rest_url or "")
        for role in ("rest_token", "readonly_rest_token"):
            if role in values and url:
                res = await rt.probe_redis(url, values[role], readonly=role.startswith("readonly"))
                out.append({"role": role, "fp": values[role].fingerprint, "result": res.value})
    elif product == "qstash" and strategy == "qstash_signing":
        region = str(spec.rest_url or "")
        try:
            keys = await rt.qstash.get_keys(await rt.qstash_token_for(region), url=region or None)
            have = {keys.current.fingerprint, keys.next.fingerprint}
        except KeyrollError:
            have = set()
        for role in ("signing_current", "signing_next"):
            if role in values:
                fp = values[role].fingerprint
                res = Probe.UNKNOWN if not have else (Probe.ACCEPTED if fp in have else Probe.REJECTED)
                out.append({"role": role, "fp": fp, "result": res.value})
    elif product == "qstash":
        if "token" in values:
            res = await rt.probe_qstash(values["token"], str(spec.rest_url or "") or None)
            out.append({"role": "token", "fp": values["token"].fingerprint, "result": res.value})
    elif product in ("vector", "search"):
        url = str(spec.rest_url or "")
        for role in ("token", "readonly_token"):
            if role in values and url:
                res = await rt.probe_index(product, url, values[role])
                out.append({"role": role, "fp": values[role].fingerprint, "result": res.value})
    return out


def _bypass(rt: Runtime, project_id: str) -> Secret | None:
    """The project's Protection Bypass for Automation secret (by id or by the name the plan knows)."""
    name = next(
        (
            RedeployParams.of(s).project_name if s.action == ActionName.REDEPLOY else ""
            for s in rt.plan.steps
            if s.project_id == project_id
        ),
        "",
    )
    return rt.providers.config.bypass_for(project_id, name)


async def _probe_new(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    gid = gid_of(step)
    params = ProbeNewParams.of(step)
    phase = params.phase
    set_name = params.values
    values = rt.values(gid, set_name) if set_name else {}
    provider = await probe_values(rt, spec, values)
    bad = [p for p in provider if p["result"] == Probe.REJECTED.value]
    new_fps = {v.fingerprint for v in values.values()}
    old_fps = {
        loc.old_fp
        for s in _phase_steps(step, rt, phase)
        if s.action == ActionName.WRITE
        for loc in locations_of(s)
    } - new_fps
    deployments: list[dict[str, Any]] = []
    ready_steps = [s for s in _phase_steps(step, rt, phase) if s.kind is StepKind.AWAIT_READY]
    ready_at = [float(rt.detail(s.id).get("ready_at", 0.0)) for s in ready_steps]
    ours = {
        loc.key
        for s in _phase_steps(step, rt, phase)
        if s.kind is StepKind.WRITE_ENV
        for loc in locations_of(s)
    } - {""}
    if rt.options.health_path is not None:
        targets = [
            (s.project_id, d) for s in ready_steps for d in rt.detail(s.id).get("ready", []) if d.get("url")
        ]
        path = rt.options.health_path
        bypass = {pid: _bypass(rt, pid) for pid, _ in targets}
        results = list(
            await asyncio.gather(
                *(
                    probe_deployment(rt.http, d["url"], path, old_fps, ours, bypass=bypass[pid])
                    for pid, d in targets
                )
            )
        )
        # a deployment may still be warming up: look again a few times before blaming the credential
        delay = max(rt.options.poll_interval_s, 0.05)
        for _ in range(5):
            retry = [i for i, r in enumerate(results) if not r.get("ok")]
            if not retry:
                break
            await asyncio.sleep(delay)
            delay *= 2
            again = await asyncio.gather(
                *(
                    probe_deployment(
                        rt.http, targets[i][1]["url"], path, old_fps, ours, bypass=bypass[targets[i][0]]
                    )
                    for i in retry
                )
            )
            for i, r in zip(retry, again, strict=True):
                results[i] = {**r, "attempts": int(results[i].get("attempts", 1)) + 1}
        for (project_id, d), r in zip(targets, results, strict=True):
            deployments.append({"project_id": project_id, "deployment": d["new"], **r})
            if r.get("protected"):
                rt.note(f"warning: {d['new']}: {r['note']}")
    failed = [d for d in deployments if not d.get("ok")]
    detail: dict[str, Any] = {
        "ok": not bad and not failed,
        "probes": provider,
        "deployments": deployments,
        "probed_at": rt.now(),
    }
    if params.cutover:
        reset_step = next(s for s in rt.group_of(step).steps if is_cutover_reset(s))
        reset_at = float(rt.detail(reset_step.id).get("revoked_at", 0.0))
        last_ready = max(ready_at, default=rt.done_at(reset_step.id))
        detail["window_start"] = reset_at
        detail["window_end"] = last_ready
        detail["window_s"] = round(max(0.0, last_ready - reset_at), 3)
    if bad or failed:
        what = (
            bad[0]["role"]
            if bad
            else f"deployment {failed[0]['deployment']} ({failed[0].get('status', failed[0].get('error'))})"
        )
        raise RotationError(
            f"probe failed for {step.credential}: {what}",
            hint="the new credential is not working everywhere; nothing was revoked",
        )
    return detail


async def _probe_old(step: Step, rt: Runtime) -> dict[str, Any]:
    spec = rt.spec(step)
    gid = gid_of(step)
    old = rt.values(gid, "old")
    old.pop("username", None)
    results = await probe_values(rt, spec, old)
    still = [r for r in results if r["result"] == Probe.ACCEPTED.value]
    detail = {"old_rejected": not still and bool(results), "probes": results, "probed_at": rt.now()}
    if still:
        raise RotationError(
            f"the old credential {still[0]['fp']} ({still[0]['role']}) is still accepted after revocation",
            hint="check the provider; `keyroll resume` probes again",
        )
    return detail


async def _rescan(step: Step, rt: Runtime) -> dict[str, Any]:
    stale: list[dict[str, Any]] = []
    checked = 0
    expected: dict[tuple[str, str], tuple[LocationSpec, str]] = {}
    for s in sorted(rt.group_of(step).steps, key=phase_of):
        if s.kind is not StepKind.WRITE_ENV:
            continue
        detail = rt.detail(s.id)
        action = s.action
        target = WriteParams.of(s).target if action == ActionName.WRITE else None
        if action == ActionName.RESYNC_WAIT:
            fps = {w["env_id"]: w["fp"] for w in detail.get("resynced", []) if w.get("fp")}
            for spec in locations_of(s):
                key = (spec.project_id, spec.env_id)
                if spec.env_id in fps:
                    expected[key] = (spec, fps[spec.env_id])
                else:
                    expected.pop(key, None)
        elif action == ActionName.WRITE and target == "vercel":
            fps = {w["env_id"]: w["fp"] for w in detail.get("written", [])}
            for spec in locations_of(s):
                if spec.type != "sensitive" and spec.env_id in fps:
                    expected[(spec.project_id, spec.env_id)] = (spec, fps[spec.env_id])
        elif action == ActionName.WRITE and target == "files" and rt.options.rewrite_files:
            for f in detail.get("files", []):
                b = backup_path(Path(f["path"]), rt.run_id)
                if b.exists():
                    b.unlink()
    reads = list(expected.values())

    async def read(spec: LocationSpec, want: str) -> None:
        nonlocal checked
        try:
            var = await rt.vercel.get_env(spec.project_id, spec.env_id)
        except KeyrollError:
            return
        checked += 1
        if var.value is not None and var.value.fingerprint != want:
            stale.append({"project_id": spec.project_id, "key": spec.key, "fp": var.value.fingerprint})

    if reads and rt.providers.vercel is not None:
        await asyncio.gather(*(read(s, w) for s, w in reads))
    return {"checked": checked, "stale": stale, "rescanned_at": rt.now()}


ACTIONS: dict[str, Action] = {
    ActionName.PROBE_NEW: Action(_probe_new),
    ActionName.PROBE_OLD: Action(_probe_old),
    ActionName.RESCAN: Action(_rescan),
}
"""Generic actions; strategies add their own."""
