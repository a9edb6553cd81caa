"""Resilience suite bookkeeping: counts of crash points and faults tested and passed.

Every test records its cases in :data:`RESULTS`; the terminal summary prints the counts, and
when ``KEYROLL_RESILIENCE_OUT`` names a file they are also written there as JSON (``make
resilience`` does, so the README's results table can cite them).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

RESULTS: dict[str, list[dict[str, Any]]] = {"crash_points": [], "faults": []}


def record(kind: str, name: str, passed: bool, **detail: Any) -> None:
    """Remember one case (``kind``: ``crash_points`` or ``faults``)."""
    RESULTS[kind].append({"name": name, "passed": passed, **detail})


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print (and optionally write) the counts."""
    if not any(RESULTS.values()):
        return
    summary = {
        kind: {"tested": len(rows), "passed": sum(1 for r in rows if r["passed"])}
        for kind, rows in RESULTS.items()
    }
    terminalreporter.write_sep("-", "keyroll resilience")
    for kind, counts in summary.items():
        terminalreporter.write_line(f"{kind.replace('_', ' ')}: {counts['passed']}/{counts['tested']} passed")
    for kind, rows in RESULTS.items():
        for r in rows:
            if not r["passed"]:
                terminalreporter.write_line(f"  FAILED {kind}: {r['name']}")
    out = os.environ.get("KEYROLL_RESILIENCE_OUT")
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "summary": summary, **RESULTS}
        path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


@pytest.fixture
def record_case() -> Any:
    """``record_case(kind, name, passed, **detail)``."""
    return record
