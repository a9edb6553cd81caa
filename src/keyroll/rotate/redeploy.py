"""Redeploying the serving deployments of a project and waiting until they are READY.

A redeploy is ``POST /v13/deployments?forceNew=1`` from the deployment being replaced (same
target, git branch, custom environment), as ``vercel redeploy`` sends it. Builds share a
bounded number of slots (``max_parallel_builds``); waiting goes through the run's one
:class:`~keyroll.rotate.ready.ReadyWatcher`, which looks at every pending build of every
project with one team-wide listing, timed by observed build times. ERROR/CANCELED/timeout
fails the step, which rolls the credential back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from keyroll.core.errors import KeyrollError, QuotaExceededError
from keyroll.core.model import ActionName, DeploymentRef, Step, StepKind
from keyroll.core.secret import Secret
from keyroll.core.steps import AwaitParams, RedeployParams, WriteParams
from keyroll.providers.vercel.models import Deployment
from keyroll.providers.vercel.protocol import VercelAPI
from keyroll.rotate.ready import TERMINAL_FAILED, BuildWatch, ReadyWatcher
from keyroll.rotate.runtime import BuildFailed, QuotaPaused, Runtime

__all__ = [
    "await_ready",
    "probe_deployment",
    "reconcile_redeploy",
    "redeploy",
    "slot_of",
    "start_build",
    "wait_ready",
]


def slot_of(target: str | None, git_branch: str | None, custom_environment_id: str | None) -> tuple[str, str]:
    """What a deployment serves: ``("production", "")``, ``("staging", "")``, ``("custom", <env id>)`` or
    ``("preview", <branch>)``."""
    if custom_environment_id:
        return ("custom", custom_environment_id)
    if target in ("production", "staging"):
        return (target, "")
    return ("preview", git_branch or "")


def _deployment(ref: DeploymentRef, project_name: str) -> Deployment:
    target = ref.target
    return Deployment(
        id=ref.deployment_id,
        url=ref.url,
        name=project_name or ref.project_id,
        projectId=ref.project_id,
        # a staging deployment is redeployed as staging (its own alias), never as a preview
        target=target if target in ("production", "staging") else None,
        readyState=ref.state or "READY",
        createdAt=int(ref.created_at or 0),
        git_branch=ref.git_branch,
        custom_environment_id=ref.custom_environment_id,
    )


async def start_build(vercel: VercelAPI, ref: DeploymentRef, project_name: str) -> dict[str, Any]:
    """Redeploy one deployment; the new build's ``{old, new, url, target, …, started_at}``.

    :raises QuotaPaused: Vercel's daily deployment quota is spent.
    """
    source = _deployment(ref, project_name)
    if not project_name:
        # the redeploy body needs the project name; read the source once when unknown
        source = await vercel.get_deployment(ref.deployment_id)
    requested = time.time()
    try:
        new = await vercel.redeploy(source)
    except QuotaExceededError as exc:
        raise QuotaPaused(
            f"Vercel's daily deployment quota is spent ({exc.code}, HTTP {exc.status}): the run is paused "
            "and nothing was rolled back; wait until the quota resets (within 24 hours)",
            hint="run `keyroll resume` once the quota resets (within 24 hours), or split the work by project",
        ) from exc
    return {
        "old": ref.deployment_id,
        "new": new.id,
        "url": new.url,
        "target": ref.target,
        "git_branch": ref.git_branch,
        "custom_environment_id": ref.custom_environment_id,
        "created_at": new.created_at or int(time.time() * 1000),
        "requested_at": requested,
        "started_at": time.time(),
    }


async def redeploy(
    step: Step,
    rt: Runtime,
    *,
    adopt: list[dict[str, Any]] | None = None,
    written_at: float | None = None,
) -> dict[str, Any]:
    """Redeploy every serving deployment of the step's project; each build holds one build slot
    until it ends.

    A build of the same source deployment that another credential started *after* this step's
    env writes already carries them: it is adopted instead of starting another build.
    """
    params = RedeployParams.from_params(step.params)  # chosen by kind: no action check
    refs = list(params.deployments)
    name = params.project_name
    adopted = {a["old"]: a for a in adopt or []}
    if written_at is None:
        written_at = max(
            (float(rt.detail(d).get("env_written_at", 0.0)) for d in step.depends_on), default=0.0
        )
    if refs:
        # another credential writing this project right now: let it finish, so one build carries
        # both writes (it adopts ours) instead of waiting for a build that lacks its write
        await _writes_in_flight(rt, step)
    started = time.time()
    results: list[dict[str, Any]] = []
    if rt.resumed and refs:
        # builds the crashed process started are not in project_builds: ask Vercel for them
        await _wait_for_older_builds(rt, step.project_id, refs, written_at)

    async def run(ref: DeploymentRef) -> None:
        if ref.deployment_id in adopted:
            results.append(adopted[ref.deployment_id])
            return
        key = (step.project_id, ref.deployment_id)
        for t0, fut in rt.project_builds.get(key, []):
            if t0 >= written_at:
                try:
                    shared = await asyncio.shield(fut)
                except Exception:
                    break
                results.append({**shared, "adopted": True, "shared_build": True})
                return
        # builds of the same source started before our write lack it; were one of them to finish
        # after ours, it would be promoted over ours. Let them finish first, so ours is promoted last.
        for t0, fut in list(rt.project_builds.get(key, [])):
            if t0 < written_at:
                try:
                    older = await asyncio.shield(fut)
                except Exception:
                    continue
                await _until_terminal(
                    rt, older["new"], float(older.get("started_at") or 0), int(older.get("created_at") or 0)
                )
        loop = asyncio.get_running_loop()
        mine: asyncio.Future[dict[str, Any]] = loop.create_future()
        rt.project_builds.setdefault(key, []).append((time.time(), mine))
        await rt.build_slots.acquire()
        try:
            result = await start_build(rt.vercel, ref, name)
        except BaseException as exc:
            rt.build_slots.release()
            mine.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            mine.exception()  # mark retrieved
            raise
        _release_when_built(rt, result)
        mine.set_result(result)
        results.append(result)

    await asyncio.gather(*(run(r) for r in refs))
    results.sort(key=lambda r: r["old"])
    for r in results:
        if not r.get("adopted"):
            rt.note(f"{name or step.project_id}: redeploying {r['old']} → {r['new']}")
    return {"redeploy_started": started, "env_written_at": written_at, "deployments": results}


def _release_when_built(rt: Runtime, result: dict[str, Any]) -> None:
    """Give the build's slot back once it ended (READY/ERROR/CANCELED/timeout), whoever waits for it.

    Slots are per build, not per step: a step never holds a slot while it waits for another, so
    a project with more serving deployments than the plan's build slots (Hobby: one) cannot
    deadlock the run.
    """
    watch = BuildWatch(float(result.get("started_at") or time.time()), int(result.get("created_at") or 0))

    async def release() -> None:
        try:
            await rt.watcher.wait({result["new"]: watch})
        except BaseException:
            pass
        finally:
            rt.build_slots.release()

    task = asyncio.get_running_loop().create_task(release(), name=f"keyroll-slot-{result['new']}")
    rt.slot_tasks.add(task)
    task.add_done_callback(rt.slot_tasks.discard)


def _writes_to(step: Step, project_id: str) -> bool:
    if step.kind is not StepKind.WRITE_ENV or step.action != ActionName.WRITE:
        return False
    params = WriteParams.of(step)
    if params.target not in ("vercel", "shared"):
        return False
    return any(
        spec.project_id == project_id or project_id in spec.linked_project_ids for spec in params.locations
    )


async def _writes_in_flight(rt: Runtime, step: Step, *, limit_s: float = 30.0) -> None:
    """Wait (bounded) while other credentials' env writes to the step's project are running."""
    own = step.id.split("/", 1)[0]
    others = [s for s in rt.plan.steps if not s.id.startswith(own + "/") and _writes_to(s, step.project_id)]
    deadline = time.time() + limit_s
    while time.time() < deadline and any(s.id in rt.active for s in others):
        await asyncio.sleep(0.01)


async def _wait_for_older_builds(
    rt: Runtime, project_id: str, refs: list[DeploymentRef], written_at: float
) -> None:
    """Wait for in-flight builds of the refs' slots created before ``written_at`` (they lack the write)."""
    slots = {slot_of(r.target, r.git_branch, r.custom_environment_id) for r in refs}
    try:
        recent = await rt.vercel.list_deployments(project_id, limit=50)
    except KeyrollError:
        return
    older = [
        d
        for d in recent
        if d.ready_state not in ("READY", *TERMINAL_FAILED)
        and d.created_at < written_at * 1000
        and slot_of(d.target, d.git_branch, d.custom_environment_id) in slots
    ]
    await asyncio.gather(*(_until_terminal(rt, d.id, d.created_at / 1000, d.created_at) for d in older))


