"""Choosing what to rotate by variable name: ``keyroll plan --key STRIPE_SECRET_KEY``."""

from __future__ import annotations

from collections.abc import Sequence

from keyroll.core.errors import UsageError
from keyroll.core.model import Confidence, Inventory, LocationKind

__all__ = ["credentials_by_key"]

_NAMED = frozenset(
    {LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV, LocationKind.GITHUB_SECRET, LocationKind.FILE}
)


def credentials_by_key(inventory: Inventory, names: Sequence[str]) -> list[str]:
    """The fingerprint each variable name holds (exact copies first; unreadable ones only when
    nothing readable carries the name).

    :raises UsageError: a name no copy carries, or a name that holds several different values
        (choose one with ``--credential``).
    """
    out: list[str] = []
    for name in names:
        want = name.strip().upper()
        named = [loc for loc in inventory.locations if loc.kind in _NAMED and loc.key.upper() == want]
        exact = {str(loc.fingerprint) for loc in named if loc.confidence is Confidence.EXACT}
        fps = exact or {str(loc.fingerprint) for loc in named}
        if not fps:
            raise UsageError(
                f"no credential under the name {name} in the inventory",
                hint="list them with `keyroll inventory` (names are matched whole, any case)",
            )
        if len(fps) > 1:
            raise UsageError(
                f"{name} holds {len(fps)} different credentials ({', '.join(sorted(fps))})",
                hint="choose one with --credential FP",
            )
        out.extend(fps)
    return list(dict.fromkeys(out))
