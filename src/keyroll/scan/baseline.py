"""Baselines: accepted findings, so that CI fails only on new ones.

A baseline is a versioned JSON file::

    {"version": 1, "tool": "keyroll", "generated_at": "…",
     "findings": [{"rule": "upstash-redis-rest-token", "fingerprint": "sha256:1a2b3c4d",
                   "path": "tests/fixtures/app.env", "line": 3}]}

An entry matches a finding with the same fingerprint, rule and path (the line is informational:
editing a file above a credential does not resurrect it). No value, no preview: only the
fingerprint. Older versions are upgraded on load by the functions in :data:`UPGRADES`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyroll.core.errors import ScanError
from keyroll.scan.findings import Finding

__all__ = ["BASELINE_VERSION", "Baseline", "load_baseline", "write_baseline"]

BASELINE_VERSION = 1
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}
"""``version → function`` turning a baseline of that version into the next one."""


@dataclass(frozen=True)
class Baseline:
    """A set of accepted ``(fingerprint, rule, path)`` keys."""

    entries: frozenset[tuple[str, str, str]] = frozenset()

    def __contains__(self, finding: object) -> bool:
        return isinstance(finding, Finding) and finding.location_key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def split(self, findings: Iterable[Finding]) -> tuple[list[Finding], list[Finding]]:
        """``(new, accepted)``."""
        new: list[Finding] = []
        old: list[Finding] = []
        for f in findings:
            (old if f in self else new).append(f)
        return new, old


def load_baseline(path: Path) -> Baseline:
    """Read a baseline; a missing file is an empty baseline.

    :raises ScanError: the file is not a keyroll baseline, or is from a newer keyroll.
    """
    if not path.exists():
        return Baseline()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScanError(
            f"cannot read baseline {path}: {type(exc).__name__}",
            hint="fix or delete the file, then rerun with --update-baseline",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise ScanError(f"{path} is not a keyroll baseline", hint="recreate it with --update-baseline")
    version = data.get("version")
    if not isinstance(version, int) or version > BASELINE_VERSION:
        raise ScanError(
            f"{path}: baseline version {version!r} is not supported by this keyroll",
            hint="upgrade keyroll or recreate the baseline",
        )
    while version < BASELINE_VERSION:
        upgrade = UPGRADES.get(version)
        if upgrade is None:
            raise ScanError(
                f"{path}: no upgrade from baseline version {version}",
                hint="recreate it with --update-baseline",
            )
        data = upgrade(data)
        version = data["version"]
    entries = set()
    for item in data["findings"]:
        if isinstance(item, dict) and {"rule", "fingerprint", "path"} <= item.keys():
            entries.add((str(item["fingerprint"]), str(item["rule"]), str(item["path"])))
    return Baseline(frozenset(entries))


def write_baseline(path: Path, findings: Iterable[Finding]) -> int:
    """Write ``findings`` as the new baseline (atomically); returns the number of entries.

    :raises ScanError: the file cannot be written.
    """
    items: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in findings:
        items.setdefault(
            f.location_key,
            {"rule": f.rule_id, "fingerprint": str(f.fingerprint), "path": f.path, "line": f.line},
        )
    doc = {
        "version": BASELINE_VERSION,
        "tool": "keyroll",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "findings": sorted(items.values(), key=lambda d: (d["path"], d["line"], d["rule"])),
    }
    target = path.resolve()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".keyroll-baseline-", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, target)
    except OSError as exc:
        raise ScanError(
            f"cannot write baseline {path}: {exc.strerror}", hint="check the directory and its permissions"
        ) from None
    return len(items)
