"""``take_inventory``: every source, concurrently, then one resolution pass.

1. Upstash (Developer API, QStash keys), Vercel (projects, env vars, shared vars — values
   read one by one, concurrently) and GitHub (secret names of the explicit repositories and
   orgs) at the same time; then the GitHub repositories the Vercel projects link to;
2. one matcher over every candidate value; Vercel values matched;
3. unknown Redis tokens identified; deployments of affected projects listed while local
   files and git histories are searched (in threads);
4. the inventory assembled, custom environments named by their slugs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from typing import Any

from keyroll.core.errors import KeyrollError, UsageError
from keyroll.core.model import DeploymentRef, Inventory, Unknown
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.inventory.custom_envs import fill_custom_environment_slugs
from keyroll.inventory.deployments import collect_deployments
from keyroll.inventory.files import FileScan, scan_files
from keyroll.inventory.git import GitScan, check_git_repo, scan_git
from keyroll.inventory.github import collect_github
from keyroll.inventory.github_scope import GitHubScope, github_scope
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.options import InventoryOptions
from keyroll.inventory.records import GitHubSecretRecord, VercelSnapshot
from keyroll.inventory.resolve import Resolver
from keyroll.inventory.upstash import collect_upstash
from keyroll.inventory.vercel import collect_vercel
from keyroll.providers.factory import Providers

__all__ = ["take_inventory", "validate_options"]

_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def validate_options(options: InventoryOptions) -> None:
    """Check the local parts of the scope before any request is sent.

    :raises UsageError: a path that does not exist, a ``--git-repo`` that is not a git work
        tree, a malformed ``owner/repo``, a concurrency below 1.
    """
    if options.concurrency < 1:
        raise UsageError("concurrency must be at least 1")
    for path in options.paths:
        if not path.exists():
            raise UsageError(f"{path} does not exist", hint="--path takes existing files or directories")
    for repo in options.git_repos:
        check_git_repo(repo)
    for name in options.github_repos:
        if not _REPO.match(name):
            raise UsageError(
                f"GitHub repository {name!r} is not owner/repo", hint="e.g. --github-repo acme/web"
            )


async def _gather(*aws: Awaitable[Any]) -> list[Any]:
    """``asyncio.gather`` that cancels the siblings when one fails."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _no_token(explicit: GitHubScope, full: GitHubScope) -> str:
    missed = [full.describe(r) for r in full.repos] + [f"org:{o}" for o in explicit.orgs]
    return (
        f"GITHUB_TOKEN is not set; the Actions secrets of {'; '.join(missed)} were not listed — "
        "set GITHUB_TOKEN and run again"
    )


async def _none() -> None:
    return None


