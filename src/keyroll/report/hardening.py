"""Evidence for the report's "hardening follow-ups" item: the harden checks, run now or stored.

With providers (``keyroll report`` without ``--offline``) :func:`check_hardening` runs the
configuration checks of ``keyroll harden`` (every project, every rule; changes nothing). The
code checks need the projects' sources, which the report does not have: their open findings
are carried over from the latest stored ``keyroll harden`` result when it analysed sources
(:mod:`keyroll.harden.latest`). Offline, :func:`stored_hardening` cites the stored result alone.
Where neither exists the evidence says why, and the item stays unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from keyroll.core.errors import KeyrollError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.harden.findings import Finding, Rule
from keyroll.harden.latest import StoredResult, load_latest
from keyroll.harden.run import HardenOptions, HardenResult, analyze
from keyroll.providers.factory import Providers

__all__ = ["CODE_RULES", "HardeningEvidence", "check_hardening", "stored_hardening"]

CODE_RULES = frozenset({Rule.READ_ONLY_SUFFICES, Rule.NO_RATE_LIMIT, Rule.NO_APP_ENCRYPTION})
"""Rules decided from the projects' source code (``keyroll harden --source``)."""


@dataclass(frozen=True)
class HardeningEvidence:
    """What the report knows about the hardening follow-ups, and from where."""

    result: HardenResult | None = None
    """None: no harden result (``reason`` says why)"""
    checked_at: float | None = None
    origin: str = ""
    """``live`` (checked for this report) or ``stored`` (the latest ``keyroll harden`` run)"""
    stored_path: str = ""
    code_analysed: bool = False
    """True when source code was analysed (by this result, or by the stored run carried over)"""
    carried: tuple[Finding, ...] = ()
    """open code findings of the stored run, carried into a live result"""
    carried_at: float | None = None
    reason: str = ""
    """why there is no result, or what went wrong on the way"""

    @property
    def open_findings(self) -> tuple[Finding, ...]:
        """Open findings of the result, then the carried ones."""
        own = self.result.open_findings if self.result is not None else ()
        return (*own, *self.carried)


def _from_stored(stored: StoredResult, reason: str = "") -> HardeningEvidence:
    return HardeningEvidence(
        result=stored.result,
        checked_at=stored.checked_at,
        origin="stored",
        stored_path=str(stored.path),
        code_analysed=stored.sources > 0,
        reason=reason,
    )


def stored_hardening(path: Path) -> HardeningEvidence:
    """The latest stored ``keyroll harden`` result as evidence (never raises)."""
    try:
        stored = load_latest(path)
    except KeyrollError as exc:
        return HardeningEvidence(stored_path=str(path), reason=exc.message)
    if stored is None:
        return HardeningEvidence(
            stored_path=str(path),
            reason=f"the harden checks were not run (offline) and no keyroll harden result is stored at {path}",
        )
    return _from_stored(stored)


async def check_hardening(
    providers: Providers,
    stored_path: Path,
    progress: Progress = NULL_PROGRESS,
    *,
    clock: Callable[[], float] = time.time,
) -> HardeningEvidence:
    """Run the harden checks now (read-only), with the stored run's open code findings carried over.

    Never raises for a provider or configuration failure: the stored result stands in (saying
    why), or the evidence names the failure.
    """
    try:
        stored = load_latest(stored_path)
        stored_problem = ""
    except KeyrollError as exc:
        stored, stored_problem = None, exc.message
    try:
        result = await analyze(providers, HardenOptions(), progress)
    except KeyrollError as exc:
        failed = f"the harden checks could not run: {exc.message}"
        if stored is not None:
            return _from_stored(stored, f"{failed}; the stored result stands in")
        return HardeningEvidence(stored_path=str(stored_path), reason=failed)
    checked_at = clock()
    carried: tuple[Finding, ...] = ()
    code = stored is not None and stored.sources > 0
    if stored is not None and code:
        live_ids = {f.id for f in result.findings}
        carried = tuple(
            f for f in stored.result.open_findings if f.rule in CODE_RULES and f.id not in live_ids
        )
    return HardeningEvidence(
        result=result,
        checked_at=checked_at,
        origin="live",
        stored_path=str(stored_path),
        code_analysed=code,
        carried=carried,
        carried_at=stored.checked_at if code and stored is not None else None,
        reason=stored_problem,
    )
