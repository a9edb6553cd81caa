"""Wording shared by the human-readable formats (Markdown, HTML)."""

from __future__ import annotations

from keyroll.report.model import ItemStatus
from keyroll.verify.times import iso

__all__ = ["ITEM_LABEL", "fmt_duration", "fmt_outage", "fmt_time"]

ITEM_LABEL: dict[ItemStatus, str] = {
    ItemStatus.DONE: "done",
    ItemStatus.NOT_DONE: "NOT DONE",
    ItemStatus.UNKNOWN: "unknown",
}


def fmt_time(ts: float | None) -> str:
    """UTC time or an em dash."""
    return iso(ts) if ts is not None else "—"


def fmt_duration(s: float | None) -> str:
    """``0 s``, ``3.2 s``, ``4 min 10 s``; ``unknown`` for None."""
    if s is None:
        return "unknown"
    if s < 1 and s % 1:
        return f"{s:.2f} s"
    if s < 60:
        return f"{s:.1f} s" if s % 1 else f"{int(s)} s"
    m, sec = divmod(round(s), 60)
    return f"{m} min {sec} s" if sec else f"{m} min"


def fmt_outage(s: float | None, basis: str) -> str:
    """Outage with how it is known, e.g. ``0 s (overlap)`` or ``3.1 s (measured)``."""
    if s is None:
        return f"unknown ({basis})" if basis else "unknown"
    return f"{fmt_duration(s)} ({basis})" if basis else fmt_duration(s)
