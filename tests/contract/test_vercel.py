"""Vercel's contract: projects, env vars, shared vars, deployments — the same answers from the
fake and from the sandbox through ``VercelClient``."""

from __future__ import annotations

import asyncio
import time

import pytest

from keyroll.core.errors import NotFoundError
from keyroll.core.secret import Secret
from keyroll.providers.vercel.models import Deployment, EnvVar, EnvVarInput, Project
from tests.contract.conftest import ALL_TARGETS, PLAIN_VALUE, Backend


async def _project(b: Backend, name: str) -> Project:
    return await b.vercel.get_project(name)


async def _env_by_key(b: Backend, project_id: str) -> dict[str, EnvVar]:
    return {e.key: e for e in await b.vercel.list_env(project_id)}


async def _wait_terminal(b: Backend, dep_id: str, timeout_s: float = 10.0) -> Deployment:
    deadline = time.monotonic() + timeout_s
    while True:
        dep = await b.vercel.get_deployment(dep_id)
        if dep.is_terminal or time.monotonic() > deadline:
            return dep
        await asyncio.sleep(0.05)


# -- projects ---------------------------------------------------------------------------------
async def test_projects_are_listed_and_read_by_id_or_name(backend: Backend) -> None:
    projects = {p.name: p for p in await backend.vercel.list_projects()}
    assert {"web", "api"} <= set(projects)
    web = projects["web"]
    assert (await backend.vercel.get_project(web.id)).id == web.id
    by_name = await backend.vercel.get_project("web")
    assert by_name.id == web.id and by_name.name == "web" and not by_name.paused
    prod = by_name.targets["production"]
    assert prod["readyState"] == "READY"
    newest = await backend.vercel.list_deployments(web.id, target="production", state="READY", limit=1)
    assert prod["id"] == newest[0].id


async def test_an_unknown_project_is_not_found(backend: Backend) -> None:
    with pytest.raises(NotFoundError):
        await backend.vercel.get_project("no-such-project")


async def test_custom_environments_and_integrations(backend: Backend) -> None:
    web = await _project(backend, "web")
    (staging,) = await backend.vercel.list_custom_environments(web.id)
    assert staging.slug == "staging"
    envs = await _env_by_key(backend, web.id)
    assert envs["STAGING_TOKEN"].custom_environment_ids == [staging.id]
    assert envs["STAGING_TOKEN"].target == []
    configs = await backend.vercel.list_integration_configurations()
    assert "icfg_upstash" in {c.id for c in configs}


async def test_team_plan(backend: Backend) -> None:
    team = await backend.vercel.get_team()
    assert team["billing"]["plan"] == "pro"


# -- env vars ---------------------------------------------------------------------------------
async def test_env_list_hides_values_and_the_read_by_id_decrypts(backend: Backend) -> None:
    web = await _project(backend, "web")
    envs = await _env_by_key(backend, web.id)
    plain, token = envs["SITE_NAME"], envs["UPSTASH_REDIS_REST_TOKEN"]
    sensitive, branch = envs["UPSTASH_REDIS_REST_READ_ONLY_TOKEN"], envs["BRANCH_TOKEN"]
    assert plain.type == "plain" and plain.value is not None and plain.value.reveal() == PLAIN_VALUE
    assert sorted(plain.target) == sorted(ALL_TARGETS)
    assert token.type == "encrypted" and token.value is None, "a list carries ciphertext"
    assert sorted(token.target) == ["preview", "production"]
    assert sensitive.type == "sensitive" and sensitive.value is None
    assert branch.git_branch == "feat-x" and branch.target == ["preview"]
    read = await backend.vercel.get_env(web.id, token.id)
    assert read.value is not None and read.decrypted and read.key == token.key
    assert (await backend.vercel.get_env(web.id, branch.id)).value == read.value
    hidden = await backend.vercel.get_env(web.id, sensitive.id)
    assert hidden.type == "sensitive" and hidden.value is None, "a sensitive value is never readable"
    assert (await backend.vercel.get_env(web.id, plain.id)).value == plain.value


