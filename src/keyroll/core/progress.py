"""Progress reporting as an injected observer, so library code never prints.

The CLI passes a rich-backed implementation; tests and library callers use
:data:`NULL_PROGRESS`. Messages must not contain secret values.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NULL_PROGRESS", "NullProgress", "Progress"]


class Progress(Protocol):
    """Receives progress from long-running work (inventory, apply, scan)."""

    def task(self, name: str, total: int | None = None) -> str:
        """Start a task; returns its id."""
        ...

    def advance(self, task_id: str, n: int = 1, *, total: int | None = None) -> None:
        """Advance a task (optionally updating its total)."""
        ...

    def finish(self, task_id: str) -> None:
        """Mark a task complete."""
        ...

    def note(self, message: str) -> None:
        """A one-line event for the live log (e.g. ``web: READY dpl_123``)."""
        ...


class NullProgress:
    """A progress observer that ignores everything."""

    def task(self, name: str, total: int | None = None) -> str:
        return name

    def advance(self, task_id: str, n: int = 1, *, total: int | None = None) -> None:
        return None

    def finish(self, task_id: str) -> None:
        return None

    def note(self, message: str) -> None:
        return None


NULL_PROGRESS: Progress = NullProgress()
