"""Freshness and rollback: serving deployments built after the env change; old builds are hazards."""

from __future__ import annotations

from typing import Any

import httpx

from keyroll.core.errors import NotFoundError
from keyroll.providers.vercel.models import Deployment, Project
from keyroll.verify.deployments import (
    HttpAnswer,
    ProjectDeployments,
    deployment_url,
    http_probe,
    read_project,
    serving,
)
from keyroll.verify.freshness import freshness_checks
from keyroll.verify.result import CheckCategory, CheckStatus
from keyroll.verify.rollback import rollback_checks

WRITE = 1_760_000_000.0
FP = "sha256:0000aaaa"
NEW = "sha256:1111bbbb"


def dep(i: str, created: float, target: str | None = None, branch: str = "", ce: str = "") -> Deployment:
    return Deployment(
        id=i,
        url=f"127.0.0.1:9/_d/{i}",
        projectId="prj_web",
        target=target,
        readyState="READY",
        createdAt=int(created * 1000),
        git_branch=branch,
        custom_environment_id=ce,
    )


def snapshot(*deps: Deployment, prod: str = "dpl_p2") -> ProjectDeployments:
    ordered = tuple(sorted(deps, key=lambda d: d.created_at, reverse=True))
    return ProjectDeployments("prj_web", "web", prod, ordered, read_at=WRITE + 60)


FLEET = (
    dep("dpl_p1", WRITE - 100, "production"),
    dep("dpl_p0", WRITE - 200, "production"),
    dep("dpl_p2", WRITE + 5, "production"),
    dep("dpl_b1", WRITE - 50, branch="feat-x"),
    dep("dpl_b2", WRITE + 6, branch="feat-x"),
    dep("dpl_c1", WRITE - 40, branch="fix-y"),
    dep("dpl_s1", WRITE + 7, ce="env_staging"),
)


def test_serving_selection() -> None:
    ids = {d.id for d in serving(snapshot(*FLEET))}
    assert ids == {"dpl_p2", "dpl_b2", "dpl_c1", "dpl_s1"}


def test_freshness_checks_per_serving_deployment() -> None:
    checks = {c.id.rsplit(":", 1)[-1]: c for c in freshness_checks(snapshot(*FLEET), FP, WRITE)}
    assert checks["dpl_b2"].status is CheckStatus.PASS
    assert checks["dpl_s1"].status is CheckStatus.PASS
    assert checks["dpl_c1"].status is CheckStatus.FAIL and "before the env change" in checks["dpl_c1"].title
    assert "redeploy" in checks["dpl_c1"].hint
    assert "dpl_p2" not in checks  # production is the rollback module's
    older = checks["older"]
    assert older.status is CheckStatus.WARN and "1 older" in older.title
    assert [e.ref for e in older.evidence] == ["dpl_b1"]
    # evidence: the journal's write time and the API's creation time
    assert {e.source.value for e in checks["dpl_b2"].evidence} == {"journal", "api"}
    assert all(c.category is CheckCategory.FRESHNESS for c in checks.values())


def test_answers_turn_checks_into_failures_or_add_evidence() -> None:
    answers = {
        "dpl_b2": HttpAnswer(503, WRITE + 61),
        "dpl_s1": HttpAnswer(200, WRITE + 61, frozenset({NEW})),
    }
    checks = {
        c.id.rsplit(":", 1)[-1]: c
        for c in freshness_checks(snapshot(*FLEET), FP, WRITE, answers=answers, new_fps={NEW}, old_fps={FP})
    }
    assert checks["dpl_b2"].status is CheckStatus.FAIL and "503" in checks["dpl_b2"].title
    assert checks["dpl_s1"].status is CheckStatus.PASS
    assert any(f"uses {NEW}" in e.what for e in checks["dpl_s1"].evidence)
    stale = {"dpl_s1": HttpAnswer(200, WRITE + 61, frozenset({FP}))}
    check = next(
        c
        for c in freshness_checks(snapshot(*FLEET), FP, WRITE, answers=stale, old_fps={FP})
        if c.id.endswith("dpl_s1")
    )
    assert check.status is CheckStatus.FAIL and "old credential" in check.title


