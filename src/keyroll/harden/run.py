"""The entry points: :func:`analyze`, :func:`apply_fixes` and :func:`harden` (both).

``analyze`` gathers facts and runs the checks; ``apply_fixes`` carries out the fixes keyroll
can apply (``--fix``) and returns the result with ``fixed`` set on what was done and read
back. The CLI calls them separately so that it can show the findings and ask for consent
before changing anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from keyroll.core.errors import ConsentRequired
from keyroll.core.model import Inventory
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.harden.checks import run_checks
from keyroll.harden.collect import SourceSpec, collect
from keyroll.harden.context import HardenContext
from keyroll.harden.findings import SCHEMA_VERSION, Finding, FixOutcome, Rule
from keyroll.providers.factory import Providers

__all__ = ["HardenOptions", "HardenResult", "analyze", "apply_fixes", "harden"]


@dataclass(frozen=True)
class HardenOptions:
    """What to check and whether to fix.

    ``fix`` applies the fixable findings; it needs ``yes`` (the CLI asks interactively and
    passes ``yes=True`` after consent) unless ``dry_run``, which only describes the steps.
    """

    projects: tuple[str, ...] = ()
    """project names or ids; empty = every project"""
    sources: tuple[SourceSpec, ...] = ()
    rules: tuple[Rule, ...] = ()
    """only these checks; empty = all"""
    fix: bool = False
    yes: bool = False
    dry_run: bool = False
    only: tuple[str, ...] = ()
    """fix only these finding ids or id prefixes (empty = every fixable finding)"""
    build_timeout_s: float = 900.0
    poll_interval_s: float = 0.0
    """0 = adaptive"""
    journal_path: str = ""
    """where fixes that mint credentials journal them (default: ``harden.db`` next to the rotation journal)"""
    probe_path: str = ""
    """after a move, GET this path on every new deployment and require no 5xx (empty: skip)"""


@dataclass(frozen=True)
class HardenResult:
    """Findings, what was fixed, and what could not be checked."""

    findings: tuple[Finding, ...]
    fixes: tuple[FixOutcome, ...] = ()
    unknowns: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    """names of the projects in scope"""
    sources: dict[str, Any] = field(default_factory=dict, hash=False)
    """per project: files analysed, skipped by reason, languages"""
    version: int = SCHEMA_VERSION

    @property
    def open_findings(self) -> tuple[Finding, ...]:
        """Findings not fixed."""
        return tuple(f for f in self.findings if not f.fixed)

    def counts(self) -> dict[str, int]:
        """Open findings per severity."""
        c = Counter(f.severity.value for f in self.open_findings)
        return dict(c)


def _source_summary(ctx: HardenContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for facts in ctx.projects.values():
        a = facts.analysis
        if a is None:
            continue
        out[facts.name] = {
            "roots": [str(p) for p in facts.sources],
            "files_analysed": a.files_scanned,
            "skipped": dict(a.skipped),
            "languages": dict(a.languages),
            "redis_commands": sorted(a.commands),
            "routes": len(a.routes),
            "complete": a.complete,
        }
    if ctx.unmapped_sources:
        out["(unmapped)"] = {"roots": list(ctx.unmapped_sources)}
    return out


async def analyze_context(
    providers: Providers,
    options: HardenOptions,
    progress: Progress = NULL_PROGRESS,
    *,
    inventory: Inventory | None = None,
) -> tuple[HardenContext, HardenResult]:
    """Collect facts and run the checks; returns the context too (fixes need it)."""
    ctx = await collect(
        providers,
        projects=options.projects,
        sources=options.sources,
        inventory=inventory,
        progress=progress,
        journal_override=options.journal_path,
    )
    findings = run_checks(ctx, options.rules)
    result = HardenResult(
        findings=tuple(findings),
        unknowns=tuple(ctx.unknowns),
        projects=tuple(sorted(f.name for f in ctx.projects.values())),
        sources=_source_summary(ctx),
    )
    return ctx, result


async def analyze(
    providers: Providers,
    options: HardenOptions,
    progress: Progress = NULL_PROGRESS,
    *,
    inventory: Inventory | None = None,
) -> HardenResult:
    """Run every selected check against the configured team (changes nothing).

    :raises ConfigError: Vercel is not configured. :raises UsageError: unknown project or bad source.
    :raises ProviderError: a service cannot be read at all.
    """
    _, result = await analyze_context(providers, options, progress, inventory=inventory)
    return result


async def apply_fixes(
    providers: Providers,
    ctx: HardenContext,
    result: HardenResult,
    options: HardenOptions,
    progress: Progress = NULL_PROGRESS,
) -> HardenResult:
    """Apply the fixable findings of ``result`` (or describe them with ``dry_run``).

    :raises ConsentRequired: ``yes`` is not set and this is not a dry run.
    """
    from keyroll.harden.fixes import Fixer

    wanted = selected(result.findings, options.only) if options.only else list(result.findings)
    chosen = [f for f in wanted if f.fixable_by_keyroll and not f.fixed]
    if not chosen:
        return result
    if not options.yes and not options.dry_run:
        raise ConsentRequired(
            f"{len(chosen)} fix(es) change Vercel env vars, Redis ACL users or Upstash settings",
            hint="review them with --dry-run, then pass --yes",
        )
    fixer = Fixer(providers, ctx, options, progress)
    outcomes = await fixer.run(chosen)
    fixed = {o.finding_id for o in outcomes if o.applied and not o.dry_run}
    findings = tuple(f.marked_fixed() if f.id in fixed else f for f in result.findings)
    return replace(result, findings=findings, fixes=tuple(outcomes))


async def harden(
    providers: Providers, options: HardenOptions, progress: Progress = NULL_PROGRESS
) -> HardenResult:
    """Check (and with ``options.fix``, fix) least privilege across the team's projects.

    :raises ConfigError: Vercel is not configured. :raises UsageError: unknown project or bad source.
    :raises ConsentRequired: fixing without ``yes`` (and not a dry run).
    :raises ProviderError: a service cannot be read at all.
    """
    ctx, result = await analyze_context(providers, options, progress)
    if options.fix:
        result = await apply_fixes(providers, ctx, result, options, progress)
    return result


def selected(findings: Sequence[Finding], ids: Sequence[str]) -> list[Finding]:
    """Findings whose id starts with one of ``ids`` (ids are long; prefixes are fine)."""
    return [f for f in findings if any(f.id == i or f.id.startswith(i) for i in ids)]