async def test_upsert_creates_then_updates_in_place(backend: Backend) -> None:
    web = await _project(backend, "web")
    key = backend.name("CONTRACT_UPSERT")
    first = await backend.vercel.upsert_env(
        web.id, [EnvVarInput(key=key, value=Secret("first-value-0123456789"), target=["production"])]
    )
    assert first.ok and [e.key for e in first.created] == [key]
    env_id = first.created[0].id
    assert env_id and (await _env_by_key(backend, web.id))[key].target == ["production"]
    again = await backend.vercel.upsert_env(
        web.id, [EnvVarInput(key=key, value=Secret("second-value-0123456789"), target=["production"])]
    )
    assert again.ok and again.created[0].id == env_id, "same key and target: updated in place"
    read = await backend.vercel.get_env(web.id, env_id)
    assert read.value is not None and read.value.reveal() == "second-value-0123456789"
    other = await backend.vercel.upsert_env(
        web.id, [EnvVarInput(key=key, value=Secret("preview-value-0123456789"), target=["preview"])]
    )
    assert other.ok and other.created[0].id != env_id, "another target: another var"
    assert len([e for e in await backend.vercel.list_env(web.id) if e.key == key]) == 2


async def test_upsert_keeps_the_scope_of_branch_and_custom_environment_vars(backend: Backend) -> None:
    web = await _project(backend, "web")
    (staging,) = await backend.vercel.list_custom_environments(web.id)
    key = backend.name("CONTRACT_SCOPE")
    res = await backend.vercel.upsert_env(
        web.id,
        [
            EnvVarInput(key=key, value=Secret("branch-value-0123456789"), target=["preview"], gitBranch="b1"),
            EnvVarInput(key=key, value=Secret("custom-value-0123456789"), customEnvironmentIds=[staging.id]),
        ],
    )
    assert res.ok and len(res.created) == 2
    scoped = {
        (e.git_branch, tuple(e.custom_environment_ids)): e
        for e in await backend.vercel.list_env(web.id)
        if e.key == key
    }
    assert set(scoped) == {("b1", ()), (None, (staging.id,))}


async def test_sensitive_vars_are_written_but_never_read(backend: Backend) -> None:
    web = await _project(backend, "web")
    key = backend.name("CONTRACT_SENSITIVE")
    res = await backend.vercel.upsert_env(
        web.id,
        [
            EnvVarInput(
                key=key, value=Secret("sensitive-value-0123456789"), type="sensitive", target=["production"]
            )
        ],
    )
    (created,) = res.created
    assert created.type == "sensitive" and created.value is None
    listed = (await _env_by_key(backend, web.id))[key]
    assert listed.type == "sensitive" and listed.value is None
    assert (await backend.vercel.get_env(web.id, created.id)).value is None


async def test_edit_changes_the_value_and_keeps_id_and_scope(backend: Backend) -> None:
    web = await _project(backend, "web")
    key = backend.name("CONTRACT_EDIT")
    (created,) = (
        await backend.vercel.upsert_env(
            web.id, [EnvVarInput(key=key, value=Secret("old-value-0123456789"), target=["preview"])]
        )
    ).created
    await backend.vercel.edit_env(web.id, created.id, value=Secret("new-value-0123456789"))
    read = await backend.vercel.get_env(web.id, created.id)
    assert read.value is not None and read.value.reveal() == "new-value-0123456789"
    assert (read.id, read.key, read.target, read.type) == (created.id, key, ["preview"], "encrypted")


async def test_delete_removes_the_var(backend: Backend) -> None:
    web = await _project(backend, "web")
    key = backend.name("CONTRACT_DELETE")
    (created,) = (
        await backend.vercel.upsert_env(
            web.id, [EnvVarInput(key=key, value=Secret("doomed-value-0123456789"), target=["preview"])]
        )
    ).created
    await backend.vercel.delete_env(web.id, created.id)
    assert key not in await _env_by_key(backend, web.id)
    with pytest.raises(NotFoundError):
        await backend.vercel.get_env(web.id, created.id)
    with pytest.raises(NotFoundError):
        await backend.vercel.delete_env(web.id, created.id)


