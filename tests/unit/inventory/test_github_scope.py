"""Which repositories inventory searches for Actions secrets (issue 17 item 4)."""

from __future__ import annotations

from keyroll.inventory.github_scope import github_scope
from keyroll.inventory.records import ProjectInfo
from keyroll.inventory.vercel import project_info
from keyroll.providers.vercel.models import Project


def _p(name: str, repo: str = "", repo_type: str = "", host: str = "") -> ProjectInfo:
    return ProjectInfo(id=f"prj_{name}", name=name, repo=repo, repo_type=repo_type, repo_host=host)


def test_explicit_first_then_linked_once_each() -> None:
    scope = github_scope(
        ["acme/api"],
        ["acme"],
        [
            _p("web", "acme/web", "github"),
            _p("api", "Acme/API", "github"),
            _p("admin", "acme/web", "github-limited"),
        ],
    )
    assert scope.repos == ("acme/api", "acme/web")
    assert scope.orgs == ("acme",)
    assert scope.linked == {"acme/api": ("api",), "acme/web": ("admin", "web")}
    assert scope.describe("acme/web") == "acme/web (linked to Vercel project admin, web)"
    assert not scope.unknowns


def test_links_keyroll_cannot_search_are_unknowns() -> None:
    scope = github_scope(
        [],
        [],
        [
            _p("a", "group/app", "gitlab"),
            _p("b", "team/app", "bitbucket"),
            _p("c", "corp/app", "github-custom-host", "github.corp.example"),
            _p("d"),
        ],
    )
    assert scope.repos == ()
    reasons = {u.where: u.reason for u in scope.unknowns}
    assert set(reasons) == {"github group/app", "github team/app", "github corp/app"}
    assert "GitLab CI/CD variables" in reasons["github group/app"]
    assert "github.corp.example" in reasons["github corp/app"]


def test_project_link_shapes_of_the_sdk() -> None:
    github = Project.model_validate(
        {
            "id": "prj_1",
            "name": "web",
            "link": {"type": "github", "org": "acme", "repo": "web", "repoId": 1, "gitCredentialId": "c"},
        }
    )
    gitlab = Project.model_validate(
        {
            "id": "prj_2",
            "name": "svc",
            "link": {"type": "gitlab", "projectNamespace": "grp", "projectName": "svc", "projectId": "9"},
        }
    )
    bitbucket = Project.model_validate(
        {
            "id": "prj_3",
            "name": "bb",
            "link": {"type": "bitbucket", "owner": "team", "slug": "bb", "name": "BB"},
        }
    )
    assert (project_info(github).repo, project_info(github).repo_type) == ("acme/web", "github")
    assert (project_info(gitlab).repo, project_info(gitlab).repo_type) == ("grp/svc", "gitlab")
    assert (project_info(bitbucket).repo, project_info(bitbucket).repo_type) == ("team/bb", "bitbucket")
