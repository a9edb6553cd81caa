"""Source: GitHub Actions secrets of the repositories in scope (and their environments), the
organization secrets those repositories can use, and the organizations given.

GitHub never returns secret values, so only names and ``updated_at`` are collected here;
the resolver matches names against the credentials found elsewhere. Which repositories are in
scope is :func:`keyroll.inventory.github_scope.github_scope`'s decision (explicit ones and the
Vercel projects' git links); what could not be searched becomes an :class:`Unknown`.
"""

from __future__ import annotations

import asyncio

from keyroll.core.errors import KeyrollError
from keyroll.core.model import Unknown
from keyroll.core.progress import Progress
from keyroll.inventory.github_scope import GitHubScope
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.records import GitHubSecretRecord
from keyroll.providers.github import GitHubAPI, SecretScope

__all__ = ["collect_github"]


async def collect_github(
    github: GitHubAPI | None,
    scope: GitHubScope,
    limiter: Limiter,
    progress: Progress,
    *,
    skip_orgs: frozenset[str] = frozenset(),
) -> tuple[list[GitHubSecretRecord], list[Unknown]]:
    """Secret names of every repo, repo environment and org in ``scope``; failures and
    repositories that cannot be searched (no ``GITHUB_TOKEN``) become unknowns.

    Each repository's shared organization secrets are listed too (``repo_org``, repository
    access suffices) unless its owner is one of the orgs listed in full or in ``skip_orgs``.
    """
    records: list[GitHubSecretRecord] = []
    unknowns: list[Unknown] = list(scope.unknowns)
    repos, orgs = scope.repos, scope.orgs
    if not repos and not orgs:
        return records, unknowns
    if github is None:
        missed = [scope.describe(r) for r in repos] + [f"org:{o}" for o in orgs]
        unknowns.append(
            Unknown(
                where="github",
                reason="GITHUB_TOKEN is not set; the Actions secrets of "
                f"{'; '.join(missed)} were not listed — set GITHUB_TOKEN and run again",
            )
        )
        return records, unknowns
    task = progress.task("github", total=len(repos) + len(orgs))
    listed_orgs = {o.lower() for o in orgs} | {o.lower() for o in skip_orgs}
    org_seen: set[tuple[str, str]] = set()

    async def scope_secrets(scope_: SecretScope, label: str, repo: str, org: str = "") -> None:
        try:
            metas = await limiter.run(github.list_secrets, scope_)
        except KeyrollError as exc:
            unknowns.append(Unknown(where=f"github {scope_.label()}", reason=exc.message))
            progress.note(f"github {scope_.label()}: {exc.message}")
            return
        for m in metas:
            if label == "org":
                if (org.lower(), m.name) in org_seen:
                    continue
                org_seen.add((org.lower(), m.name))
            records.append(
                GitHubSecretRecord(repo=repo, scope=label, name=m.name, updated_at=m.updated_at, org=org)
            )

    async def one_repo(repo: str) -> None:
        try:
            envs = await limiter.run(github.list_environments, repo)
        except KeyrollError as exc:
            unknowns.append(Unknown(where=f"github {repo} environments", reason=exc.message))
            envs = []
        owner = repo.partition("/")[0]
        shared = (
            ()
            if owner.lower() in listed_orgs
            else (scope_secrets(SecretScope(kind="repo_org", repo=repo), "org", "", owner),)
        )
        await asyncio.gather(
            scope_secrets(SecretScope(kind="repo", repo=repo), "repo", repo),
            *(
                scope_secrets(SecretScope(kind="env", repo=repo, environment=e), f"env:{e}", repo)
                for e in envs
            ),
            *shared,
        )
        progress.advance(task)

    async def one_org(org: str) -> None:
        await scope_secrets(SecretScope(kind="org", org=org), "org", "", org)
        progress.advance(task)

    await asyncio.gather(*(one_repo(r) for r in repos), *(one_org(o) for o in orgs))
    progress.finish(task)
    records.sort(key=lambda r: (r.repo, r.org, r.scope, r.name))
    return records, unknowns