async def take_inventory(
    providers: Providers, options: InventoryOptions, progress: Progress = NULL_PROGRESS
) -> Inventory:
    """Every copy of every Upstash credential, and what could not be seen.

    Credentials carry ``value`` (in memory only) when it was learned. Provider failures on
    single projects, vars, repositories or deployments become ``Inventory.unknowns``.

    :raises UsageError: bad local scope (see :func:`validate_options`) or an unknown project.
    :raises ProviderError: the Vercel project list cannot be read at all (bad token, outage).
    """
    validate_options(options)
    limiter = Limiter(options.concurrency)

    async def vercel_part() -> VercelSnapshot:
        if providers.vercel is None:
            return VercelSnapshot(
                unknowns=[Unknown(where="vercel", reason="VERCEL_TOKEN is not set; Vercel was not listed")]
            )
        return await collect_vercel(providers.vercel, options, limiter, progress)

    async def org_repos() -> tuple[list[str], list[Unknown]]:
        """The repositories of the ``github_org`` organizations (their Actions secrets too)."""
        if providers.github is None or not options.github_orgs:
            return [], []
        found: list[str] = []
        missed: list[Unknown] = []
        for org in options.github_orgs:
            try:
                found += await limiter.run(providers.github.list_org_repos, org)
            except KeyrollError as exc:
                missed.append(Unknown(where=f"github org:{org} repositories", reason=exc.message))
        return found, missed

    async def github_part(
        vercel_task: asyncio.Future[VercelSnapshot],
    ) -> tuple[list[GitHubSecretRecord], list[Unknown]]:
        in_orgs, org_unknowns = await org_repos()
        explicit = github_scope((*options.github_repos, *in_orgs), options.github_orgs, ())
        first = asyncio.ensure_future(collect_github(providers.github, explicit, limiter, progress))
        try:
            snap = await asyncio.shield(vercel_task)
        except BaseException:
            first.cancel()
            await asyncio.gather(first, return_exceptions=True)
            raise
        full = github_scope(options.github_repos, options.github_orgs, snap.projects.values())
        searched = {r.lower() for r in explicit.repos}
        linked = GitHubScope(
            repos=tuple(r for r in full.repos if r.lower() not in searched),
            linked=full.linked,
            unknowns=full.unknowns,
        )
        later = collect_github(
            providers.github, linked, limiter, progress, skip_orgs=frozenset(explicit.orgs)
        )
        (records, unknowns), (more, more_unknowns) = await asyncio.gather(first, later)
        unknowns = [*org_unknowns, *unknowns]
        if providers.github is None and linked.repos and unknowns and more_unknowns:
            unknowns = [u for u in unknowns if u.where != "github"]  # one line names them all
            more_unknowns = [
                Unknown(where="github", reason=_no_token(explicit, full)),
                *(u for u in more_unknowns if u.where != "github"),
            ]
        unique = {(r.repo, r.org.lower(), r.scope, r.name): r for r in (*records, *more)}
        return sorted(unique.values(), key=lambda r: (r.repo, r.org, r.scope, r.name)), [
            *unknowns,
            *more_unknowns,
        ]

    vercel_task = asyncio.ensure_future(vercel_part())
    upstash, vercel, (github, github_unknowns) = await _gather(
        collect_upstash(providers, limiter, progress),
        vercel_task,
        github_part(vercel_task),
    )
    resolver = Resolver(upstash, vercel, options.extra_values, all_secrets=options.all_secrets)
    if options.identify_tokens:
        await resolver.identify(providers.redis, limiter)

    affected = resolver.affected_projects()
    want_deployments = options.include_deployments and providers.vercel is not None and affected
    files_task = progress.task("files", total=None) if options.paths else ""
    git_task = progress.task("git history", total=len(options.git_repos)) if options.git_repos else ""
    results = await _gather(
        collect_deployments(providers.vercel, affected, limiter, progress)  # type: ignore[arg-type]
        if want_deployments
        else _none(),
        asyncio.to_thread(scan_files, options.paths, resolver.matcher) if options.paths else _none(),
        *(asyncio.to_thread(scan_git, repo, resolver.matcher) for repo in options.git_repos),
    )
    deployments: list[DeploymentRef] = []
    unknowns: list[Unknown] = list(github_unknowns)
    if results[0] is not None:
        deployments, dep_unknowns = results[0]
        unknowns.extend(dep_unknowns)
    files: FileScan | None = results[1]
    gits: list[GitScan] = list(results[2:])
    hits = []
    sightings = []
    if files is not None:
        hits.extend(files.hits)
        sightings.extend(files.sightings)
        unknowns.extend(files.unknowns)
        progress.finish(files_task)
    for g in gits:
        hits.extend(g.hits)
        unknowns.extend(g.unknowns)
    if git_task:
        progress.finish(git_task)
    github_records: list[GitHubSecretRecord] = github
    inventory = resolver.finish(
        deployments=deployments,
        github=github_records,
        text_hits=hits,
        sightings=sightings,
        unknowns=unknowns,
    )
    if providers.vercel is None:
        return inventory
    return await fill_custom_environment_slugs(providers.vercel, inventory, limiter, progress)
