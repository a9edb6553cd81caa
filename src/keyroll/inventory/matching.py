"""Known-value matching with one inventory rule on top: the outermost match wins.

Upstash REST tokens embed the database password (base64 inside the token; reference notes
§2.5), so a token's text also "contains" the password in base64 form. A copy of the token is
a copy of the token: a match that lies inside a longer match of another value is dropped, so
that the var holding the REST token is not also reported (and later rewritten) as a password.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from keyroll.scan.known import KnownValues, Match

__all__ = ["find", "iter_lines"]


def find(matcher: KnownValues, text: str) -> list[Match]:
    """Matches in ``text`` without those nested inside a longer match of another value."""
    matches = matcher.find(text)
    if len(matches) < 2:
        return matches
    out: list[Match] = []
    for m in matches:
        nested = any(
            o is not m
            and o.fingerprint != m.fingerprint
            and o.start <= m.start
            and m.end <= o.end
            and (o.end - o.start) > (m.end - m.start)
            for o in matches
        )
        if not nested:
            out.append(m)
    return out


def iter_lines(matcher: KnownValues, text: str) -> Iterator[tuple[int, int, Match]]:
    """``(line, column, match)`` (1-based) for every outermost match."""
    matches = find(matcher, text)
    if not matches:
        return
    line_starts = [0]
    line_starts.extend(i + 1 for i, ch in enumerate(text) if ch == "\n")
    for m in matches:
        li = bisect.bisect_right(line_starts, m.start) - 1
        yield li + 1, m.start - line_starts[li] + 1, m
