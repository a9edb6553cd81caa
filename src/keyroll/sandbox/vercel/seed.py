"""Seed :class:`~keyroll.sandbox.vercel.state.VercelState` from a fleet.

Env values are resolved from ``world.templates`` (``${redis:cache:rest_token}`` …); a
template nobody provides is a :class:`~keyroll.sandbox.fleet.FleetError` naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keyroll.sandbox.fleet import resolve_templates
from keyroll.sandbox.vercel.records import CustomEnvironment, Integration, Project, SharedEnvVar
from keyroll.sandbox.vercel.state import VercelState

__all__ = ["seed_state"]


def seed_state(state: VercelState, fleet: Mapping[str, Any], templates: Mapping[str, str]) -> None:
    """Create the fleet's projects, env vars, shared vars, integrations and READY deployments.

    :raises FleetError: a value refers to a template that ``templates`` lacks.
    """
    user_id = state.user["id"]
    for spec in fleet.get("integrations", []):
        state.integrations[spec["id"]] = Integration(
            id=spec["id"],
            slug=spec["slug"],
            integration_id=spec.get("integration_id") or f"oac_{spec['slug']}",
            status=spec.get("status", "ready"),
            created_at=state.world.stamp_ms(),
        )
    for pspec in fleet.get("projects", []):
        ts = state.world.stamp_ms()
        project = Project(
            id=pspec.get("id") or state.new_id("prj_", 28),
            name=pspec["name"],
            created_at=ts,
            updated_at=ts,
            paused=bool(pspec.get("paused", False)),
            framework=pspec.get("framework") or "nextjs",
            repo=pspec.get("repo"),
            command_for_ignoring_build_step=pspec.get("ignored_build_step") or None,
            sso_protection={"deploymentType": pspec["sso_protection"]}
            if pspec.get("sso_protection")
            else None,
            password_protection={"deploymentType": "all"} if pspec.get("password_protection") else None,
            hidden_production_env=int(pspec.get("hidden_production_env") or 0),
        )
        if pspec.get("protection_bypass_secret"):
            project.protection_bypass[pspec["protection_bypass_secret"]] = {
                "createdAt": ts,
                "createdBy": user_id,
                "scope": "automation-bypass",
            }
        state.projects[project.id] = project
        for ce_spec in pspec.get("custom_environments", []):
            ce = CustomEnvironment(
                id=state.new_id("env_", 20),
                slug=ce_spec["slug"],
                type=ce_spec.get("type", "preview"),
                description=ce_spec.get("description", ""),
                branch_matcher=ce_spec.get("branch_matcher"),
                created_at=ts,
                updated_at=ts,
            )
            project.custom_envs[ce.id] = ce
        for i, espec in enumerate(pspec.get("env", [])):
            where = f"projects.{project.name}.env.{i} ({espec['key']})"
            ce_ids = []
            for slug in espec.get("custom_environments", []):
                ce_found = project.custom_env(slug)
                if ce_found is not None:
                    ce_ids.append(ce_found.id)
            item = {
                "key": espec["key"],
                "value": resolve_templates(espec["value"], templates, where=where),
                "type": espec.get("type", "encrypted"),
                "target": list(espec.get("target", [])),
                "gitBranch": espec.get("git_branch"),
                "customEnvironmentIds": ce_ids,
                "configurationId": espec.get("configuration_id"),
                "contentHint": espec.get("content_hint"),
                "comment": espec.get("comment", ""),
            }
            ev = state.make_env(project, item, by=espec.get("configuration_id") or user_id)
            project.env[ev.id] = ev
            cid = espec.get("configuration_id")
            if cid in state.integrations and project.id not in state.integrations[cid].project_ids:
                state.integrations[cid].project_ids.append(project.id)
    for i, sspec in enumerate(fleet.get("shared_env", [])):
        value = resolve_templates(sspec["value"], templates, where=f"shared_env.{i} ({sspec['key']})")
        ids = [p.id for name in sspec.get("projects", []) if (p := state.project(name)) is not None]
        ts = state.world.stamp_ms()
        sv = SharedEnvVar(
            id=state.new_id("env_", 20),
            key=sspec["key"],
            value=value,
            type=sspec.get("type", "encrypted"),
            target=list(sspec.get("target", [])),
            project_ids=ids,
            apply_to_all_custom_environments=bool(sspec.get("apply_to_all_custom_environments", False)),
            comment=sspec.get("comment", ""),
            created_at=ts,
            updated_at=ts,
            created_by=user_id,
            updated_by=user_id,
            ciphertext=state.encrypt(value),
        )
        state.shared[sv.id] = sv
    for pspec in fleet.get("projects", []):
        owner = state.project(pspec["name"])
        assert owner is not None
        for dspec in pspec.get("deployments", []):
            dep_ce = (
                owner.custom_env(dspec["custom_environment"]) if dspec.get("custom_environment") else None
            )
            target = dspec.get("target") if dspec.get("target") in ("production", "staging") else None
            target = None if dep_ce is not None else target
            branch = dspec.get("git_branch") or ("main" if target == "production" else "")
            if dep_ce is not None and not branch:
                matcher = dep_ce.branch_matcher or {}
                branch = (
                    matcher.get("pattern", dep_ce.slug)
                    if matcher.get("type", "equals") == "equals"
                    else dep_ce.slug
                )
            state.create_deployment(
                owner,
                target=target,
                git_branch=branch,
                custom_env_id=dep_ce.id if dep_ce else None,
                meta={"githubCommitRef": branch, "githubCommitSha": state.new_hex(40)},
                source="git",
                ready_now=True,
            )
