"""The emulated GitHub Actions secrets API (repository, environment and organization secrets).

Faithful to the REST API where keyroll and ``gh`` touch it: ``GET /user`` (with
``X-OAuth-Scopes``), repository environments, secret lists (``{total_count, secrets}``,
``per_page``/``page`` with a ``Link`` header), the scope's public key (a real Curve25519 key),
``PUT`` with ``{encrypted_value, key_id}`` (201 created / 204 updated), ``DELETE`` (204).
Errors are GitHub's ``{"message", "documentation_url", "status"}`` with 401/403/404/422.

Values are never readable through the API. The sandbox decrypts each ``PUT`` with the
scope's private key and keeps the plaintext so tests can check it through
:func:`stored_secret` (hook ``github.secret_value``).

Modules: ``state`` (repositories, scopes, secrets), ``app`` (the HTTP API); :func:`install`
seeds them from the fleet.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from typing import Any

from keyroll.sandbox.fleet import resolve_templates
from keyroll.sandbox.github.app import GitHubApp
from keyroll.sandbox.github.state import GitHubState
from keyroll.sandbox.world import World

__all__ = ["install", "stored_secret"]


def stored_secret(
    world: World,
    name: str,
    *,
    repo: str | None = None,
    environment: str | None = None,
    org: str | None = None,
) -> str | None:
    """Sandbox-only: the plaintext the emulated GitHub decrypted for a secret (tests use it)."""
    hook = world.hooks.get("github.secret_value")
    return None if hook is None else hook(name, repo=repo, environment=environment, org=org)


def _token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "ghp_" + "".join(secrets.choice(alphabet) for _ in range(36))


def install(world: World, fleet: Mapping[str, Any]) -> None:
    """Seed repositories, environments and organizations from ``fleet["github"]`` and register
    the ``github`` service; puts ``GITHUB_TOKEN`` into ``world.info["env"]``.

    :raises FleetError: a secret value names a template missing from ``world.templates``.
    """
    spec = dict(fleet.get("github") or {})
    state = GitHubState(
        world,
        token=_token(),
        scopes=list(spec.get("token_scopes") or ["repo", "admin:org", "workflow"]),
        login=str(spec.get("user") or "sandbox-bot"),
    )
    for rspec in spec.get("repos", []):
        repo = state.add_repo(rspec["name"])
        for item in rspec.get("secrets", []):
            where = f"github.repos.{rspec['name']}.secrets.{item['name']}"
            state.put(
                repo.scope, item["name"], resolve_templates(item["value"], world.templates, where=where)
            )
        for env_name, items in (rspec.get("environments") or {}).items():
            scope = state.add_environment(repo, env_name)
            for item in items:
                where = f"github.repos.{rspec['name']}.environments.{env_name}.{item['name']}"
                state.put(scope, item["name"], resolve_templates(item["value"], world.templates, where=where))
    for ospec in spec.get("orgs", []):
        org = state.orgs.setdefault(ospec["name"].lower(), state.new_scope(f"org:{ospec['name']}"))
        for item in ospec.get("secrets", []):
            where = f"github.orgs.{ospec['name']}.secrets.{item['name']}"
            state.put(
                org,
                item["name"],
                resolve_templates(item["value"], world.templates, where=where),
                visibility="all",
            )
    for project in fleet.get("projects", []):
        if project.get("repo"):
            state.add_repo(project["repo"])
    world.add_service("github", GitHubApp(world, state).build())
    world.hooks["github.secret_value"] = state.value_of
    world.hooks["github.state"] = lambda: state
    world.info.setdefault("env", {})["GITHUB_TOKEN"] = state.token
    world.info["github"] = {
        "repos": sorted(r.full_name for r in state.repos.values()),
        "orgs": sorted(state.orgs),
    }
