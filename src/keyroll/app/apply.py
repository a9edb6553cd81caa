"""The rotation workflow that writes: apply a plan (resume and rollback: :mod:`keyroll.app.resume`).

A run starts only when everything it needs is there, and everything missing is listed at once
(:func:`missing_preconditions`: cutover consent, consent to destructive steps, a journal key) —
before the team is read, and again once the plan is known. ``apply`` then takes the inventory the
plan's scope names, refuses a plan whose new values nothing can prove before the revoke (manual
strategy without ``--health-path``) or that writes non-sensitive variables under
``require_sensitive``, and runs the preflight: a blocking finding stops it before anything is
written. Build parallelism defaults to the Vercel plan's concurrent builds.

Each workflow comes in two parts: ``prepare_*`` (synchronous: checks and consent, before any
progress display starts) and ``run_*`` (async: providers, journal, engine). What only a person
can give — consent at a prompt, a passphrase, a dashboard click, a new value — comes in through
:class:`Interaction`, which the CLI builds; nothing here prints or prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from keyroll.app.journal import dry_journal, open_journal_for_writing, refuse_unfinished_run
from keyroll.app.options import apply_options, effective_policy
from keyroll.app.plan import Scope, load_plan, make_rotation_plan
from keyroll.app.session import providers_session
from keyroll.config import Config
from keyroll.config.policy import Setting, non_sensitive_writes
from keyroll.core.errors import ConfigError, ConsentRequired, KeyrollError, UsageError
from keyroll.core.model import CredentialPlan, Inventory, Plan, Step
from keyroll.core.progress import Progress
from keyroll.core.secret import Secret
from keyroll.journal.keys import resolve_journal_key
from keyroll.journal.store import Journal
from keyroll.preflight.context import BYPASS_IGNORED_BUILD_STEP
from keyroll.preflight.model import PreflightResult
from keyroll.preflight.run import PreflightBlocked, run_preflight
from keyroll.providers.factory import Providers
from keyroll.rotate.engine import Engine, missing_consent
from keyroll.rotate.options import ApplyOptions, HumanActions, RunResult, SecretSource
from keyroll.rotate.strategies.manual import needs_probe

__all__ = [
    "ApplyJob",
    "ApplyOutcome",
    "ApplyRequest",
    "Interaction",
    "apply_plan",
    "builds_from_plan",
    "consent_to_destructive",
    "cutover_consent_problem",
    "missing_preconditions",
    "prepare_apply",
    "refuse_missing",
    "require_probe",
    "require_sensitive",
    "run_apply",
]


def _refuse(question: str, items: Sequence[str]) -> None:
    raise ConsentRequired(question, hint="pass --yes")


def _no_human(progress: Progress) -> HumanActions | None:
    return None


def _ignore(note: str) -> None:
    return None


@dataclass(frozen=True)
class Interaction:
    """What a person at a terminal contributes to a run. The CLI builds it (the prompts live
    there); without a person, consent must come from flags and human steps wait for ``resume``."""

    interactive: bool = False
    """a person can answer (stdin is a terminal): missing consent or key is asked, not refused"""
    confirm: Callable[[str, Sequence[str]], None] = _refuse
    """asks ``question`` about the listed destructive steps; returns when the person agreed and
    raises to stop (the CLI exits 2: nothing changed)"""
    passphrase: Callable[[], Secret] | None = None
    """asks for the journal passphrase when no key is configured"""
    human: Callable[[Progress], HumanActions | None] = _no_human
    """the one who does human steps (dashboard clicks, manual revokes), given the run's progress"""
    secret_source: SecretSource | None = None
    """new values for the ``manual`` strategy"""
    note: Callable[[str], None] = _ignore
    """a value-free line about the policy in force (``downtime accepted by …``)"""


@dataclass(frozen=True)
class ApplyRequest:
    """What ``keyroll apply`` was asked: a plan file, or what to plan now, and the run's switches."""

    plan_file: Path | None = None
    credentials: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    all_upstash: bool = False
    scope: Scope = field(default_factory=Scope)
    """the inventory's scope when no plan file is given (a plan file carries its own)"""
    build_seconds: float = 60.0
    accept_downtime: bool | None = None
    """``None``: keyroll.toml [policy] decides"""
    max_parallel_builds: int | None = None
    build_timeout_s: float | None = None
    yes: bool = False
    dry_run: bool = False
    rewrite_files: bool = False
    force_revoke: bool = False
    health_path: str | None = None
    bypass_ignored_build_step: bool = False
    confirm_unverified: bool = False
    confirm_revoked: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.plan_file is None and not self.all_upstash and not self.credentials and not self.keys:
            raise UsageError(
                "nothing to apply", hint="give a plan file, --credential FP, --key NAME or --all-upstash"
            )
        if self.plan_file is not None and (self.all_upstash or self.credentials or self.keys):
            raise UsageError("give a plan file or --all-upstash/--credential/--key, not both")


@dataclass(frozen=True)
class ApplyJob:
    """An apply whose preconditions held: the request, the effective policy, the plan when a
    plan file gave one, and the inventory scope to take."""

    request: ApplyRequest
    settings: Mapping[str, Setting]
    plan: Plan | None
    scope: Scope


