"""Observed build durations: how long to wait before looking at a build again."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BuildStats"]


@dataclass
class BuildStats:
    """Observed build durations, to poll no faster than needed."""

    estimate_s: float
    samples: int = 0

    def observe(self, seconds: float) -> None:
        """Fold one observed build time into the estimate (EWMA)."""
        if seconds <= 0:
            return
        self.estimate_s = seconds if self.samples == 0 else 0.7 * self.estimate_s + 0.3 * seconds
        self.samples += 1
