"""The latest full ``keyroll harden`` result, kept next to the journal for the incident report.

After a run over every project and every rule (no ``--project``, no ``--rule``), ``keyroll
harden`` writes ``harden-latest.json`` next to the rotation journal: the findings as they stand
after ``--fix``, when they were checked, and how many source roots were analysed. It is
value-free like everything harden reports (keys, ids, paths, fingerprints). ``keyroll report``
cites it as evidence for its hardening item — offline, and for the code checks a live report
cannot repeat without the sources.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from keyroll.core.errors import KeyrollError
from keyroll.core.serde import from_dict, to_jsonable
from keyroll.harden.findings import SCHEMA_VERSION
from keyroll.harden.run import HardenOptions, HardenResult

__all__ = [
    "LATEST_KIND",
    "LATEST_NAME",
    "StoredResult",
    "is_full_run",
    "latest_path",
    "load_latest",
    "save_latest",
]

LATEST_NAME = "harden-latest.json"
LATEST_KIND = "keyroll.harden-result"


@dataclass(frozen=True)
class StoredResult:
    """A stored ``keyroll harden`` result."""

    result: HardenResult
    checked_at: float
    """epoch seconds: when the checks ran"""
    sources: int
    """source roots analysed (0: the code checks did not run)"""
    path: Path


def latest_path(journal_path: Path) -> Path:
    """``harden-latest.json`` next to the rotation journal."""
    return journal_path.with_name(LATEST_NAME)


def is_full_run(options: HardenOptions) -> bool:
    """True when every project and every rule was checked (only such a run is stored)."""
    return not options.projects and not options.rules


def save_latest(path: Path, result: HardenResult, *, checked_at: float, sources: int) -> None:
    """Write the result atomically (file mode 0600).

    :raises OSError: the directory cannot be written.
    """
    doc = {
        "kind": LATEST_KIND,
        "version": SCHEMA_VERSION,
        "checked_at": checked_at,
        "sources": sources,
        "result": to_jsonable(result),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_latest(path: Path) -> StoredResult | None:
    """The stored result, or None when there is none.

    :raises KeyrollError: the file exists but is not a readable harden result of this version.
    """
    if not path.exists():
        return None
    hint = "run keyroll harden again to replace it"
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyrollError(f"{path} cannot be read ({type(exc).__name__})", hint=hint) from None
    if not isinstance(doc, dict) or doc.get("kind") != LATEST_KIND:
        raise KeyrollError(f"{path} is not a keyroll harden result", hint=hint)
    if doc.get("version") != SCHEMA_VERSION:
        raise KeyrollError(f"{path} has harden result version {doc.get('version')!r}", hint=hint)
    try:
        result = from_dict(HardenResult, doc["result"])
        return StoredResult(result, float(doc["checked_at"]), int(doc.get("sources") or 0), path)
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyrollError(f"{path} is malformed ({type(exc).__name__})", hint=hint) from None