@dataclass(frozen=True)
class ApplyOutcome:
    """What an apply did (or, for a dry run, would do)."""

    result: RunResult
    plan: Plan
    preflight: PreflightResult
    settings: dict[str, Setting]
    """the policy the run used (build parallelism possibly from the Vercel plan)"""


# -- preconditions ------------------------------------------------------------------------------


def cutover_consent_problem(plan: Plan | None, downtime_ok: bool) -> str | None:
    """What is missing for the plan's cutovers (a short outage needs consent), or ``None``: the
    engine's own check (:func:`keyroll.rotate.engine.missing_consent`), worded for ``apply``'s list."""
    if plan is None:
        return None
    return _cutover_problem(missing_consent(plan, accept_downtime=downtime_ok, yes=True).cutovers)


def _cutover_problem(cutovers: Sequence[CredentialPlan]) -> str | None:
    if not cutovers:
        return None
    return (
        f"--accept-downtime: {len(cutovers)} credential(s) need a cutover with a short outage "
        f"(e.g. {cutovers[0].credential}, {cutovers[0].strategy}); or set accept_downtime = true in "
        "keyroll.toml [policy]"
    )


def missing_preconditions(
    cfg: Config, plan: Plan | None, *, downtime_ok: bool, yes: bool, dry_run: bool, interactive: bool
) -> list[str]:
    """Everything ``apply`` would stop for, found before it reads the team (or, for
    ``--all-upstash``, right after the plan is made) — listed at once, not one per attempt.
    ``plan`` is ``None`` before the plan is known (every rotation has a destructive step).
    A dry run needs nothing."""
    if dry_run:
        return []
    problems: list[str] = []
    if plan is None:  # no plan yet: no cutover known, and every rotation has revoke steps
        if not yes and not interactive:
            problems.append("--yes: the revoke steps need consent (revoke / cutover reset; journaled)")
    else:
        # at a terminal the destructive steps are confirmed interactively later
        missing = missing_consent(plan, accept_downtime=downtime_ok, yes=yes or interactive)
        cutover = _cutover_problem(missing.cutovers)
        if cutover:
            problems.append(cutover)
        if missing.destructive:
            problems.append(
                f"--yes: {len(missing.destructive)} destructive step(s) need consent "
                "(revoke / cutover reset; journaled)"
            )
    try:
        key = resolve_journal_key(cfg.journal_key, cfg.journal_path, create=False)
    except KeyrollError as exc:
        problems.append(f"journal key: {exc.message}")
    else:
        if key is None and not interactive:
            problems.append(
                "journal key: set KEYROLL_JOURNAL_KEY (32+ characters) or use an OS keyring — new "
                "credentials are journaled encrypted before they are used"
            )
    return problems


def refuse_missing(problems: list[str]) -> None:
    """:raises ConsentRequired: one line listing every missing precondition (exit 2, nothing changed)."""
    if problems:
        raise ConsentRequired(
            f"apply cannot start, {len(problems)} thing(s) missing: "
            + "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1)),
            hint="fix them all, then run the same command again (nothing was changed)",
        )


def require_sensitive(plan: Plan, settings: Mapping[str, Setting]) -> None:
    """:raises ConfigError: ``require_sensitive`` is on and the plan writes a credential into a
    variable that could be sensitive but is not (nothing has changed yet)."""
    setting = settings["require_sensitive"]
    bad = non_sensitive_writes(plan) if setting.value else []
    if bad:
        raise ConfigError(
            f"{setting.source} require_sensitive: the plan writes {len(bad)} variable(s) that are not sensitive "
            f"({'; '.join(bad[:3])}{' …' if len(bad) > 3 else ''})",
            hint="make them sensitive first (`keyroll harden --rule not-sensitive --fix`) or set require_sensitive = false",
        )


def require_probe(plan: Plan, request: ApplyRequest) -> None:
    """:raises UsageError: a manual credential whose new value nothing can prove before its
    revoke step (no provider probe), unless ``--health-path`` or ``--force-revoke`` (or a dry run)."""
    unprobed = [] if request.health_path or request.force_revoke or request.dry_run else needs_probe(plan)
    if unprobed:
        raise UsageError(
            f"nothing can prove the new value of {', '.join(unprobed[:3])} works before its revoke step "
            "(manual strategy: no provider probe)",
            hint="pass --health-path PATH (each new deployment must answer 2xx there), or --force-revoke (recorded)",
        )


def consent_to_destructive(steps: Sequence[Step], yes: bool, what: str, interaction: Interaction) -> bool:
    """Consent to ``steps``: ``yes``, or asked of the person; nothing to consent to gives ``yes``.

    :raises ConsentRequired: steps need consent and no person can give it.
    """
    if yes or not steps:
        return yes
    if not interaction.interactive:
        raise ConsentRequired(f"{len(steps)} destructive step(s) need consent ({what})", hint="pass --yes")
    interaction.confirm("Proceed?", [s.description for s in steps])
    return True


