"""Resume or roll back a journaled run: consent to what is left, then the engine with the journal key.

Like :mod:`keyroll.app.apply`, each comes in two parts: ``prepare_*`` (synchronous checks and
consent) and :func:`run_engine` (providers, journal, engine). Build parallelism defaults to the
Vercel plan's concurrent builds, read from the team (no preflight runs for a resume).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from keyroll.app.apply import Interaction, builds_from_plan, consent_to_destructive
from keyroll.app.journal import open_journal_for_writing
from keyroll.app.options import apply_options, effective_policy
from keyroll.app.runs import pending_destructive, require_journal
from keyroll.app.session import providers_session
from keyroll.config import Config
from keyroll.config.policy import Setting
from keyroll.core.errors import ConsentRequired, KeyrollError
from keyroll.core.progress import Progress
from keyroll.providers.factory import Providers
from keyroll.providers.vercel.plans import plan_info
from keyroll.rotate.engine import Engine
from keyroll.rotate.options import RunResult

__all__ = ["EngineJob", "EngineOutcome", "ResumeRequest", "prepare_resume", "prepare_rollback", "run_engine"]


@dataclass(frozen=True)
class ResumeRequest:
    """What ``keyroll resume`` was asked."""

    run_id: str | None = None
    yes: bool = False
    accept_downtime: bool | None = None
    max_parallel_builds: int | None = None
    build_timeout_s: float | None = None
    force_revoke: bool = False
    confirm_unverified: bool = False
    confirm_revoked: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineJob:
    """A resume or rollback of a journaled run, consent settled."""

    action: Literal["resume", "rollback"]
    run_id: str | None
    settings: Mapping[str, Setting]
    yes: bool
    force_revoke: bool = False
    confirm_unverified: bool = False
    confirm_revoked: tuple[str, ...] = ()


@dataclass(frozen=True)
class EngineOutcome:
    """What a resume or rollback did, and the policy it used."""

    result: RunResult
    settings: dict[str, Setting]


async def _read_plan_builds(providers: Providers, settings: dict[str, Setting]) -> None:
    """:func:`builds_from_plan` from ``GET /v2/teams/{id}`` (resume, rollback: no preflight ran)."""
    if settings["max_parallel_builds"].source != "default" or providers.vercel is None:
        return
    try:
        info = plan_info(await providers.vercel.get_team())
    except KeyrollError:
        return  # the built-in default stands; extra builds only queue
    builds_from_plan(settings, info.plan, info.concurrent_builds)


def prepare_resume(cfg: Config, request: ResumeRequest, interaction: Interaction) -> EngineJob:
    """The effective policy and consent to the run's destructive steps not yet done.

    :raises UsageError: no journal.
    :raises ConsentRequired: destructive steps remain, no ``--yes`` and no person to ask.
    """
    require_journal(cfg, "nothing to resume; run `keyroll apply`")
    settings = effective_policy(
        cfg,
        accept_downtime=request.accept_downtime,
        max_parallel_builds=request.max_parallel_builds,
        build_timeout_s=request.build_timeout_s,
    )
    consent = consent_to_destructive(
        pending_destructive(cfg, request.run_id), request.yes, "revoke / cutover reset", interaction
    )
    return EngineJob(
        "resume",
        request.run_id,
        settings,
        yes=consent,
        force_revoke=request.force_revoke,
        confirm_unverified=request.confirm_unverified,
        confirm_revoked=request.confirm_revoked,
    )


def prepare_rollback(cfg: Config, run_id: str | None, yes: bool, interaction: Interaction) -> EngineJob:
    """Consent to the rollback (it rewrites env vars and redeploys); the file's build limits
    hold for the rollback's redeploys too.

    :raises UsageError: no journal.
    :raises ConsentRequired: no ``--yes`` and no person to ask.
    """
    require_journal(cfg, "nothing to roll back")
    if not yes:
        if not interaction.interactive:
            raise ConsentRequired("rollback rewrites env vars and redeploys", hint="pass --yes")
        interaction.confirm("Restore the old values and redeploy?", [])
    return EngineJob("rollback", run_id, effective_policy(cfg), yes=True)


async def run_engine(
    cfg: Config, job: EngineJob, interaction: Interaction, progress: Progress
) -> EngineOutcome:
    """Resume or roll back the run (the latest by default) with the journal key.

    :raises JournalError: no key, a wrong key, no such run, or another process runs it.
    """
    settings = dict(job.settings)
    journal = open_journal_for_writing(cfg, create=False, prompt=interaction.passphrase)
    try:
        async with providers_session(cfg) as providers:
            await _read_plan_builds(providers, settings)
            options = apply_options(
                settings,
                yes=job.yes,
                force_revoke=job.force_revoke,
                confirm_unverified=job.confirm_unverified,
                confirm_revoked=job.confirm_revoked,
            )
            engine = Engine(
                providers,
                journal,
                options,
                progress,
                interaction.human(progress),
                secret_source=interaction.secret_source,
            )
            if job.action == "resume":
                result = await engine.resume(job.run_id)
            else:
                result = await engine.rollback(job.run_id)
    finally:
        journal.close()
    return EngineOutcome(result, settings)
