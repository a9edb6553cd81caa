"""Custom environments are shown by slug (``staging``), the id only where two share a slug or none is known.

Covers the model helpers, old inventories without the slug fields, the inventory (one list call
per project that needs it), verify's freshness titles and the report's redeploy rows.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from keyroll.core.errors import NotFoundError
from keyroll.core.model import DeploymentRef, Inventory, Location, LocationKind, name_custom_environments
from keyroll.core.secret import fingerprint_of
from keyroll.core.serde import to_dict
from keyroll.inventory import InventoryOptions, digest, inventory_from_json, take_inventory
from keyroll.inventory.custom_envs import with_slugs
from keyroll.inventory.render import render_text
from keyroll.providers.vercel.models import CustomEnvironment, Deployment, Project
from keyroll.report.build import build_report
from keyroll.report.markdown import MarkdownFormat
from keyroll.verify.deployments import read_project
from keyroll.verify.freshness import freshness_checks
from tests.fakes.world import FakeWorld
from tests.unit.report import report_samples as samples

CE = "env_UdCxRI60riIt3s5LodeW"


def test_names_prefer_the_slug_and_disambiguate_with_the_id() -> None:
    assert name_custom_environments([CE], ["staging"]) == ("staging",)
    assert name_custom_environments([CE], []) == (CE,)  # unknown slug: the id
    assert name_custom_environments(["env_a", "env_b", "env_c"], ["staging", "staging", "qa"]) == (
        "staging (env_a)",
        "staging (env_b)",
        "qa",
    )


def _loc(**kw: Any) -> Location:
    base: dict[str, Any] = {
        "kind": LocationKind.VERCEL_ENV,
        "fingerprint": "sha256:0000aaaa",
        "project_id": "prj_web",
        "project_name": "web",
        "env_id": "e1",
        "key": "REDIS_URL",
        "custom_environment_ids": (CE,),
    }
    return Location(**{**base, **kw})


def test_location_and_deployment_speak_slugs() -> None:
    assert _loc(custom_environment_slugs=("staging",)).describe() == "vercel web REDIS_URL [staging]"
    assert _loc().describe() == f"vercel web REDIS_URL [{CE}]"
    ref = DeploymentRef("prj_web", "dpl_1", target=CE, custom_environment_id=CE)
    assert ref.environment == CE
    assert dataclasses.replace(ref, custom_environment_slug="staging").environment == "staging"
    assert DeploymentRef("prj_web", "dpl_2", target="production").environment == "production"


def test_old_inventory_json_without_slugs_still_loads_and_digests_the_same() -> None:
    inv = Inventory(
        locations=(_loc(),),
        deployments=(DeploymentRef("prj_web", "dpl_1", target=CE, custom_environment_id=CE),),
        generated_at="2026-11-23T00:00:00Z",
    )
    old = to_dict(inv)
    for loc in old["locations"]:
        del loc["custom_environment_slugs"]
    for d in old["deployments"]:
        del d["custom_environment_slug"]
    loaded = inventory_from_json(json.loads(json.dumps(old)))
    assert loaded.locations[0].custom_environment_ids == (CE,)
    assert loaded.locations[0].custom_environment_slugs == ()
    named = with_slugs(loaded, {CE: "staging"})
    assert named.locations[0].describe().endswith("[staging]")
    assert named.deployments[0].custom_environment_slug == "staging"
    assert named.custom_environment_slugs() == {CE: "staging"}
    assert digest(named) == digest(loaded)  # display names do not make drift


async def test_inventory_names_custom_environments_with_one_call_per_project() -> None:
    world = FakeWorld()
    cache = world.add_db("cache", host="eu1-cache.upstash.io")
    web = world.add_project("web", custom_envs={CE: "staging"}).id
    api = world.add_project("api").id
    world.add_env(web, "KV_REST_API_TOKEN", cache.rest_token, [], custom_environment_ids=[CE])
    world.add_env(api, "UPSTASH_REDIS_REST_TOKEN", cache.rest_token, ["production"])
    world.deploy(web, custom_environment_id=CE, created_at=230)
    world.deploy(api, target="production", created_at=100)
    inv = await take_inventory(world.providers(), InventoryOptions())
    assert world.vercel.calls["list_custom_environments"] == 1  # web only: api has no custom environment
    fp = fingerprint_of(cache.rest_token)
    (var,) = [
        loc for loc in inv.locations_of(fp) if loc.kind is LocationKind.VERCEL_ENV and loc.project_id == web
    ]
    assert var.custom_environment_slugs == ("staging",) and var.describe().endswith("[staging]")
    (dep,) = [d for d in inv.deployments if d.custom_environment_id == CE]
    assert dep.custom_environment_slug == "staging" and dep.target == CE  # the id stays the data
    text = render_text(inv)
    assert "staging" in text and CE not in text


class _ProjectReader:
    def __init__(self, project: dict[str, Any], envs: dict[str, str] | None) -> None:
        self.project = project
        self.envs = envs
        self.listed = 0

    async def get_project(self, id_or_name: str) -> Project:
        return Project.model_validate(self.project)

    async def list_deployments(self, project_id: str, **kw: Any) -> list[Deployment]:
        return [
            Deployment(
                id="dpl_s1",
                url="127.0.0.1:9/_d/dpl_s1",
                projectId="prj_web",
                readyState="READY",
                createdAt=int((samples.T0 + 10) * 1000),
                custom_environment_id=CE,
            )
        ]

    async def list_custom_environments(self, project_id: str) -> list[CustomEnvironment]:
        self.listed += 1
        if self.envs is None:
            raise NotFoundError("vercel: custom environments: HTTP 404", service="vercel", status=404)
        return [CustomEnvironment(id=i, slug=s) for i, s in self.envs.items()]


async def _title(reader: _ProjectReader) -> str:
    snap = await read_project(reader, "prj_web")  # type: ignore[arg-type]
    (check,) = freshness_checks(snap, "sha256:0000aaaa", samples.T0)
    return check.title


async def test_verify_titles_name_the_custom_environment() -> None:
    base = {"id": "prj_web", "name": "web", "targets": {}}
    # GET /v9/projects/{id} lists customEnvironments: no further call
    with_envs = _ProjectReader({**base, "customEnvironments": [{"id": CE, "slug": "staging"}]}, {})
    assert await _title(with_envs) == "web [staging]: dpl_s1 built after the env change"
    assert with_envs.listed == 0
    # not in the project read: one list call
    listed = _ProjectReader(base, {CE: "staging"})
    assert (await _title(listed)).startswith("web [staging]:") and listed.listed == 1
    # nobody says: the id, and verify goes on
    unknown = _ProjectReader(base, None)
    assert (await _title(unknown)).startswith(f"web [{CE}]:")


def test_report_redeploys_show_the_slug() -> None:
    log = samples.runlog()
    entries = []
    for e in log.entries:
        deps = e.detail.get("deployments")
        if e.step_id.endswith("/redeploy/prj_web") and isinstance(deps, list):
            e = dataclasses.replace(
                e, detail={**e.detail, "deployments": [{**d, "target": CE} for d in deps]}
            )
        entries.append(e)
    assert log.inventory is not None
    inv = dataclasses.replace(
        log.inventory,
        deployments=(
            *log.inventory.deployments,
            DeploymentRef("prj_web", "dpl_web_old", target=CE, custom_environment_id=CE),
        ),
    )
    log = dataclasses.replace(log, entries=tuple(entries), inventory=with_slugs(inv, {CE: "staging"}))
    report = build_report(log, now=samples.T0 + 100)
    targets = {r.target for c in report.credentials for r in c.redeploys if r.project_id == "prj_web"}
    assert targets == {"staging"}
    md = MarkdownFormat().format(report)
    assert "redeployed web [staging]" in md and CE not in md