async def _until_terminal(
    rt: Runtime, deployment_id: str, started_at: float = 0.0, created_ms: int = 0
) -> str:
    """Wait until a deployment is READY/ERROR/CANCELED (or the build timeout); its last state."""
    watch = BuildWatch(started_at or time.time(), created_ms)
    seen = await rt.watcher.wait({deployment_id: watch})
    return seen[deployment_id].state


async def reconcile_redeploy(step: Step, rt: Runtime) -> dict[str, Any] | None:
    """After a crash mid-redeploy: adopt deployments of the same slots created after this step's
    env writes (they carry them, whoever created them); redeploy the rest."""
    rec = rt.records.get(step.id)
    written_at = max((float(rt.detail(d).get("env_written_at", 0.0)) for d in step.depends_on), default=0.0)
    since_ms = int((written_at or (rec.ts if rec else 0.0)) * 1000)
    try:
        recent = await rt.vercel.list_deployments(step.project_id, limit=50)
    except KeyrollError:
        return None
    adopted: list[dict[str, Any]] = []
    taken: set[str] = set()
    for ref in RedeployParams.from_params(step.params).deployments:
        for d in sorted(recent, key=lambda d: d.created_at):
            if (
                d.id in taken
                or d.id == ref.deployment_id
                or d.created_at < since_ms
                or d.ready_state in TERMINAL_FAILED
            ):
                continue
            prod = ref.target == "production"
            same_target = (d.target == "production") == prod
            same_env = (d.custom_environment_id or "") == ref.custom_environment_id
            same_branch = not ref.git_branch or not d.git_branch or d.git_branch == ref.git_branch
            if same_target and same_env and same_branch:
                taken.add(d.id)
                adopted.append(
                    {
                        "old": ref.deployment_id,
                        "new": d.id,
                        "url": d.url,
                        "target": ref.target,
                        "git_branch": ref.git_branch,
                        "custom_environment_id": ref.custom_environment_id,
                        "created_at": d.created_at,
                        "started_at": d.created_at / 1000,
                        "adopted": True,
                    }
                )
                break
    detail = await redeploy(step, rt, adopt=adopted)
    detail["reconciled"] = True
    return detail


