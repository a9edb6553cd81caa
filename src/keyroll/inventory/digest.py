"""A stable digest of what a plan depends on, so that ``apply`` can detect drift.

It covers the credentials (fingerprint, classification, relations), every location (where
and in which form) and the serving deployments — and leaves out what changes without
changing the plan: timestamps, reasons, display names, older deployments. An inventory
loaded back from its JSON has the same digest as the one in memory.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from keyroll.core.model import Inventory
from keyroll.core.serde import to_jsonable

__all__ = ["digest"]

_CREDENTIAL_FIELDS = (
    "fingerprint",
    "product",
    "kind",
    "resource_id",
    "management",
    "strategy",
    "endpoint",
    "acl_user",
    "related",
)
_LOCATION_SKIP = frozenset(
    {"reason", "updated_at", "author_date", "project_name", "deployment_url", "custom_environment_slugs"}
)
_DEPLOYMENT_FIELDS = ("project_id", "deployment_id", "target", "git_branch", "custom_environment_id")


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def digest(inventory: Inventory) -> str:
    """``sha256:<hex>`` over credentials, locations and serving deployments (order-independent)."""
    creds = []
    for c in inventory.credentials:
        d = to_jsonable(c)
        item = {k: d[k] for k in _CREDENTIAL_FIELDS}
        item["related"] = sorted(item["related"])
        creds.append(_canon(item))
    locs = []
    for loc in inventory.locations:
        d = to_jsonable(loc)
        locs.append(_canon({k: v for k, v in d.items() if k not in _LOCATION_SKIP}))
    deps = [
        _canon({k: getattr(d, k) for k in _DEPLOYMENT_FIELDS}) for d in inventory.deployments if d.serving
    ]
    payload = _canon(
        {
            "version": inventory.version,
            "credentials": sorted(creds),
            "locations": sorted(locs),
            "serving": sorted(deps),
        }
    )
    return "sha256:" + hashlib.sha256(payload.encode()).hexdigest()
