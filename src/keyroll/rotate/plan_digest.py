"""A plan file's integrity: a digest of its content, checked by ``keyroll apply`` (issue #17, case 8).

``keyroll plan --out`` writes ``digest`` (``sha256:`` over the canonical JSON of everything else)
and ``digests`` (one per step and per other top-level field). ``apply`` recomputes both: a plan
whose content no longer matches is refused (exit 2) with the steps and fields that changed,
were added or were removed — an edited step is never applied. The digest catches edits, not a
forger who recomputes it: keep plan files where only you can write them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from keyroll.core.errors import UsageError

__all__ = ["PlanTampered", "seal", "verify"]

DIGEST_KEYS = ("digest", "digests")


class PlanTampered(UsageError):
    """The plan file's content does not match its digest (exit 2, nothing changed)."""


def _sha(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _parts(doc: dict[str, Any]) -> dict[str, str]:
    """Digest per step (``step:<id>``) and per other top-level field."""
    parts: dict[str, str] = {}
    for key, value in doc.items():
        if key in DIGEST_KEYS:
            continue
        if key == "credentials" and isinstance(value, list):
            for i, cp in enumerate(value):
                if not isinstance(cp, dict):
                    parts[f"credentials[{i}]"] = _sha(cp)
                    continue
                rest = {k: v for k, v in cp.items() if k != "steps"}
                parts[f"credential:{cp.get('credential', i)}"] = _sha(rest)
                for step in cp.get("steps") or []:
                    sid = step.get("id", "?") if isinstance(step, dict) else "?"
                    parts[f"step:{sid}"] = _sha(step)
        else:
            parts[key] = _sha(value)
    return parts


def seal(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with ``digests`` and ``digest`` set (the document as written to a plan file)."""
    body = {k: v for k, v in doc.items() if k not in DIGEST_KEYS}
    parts = _parts(body)
    return {**body, "digests": parts, "digest": _sha(parts)}


def verify(doc: dict[str, Any], source: str) -> None:
    """Check a plan document against its digest.

    :raises PlanTampered: no digest, or the content changed since ``keyroll plan`` (names what).
    """
    digest = doc.get("digest")
    recorded = doc.get("digests")
    if not isinstance(digest, str) or not isinstance(recorded, dict):
        raise PlanTampered(
            f"{source} has no digest, so its integrity cannot be checked",
            hint="make a new plan with `keyroll plan --out FILE` (this keyroll seals every plan)",
        )
    actual = _parts({k: v for k, v in doc.items() if k not in DIGEST_KEYS})
    changed = sorted(k for k in actual.keys() & recorded.keys() if actual[k] != recorded[k])
    added = sorted(actual.keys() - recorded.keys())
    removed = sorted(recorded.keys() - actual.keys())
    if not (changed or added or removed) and _sha(recorded) == digest:
        return
    what = (
        [f"changed {k}" for k in changed] + [f"added {k}" for k in added] + [f"removed {k}" for k in removed]
    )
    if not what:
        what = ["the digest itself"]
    shown = ", ".join(what[:5]) + (f" (+{len(what) - 5} more)" if len(what) > 5 else "")
    raise PlanTampered(
        f"{source} was modified after `keyroll plan`: {shown}",
        hint="do not edit plan files; make a new plan with `keyroll plan --out FILE` and review it",
    )