def builds_from_plan(settings: dict[str, Setting], plan: str | None, builds: int | None) -> None:
    """Default build parallelism = the Vercel plan's concurrent builds (Hobby 1, Pro 12), unless a
    flag or keyroll.toml set it: more builds in flight would only wait in Vercel's queue."""
    if settings["max_parallel_builds"].source == "default" and plan and builds:
        settings["max_parallel_builds"] = Setting(int(builds), f"Vercel plan {plan}")


# -- apply --------------------------------------------------------------------------------------


def prepare_apply(cfg: Config, request: ApplyRequest, interaction: Interaction) -> ApplyJob:
    """Check everything an apply needs that can be checked before reading the team, all at once.

    :raises ConfigError: no ``VERCEL_TOKEN``.
    :raises UsageError: the plan file is unreadable or not a plan; :class:`PlanTampered`: edited.
    :raises ConsentRequired: consent or a journal key is missing (every missing thing listed).
    """
    cfg.require("VERCEL_TOKEN")
    settings = effective_policy(
        cfg,
        accept_downtime=request.accept_downtime,
        max_parallel_builds=request.max_parallel_builds,
        build_timeout_s=request.build_timeout_s,
    )
    plan: Plan | None = None
    scope = request.scope
    if request.plan_file is not None:
        loaded = load_plan(request.plan_file)
        plan, scope = loaded.plan, loaded.scope
    refuse_missing(
        missing_preconditions(
            cfg,
            plan,
            downtime_ok=bool(settings["accept_downtime"].value),
            yes=request.yes,
            dry_run=request.dry_run,
            interactive=interaction.interactive,
        )
    )
    return ApplyJob(request, settings, plan, scope)


async def run_apply(cfg: Config, job: ApplyJob, interaction: Interaction, progress: Progress) -> ApplyOutcome:
    """Take the inventory, plan when no plan file was given, check, preflight, ask consent, run.

    :raises PreflightBlocked: a blocking platform risk (not for a dry run); nothing was written.
    :raises ConsentRequired, ConfigError, UsageError: see the module docstring; nothing was written.
    """
    from keyroll.inventory import take_inventory

    request = job.request
    settings = dict(job.settings)
    downtime_ok = bool(settings["accept_downtime"].value)
    consents = frozenset({BYPASS_IGNORED_BUILD_STEP} if request.bypass_ignored_build_step else ())
    async with providers_session(cfg) as providers:
        inv: Inventory = await take_inventory(providers, job.scope.inventory_options(cfg), progress)
        plan = job.plan
        if plan is None:
            plan = make_rotation_plan(
                cfg,
                inv,
                credentials=request.credentials,
                keys=request.keys,
                all_upstash=request.all_upstash,
                build_seconds=request.build_seconds,
            )
        require_sensitive(plan, settings)
        require_probe(plan, request)
        pre = await run_preflight(cfg, providers, inv, plan, consents=consents)
        if pre.blocking and not request.dry_run:
            raise PreflightBlocked(pre)  # before anything is written
        builds_from_plan(settings, pre.facts.get("vercel.plan"), pre.facts.get("vercel.concurrent_builds"))
        refuse_missing(
            missing_preconditions(
                cfg,
                plan,
                downtime_ok=downtime_ok,
                yes=request.yes,
                dry_run=request.dry_run,
                interactive=interaction.interactive,
            )
        )
        if downtime_ok and any(cp.requires_downtime_consent for cp in plan.credentials):
            interaction.note(f"downtime accepted by {settings['accept_downtime'].source}")
        destructive = [s for s in plan.steps if s.destructive]
        consent = request.dry_run or consent_to_destructive(
            destructive, request.yes, "revoke / cutover reset", interaction
        )
        if request.dry_run:
            refuse_unfinished_run(cfg)  # as the real run would be refused
        with (
            dry_journal()
            if request.dry_run
            else open_journal_for_writing(cfg, create=True, prompt=interaction.passphrase)
        ) as journal:
            result = await apply_plan(
                providers,
                journal,
                plan,
                inv,
                apply_options(
                    settings,
                    yes=consent,
                    dry_run=request.dry_run,
                    rewrite_files=request.rewrite_files,
                    force_revoke=request.force_revoke,
                    file_paths=tuple(Path(p) for p in job.scope.paths),
                    health_path=request.health_path,
                    confirm_unverified=request.confirm_unverified,
                    confirm_revoked=request.confirm_revoked,
                    bypass_ignored_build_step=request.bypass_ignored_build_step,
                ),
                progress,
                interaction.human(progress),
                secret_source=interaction.secret_source,
            )
    return ApplyOutcome(result, plan, pre, settings)


async def apply_plan(
    providers: Providers,
    journal: Journal,
    plan: Plan,
    inv: Inventory,
    options: ApplyOptions,
    progress: Progress,
    human: HumanActions | None = None,
    *,
    secret_source: SecretSource | None = None,
) -> RunResult:
    """Run ``plan`` with open providers and an open journal: the one place a rotation starts
    (``keyroll apply`` after its checks, and the demo, which shares one provider session)."""
    engine = Engine(providers, journal, options, progress, human, secret_source=secret_source)
    return await engine.apply(plan, inventory=inv)
