"""Which GitHub repositories to search for Actions secrets, and what stays unsearched.

Repositories come from three places: ``GITHUB_REPOS`` / ``[scope] github_repos`` /
``--github-repo`` (explicit), the Vercel projects' git links (``link.org``/``link.repo`` of a
``github`` or ``github-limited`` link, the SDK's ``GetProjectsLink1``/``2``), and organizations
(``[scope] github_org`` / ``--github-org``, whose own secrets are listed). A project linked to a
repository keyroll cannot search — GitLab, Bitbucket, a GitHub Enterprise host — is an
:class:`~keyroll.core.model.Unknown`: its CI secrets may hold a copy nobody looked at.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from keyroll.core.model import Unknown
from keyroll.inventory.records import ProjectInfo

__all__ = ["GITHUB_LINK_TYPES", "GitHubScope", "github_scope"]

GITHUB_LINK_TYPES = frozenset({"github", "github-limited"})
"""Link types whose repository lives on github.com (``github-custom-host`` is GitHub Enterprise)."""

_CI_NAMES = {"gitlab": "GitLab CI/CD variables", "bitbucket": "Bitbucket Pipelines variables"}


@dataclass(frozen=True)
class GitHubScope:
    """Repositories and organizations to search, and why each repository is searched."""

    repos: tuple[str, ...] = ()
    """``owner/repo``, explicit ones first, each once (case-insensitive)"""
    orgs: tuple[str, ...] = ()
    linked: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """repository (lower case) → names of the Vercel projects linked to it"""
    unknowns: tuple[Unknown, ...] = ()
    """projects linked to repositories keyroll cannot search"""

    def describe(self, repo: str) -> str:
        """``acme/web (linked to Vercel project web)`` or just ``acme/web``."""
        projects = self.linked.get(repo.lower())
        return f"{repo} (linked to Vercel project {', '.join(projects)})" if projects else repo


def github_scope(
    explicit: Iterable[str], orgs: Iterable[str], projects: Iterable[ProjectInfo]
) -> GitHubScope:
    """Explicit repositories plus those the projects link to; other links become unknowns."""
    repos: dict[str, str] = {}
    for r in explicit:
        repos.setdefault(r.lower(), r)
    linked: dict[str, list[str]] = defaultdict(list)
    unknowns: list[Unknown] = []
    for p in sorted(projects, key=lambda p: p.name):
        if not p.repo:
            continue
        if p.repo_type in GITHUB_LINK_TYPES or (not p.repo_type and "/" in p.repo):
            if "/" not in p.repo:
                continue
            repos.setdefault(p.repo.lower(), p.repo)
            linked[p.repo.lower()].append(p.name)
            continue
        what = _CI_NAMES.get(p.repo_type, f"CI secrets of the {p.repo_type or 'unknown'} repository")
        if p.repo_type == "github-custom-host":
            what = f"GitHub Actions secrets on {p.repo_host or 'a GitHub Enterprise host'}"
        unknowns.append(
            Unknown(
                where=f"github {p.repo}",
                reason=f"Vercel project {p.name} is linked to {p.repo} ({p.repo_type}); its {what} "
                "were not searched — check them by hand",
                project_id=p.id,
            )
        )
    return GitHubScope(
        repos=tuple(repos.values()),
        orgs=tuple(dict.fromkeys(orgs)),
        linked={k: tuple(v) for k, v in linked.items()},
        unknowns=tuple(unknowns),
    )
