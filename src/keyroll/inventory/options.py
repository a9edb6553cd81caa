"""What an inventory covers: :class:`InventoryOptions` and :func:`options_from_config`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyroll.config import Config
from keyroll.core.secret import Secret

__all__ = ["InventoryOptions", "options_from_config"]


@dataclass(frozen=True)
class InventoryOptions:
    """Scope and behaviour switches of :func:`keyroll.inventory.take_inventory`."""

    projects: tuple[str, ...] = ()
    """Vercel project ids or names; empty means every project of the team"""
    include_paused: bool = True
    """also list paused projects (their deployments resume with the old values)"""
    github_repos: tuple[str, ...] = ()
    """``owner/repo`` whose Actions secrets (repo and environments) are listed by name"""
    github_orgs: tuple[str, ...] = ()
    """organizations whose Actions secrets are listed by name"""
    paths: tuple[Path, ...] = ()
    """local files or directories searched for known values"""
    git_repos: tuple[Path, ...] = ()
    """git work trees whose whole history (every ref) is searched for known values"""
    extra_values: tuple[Secret, ...] = ()
    """more values to look for everywhere (e.g. the old values after a rotation)"""
    include_deployments: bool = True
    """list the deployments of affected projects (serving and older READY ones)"""
    concurrency: int = 16
    """requests in flight at most; the clients' token buckets do the rate limiting"""
    identify_tokens: bool = True
    """ask a Redis endpoint ``ACL WHOAMI`` for tokens the Developer API does not know"""
    all_secrets: bool = True
    """every secret-bearing var, not only Upstash's: values the scanner's detectors call a
    credential, and ``encrypted``/``sensitive`` values that look like secrets (docs/inventory.md)"""


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def options_from_config(cfg: Config, **overrides: Any) -> InventoryOptions:
    """Options from ``keyroll.toml`` ``[scope]`` and ``GITHUB_REPOS``; non-empty ``overrides`` win.

    :raises TypeError: for an override that is not an :class:`InventoryOptions` field.
    """
    scope = cfg.toml.get("scope", {}) if isinstance(cfg.toml, dict) else {}
    base: dict[str, Any] = {
        "projects": _strings(scope.get("projects")),
        "github_repos": _strings(scope.get("github_repos")) or cfg.github_repos,
        "github_orgs": _strings(scope.get("github_org")),
        "paths": tuple(Path(p) for p in _strings(scope.get("files"))),
        "git_repos": tuple(Path(p) for p in _strings(scope.get("git_repos"))),
    }
    names = {f.name for f in dataclasses.fields(InventoryOptions)}
    for key, value in overrides.items():
        if key not in names:
            raise TypeError(f"unknown inventory option {key!r}")
        if value in (None, ()) and key in base:
            continue
        base[key] = value
    return InventoryOptions(**base)
