"""The emulated Vercel: REST API (projects, env vars, shared vars, custom environments,
deployments, events, integrations, user/teams) plus the deployments' own URLs.

:func:`install` seeds it from a fleet, registers the ``vercel`` service and the hooks other
services use (docs/sandbox.md, "Seams"):

* ``vercel.resync_integration(configuration_id, {key: value}) -> int``
* ``vercel.serving_deployments() -> list[dict]`` and ``vercel.deployments() -> list[dict]``
  (``id, url, href, project_id, project_name, target, git_branch, custom_environment_id,
  state, created_at, env``; ``url`` has no scheme as in the API, ``href`` is ready to call)
* ``vercel.state() -> VercelState`` (sandbox-only inspection for tests)
"""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Mapping
from typing import Any

from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.vercel import (
    routes_account,
    routes_deployments,
    routes_env,
    routes_projects,
    routes_shared,
)
from keyroll.sandbox.vercel.app import VercelApp
from keyroll.sandbox.vercel.seed import seed_state
from keyroll.sandbox.vercel.state import VercelState
from keyroll.sandbox.world import World

__all__ = ["VercelState", "install"]


def _token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


def install(world: World, fleet: Mapping[str, Any]) -> None:
    """Seed the Vercel state from ``fleet`` and register the ``vercel`` service and hooks.

    :raises FleetError: an env value names a template missing from ``world.templates``.
    """
    team = {"id": "team_sandbox", "slug": "acme", "name": "", **dict(fleet.get("team") or {})}
    user = {
        "id": "user_sandbox",
        "username": "sandbox",
        "email": "sandbox@example.com",
        **dict(fleet.get("user") or {}),
    }
    state = VercelState(world, team=team, user=user, token=_token())
    app = VercelApp(world, state)
    seed_state(state, fleet, world.templates)
    routes = [
        *routes_account.routes(app),
        *routes_projects.routes(app),
        *routes_env.routes(app),
        *routes_shared.routes(app),
        *routes_deployments.routes(app),
    ]
    world.add_service("vercel", app.build(routes))
    world.hooks["vercel.resync_integration"] = state.resync_integration
    world.hooks["vercel.serving_deployments"] = state.serving_deployments
    world.hooks["vercel.deployments"] = state.all_deployments
    world.hooks["vercel.state"] = lambda: state
    env = world.info.setdefault("env", {})
    env["VERCEL_TOKEN"] = state.token
    env["VERCEL_TEAM_ID"] = team["id"]
    world.info["vercel"] = {
        "team": {"id": team["id"], "slug": team["slug"]},
        "user": {"id": user["id"], "username": user["username"]},
        "projects": {p.name: p.id for p in state.projects.values()},
        "plan": {
            "plan": state.limits.plan,
            "concurrent_builds": state.limits.concurrent_builds,
            "deployments_per_day": state.limits.deployments_per_day,
        },
    }

    async def snapshot() -> None:
        write_snapshot(state)

    world.shutdown.append(snapshot)


def write_snapshot(state: VercelState) -> None:
    """Write ``vercel-state.json`` into the state dir: structure and fingerprints, never values."""
    with state.lock:
        data = {
            "team": state.team,
            "projects": [
                {
                    "id": p.id,
                    "name": p.name,
                    "paused": p.paused,
                    "production": p.production_id,
                    "env": [
                        {
                            "id": ev.id,
                            "key": ev.key,
                            "type": ev.type,
                            "target": ev.target,
                            "gitBranch": ev.git_branch,
                            "customEnvironmentIds": ev.custom_environment_ids,
                            "configurationId": ev.configuration_id,
                            "fingerprint": fingerprint_of(ev.value),
                        }
                        for ev in p.env.values()
                    ],
                }
                for p in state.projects.values()
            ],
            "shared_env": [
                {"id": s.id, "key": s.key, "projectId": s.project_ids, "fingerprint": fingerprint_of(s.value)}
                for s in state.shared.values()
            ],
            "deployments": [
                {
                    "id": d.id,
                    "projectId": d.project_id,
                    "target": d.target,
                    "state": d.state(state.now()),
                    "createdAt": d.created_at,
                    "env": {k: fingerprint_of(v) for k, v in d.env.items()},
                }
                for d in state.deployments.values()
            ],
            "events": len(state.events),
        }
    path = state.world.state_dir / "vercel-state.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
