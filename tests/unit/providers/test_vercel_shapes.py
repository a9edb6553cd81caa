"""Loose response shapes, as @vercel/sdk's models accept them: env ``target`` a string, env ``id``
absent, an event without ``type``; an item that fits no shape is one line naming the endpoint and the
field, and the inventory goes on with that project marked unknown."""

from __future__ import annotations

from typing import Any

import httpx

from keyroll.core.model import Confidence
from keyroll.inventory import InventoryOptions, take_inventory
from keyroll.providers.vercel.client import VercelClient
from keyroll.providers.vercel.models import EnvList, EnvVar, Event
from tests.fakes.world import small_world

ENVS: list[dict[str, Any]] = [
    {"id": "e1", "key": "A", "type": "plain", "target": "production", "value": "x"},
    {"key": "NO_ID", "type": "encrypted", "target": ["preview"], "value": "cipher"},
    {"id": "e3", "type": "plain", "target": ["production"], "value": "y"},  # no key: truly unexpected
]


def _client(body: dict[str, Any]) -> VercelClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    http = httpx.AsyncClient(base_url="https://api.vercel.test", transport=httpx.MockTransport(handler))
    return VercelClient(http, team_id="team_x")


async def test_env_list_accepts_sdk_shapes_and_names_what_it_cannot_read() -> None:
    client = _client({"envs": ENVS, "hiddenProductionEnvCount": 3})
    envs = await client.list_env("prj_1")
    assert isinstance(envs, EnvList)
    assert [e.key for e in envs] == ["A", "NO_ID"]
    assert envs[0].target == ["production"], "a single target string becomes a list"
    assert envs[1].id == ""
    assert envs.hidden_production == 3
    assert envs.malformed == ["GET /v10/projects/prj_1/env: item 2.key: Field required"]
    await client.http.aclose()


def test_event_without_type_and_env_with_null_target() -> None:
    assert Event.model_validate({"id": "evt_1", "createdAt": 1}).type == ""
    assert EnvVar.model_validate({"id": "e", "key": "K", "target": None}).target == []


async def test_inventory_goes_on_and_marks_the_project_unknown() -> None:
    world, _ = small_world()
    vercel = world.vercel
    real = vercel.list_env

    async def loose(project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        rows = await real(project_id, decrypt=decrypt)
        if world.projects[project_id].name != "web":
            return rows
        out = EnvList(rows, hidden_production=1)
        out.append(EnvVar.model_validate({"key": "NO_ID", "type": "encrypted", "target": "preview"}))
        out.malformed.append("GET /v10/projects/web/env: item 9.key: Field required")
        return out

    vercel.list_env = loose  # type: ignore[method-assign]
    inv = await take_inventory(world.providers(), InventoryOptions())
    web = next(p for p in world.projects.values() if p.name == "web")
    reasons = [u.reason for u in inv.unknowns if u.project_id == web.id]
    assert any(r.startswith("1 production env var(s) hidden") for r in reasons)
    assert any("item 9.key: Field required" in r for r in reasons)
    assert any("NO_ID came without an id" in r for r in reasons)
    # every other location was still found
    assert any(loc.project_id == web.id and loc.confidence is Confidence.EXACT for loc in inv.locations)
    assert not inv.complete