async def await_ready(step: Step, rt: Runtime) -> dict[str, Any]:
    """Wait until the step's new deployments are READY (through the run's one watcher).

    :raises BuildFailed: a build ended ERROR/CANCELED or exceeded ``build_timeout_s``.
    """
    redeploy_step = AwaitParams.from_params(step.params).redeploy_step
    source = rt.detail(redeploy_step)
    deployments: list[dict[str, Any]] = list(source.get("deployments", []))
    results = await wait_ready(rt.vercel, rt.watcher, deployments, step.project_id)
    name = (
        RedeployParams.from_params(rt.step(redeploy_step).params).project_name
        if redeploy_step in rt.plan_step_ids
        else ""
    )
    for r in results:
        rt.note(f"{name or step.project_id}: READY {r['new']}")
    ready_at = max((r["ready_at"] for r in results), default=time.time())
    return {"ready": results, "ready_at": ready_at}


async def wait_ready(
    vercel: VercelAPI, watcher: ReadyWatcher, deployments: list[dict[str, Any]], project_id: str
) -> list[dict[str, Any]]:
    """Wait through ``watcher`` until the new builds in ``deployments`` (as :func:`start_build`
    returns them) are READY — a staging build also holding its alias; one row per build.

    :raises BuildFailed: a build ended ERROR/CANCELED, exceeded the watcher's timeout, or is a
        staging build without the staging alias.
    """
    results = await _poll(watcher, deployments)
    failed = [r for r in results if r["state"] != "READY"]
    if not failed:
        failed = await _staging_aliases(vercel, deployments, results)
    if failed:
        f = failed[0]
        raise BuildFailed(
            f"deployment {f['new']} of {project_id} ended {f['state']}",
            hint="the old deployment keeps serving; the credential is rolled back",
        )
    return results


