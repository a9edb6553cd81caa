"""Observed build durations: how long to wait before looking at a build again."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BuildStats"]


@dataclass
class BuildStats:
    """Observed build durations, to poll no faster than needed.

    A duration measured by keyroll (READY seen at a look − the build's start) includes the wait
    for that look, so a look is due a little before the estimate (0.9 of it), and the misses
    pull the estimate back down. A duration from Vercel's own stamps (``ready`` − ``buildingAt``)
    is exact: the look is due when the build should be done.
    """

    estimate_s: float
    samples: int = 0
    exact: bool = False
    """the last observation came from Vercel's stamps"""

    def observe(self, seconds: float, *, exact: bool = False) -> None:
        """Fold one observed build time into the estimate (EWMA)."""
        if seconds <= 0:
            return
        self.estimate_s = seconds if self.samples == 0 else 0.7 * self.estimate_s + 0.3 * seconds
        self.samples += 1
        self.exact = exact

    @property
    def due_s(self) -> float:
        """Seconds after a build starts at which to look for its end."""
        return self.estimate_s if self.exact else 0.9 * self.estimate_s
