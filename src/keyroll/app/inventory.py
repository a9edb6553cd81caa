"""The inventory workflow: the scope from the config and the flags, checked, then every copy read.

The scope is checked before any request is sent: a Vercel token always, a GitHub token when
GitHub repositories or organizations are in scope, local paths and git work trees that exist
(:func:`~keyroll.inventory.validate_options`). Whether the result is complete is
``Inventory.complete``; how it is shown is the caller's.
"""

from __future__ import annotations

from typing import Any

from keyroll.app.session import providers_session
from keyroll.config import Config
from keyroll.core.model import Inventory
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.inventory import InventoryOptions, options_from_config, take_inventory, validate_options
from keyroll.providers.factory import Providers

__all__ = ["inventory_scope", "run_inventory"]


def inventory_scope(cfg: Config, **flags: Any) -> InventoryOptions:
    """The inventory's scope: ``keyroll.toml`` ``[scope]`` and ``GITHUB_REPOS``, non-empty ``flags`` winning.

    :param flags: :class:`~keyroll.inventory.InventoryOptions` fields (``projects``, ``paths`` …).
    :raises ConfigError: no ``VERCEL_TOKEN``, or no ``GITHUB_TOKEN`` with GitHub in scope.
    :raises UsageError: a path or git work tree that does not exist, a malformed ``owner/repo``.
    """
    cfg.require("VERCEL_TOKEN")
    options = options_from_config(cfg, **flags)
    if options.github_repos or options.github_orgs:
        cfg.require("GITHUB_TOKEN")
    validate_options(options)
    return options


async def run_inventory(
    cfg: Config,
    options: InventoryOptions,
    progress: Progress = NULL_PROGRESS,
    *,
    providers: Providers | None = None,
) -> Inventory:
    """Every copy of every credential in scope (``providers``: an open session to use)."""
    async with providers_session(cfg, providers) as session:
        return await take_inventory(session, options, progress)
