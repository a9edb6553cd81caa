"""Account-level routes: the user, teams, activity events and integration configurations."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute

from keyroll.sandbox.vercel.app import Call, VercelApp
from keyroll.sandbox.vercel.errors import ApiError, bad_request, not_found
from keyroll.sandbox.vercel.render import event_json, integration_json, team_json, user_json

__all__ = ["routes"]


async def get_user(call: Call) -> Any:
    """``GET /v2/user``."""
    return user_json(call.state)


async def get_team(call: Call) -> Any:
    """``GET /v2/teams/{idOrSlug}``; another team → 403 like the real API."""
    ref = call.param("team")
    team = call.state.team
    if ref not in (team["id"], team["slug"]):
        raise ApiError(403, "forbidden", "Not authorized", teamId=ref)
    return team_json(call.state)


async def list_teams(call: Call) -> Any:
    """``GET /v2/teams`` → ``{teams, pagination}``."""
    return {"teams": [team_json(call.state)], "pagination": {"count": 1, "next": None, "prev": None}}


async def list_events(call: Call) -> Any:
    """``GET /v3/events`` with ``since``/``until`` (ms), ``types``, ``projectIds``, ``principalId``,
    ``entityId``, ``limit``, ``withPayload`` → ``{events}``, newest first."""
    if not call.team_scoped:
        return {"events": []}
    events = list(call.state.events)
    since = call.int_query("since")
    until = call.int_query("until")
    if since is not None:
        events = [e for e in events if e.created_at >= since]
    if until is not None:
        events = [e for e in events if e.created_at < until]
    types = call.query.get("types")
    if types:
        wanted = {t.strip() for t in types.split(",") if t.strip()}
        events = [e for e in events if e.type in wanted]
    project_ids = call.query.get("projectIds")
    if project_ids:
        wanted = set()
        for ref in project_ids.split(","):
            project = call.state.project(ref.strip())
            wanted.add(project.id if project else ref.strip())
        events = [e for e in events if e.project_id in wanted]
    principal = call.query.get("principalId") or call.query.get("userId")
    if principal:
        events = [e for e in events if e.principal_id == principal]
    entity = call.query.get("entityId")
    if entity:
        events = [e for e in events if e.entity_id == entity]
    limit = call.int_query("limit", 100, lo=1, hi=1000) or 100
    events.sort(key=lambda e: e.created_at, reverse=True)
    with_payload = call.flag("withPayload")
    return {"events": [event_json(call.state, e, with_payload=with_payload) for e in events[:limit]]}


async def list_integrations(call: Call) -> Any:
    """``GET /v1/integrations/configurations?view=account|project`` (``view`` is required)."""
    view = call.query.get("view")
    if view not in ("account", "project"):
        raise bad_request(
            'Invalid request: query.view should be equal to one of the allowed values "account, project".'
        )
    if not call.team_scoped:
        return []
    items = list(call.state.integrations.values())
    slug = call.query.get("integrationIdOrSlug")
    if slug:
        items = [i for i in items if slug in (i.slug, i.integration_id)]
    return [integration_json(call.state, i) for i in items]


async def get_integration(call: Call) -> Any:
    """``GET /v1/integrations/configuration/{id}``."""
    ref = call.param("config")
    integration = call.state.integrations.get(ref) if call.team_scoped else None
    if integration is None:
        raise not_found(f"Integration configuration {ref} was not found.")
    return integration_json(call.state, integration)


def routes(app: VercelApp) -> list[BaseRoute]:
    """Every account-level route."""
    return [
        app.route("/v2/user", "default", get_user, ["GET"], scoped=False),
        app.route("/www/user", "default", get_user, ["GET"], scoped=False),
        app.route("/v2/teams", "default", list_teams, ["GET"], scoped=False),
        app.route("/v1/teams", "default", list_teams, ["GET"], scoped=False),
        app.route("/v2/teams/{team}", "default", get_team, ["GET"], scoped=False),
        app.route("/v1/teams/{team}", "default", get_team, ["GET"], scoped=False),
        app.route("/teams", "default", list_teams, ["GET"], scoped=False),
        app.route("/teams/{team}", "default", get_team, ["GET"], scoped=False),
        app.route("/v3/events", "events", list_events, ["GET"]),
        app.route("/v1/integrations/configurations", "default", list_integrations, ["GET"]),
        app.route("/v1/integrations/configuration/{config}", "default", get_integration, ["GET"]),
    ]