async def _staging_aliases(
    vercel: VercelAPI, deployments: list[dict[str, Any]], results: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A READY ``staging`` build must have taken the staging alias, or the old build keeps serving it.

    Each result of a staging build gets ``alias``; the ones without an alias come back (to fail the step).
    """
    staging = {d["new"] for d in deployments if d.get("target") == "staging"}
    missing = []
    for r in results:
        if r["new"] not in staging:
            continue
        dep = await vercel.get_deployment(r["new"])
        r["alias"] = list(dep.alias)
        if not dep.alias:
            missing.append({**r, "state": "READY without the staging alias"})
    return missing


async def _poll(watcher: ReadyWatcher, deps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wait for a project's new deployments through the run's one :class:`ReadyWatcher`."""
    watches = {
        d["new"]: BuildWatch(float(d.get("started_at") or time.time()), int(d.get("created_at") or 0))
        for d in deps
    }
    seen = await watcher.wait(watches)
    out = []
    for d in deps:
        s = seen[d["new"]]
        row: dict[str, Any] = {
            "old": d["old"],
            "new": d["new"],
            "ready_at": s.at,
            "polls": s.looks,
            "url": d.get("url", ""),
            "state": s.state,
        }
        if s.ready:
            row["build_s"] = round(s.at - watches[d["new"]].started_at, 3)
        out.append(row)
    return out


def _url(url: str, path: str) -> str:
    if not url.startswith(("http://", "https://")):
        host = url.split("/", 1)[0]
        local = host.startswith(("127.", "localhost", "[::1]"))
        url = ("http://" if local else "https://") + url
    return url.rstrip("/") + "/" + path.lstrip("/")


PROTECTED_HINT = (
    "set VERCEL_AUTOMATION_BYPASS_SECRET (or [protection_bypass] in keyroll.toml) to a Protection Bypass "
    "for Automation secret of the project, so keyroll can probe protected deployments"
)


async def probe_deployment(
    http: httpx.AsyncClient,
    url: str,
    path: str,
    bad_fps: set[str],
    ours: set[str] | None = None,
    *,
    bypass: Secret | None = None,
) -> dict[str, Any]:
    """GET ``path`` on a deployment: ok when 2xx and the body names no old fingerprint.

    Deployment Protection: ``bypass`` (a Protection Bypass for Automation secret) goes along as
    ``x-vercel-protection-bypass``. A deployment that still answers 401 is ``not probed: protected``
    (``probed: False``, with the fix): neither a failure that blocks nor a pass.

    A 5xx whose JSON body names the failing keys (``{"failed": [{"key": …}]}``, as the sandbox
    and well-behaved health endpoints answer) counts against this credential only when one of
    ``ours`` (the keys it wrote) is among them; another credential's outage is noted, not blamed.
    """
    headers = {"x-vercel-protection-bypass": bypass.reveal()} if bypass is not None else None
    try:
        resp = await http.get(_url(url, path), timeout=15.0, headers=headers)
    except httpx.HTTPError as exc:
        return {"url": url, "ok": False, "error": type(exc).__name__}
    if resp.status_code == 401:
        why = "the bypass secret was not accepted" if bypass is not None else "no bypass secret configured"
        return {
            "url": url,
            "status": 401,
            "ok": True,
            "probed": False,
            "protected": True,
            "note": f"not probed: protected by Deployment Protection ({why}) — {PROTECTED_HINT}",
        }
    body = resp.text[:20000]
    stale = sorted(fp for fp in bad_fps if fp and fp in body)
    ok = 200 <= resp.status_code < 300 and not stale
    out: dict[str, Any] = {"url": url, "status": resp.status_code, "ok": ok}
    if not ok and not stale and resp.status_code >= 500:
        try:
            data = resp.json()
        except ValueError:
            data = {}
        data = data if isinstance(data, dict) else {}
        error = data.get("error")
        code = error.get("code") if isinstance(error, dict) else ""
        failed = [str(f.get("key", "")) for f in data.get("failed", []) or [] if isinstance(f, dict)]
        if code == "DEPLOYMENT_PAUSED":
            out.update(ok=True, paused=True)  # a paused project serves nothing; it resumes with the new build
        elif ours is not None and failed and not set(failed) & ours:
            out.update(ok=True, other_credentials_failing=sorted(set(failed)))
    if stale:
        out["old_fingerprints_in_use"] = stale
    return out
