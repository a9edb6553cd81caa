"""Table columns that hold fingerprints.

A fingerprint in a table is something to copy: ``keyroll apply -c sha256:1a2b3c4d``. A rich
table squeezed into a narrow terminal wraps or ellipsizes its widest cells, so a fingerprint
column never wraps and is never narrower than a fingerprint; the other columns give way.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FINGERPRINT_WIDTH", "add_fingerprint_column"]

FINGERPRINT_WIDTH = len("sha256:") + 8
"""``sha256:`` and 8 hex digits (:meth:`keyroll.core.secret.Secret.fingerprint`)."""


def add_fingerprint_column(
    table: Any, header: str = "credential", *, min_width: int = FINGERPRINT_WIDTH
) -> None:
    """Add a column to the rich ``table`` whose cells are never wrapped or cut."""
    table.add_column(header, no_wrap=True, min_width=max(min_width, len(header)))