# -- shared (team) env vars ---------------------------------------------------------------------
async def test_shared_vars_list_read_and_update(backend: Backend) -> None:
    web = await _project(backend, "web")
    shared = {s.key: s for s in await backend.vercel.list_shared_env()}
    qstash = shared["QSTASH_TOKEN"]
    assert qstash.project_ids == [web.id]
    assert sorted(qstash.target) == ["preview", "production"]
    assert qstash.value is None, "the list does not decrypt"
    read = await backend.vercel.get_shared_env(qstash.id)
    assert read.value is not None and read.key == "QSTASH_TOKEN"
    new = Secret(backend.name("shared-value-0123456789"))
    res = await backend.vercel.update_shared_env({qstash.id: {"value": new}})
    assert res.ok and [(e.id, e.key) for e in res.created] == [(qstash.id, "QSTASH_TOKEN")]
    after = await backend.vercel.get_shared_env(qstash.id)
    assert after.value is not None and after.value.fingerprint == new.fingerprint
    await backend.vercel.update_shared_env({qstash.id: {"value": read.value}})  # as it was
    with pytest.raises(NotFoundError):
        await backend.vercel.get_shared_env("env_no_such_shared_var")
    missing = await backend.vercel.update_shared_env({"env_no_such_shared_var": {"value": new}})
    assert not missing.ok and missing.failed_keys() == ["env_no_such_shared_var"]
    refused = await backend.vercel.update_shared_env({qstash.id: {"type": "sensitive", "value": new}})
    assert not refused.ok and refused.failed_keys() == ["QSTASH_TOKEN"], "no conversion to sensitive"


# -- deployments ------------------------------------------------------------------------------
async def test_deployments_are_listed_newest_first_and_read_by_id_or_url(backend: Backend) -> None:
    web = await _project(backend, "web")
    deps = await backend.vercel.list_deployments(web.id)
    assert deps and all(d.project_id == web.id for d in deps)
    assert [d.created_at for d in deps] == sorted((d.created_at for d in deps), reverse=True)
    prod = (await backend.vercel.list_deployments(web.id, target="production", state="READY"))[0]
    assert prod.target == "production" and prod.ready_state == "READY" and prod.name == "web"
    got = await backend.vercel.get_deployment(prod.id)
    assert (got.id, got.project_id, got.target, got.ready_state) == (prod.id, web.id, "production", "READY")
    assert (await backend.vercel.get_deployment(prod.url)).id == prod.id
    with pytest.raises(NotFoundError):
        await backend.vercel.get_deployment("dpl_NoSuchDeployment")


async def test_a_redeploy_builds_then_becomes_ready_and_takes_production(backend: Backend) -> None:
    web = await _project(backend, "web")
    before = (await backend.vercel.list_deployments(web.id, target="production", state="READY"))[0]
    new = await backend.vercel.redeploy(before)
    assert new.id != before.id and new.project_id == web.id and new.target == "production"
    assert new.ready_state in ("QUEUED", "INITIALIZING", "BUILDING"), new.ready_state
    done = await _wait_terminal(backend, new.id)
    assert done.ready_state == "READY"
    assert (await backend.vercel.get_project(web.id)).targets["production"]["id"] == new.id
    newest = await backend.vercel.list_deployments(web.id, limit=1)
    assert newest[0].id == new.id
    since = await backend.vercel.list_deployments(web.id, since=before.created_at)
    assert new.id in {d.id for d in since} and before.id not in {d.id for d in since}


async def test_ignored_build_step_cancels_a_redeploy(backend: Backend) -> None:
    api = await _project(backend, "api")
    updated = await backend.vercel.update_project(api.id, commandForIgnoringBuildStep="exit 0")
    assert updated.command_for_ignoring_build_step == "exit 0"
    try:
        prod = (await backend.vercel.list_deployments(api.id, target="production", state="READY"))[0]
        new = await backend.vercel.redeploy(prod)
        assert (await _wait_terminal(backend, new.id)).ready_state == "CANCELED"
        assert (await backend.vercel.get_project(api.id)).targets["production"]["id"] == prod.id
    finally:
        await backend.vercel.update_project(api.id, commandForIgnoringBuildStep=None)
    assert (await backend.vercel.get_project(api.id)).command_for_ignoring_build_step is None


async def test_find_projects_and_the_env_of_an_unknown_project(backend: Backend) -> None:
    web, api = await _project(backend, "web"), await _project(backend, "api")
    found = await backend.vercel.find_projects([web.id, api.id, "prj_gone"], max_pages=3)
    assert set(found) == {web.id, api.id} and found[web.id].name == "web"
    with pytest.raises(NotFoundError):
        await backend.vercel.list_env("prj_gone")
