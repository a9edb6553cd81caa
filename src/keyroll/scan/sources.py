"""What to look for besides the detectors: known values (a file) and inventory fingerprints.

* ``--known-values FILE``: one value per line (blank lines ignored, surrounding whitespace
  stripped). Read from a file, never argv; each value becomes a :class:`Secret` at once.
* ``--from-inventory FILE``: an inventory JSON (``keyroll inventory --json``). It holds
  fingerprints, not values, so the scanner cannot search for the values themselves: it hashes
  every detector candidate and every token-like string of 16–512 base64/base64url characters
  and reports those whose fingerprint is a credential of the inventory (rule ``known-value``,
  or the detector's rule marked ``known``). Values in other shapes (inside a longer blob,
  with ``.`` or ``:`` in them) are only found if a detector extracts them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from keyroll.core.errors import UsageError
from keyroll.core.secret import Secret

__all__ = ["load_inventory_fingerprints", "load_known_values"]


def load_known_values(path: Path) -> tuple[Secret, ...]:
    """The values in ``path``, one per line, as secrets.

    :raises UsageError: the file is missing or unreadable.
    """
    try:
        raw = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise UsageError(
            f"cannot read --known-values file {path}: {exc.strerror}",
            hint="give a readable file, one value per line",
        ) from None
    values = {line.strip() for line in raw.splitlines()}
    return tuple(Secret(v) for v in sorted(values) if v)


def load_inventory_fingerprints(path: Path) -> frozenset[str]:
    """Every credential fingerprint in an inventory JSON (credentials, related ones, locations).

    :raises UsageError: the file is missing, not JSON, or not an inventory.
    """
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(
            f"cannot read --from-inventory file {path}: {exc.strerror}",
            hint="give the output of `keyroll inventory --json`",
        ) from None
    except ValueError:
        raise UsageError(
            f"--from-inventory {path} is not JSON", hint="give the output of `keyroll inventory --json`"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("inventory"), dict):
        data = data["inventory"]
    if not isinstance(data, dict) or not isinstance(data.get("credentials"), list):
        raise UsageError(
            f"--from-inventory {path} has no credentials list",
            hint="give the output of `keyroll inventory --json`",
        )
    fps: set[str] = set()
    for cred in data["credentials"]:
        if isinstance(cred, dict):
            if isinstance(cred.get("fingerprint"), str):
                fps.add(cred["fingerprint"])
            fps.update(x for x in cred.get("related") or () if isinstance(x, str))
    for loc in data.get("locations") or ():
        if isinstance(loc, dict) and isinstance(loc.get("fingerprint"), str):
            fps.add(loc["fingerprint"])
    return frozenset(f for f in fps if f.startswith("sha256:"))
