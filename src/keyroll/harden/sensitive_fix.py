"""Make a credential variable ``sensitive`` without a moment in which a build would miss it.

Two ways, tried in order:

1. **In place** — ``PATCH /v10/projects/{p}/env/{id}`` with ``type: sensitive`` (value, key,
   targets, branch, custom environments, comment re-sent), the request ``vercel env update
   --sensitive`` sends. Where the API accepts it, the var keeps its id and is never absent.
2. **Remove and re-add behind a bridge** — Vercel's documented way is to remove the variable
   and add it again as sensitive. Done naively, a build starting between the two calls would
   lack the variable. A project variable overrides a team shared variable of the same key,
   so keyroll first creates a *sensitive* shared variable with the same key and value, linked
   to this project only, for the same targets (the "bridge"); then deletes the project
   variable (builds now get the bridge's identical value), creates the sensitive project
   variable (it takes over), and deletes the bridge. At every moment each build target sees
   exactly one copy of the same value.

A variable that also targets Development is split as the dashboard does: the sensitive
variable keeps Production/Preview, a non-sensitive copy serves Development (Development is
not a build target, so the copy is created last). Team shared variables are converted the
mirror way: per-project sensitive copies bridge while the shared one is re-created.

Every step is read back; a failure restores the original variable before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyroll.core.errors import KeyrollError, ProviderError, RotationError
from keyroll.core.secret import Secret
from keyroll.providers.vercel.models import EnvVar, EnvVarInput
from keyroll.providers.vercel.protocol import VercelAPI

__all__ = ["Conversion", "convert_project_var", "convert_shared_var"]

BUILD_TARGETS = ("production", "preview")
BRIDGE_COMMENT = "keyroll harden: temporary bridge while {key} becomes sensitive (removed automatically)"


@dataclass
class Conversion:
    """What a conversion did."""

    ok: bool
    method: str
    """``in-place`` | ``bridge`` | ``none``"""
    steps: list[str] = field(default_factory=list)
    error: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)


def _rejects_type_change(exc: ProviderError) -> bool:
    return exc.status == 400 or "sensitive" in exc.message.lower()


async def convert_project_var(vercel: VercelAPI, project_id: str, env_id: str, label: str) -> Conversion:
    """Convert one project variable (see module docstring).

    :raises KeyrollError: only when restoring the original after a failure failed too.
    """
    current = await vercel.get_env(project_id, env_id)
    if current.type == "sensitive":
        return Conversion(True, "none", [f"{label} is already sensitive"])
    if current.value is None:
        return Conversion(False, "none", error=f"{label}: the value cannot be read, so it cannot be re-added")
    build = [t for t in current.target if t in BUILD_TARGETS]
    split = "development" in current.target
    if not build and not current.custom_environment_ids:
        return Conversion(False, "none", error=f"{label} only targets development, which cannot be sensitive")
    value: Secret = current.value
    conv = Conversion(False, "in-place", evidence={"fingerprint": value.fingerprint, "env_id": env_id})
    changes: dict[str, Any] = {"type": "sensitive", "value": value, "key": current.key, "target": build}
    if current.git_branch:
        changes["git_branch"] = current.git_branch
    if current.custom_environment_ids:
        changes["custom_environment_ids"] = list(current.custom_environment_ids)
    if current.comment:
        changes["comment"] = current.comment
    sensitive_id = env_id
    try:
        await vercel.edit_env(project_id, env_id, **changes)
        conv.steps.append(f"PATCH {label}: type sensitive, target {','.join(build)} (in place, same id)")
    except ProviderError as exc:
        if not _rejects_type_change(exc):
            raise
        conv.steps.append(
            f"in-place conversion refused ({exc.code or exc.status}): remove and re-add behind a bridge"
        )
        conv.method = "bridge"
        sensitive_id = await _bridge_project_var(vercel, project_id, current, build, label, conv)
    if split:
        res = await vercel.upsert_env(
            project_id,
            [
                EnvVarInput(
                    key=current.key,
                    value=value,
                    type=current.type if current.type in ("plain", "encrypted") else "encrypted",
                    target=["development"],
                    comment=current.comment,
                )
            ],
        )
        if res.failed:
            conv.error = f"{label}: sensitive now, but the Development copy failed"
            return conv
        if res.created:
            conv.evidence["development_env_id"] = res.created[0].id
        conv.steps.append(f"created {current.key} [development] (non-sensitive copy, same value and comment)")
    after = await vercel.get_env(project_id, sensitive_id)
    envs = await vercel.list_env(project_id)
    ok = after.type == "sensitive" and sorted(after.target) == sorted(build)
    if split:
        ok = ok and any(e.key == current.key and e.target == ["development"] for e in envs)
    same_key = [e for e in envs if e.key == current.key and set(e.target) & set(build)]
    ok = ok and len(same_key) == 1  # exactly one copy per build target, no leftovers
    conv.ok = ok
    conv.evidence["sensitive_env_id"] = sensitive_id
    if not ok:
        conv.error = "read-back does not match"
    return conv


async def _bridge_project_var(
    vercel: VercelAPI, project_id: str, current: EnvVar, build: list[str], label: str, conv: Conversion
) -> str:
    create_shared = getattr(vercel, "create_shared_env", None)
    delete_shared = getattr(vercel, "delete_shared_env", None)
    if create_shared is None or delete_shared is None:
        raise RotationError(f"{label}: this Vercel client cannot create shared variables for the bridge")
    if current.git_branch or current.custom_environment_ids:
        raise RotationError(
            f"{label} is scoped to a branch or custom environment; a team variable cannot bridge it",
            hint="convert it in the dashboard (remove and re-add as sensitive) when no build is running",
        )
    assert current.value is not None
    bridge = await create_shared(
        current.key,
        current.value,
        type="sensitive",
        target=build,
        project_ids=[project_id],
        comment=BRIDGE_COMMENT.format(key=current.key),
    )
    conv.steps.append(
        f"created bridge: team sensitive var {current.key} [{','.join(build)}] linked to this project only"
    )
    conv.evidence["bridge_id"] = bridge.id
    new_id = ""
    try:
        await vercel.delete_env(project_id, current.id)
        conv.steps.append(f"deleted {label} (builds now read the bridge's identical value)")
        res = await vercel.upsert_env(
            project_id,
            [
                EnvVarInput(
                    key=current.key,
                    value=current.value,
                    type="sensitive",
                    target=build,
                    comment=current.comment,
                )
            ],
        )
        if res.failed or not res.created:
            raise RotationError(f"{label}: the sensitive variable could not be created")
        new_id = res.created[0].id
        conv.steps.append(f"created {current.key} [{','.join(build)}] as sensitive (id {new_id})")
    except KeyrollError:
        await _restore(vercel, project_id, current, conv)
        await delete_shared([bridge.id])
        raise
    await delete_shared([bridge.id])
    conv.steps.append("deleted the bridge")
    return new_id


async def _restore(vercel: VercelAPI, project_id: str, original: EnvVar, conv: Conversion) -> None:
    envs = await vercel.list_env(project_id)
    if any(e.key == original.key and set(e.target) & set(original.target) for e in envs):
        return
    assert original.value is not None
    await vercel.upsert_env(
        project_id,
        [
            EnvVarInput(
                key=original.key,
                value=original.value,
                type=original.type,
                target=list(original.target),
                gitBranch=original.git_branch,
                comment=original.comment,
            )
        ],
    )
    conv.steps.append(f"restored {original.key} as it was")


async def convert_shared_var(vercel: VercelAPI, env_id: str, label: str) -> Conversion:
    """Convert a team shared variable (no Development target) to sensitive, bridged by project copies."""
    shared = await vercel.get_shared_env(env_id)
    if shared.type == "sensitive":
        return Conversion(True, "none", [f"{label} is already sensitive"])
    if shared.value is None:
        return Conversion(False, "none", error=f"{label}: the value cannot be read")
    conv = Conversion(False, "in-place", evidence={"fingerprint": shared.value.fingerprint})
    try:
        res = await vercel.update_shared_env({env_id: {"type": "sensitive", "value": shared.value}})
        if res.failed:
            raise ProviderError(
                str(res.failed[0].get("error", {}).get("message", "update failed")), status=400
            )
        conv.steps.append(f"PATCH /v1/env {label}: type sensitive (in place)")
        after = await vercel.get_shared_env(env_id)
        conv.ok = after.type == "sensitive"
        return conv
    except ProviderError as exc:
        if not _rejects_type_change(exc):
            raise
        conv.steps.append(
            "in-place conversion refused: re-create the shared variable behind per-project bridges"
        )
    conv.method = "bridge"
    create_shared = getattr(vercel, "create_shared_env", None)
    delete_shared = getattr(vercel, "delete_shared_env", None)
    if create_shared is None or delete_shared is None:
        conv.error = "this Vercel client cannot re-create shared variables"
        return conv
    targets = [t for t in shared.target if t in BUILD_TARGETS]
    bridges: dict[str, str] = {}
    for pid in shared.project_ids:
        own = await vercel.list_env(pid)
        if any(e.key == shared.key and set(e.target) & set(targets) for e in own):
            continue  # the project's own variable already overrides the shared one there
        res = await vercel.upsert_env(
            pid,
            [
                EnvVarInput(
                    key=shared.key,
                    value=shared.value,
                    type="sensitive",
                    target=targets,
                    comment=BRIDGE_COMMENT.format(key=shared.key),
                )
            ],
        )
        if res.failed or not res.created:
            conv.error = f"bridge for project {pid} failed"
            await _drop_bridges(vercel, bridges)
            return conv
        bridges[pid] = res.created[0].id
    conv.steps.append(f"created sensitive bridge copies in {len(bridges)} linked project(s)")
    await delete_shared([env_id])
    new = await create_shared(
        shared.key,
        shared.value,
        type="sensitive",
        target=targets,
        project_ids=list(shared.project_ids),
        comment=shared.comment,
    )
    conv.steps.append(f"re-created {label} as sensitive (id {new.id}), same links")
    await _drop_bridges(vercel, bridges)
    conv.steps.append("deleted the bridge copies")
    after = await vercel.get_shared_env(new.id)
    conv.ok = after.type == "sensitive" and sorted(after.project_ids) == sorted(shared.project_ids)
    conv.evidence["shared_env_id"] = new.id
    return conv


async def _drop_bridges(vercel: VercelAPI, bridges: dict[str, str]) -> None:
    for pid, bid in bridges.items():
        await vercel.delete_env(pid, bid)
