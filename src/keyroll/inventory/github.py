"""Source: GitHub Actions secrets of the given repositories (and their environments) and orgs.

GitHub never returns secret values, so only names and ``updated_at`` are collected here;
the resolver matches names against the credentials found elsewhere.
"""

from __future__ import annotations

import asyncio

from keyroll.core.errors import KeyrollError
from keyroll.core.model import Unknown
from keyroll.core.progress import Progress
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.records import GitHubSecretRecord
from keyroll.providers.github import GitHubAPI, SecretScope

__all__ = ["collect_github"]


async def collect_github(
    github: GitHubAPI | None,
    repos: tuple[str, ...],
    orgs: tuple[str, ...],
    limiter: Limiter,
    progress: Progress,
) -> tuple[list[GitHubSecretRecord], list[Unknown]]:
    """Secret names of every repo, repo environment and org given; failures become unknowns."""
    records: list[GitHubSecretRecord] = []
    unknowns: list[Unknown] = []
    if not repos and not orgs:
        return records, unknowns
    if github is None:
        unknowns.append(
            Unknown(where="github", reason="GITHUB_TOKEN is not set; Actions secrets were not listed")
        )
        return records, unknowns
    task = progress.task("github", total=len(repos) + len(orgs))

    async def scope_secrets(scope: SecretScope, label: str, repo: str, org: str = "") -> None:
        try:
            metas = await limiter.run(github.list_secrets, scope)
        except KeyrollError as exc:
            unknowns.append(Unknown(where=f"github {scope.label()}", reason=exc.message))
            progress.note(f"github {scope.label()}: {exc.message}")
            return
        records.extend(
            GitHubSecretRecord(repo=repo, scope=label, name=m.name, updated_at=m.updated_at, org=org)
            for m in metas
        )

    async def one_repo(repo: str) -> None:
        try:
            envs = await limiter.run(github.list_environments, repo)
        except KeyrollError as exc:
            unknowns.append(Unknown(where=f"github {repo} environments", reason=exc.message))
            envs = []
        await asyncio.gather(
            scope_secrets(SecretScope(kind="repo", repo=repo), "repo", repo),
            *(
                scope_secrets(SecretScope(kind="env", repo=repo, environment=e), f"env:{e}", repo)
                for e in envs
            ),
        )
        progress.advance(task)

    async def one_org(org: str) -> None:
        await scope_secrets(SecretScope(kind="org", org=org), "org", "", org)
        progress.advance(task)

    await asyncio.gather(*(one_repo(r) for r in repos), *(one_org(o) for o in orgs))
    progress.finish(task)
    records.sort(key=lambda r: (r.repo, r.org, r.scope, r.name))
    return records, unknowns