def test_missing_write_or_unreadable_project() -> None:
    (c,) = freshness_checks(snapshot(*FLEET), FP, None)
    assert c.status is CheckStatus.FAIL and "no env write" in c.title
    broken = ProjectDeployments("prj_x", error="project not found", read_at=WRITE)
    (u,) = freshness_checks(broken, FP, WRITE)
    assert u.status is CheckStatus.UNKNOWN and "project not found" in u.title
    assert rollback_checks(broken, FP, WRITE) == []


def test_rollback_alias_and_candidates() -> None:
    checks = {c.id.rsplit(":", 1)[-1]: c for c in rollback_checks(snapshot(*FLEET), FP, WRITE, revoked=True)}
    assert checks["alias"].status is CheckStatus.PASS and "dpl_p2" in checks["alias"].title
    cand = checks["candidates"]
    assert cand.status is CheckStatus.WARN and "2 older production" in cand.title and "revoked" in cand.title
    assert {e.ref for e in cand.evidence} == {"dpl_p1", "dpl_p0"}
    # an instant rollback happened: the alias points at a pre-rotation build
    rolled = {c.id.rsplit(":", 1)[-1]: c for c in rollback_checks(snapshot(*FLEET, prod="dpl_p1"), FP, WRITE)}
    assert rolled["alias"].status is CheckStatus.FAIL and "older than the rotation" in rolled["alias"].title
    assert {e.ref for e in rolled["candidates"].evidence} == {"dpl_p0"}
    bad = {"dpl_p2": HttpAnswer(500, WRITE + 61)}
    failing = next(
        c for c in rollback_checks(snapshot(*FLEET), FP, WRITE, answers=bad) if c.id.endswith("alias")
    )
    assert failing.status is CheckStatus.FAIL and "500" in failing.title


class FakeVercel:
    def __init__(self, project: Project, deployments: list[Deployment], fail: bool = False) -> None:
        self.project = project
        self.deployments = deployments
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []

    async def get_project(self, id_or_name: str) -> Project:
        self.calls.append(("get_project", id_or_name))
        if self.fail:
            raise NotFoundError(f"project {id_or_name} not found", service="vercel", status=404)
        return self.project

    async def list_deployments(
        self, project_id: str, *, target: str | None = None, state: str | None = None, limit: int = 100
    ) -> list[Deployment]:
        self.calls.append(("list_deployments", state))
        return self.deployments


async def test_read_project_keeps_the_alias_target_even_when_not_listed() -> None:
    project = Project(
        id="prj_web", name="web", targets={"production": {"id": "dpl_old", "url": "x", "createdAt": 1000}}
    )
    fake = FakeVercel(project, [dep("dpl_b2", WRITE, branch="main")])
    snap = await read_project(fake, "prj_web", clock=lambda: 5.0)  # type: ignore[arg-type]
    assert snap.production_id == "dpl_old" and snap.by_id("dpl_old") is not None
    assert snap.by_id("dpl_old").target == "production" and snap.read_at == 5.0
    assert fake.calls == [("get_project", "prj_web"), ("list_deployments", "READY")]
    gone = await read_project(FakeVercel(project, [], fail=True), "prj_gone")  # type: ignore[arg-type]
    assert gone.error and "not found" in gone.error


async def test_http_probe_collects_fingerprints() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.scheme == "http" and request.url.path == "/_d/dpl_b2/health"
        return httpx.Response(200, json={"env": {"KEY": NEW}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        ans = await http_probe(http, dep("dpl_b2", WRITE), "/health", clock=lambda: 3.0)
    assert ans.status == 200 and ans.fingerprints == frozenset({NEW}) and ans.at == 3.0

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        ans = await http_probe(http, dep("dpl_b2", WRITE))
    assert ans.status is None and ans.error == "ConnectError"
    assert deployment_url(Deployment(id="d", url="app-abc.vercel.app")) == "https://app-abc.vercel.app"
