"""Synthetic fleets for the benchmarks: N projects of M env vars around one leaked Redis token.

:func:`generate_fleet` returns a dict ready for :func:`keyroll.sandbox.fleet.load_fleet`;
the same arguments and ``seed`` give the same fleet.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["generate_fleet"]

_NOISE_KEYS = (
    "NEXT_PUBLIC_SITE_URL",
    "NEXT_PUBLIC_ANALYTICS_ID",
    "FEATURE_FLAGS",
    "LOG_LEVEL",
    "SENTRY_ENVIRONMENT",
    "API_BASE_URL",
    "CDN_HOST",
    "DEFAULT_LOCALE",
    "MAX_UPLOAD_MB",
    "CACHE_TTL_SECONDS",
)


def generate_fleet(
    projects: int,
    vars_per_project: int = 20,
    preview_branches: int = 1,
    shared_vars: int = 3,
    *,
    leaked_fraction: float = 1.0,
    github_repos: int = 0,
    seed: int = 0,
) -> dict[str, Any]:
    """A synthetic fleet for benchmarks (returned as a dict ready for :func:`load_fleet`).

    One Upstash Redis database ``cache`` whose REST token is "leaked": a ``leaked_fraction``
    of the projects hold it in ``UPSTASH_REDIS_REST_TOKEN`` (all three targets), and, when
    ``shared_vars >= 1``, the team shared var ``KV_REST_API_TOKEN`` (linked to every project)
    holds it too. Every project has ``vars_per_project`` env vars over the three targets
    (the rest are non-credential noise), ``preview_branches`` branch-scoped preview vars, a
    production deployment and one preview deployment per branch.

    :raises ValueError: on negative sizes or ``vars_per_project`` too small for the credential vars.
    """
    if projects < 0 or vars_per_project < 0 or preview_branches < 0 or shared_vars < 0:
        raise ValueError("fleet sizes must not be negative")
    rng = random.Random(seed)
    leak_every = 0 if leaked_fraction <= 0 else max(1, round(1 / min(1.0, leaked_fraction)))
    fixed = 2 + preview_branches
    if vars_per_project < fixed:
        raise ValueError(f"vars_per_project must be at least {fixed} (URL, token, one per preview branch)")
    names = [f"app-{i:04d}" for i in range(projects)]
    project_list: list[dict[str, Any]] = []
    for i, name in enumerate(names):
        env: list[dict[str, Any]] = []
        leaked = leak_every > 0 and i % leak_every == 0
        env.append(
            {
                "key": "UPSTASH_REDIS_REST_URL",
                "value": "${redis:cache:rest_url}",
                "target": ["production", "preview", "development"],
            }
        )
        env.append(
            {
                "key": "UPSTASH_REDIS_REST_TOKEN" if leaked else "APP_SECRET_SALT",
                "value": "${redis:cache:rest_token}" if leaked else f"salt-{rng.getrandbits(48):012x}",
                "target": ["production", "preview", "development"],
            }
        )
        for b in range(preview_branches):
            env.append(
                {
                    "key": "BRANCH_FEATURE",
                    "value": f"feature-{b}",
                    "target": ["preview"],
                    "git_branch": f"feat-{b}",
                }
            )
        targets = ("production", "preview", "development")
        n = 0
        while len(env) < vars_per_project:
            key = f"{_NOISE_KEYS[n % len(_NOISE_KEYS)]}_{n // len(_NOISE_KEYS)}"
            env.append(
                {
                    "key": key,
                    "value": f"{name}-{key.lower()}-{rng.randrange(10**6)}",
                    "target": [targets[n % 3]],
                    "type": "plain" if n % 4 == 0 else "encrypted",
                }
            )
            n += 1
        deployments: list[dict[str, Any]] = [{"target": "production"}]
        deployments += [{"target": "preview", "git_branch": f"feat-{b}"} for b in range(preview_branches)]
        project: dict[str, Any] = {"name": name, "env": env, "deployments": deployments}
        if i < github_repos:
            project["repo"] = f"acme/{name}"
        project_list.append(project)
    shared: list[dict[str, Any]] = []
    for s in range(shared_vars):
        if s == 0:
            shared.append(
                {"key": "KV_REST_API_TOKEN", "value": "${redis:cache:rest_token}", "projects": names}
            )
        elif s == 1:
            shared.append({"key": "KV_REST_API_URL", "value": "${redis:cache:rest_url}", "projects": names})
        else:
            shared.append({"key": f"SHARED_SETTING_{s}", "value": f"setting-{s}", "projects": names[::2]})
    repos = [
        {
            "name": f"acme/{names[i]}",
            "secrets": [{"name": "UPSTASH_REDIS_REST_TOKEN", "value": "${redis:cache:rest_token}"}],
        }
        for i in range(min(github_repos, projects))
    ]
    return {
        "name": f"generated-{projects}",
        "description": f"generated: {projects} projects x {vars_per_project} vars",
        "team": {"id": "team_sandbox", "slug": "acme", "name": "Acme"},
        "upstash": {"redis": [{"name": "cache"}], "vector": [], "search": [], "qstash": {}},
        "projects": project_list,
        "shared_env": shared,
        "github": {"repos": repos, "orgs": []},
    }
