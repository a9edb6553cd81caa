"""Serving-deployment selection and effective env (pure), and options from config."""

from __future__ import annotations

from pathlib import Path

from keyroll.config import Config
from keyroll.core.model import DeploymentRef
from keyroll.inventory import options_from_config
from keyroll.inventory.deployments import effective_env, select_deployments
from keyroll.inventory.records import EnvRecord, ProjectInfo
from keyroll.providers.vercel.models import Deployment


def dep(did: str, created: int, target: str | None = None, branch: str = "", custom: str = "") -> Deployment:
    return Deployment.model_validate(
        {
            "uid": did,
            "state": "READY",
            "created": created,
            "target": target,
            "projectId": "prj_1",
            "meta": {"githubCommitRef": branch} if branch else {},
            "custom_environment_id": custom,
        }
    )


def test_alias_outside_the_listing_is_taken_from_the_project() -> None:
    project = ProjectInfo(
        id="prj_1",
        name="web",
        production={"id": "dpl_old", "url": "web-old.vercel.app", "createdAt": 5, "readyState": "READY"},
        has_targets=True,
    )
    refs = select_deployments(project, [dep("dpl_new", 10, "production")])
    by_id = {r.deployment_id: r for r in refs}
    assert by_id["dpl_old"].serving and by_id["dpl_old"].url == "web-old.vercel.app"
    assert not by_id["dpl_new"].serving  # newer but staged: not behind the alias (e.g. after a rollback)


def test_without_targets_the_newest_production_serves() -> None:
    project = ProjectInfo(id="prj_1", name="web")
    refs = select_deployments(
        project, [dep("a", 1, "production"), dep("b", 2, "production"), dep("c", 3, branch="x")]
    )
    assert [(r.deployment_id, r.serving) for r in refs] == [("c", True), ("b", True), ("a", False)]


def test_effective_env_custom_environment_and_shared_all_custom() -> None:
    d = DeploymentRef("prj_1", "d1", target="env_s", custom_environment_id="env_s")
    own = EnvRecord(shared=False, env_id="1", key="A", project_id="prj_1", custom_environment_ids=("env_s",))
    preview = EnvRecord(shared=False, env_id="2", key="B", project_id="prj_1", targets=("preview",))
    shared_all = EnvRecord(
        shared=True, env_id="3", key="C", linked_project_ids=("prj_1",), all_custom_environments=True
    )
    shared_other = EnvRecord(
        shared=True, env_id="4", key="D", linked_project_ids=("prj_2",), all_custom_environments=True
    )
    got = {r.key for r in effective_env([own, preview, shared_all, shared_other], d)}
    assert got == {"A", "C"}


def test_options_from_config_merges_toml_scope_and_overrides() -> None:
    cfg = Config(
        github_repos=("acme/env",),
        toml={"scope": {"projects": ["web"], "github_org": "acme", "files": [".env"], "git_repos": ["."]}},
    )
    opts = options_from_config(cfg, projects=(), paths=(Path("x"),), concurrency=4)
    assert opts.projects == ("web",)  # empty override keeps the config's scope
    assert opts.github_repos == ("acme/env",) and opts.github_orgs == ("acme",)
    assert opts.paths == (Path("x"),) and opts.git_repos == (Path("."),) and opts.concurrency == 4
