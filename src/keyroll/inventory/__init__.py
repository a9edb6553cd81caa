"""Inventory: every copy of every Upstash credential, and the blast radius.

Public API (others depend on exactly these names):

* :class:`InventoryOptions` and :func:`take_inventory` — the entry point;
* :func:`classify_key` / :class:`KeyClass`, :func:`strategy_for` — naming and strategy rules;
* :func:`digest` — what a plan depends on, for drift detection;
* renderers (:func:`render`, :class:`InventoryFormat`, :func:`blast_radius`,
  :func:`inventory_to_json` / :func:`inventory_from_json`).

Sources live in their own modules (``upstash``, ``vercel``, ``github``, ``files``, ``git``,
``deployments``); ``resolve`` turns what they saw into credentials × locations (with
``links``, ``locations`` and ``relate``).
"""

from keyroll.inventory.classify import KeyClass, classify_hint, classify_key, classify_value, strategy_for
from keyroll.inventory.digest import digest
from keyroll.inventory.options import InventoryOptions, options_from_config
from keyroll.inventory.render import (
    BlastRadius,
    InventoryFormat,
    blast_radius,
    inventory_from_json,
    inventory_to_json,
    render,
    render_json,
    render_markdown,
    render_table,
    summary,
)
from keyroll.inventory.take import take_inventory, validate_options

__all__ = [
    "BlastRadius",
    "InventoryFormat",
    "InventoryOptions",
    "KeyClass",
    "blast_radius",
    "classify_hint",
    "classify_key",
    "classify_value",
    "digest",
    "inventory_from_json",
    "inventory_to_json",
    "options_from_config",
    "render",
    "render_json",
    "render_markdown",
    "render_table",
    "strategy_for",
    "summary",
    "take_inventory",
    "validate_options",
]
