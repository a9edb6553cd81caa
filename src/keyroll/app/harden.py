"""The harden workflow: least-privilege findings, the fixes keyroll can apply, and consent for them.

Without ``--fix`` it only reads. With it the fixable open findings (all, or those ``--only``
names) are applied — after consent: ``--yes``, or the caller's ``confirm`` (a person at a
terminal); without either a fix that would change something is refused
(:class:`~keyroll.core.errors.ConsentRequired`). ``--dry-run`` describes the fixes without consent.
A full run (every project, every rule) is kept next to the journal for ``keyroll report``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from keyroll.app.session import providers_session
from keyroll.config import Config
from keyroll.core.errors import ConsentRequired
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.harden import Finding, HardenOptions, HardenResult, analyze_context, apply_fixes
from keyroll.harden.run import selected
from keyroll.providers.factory import Providers

__all__ = ["Confirm", "fixes_to_apply", "keep_for_report", "run_harden"]

Confirm = Callable[[Sequence[Finding]], bool]
"""Asks a person whether to apply these fixes (True: apply)."""


def fixes_to_apply(result: HardenResult, options: HardenOptions) -> list[Finding]:
    """The open findings keyroll can fix that ``options`` selects (``only``: id prefixes)."""
    wanted = selected(result.findings, options.only) if options.only else list(result.findings)
    return [f for f in wanted if f.fixable_by_keyroll and not f.fixed]


async def run_harden(
    cfg: Config,
    options: HardenOptions,
    progress: Progress = NULL_PROGRESS,
    *,
    confirm: Confirm | None = None,
    providers: Providers | None = None,
) -> HardenResult:
    """Run the checks and, with ``options.fix``, the consented fixes.

    :param confirm: asks for consent when ``options.yes`` is not set (None: nobody to ask).
    :raises ConsentRequired: fixes would change something, without ``yes``, ``dry_run`` or ``confirm``.
    """
    async with providers_session(cfg, providers) as session:
        ctx, result = await analyze_context(session, options, progress)
        if not options.fix:
            return result
        fixable = fixes_to_apply(result, options)
        if not fixable:
            return result
        yes = options.yes
        if not yes and not options.dry_run:
            if confirm is None:
                raise ConsentRequired(
                    f"{len(fixable)} fix(es) would change Vercel env vars, Redis ACL users or Upstash settings",
                    hint="review them with --fix --dry-run, then pass --yes",
                )
            yes = confirm(fixable)
            if not yes:
                return result
        return await apply_fixes(session, ctx, result, dataclasses.replace(options, yes=yes), progress)


def keep_for_report(
    cfg: Config, options: HardenOptions, result: HardenResult, *, now: Callable[[], float] = time.time
) -> str:
    """Keep a full run's result next to the journal for ``keyroll report``.

    :returns: '' when kept (or not a full run), else why it could not be kept (a warning: the
        harden run itself succeeded).
    """
    from keyroll.harden.latest import is_full_run, latest_path, save_latest

    if not is_full_run(options):
        return ""
    path = latest_path(cfg.journal_path)
    try:
        save_latest(path, result, checked_at=now(), sources=len(options.sources))
    except OSError as exc:
        return f"the result could not be kept at {path}: {exc.strerror or exc}"
    return ""
