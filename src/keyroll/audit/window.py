"""Parse the audit window's ends: ISO dates/times, epoch seconds or ms, or a look-back like ``30d``."""

from __future__ import annotations

import re

from keyroll.core.errors import UsageError
from keyroll.verify.times import parse_time

__all__ = ["parse_when"]

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNIT_S = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_when(text: str, now: float, *, option: str = "--since") -> float:
    """Epoch seconds for ``text``: ``2025-10-01``, ``2025-10-01T12:00:00Z``, ``1759300000``, or ``30d`` ago.

    :raises UsageError: anything else, or a time in the future.
    """
    m = _RELATIVE.match(text)
    if m:
        value = now - float(m.group(1)) * _UNIT_S[m.group(2).lower()]
    else:
        parsed = parse_time(text)
        if parsed is None:
            raise UsageError(
                f"{option} {text!r} is not a time",
                hint="use an ISO date (2025-10-01), a UTC time (2025-10-01T12:00:00Z), epoch seconds, or 30d / 12h",
            )
        value = parsed
    if value > now + 60:
        raise UsageError(f"{option} {text!r} is in the future")
    return value
