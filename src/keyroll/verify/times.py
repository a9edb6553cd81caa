"""Time helpers shared by verify, audit and report: parse provider timestamps, print UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["iso", "parse_time"]


def parse_time(value: Any) -> float | None:
    """Epoch seconds from ms/s numbers or ISO-8601 strings; None when unreadable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        v = float(value)
        return v / 1000.0 if v > 1e11 else v
    if isinstance(value, str) and value.strip():
        s = value.strip()
        try:
            return parse_time(float(s))
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None


def iso(ts: float | None) -> str:
    """UTC ISO-8601 time (seconds) for messages; '?' when unknown."""
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
