"""``keyroll plan / apply / status / resume / rollback``: the rotation, over the library's engine.

Exit codes: 0 done (also: ``rollback``/``resume`` of a run that already ended — nothing to do);
1 ``status`` found journal problems, or ``rollback`` ended with residue a person must remove;
2 bad input (nothing changed: unknown fingerprint, drift, missing consent or scopes, a tampered
plan); 3 the run failed or was interrupted (state is journaled: ``keyroll status``, ``keyroll
resume``, ``keyroll rollback``, ``keyroll abandon``) — for ``--dry-run``: the real run would fail
there; 4 the run waits for a person (do the step, then ``keyroll resume``); 130 interrupted.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keyroll.app.journal import dry_journal, open_journal_for_writing
from keyroll.app.options import apply_options, effective_policy
from keyroll.cli.common import (
    DryRunOpt,
    EnvFileOpt,
    JsonOpt,
    YesOpt,
    emit_json,
    err_console,
    get_config,
    out_console,
    state,
)
from keyroll.config import Config
from keyroll.config.policy import (
    BUILD_TIMEOUT_RANGE,
    MAX_PARALLEL_BUILDS_RANGE,
    Setting,
    non_sensitive_writes,
    plan_strategies,
    strategy_sources,
)
from keyroll.core.errors import (
    ConfigError,
    ConsentRequired,
    ExitCode,
    KeyrollError,
    RotationError,
    UsageError,
)
from keyroll.core.model import Inventory, Plan, RunState, Step, Strategy
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Secret
from keyroll.core.serde import from_dict, to_jsonable
from keyroll.core.tables import add_fingerprint_column
from keyroll.journal.keys import resolve_journal_key
from keyroll.journal.store import Journal
from keyroll.preflight.context import BYPASS_IGNORED_BUILD_STEP
from keyroll.preflight.model import PreflightResult
from keyroll.preflight.render import preflight_table
from keyroll.preflight.run import PreflightBlocked, run_preflight
from keyroll.providers.factory import open_providers
from keyroll.providers.vercel.plans import plan_info
from keyroll.rotate.closing import closing_of
from keyroll.rotate.engine import Engine, group_state, missing_consent
from keyroll.rotate.options import RunResult
from keyroll.rotate.plan_digest import seal as seal_plan
from keyroll.rotate.plan_digest import verify as verify_plan_digest
from keyroll.rotate.planner import make_plan
from keyroll.rotate.select import credentials_by_key
from keyroll.rotate.strategies.manual import needs_probe

__all__ = ["ConsoleHuman", "FileSecretSource", "register"]

CredentialOpt = Annotated[
    list[str] | None, typer.Option("--credential", "-c", help="fingerprint (or prefix) to rotate; repeatable")
]
AllUpstashOpt = Annotated[bool, typer.Option("--all-upstash", help="rotate every Upstash credential found")]
ProjectOpt = Annotated[
    list[str] | None, typer.Option("--project", "-p", help="limit the inventory to these projects")
]
GithubRepoOpt = Annotated[
    list[str] | None, typer.Option("--github-repo", help="owner/repo whose Actions secrets to update")
]
PathOpt = Annotated[list[Path] | None, typer.Option("--path", help="local files/directories holding copies")]
GithubOrgOpt = Annotated[
    list[str] | None, typer.Option("--github-org", help="organization whose Actions secrets to update")
]
GitRepoOpt = Annotated[
    list[Path] | None, typer.Option("--git-repo", help="git work tree whose history to search")
]
ExcludePausedOpt = Annotated[bool, typer.Option("--exclude-paused", help="skip paused projects")]
BuildOpt = Annotated[
    float, typer.Option("--build-seconds", min=0.0, help="expected build time (outage estimate, first poll)")
]
RunOpt = Annotated[str | None, typer.Option("--run", help="run id (default: the latest)")]
AcceptDowntimeOpt = Annotated[
    bool | None,
    typer.Option(
        "--accept-downtime/--no-accept-downtime",
        help="allow cutover strategies (a short outage; recorded); default: keyroll.toml \\[policy] accept_downtime",
        show_default=False,
    ),
]


def _bounded(flag: str, bounds: tuple[float, float], help: str) -> Any:
    """An optional number flag whose default comes from keyroll.toml [policy] (same range)."""
    return typer.Option(flag, min=bounds[0], max=bounds[1], help=help, show_default=False)


MaxBuildsOpt = Annotated[
    int | None,
    _bounded(
        "--max-parallel-builds",
        MAX_PARALLEL_BUILDS_RANGE,
        "builds in flight at once; default: keyroll.toml \\[policy] max_parallel_builds, else 100",
    ),
]
BuildTimeoutOpt = Annotated[
    float | None,
    _bounded(
        "--build-timeout",
        BUILD_TIMEOUT_RANGE,
        "seconds before a redeploy not READY counts as failed; default: keyroll.toml \\[policy] build_timeout_s, else 1800",
    ),
]
ValueFileOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--value-file",
        help="FP=PATH (or just PATH when the plan rotates one manual credential): its new value, read from a file",
    ),
]
KeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--key", "-k", help="variable name whose credential to rotate (e.g. STRIPE_SECRET_KEY); repeatable"
    ),
]
ConfirmUnverifiedOpt = Annotated[
    bool,
    typer.Option(
        "--confirm-unverified",
        help="the unreadable copies the plan could not write were updated by hand (recorded); the revoke step waits for it",
    ),
]
ConfirmRevokedOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--confirm-revoked",
        help="FP: the old value was revoked at its issuer (confirms a manual revoke step without a prompt; recorded)",
    ),
]


class ConsoleHuman:
    """Human steps on a terminal: pause the live progress, print the instructions, wait for the
    person to confirm."""

    def __init__(self, progress: Any = None) -> None:
        self._live = getattr(progress, "_bars", None)
        self._lock = asyncio.Lock()

    async def perform(self, step: Step, instructions: str) -> None:
        """Show ``instructions`` on stderr and wait for confirmation (one person, one at a time).

        :raises RotationError: the person declined.
        """
        async with self._lock:
            if self._live is not None:
                self._live.stop()
            try:
                err_console.print(f"\n[bold yellow]action needed[/] ({step.id}): {instructions}")
                done = await asyncio.to_thread(typer.confirm, "Done?", default=True, err=True)
            finally:
                if self._live is not None:
                    self._live.start()
        if not done:
            raise RotationError(f"{step.id}: not done", hint="run `keyroll resume` when it is")


class FileSecretSource:
    """New values for the ``manual`` strategy: ``--value-file FP=PATH``, else stdin (never argv)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self._any_used: set[str] = set()

    async def new_value(self, step: Step, description: str) -> Secret:
        """Read the value for ``step.credential``.

        :raises UsageError: no file for it and stdin is not available.
        """
        for ref, path in self.files.items():
            if ref == ANY_CREDENTIAL:
                continue
            fp = ref if ref.startswith("sha256:") else f"sha256:{ref}"
            if step.credential.startswith(fp):
                return read_value_file(path)
        if ANY_CREDENTIAL in self.files:
            self._any_used.add(step.credential)
            if len(self._any_used) > 1:
                raise UsageError(
                    f"--value-file {self.files[ANY_CREDENTIAL]} names no credential and the plan rotates "
                    f"{len(self._any_used)} manual credentials",
                    hint="give each its own --value-file FP=PATH",
                )
            return read_value_file(self.files[ANY_CREDENTIAL])
        if sys.stdin.isatty():
            value = await asyncio.to_thread(getpass.getpass, f"{description} (input hidden): ")
            return Secret(value.strip())
        data = await asyncio.to_thread(sys.stdin.read)
        if not data.strip():
            raise UsageError(
                f"no value for {step.credential}", hint="pass --value-file FP=PATH or pipe it on stdin"
            )
        return Secret(data.strip())


ANY_CREDENTIAL = "*"
"""``--value-file PATH`` without ``FP=``: the value of the plan's one manual credential."""
_FP_REF = re.compile(r"^(?:sha256:)?[0-9a-f]{4,64}$")


def read_value_file(path: Path) -> Secret:
    """The new value in ``path``, without surrounding white space (a trailing newline, spaces).

    :raises UsageError: the file cannot be read, or holds nothing but white space.
    """
    try:
        value = path.read_text("utf-8").strip()
    except OSError as exc:
        raise UsageError(
            f"--value-file: cannot read {path}: {exc.strerror}", hint="check the path and its permissions"
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"--value-file: {path} is not UTF-8 text") from None
    if not value:
        raise UsageError(f"--value-file: {path} is empty", hint="write the new value into it (one line)")
    return Secret(value)


def _value_files(items: list[str] | None) -> dict[str, Path]:
    """``FP=PATH`` pairs; every file is checked here, before anything is planned or written."""
    out: dict[str, Path] = {}
    for item in items or ():
        ref, sep, path = item.partition("=")
        if not sep or not _FP_REF.match(ref):
            read_value_file(Path(item))
            out[ANY_CREDENTIAL] = Path(item)
            continue
        if not sep or not ref or not path:
            raise UsageError(f"--value-file expects FP=PATH, got {item.split('=', 1)[0]!r}=…")
        read_value_file(Path(path))
        out[ref] = Path(path)
    return out


def _strategies(items: list[str] | None) -> dict[str, Strategy]:
    out: dict[str, Strategy] = {}
    known = ", ".join(s.value for s in Strategy)
    for item in items or ():
        ref, sep, name = item.partition("=")
        if not sep:
            raise UsageError(f"--strategy expects CRED=STRATEGY, got {item!r}", hint=f"strategies: {known}")
        try:
            out[ref.strip()] = Strategy(name.strip())
        except ValueError:
            raise UsageError(f"unknown strategy {name.strip()!r}", hint=f"strategies: {known}") from None
    return out


def _progress(quiet: bool) -> Any:
    if quiet or state.quiet:
        return None
    from keyroll.cli.progress_view import ProgressView

    return ProgressView(err_console)


def _run_async(coro_factory: Any, progress: Any) -> Any:
    # Ctrl-C propagates: cli.main.run prints the one "interrupted — …" line for the command
    if progress is None:
        return asyncio.run(coro_factory(NULL_PROGRESS))
    with progress:
        return asyncio.run(coro_factory(progress))


async def _inventory(cfg: Config, scope: dict[str, Any], progress: Progress) -> Inventory:
    from keyroll.inventory import take_inventory

    options = _scope_options(cfg, scope)
    async with open_providers(cfg) as providers:
        return await take_inventory(providers, options, progress)


def _scope(
    project: list[str] | None,
    github_repo: list[str] | None,
    github_org: list[str] | None,
    path: list[Path] | None,
    git_repo: list[Path] | None,
    exclude_paused: bool,
) -> dict[str, Any]:
    """The inventory scope flags of plan/apply (the same as ``keyroll inventory``'s), as saved in a plan."""
    return {
        "projects": list(project or ()),
        "github_repos": list(github_repo or ()),
        "github_orgs": list(github_org or ()),
        "paths": [str(p) for p in path or ()],
        "git_repos": [str(p) for p in git_repo or ()],
        "include_paused": not exclude_paused,
    }


def _scope_options(cfg: Config, scope: dict[str, Any]) -> Any:
    """``InventoryOptions`` for a saved or given scope (older plans lack the newer keys)."""
    from keyroll.inventory import options_from_config, validate_options

    options = options_from_config(
        cfg,
        projects=tuple(scope.get("projects") or ()),
        github_repos=tuple(scope.get("github_repos") or ()),
        github_orgs=tuple(scope.get("github_orgs") or ()),
        paths=tuple(Path(p) for p in scope.get("paths") or ()),
        git_repos=tuple(Path(p) for p in scope.get("git_repos") or ()),
        include_paused=bool(scope.get("include_paused", True)),
    )
    validate_options(options)
    return options


async def _preflight(
    cfg: Config, inv: Inventory, plan: Plan, consents: frozenset[str]
) -> PreflightResult | None:
    """Preflight of ``plan`` (read-only); ``None`` without a Vercel token (a plan from a saved inventory)."""
    if not cfg.vercel_token:
        return None
    async with open_providers(cfg) as providers:
        return await run_preflight(cfg, providers, inv, plan, consents=consents)


def _builds_from_plan(settings: dict[str, Setting], plan: str | None, builds: int | None) -> None:
    """Default build parallelism = the Vercel plan's concurrent builds (Hobby 1, Pro 12), unless a
    flag or keyroll.toml set it: more builds in flight would only wait in Vercel's queue."""
    if settings["max_parallel_builds"].source == "default" and plan and builds:
        settings["max_parallel_builds"] = Setting(int(builds), f"Vercel plan {plan}")


async def _read_plan_builds(providers: Any, settings: dict[str, Setting]) -> None:
    """:func:`_builds_from_plan` from ``GET /v2/teams/{id}`` (resume, rollback: no preflight ran)."""
    if settings["max_parallel_builds"].source != "default" or providers.vercel is None:
        return
    try:
        info = plan_info(await providers.vercel.get_team())
    except KeyrollError:
        return  # the built-in default stands; extra builds only queue
    _builds_from_plan(settings, info.plan, info.concurrent_builds)


BypassIgnoredOpt = Annotated[
    bool,
    typer.Option(
        "--bypass-ignored-build-step",
        help="clear projects' Ignored Build Step for the rotation and restore the exact value after (journaled)",
    ),
]


def _load_inventory_file(path: Path) -> Inventory:
    from keyroll.inventory import inventory_from_json

    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"{path} is not JSON", hint="create it with `keyroll inventory --json`") from None
    return inventory_from_json(data)


def _load_plan(path: Path) -> tuple[Plan, dict[str, Any]]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise UsageError(f"{path} is not JSON", hint="create it with `keyroll plan --out FILE`") from None
    if not isinstance(data, dict) or "inventory_digest" not in data or "credentials" not in data:
        raise UsageError(f"{path} is not a keyroll plan", hint="create it with `keyroll plan --out FILE`")
    verify_plan_digest(data, str(path))
    data = {k: v for k, v in data.items() if k not in ("digest", "digests")}
    try:
        plan = from_dict(Plan, data)
    except (TypeError, ValueError, KeyError):
        raise UsageError(
            f"{path} is not a valid keyroll plan", hint="make a new one with `keyroll plan`"
        ) from None
    return plan, dict(data.get("scope") or {})


def _plan_document(
    plan: Plan,
    scope: dict[str, Any],
    sources: dict[str, str],
    settings: dict[str, Setting],
    preflight: PreflightResult | None = None,
) -> dict[str, Any]:
    """The plan file's content, sealed with its digest (the preflight findings included)."""
    doc: dict[str, Any] = to_jsonable(plan)
    doc["scope"] = scope
    doc["strategy_sources"] = sources
    doc["settings"] = _settings_json(settings)
    if preflight is not None:
        doc["preflight"] = preflight.to_json()
    return seal_plan(doc)


def _settings_json(settings: dict[str, Setting]) -> dict[str, Any]:
    return {k: {"value": v.value, "source": v.source} for k, v in settings.items()}


def _policy_notes(plan: Plan, settings: dict[str, Setting]) -> list[str]:
    """What the effective policy means for ``plan``: cutover consent and its source, and the
    variables ``require_sensitive`` objects to (value-free lines for stderr)."""
    notes = []
    cutovers = sum(1 for cp in plan.credentials if cp.requires_downtime_consent)
    consent = settings["accept_downtime"]
    if cutovers and consent.value:
        notes.append(f"downtime accepted for {cutovers} cutover(s) by {consent.source}")
    elif cutovers:
        notes.append(
            f"{cutovers} cutover(s) need consent: pass --accept-downtime to apply, "
            "or set accept_downtime = true in keyroll.toml [policy]"
        )
    if settings["require_sensitive"].value:
        bad = non_sensitive_writes(plan)
        if bad:
            notes.append(
                f"require_sensitive ({settings['require_sensitive'].source}): apply will refuse, "
                f"{len(bad)} variable(s) are not sensitive: {'; '.join(bad[:5])}{' …' if len(bad) > 5 else ''}"
            )
    return notes


def _require_sensitive(plan: Plan, settings: dict[str, Setting]) -> None:
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


def _plan_table(plan: Plan, sources: dict[str, str] | None = None) -> Table:
    table = Table(title=f"plan {plan.id}", show_lines=True)
    add_fingerprint_column(table)
    for col in ("strategy", "projects", "redeploys", "steps", "outage", "notes"):
        table.add_column(col)
    for cp in plan.credentials:
        notes = [f"[yellow]![/] {w}" for w in cp.warnings] + [f"[cyan]person:[/] {h}" for h in cp.human_steps]
        outage = (
            "0 (overlap)" if not cp.requires_downtime_consent else f"≈{cp.expected_outage_s:.0f}s cutover"
        )
        if cp.expected_outage_s and not cp.requires_downtime_consent:
            outage = f"≈{cp.expected_outage_s:.0f}s (some apps)"
        strategy = cp.strategy.value
        source = (sources or {}).get(cp.credential, "default")
        if source != "default":
            strategy += f"\n[dim]({escape(source)})[/]"
        table.add_row(
            cp.credential,
            strategy,
            str(len(cp.projects)),
            str(len(cp.deployments)),
            str(len(cp.steps)),
            outage,
            "\n".join(notes),
        )
    return table


def _result_table(result: RunResult) -> Table:
    table = Table(title=f"run {result.run_id or '(dry run)'}: {result.state.value}")
    add_fingerprint_column(table)
    for col in ("strategy", "state", "redeployed", "window", "note"):
        table.add_column(col)
    for c in result.credentials:
        window = "-" if c.window_s is None else f"{c.window_s:.2f}s"
        note = c.error or ("forced revoke" if c.forced else "")
        table.add_row(c.credential, c.strategy.value, c.state, str(len(c.deployments)), window, note)
    return table


def _passphrase_prompt() -> Callable[[], Secret] | None:
    if not sys.stdin.isatty():
        return None
    return lambda: Secret(getpass.getpass("journal passphrase (32+ characters): "))


def _confirm_destructive(steps: list[Step], yes: bool, what: str) -> bool:
    if yes or not steps:
        return yes
    if not sys.stdin.isatty():
        raise ConsentRequired(f"{len(steps)} destructive step(s) need consent ({what})", hint="pass --yes")
    err_console.print("[bold]destructive steps[/] (journaled before they run):")
    for s in steps:
        err_console.print(f"  • {s.description}")
    if not typer.confirm("Proceed?", default=False, err=True):
        raise typer.Exit(int(ExitCode.USAGE))
    return True


def _missing_preconditions(
    cfg: Config, plan: Plan | None, *, downtime_ok: bool, yes: bool, dry_run: bool
) -> list[str]:
    """Everything ``apply`` would stop for, found before it reads the team (or, for
    ``--all-upstash``, right after the plan is made) — listed at once, not one per attempt.
    ``plan`` is ``None`` before the plan is known (every rotation has a destructive step)."""
    if dry_run:
        return []
    tty = sys.stdin.isatty()
    problems: list[str] = []
    # at a terminal the destructive steps are confirmed interactively later
    missing = missing_consent(plan, accept_downtime=downtime_ok, yes=yes or tty) if plan is not None else None
    if missing is not None and missing.cutovers:
        cutovers = missing.cutovers
        problems.append(
            f"--accept-downtime: {len(cutovers)} credential(s) need a cutover with a short outage "
            f"(e.g. {cutovers[0].credential}, {cutovers[0].strategy}); or set accept_downtime = true in "
            "keyroll.toml [policy]"
        )
    if missing is not None and missing.destructive:
        problems.append(
            f"--yes: {len(missing.destructive)} destructive step(s) need consent (revoke / cutover reset; journaled)"
        )
    elif missing is None and not yes and not tty:  # no plan yet: every rotation has revoke steps
        problems.append("--yes: the revoke steps need consent (revoke / cutover reset; journaled)")
    try:
        key = resolve_journal_key(cfg.journal_key, cfg.journal_path, create=False)
    except KeyrollError as exc:
        problems.append(f"journal key: {exc.message}")
    else:
        if key is None and not tty:
            problems.append(
                "journal key: set KEYROLL_JOURNAL_KEY (32+ characters) or use an OS keyring — new "
                "credentials are journaled encrypted before they are used"
            )
    return problems


def _refuse_missing(problems: list[str]) -> None:
    """:raises ConsentRequired: one line listing every missing precondition (exit 2, nothing changed)."""
    if problems:
        raise ConsentRequired(
            f"apply cannot start, {len(problems)} thing(s) missing: "
            + "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1)),
            hint="fix them all, then run the same command again (nothing was changed)",
        )


def _exit_for(result: RunResult) -> None:
    if result.dry_run:
        failure = result.extra.get("would_fail")
        if failure:
            err_console.print(
                f"[red]dry run: the real run would fail at {escape(str(failure['step']))}:[/] "
                f"{escape(str(failure['error']))}",
                highlight=False,
            )
            raise typer.Exit(int(ExitCode.FAILED))
        return
    if result.extra.get("nothing_to_do"):
        err_console.print(f"run {result.run_id} is {result.state.value}: nothing to do")
        return
    if result.state is RunState.DONE:
        return
    if result.waiting and result.state is RunState.WAITING:
        err_console.print(
            f"[yellow]waiting:[/] {escape(result.waiting)} — then run `keyroll resume`", highlight=False
        )
        raise typer.Exit(int(ExitCode.WAITING))
    if result.waiting:
        err_console.print(
            f"[yellow]waiting:[/] {escape(result.waiting)} — then run `keyroll resume`", highlight=False
        )
    else:
        err_console.print(
            "state is journaled: see `keyroll status`; `keyroll resume` retries, `keyroll rollback` restores"
        )
    raise typer.Exit(int(ExitCode.FAILED))


# -- commands ---------------------------------------------------------------------------------


def plan_cmd(
    env_file: EnvFileOpt = None,
    credential: CredentialOpt = None,
    all_upstash: AllUpstashOpt = False,
    strategy: Annotated[
        list[str] | None,
        typer.Option(
            "--strategy", help="CRED=STRATEGY override (beats keyroll.toml \\[strategy]); repeatable"
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", dir_okay=False, help="write the plan JSON here")
    ] = None,
    json_out: JsonOpt = False,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", dir_okay=False, help="plan from `keyroll inventory --json` output"),
    ] = None,
    project: ProjectOpt = None,
    github_repo: GithubRepoOpt = None,
    github_org: GithubOrgOpt = None,
    path: PathOpt = None,
    git_repo: GitRepoOpt = None,
    exclude_paused: ExcludePausedOpt = False,
    build_seconds: BuildOpt = 60.0,
    key: KeyOpt = None,
) -> None:
    """Plan a rotation: per credential the strategy, the steps, the projects and deployments to
    redeploy, the expected outage (0 for overlap strategies), human steps and warnings."""
    overrides = _strategies(strategy)
    if not credential and not all_upstash and not key:
        raise UsageError(
            "choose what to rotate",
            hint="pass --credential FINGERPRINT or --key NAME (repeatable), or --all-upstash",
        )
    scope = _scope(project, github_repo, github_org, path, git_repo, exclude_paused)
    cfg = get_config(env_file)  # keyroll.toml's [strategy] and [policy] apply to a saved inventory too
    if inventory is not None:
        inv = _load_inventory_file(inventory)
    else:
        cfg.require("VERCEL_TOKEN")
        inv = _run_async(lambda p: _inventory(cfg, scope, p), _progress(json_out))
    if key:
        credential = [*(credential or ()), *credentials_by_key(inv, key)]
    plan = make_plan(
        inv,
        credentials=credential,
        all_upstash=all_upstash,
        strategies=plan_strategies(cfg, inv, overrides),
        build_seconds_estimate=build_seconds,
    )
    sources = strategy_sources(cfg, inv, plan, overrides)
    settings = effective_policy(cfg)
    pre = _run_async(lambda _p: _preflight(cfg, inv, plan, frozenset()), None)
    doc = _plan_document(plan, scope, sources, settings, pre)
    if out is not None:
        out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        err_console.print(f"wrote {out}")
    if json_out:
        emit_json(doc)
    elif out is None or not state.quiet:
        out_console.print(_plan_table(plan, sources))
        if pre is not None:
            out_console.print(preflight_table(pre))
    if not state.quiet:
        for note in _policy_notes(plan, settings):
            err_console.print(f"[yellow]policy:[/] {escape(note)}", markup=True, highlight=False)


def apply_cmd(
    plan_file: Annotated[
        Path | None, typer.Argument(help="plan made by `keyroll plan --out`", dir_okay=False)
    ] = None,
    env_file: EnvFileOpt = None,
    all_upstash: AllUpstashOpt = False,
    credential: CredentialOpt = None,
    accept_downtime: AcceptDowntimeOpt = None,
    yes: YesOpt = False,
    rewrite_files: Annotated[
        bool, typer.Option("--rewrite-files", help="rewrite local files holding copies")
    ] = False,
    dry_run: DryRunOpt = False,
    force_revoke: Annotated[
        bool, typer.Option("--force-revoke", help="revoke even if a gate fails (journaled and reported)")
    ] = False,
    value_file: ValueFileOpt = None,
    health_path: Annotated[
        str | None,
        typer.Option("--health-path", help="each new deployment must answer 2xx here before revocation"),
    ] = None,
    max_parallel_builds: MaxBuildsOpt = None,
    build_timeout: BuildTimeoutOpt = None,
    project: ProjectOpt = None,
    github_repo: GithubRepoOpt = None,
    github_org: GithubOrgOpt = None,
    path: PathOpt = None,
    git_repo: GitRepoOpt = None,
    exclude_paused: ExcludePausedOpt = False,
    build_seconds: BuildOpt = 60.0,
    bypass_ignored_build_step: BypassIgnoredOpt = False,
    json_out: JsonOpt = False,
    confirm_unverified: ConfirmUnverifiedOpt = False,
    confirm_revoked: ConfirmRevokedOpt = None,
    key: KeyOpt = None,
) -> None:
    """Apply a plan (or plan and apply --all-upstash / --credential / --key): mint, write env,
    redeploy, wait READY, verify, revoke — journaled and resumable."""
    if plan_file is None and not all_upstash and not credential and not key:
        raise UsageError(
            "nothing to apply", hint="give a plan file, --credential FP, --key NAME or --all-upstash"
        )
    if plan_file is not None and (all_upstash or credential or key):
        raise UsageError("give a plan file or --all-upstash/--credential/--key, not both")
    files = _value_files(value_file)
    cfg = get_config(env_file)
    cfg.require("VERCEL_TOKEN")
    settings = effective_policy(
        cfg,
        accept_downtime=accept_downtime,
        max_parallel_builds=max_parallel_builds,
        build_timeout_s=build_timeout,
    )
    downtime_ok = bool(settings["accept_downtime"].value)
    scope: dict[str, Any] = _scope(project, github_repo, github_org, path, git_repo, exclude_paused)
    plan: Plan | None = None
    if plan_file is not None:
        plan, scope = _load_plan(plan_file)
    # every precondition that can be checked before reading the team, all at once
    _refuse_missing(_missing_preconditions(cfg, plan, downtime_ok=downtime_ok, yes=yes, dry_run=dry_run))
    progress = _progress(json_out)
    consents = frozenset({BYPASS_IGNORED_BUILD_STEP} if bypass_ignored_build_step else ())
    pre: PreflightResult | None = None

    async def run(prog: Progress) -> RunResult:
        nonlocal plan, pre
        async with open_providers(cfg) as providers:
            from keyroll.inventory import take_inventory

            options = _scope_options(cfg, scope)
            inv = await take_inventory(providers, options, prog)
            if plan is None:
                plan = make_plan(
                    inv,
                    credentials=[*(credential or ()), *credentials_by_key(inv, key)] if key else credential,
                    all_upstash=all_upstash,
                    strategies=plan_strategies(cfg, inv),
                    build_seconds_estimate=build_seconds,
                )
            _require_sensitive(plan, settings)
            unprobed = [] if health_path or force_revoke or dry_run else needs_probe(plan)
            if unprobed:
                raise UsageError(
                    f"nothing can prove the new value of {', '.join(unprobed[:3])} works before its revoke step "
                    "(manual strategy: no provider probe)",
                    hint="pass --health-path PATH (each new deployment must answer 2xx there), or --force-revoke (recorded)",
                )
            pre = await run_preflight(cfg, providers, inv, plan, consents=consents)
            if pre.blocking and not dry_run:
                raise PreflightBlocked(pre)  # before anything is written
            _builds_from_plan(
                settings, pre.facts.get("vercel.plan"), pre.facts.get("vercel.concurrent_builds")
            )
            destructive = [s for s in plan.steps if s.destructive]
            _refuse_missing(
                _missing_preconditions(cfg, plan, downtime_ok=downtime_ok, yes=yes, dry_run=dry_run)
            )
            if (
                downtime_ok
                and any(cp.requires_downtime_consent for cp in plan.credentials)
                and not state.quiet
            ):
                err_console.print(
                    f"[yellow]policy:[/] downtime accepted by {escape(settings['accept_downtime'].source)}",
                    markup=True,
                    highlight=False,
                )
            consent = dry_run or _confirm_destructive(destructive, yes, "revoke / cutover reset")
            journal = (
                dry_journal()
                if dry_run
                else open_journal_for_writing(cfg, create=True, prompt=_passphrase_prompt())
            )
            try:
                engine = Engine(
                    providers,
                    journal,
                    apply_options(
                        settings,
                        yes=consent,
                        dry_run=dry_run,
                        rewrite_files=rewrite_files,
                        force_revoke=force_revoke,
                        file_paths=tuple(Path(p) for p in scope.get("paths") or ()),
                        health_path=health_path,
                        confirm_unverified=confirm_unverified,
                        confirm_revoked=tuple(confirm_revoked or ()),
                        bypass_ignored_build_step=bypass_ignored_build_step,
                    ),
                    prog,
                    ConsoleHuman(prog) if sys.stdin.isatty() else None,
                    secret_source=FileSecretSource(files),
                )
                return await engine.apply(plan, inventory=inv)
            finally:
                journal.close()

    if dry_run and not json_out:
        err_console.print("[dim]dry run: nothing will change[/]")
    result = _run_async(run, progress)
    if json_out:
        extra: dict[str, Any] = {"settings": _settings_json(settings)}
        if pre is not None:
            extra["preflight"] = pre.to_json()
        emit_json(to_jsonable(result) | extra)
    else:
        out_console.print(_result_table(result))
        if result.dry_run and plan is not None:
            out_console.print(_plan_table(plan))
        if result.dry_run and pre is not None:
            out_console.print(preflight_table(pre))
    _exit_for(result)


def _with_engine(
    cfg: Config,
    settings: dict[str, Setting],
    option_kw: dict[str, Any],
    action: str,
    run_id: str | None,
    quiet: bool,
    files: dict[str, Path],
) -> RunResult:
    progress = _progress(quiet)

    async def run(prog: Progress) -> RunResult:
        journal = open_journal_for_writing(cfg, create=False, prompt=_passphrase_prompt())
        try:
            async with open_providers(cfg) as providers:
                await _read_plan_builds(providers, settings)
                options = apply_options(settings, **option_kw)
                engine = Engine(
                    providers,
                    journal,
                    options,
                    prog,
                    ConsoleHuman(prog) if sys.stdin.isatty() else None,
                    secret_source=FileSecretSource(files),
                )
                if action == "resume":
                    return await engine.resume(run_id)
                return await engine.rollback(run_id)
        finally:
            journal.close()

    return _run_async(run, progress)  # type: ignore[no-any-return]


def _pending_destructive(cfg: Config, run_id: str | None) -> list[Step]:
    with Journal.open(cfg.journal_path) as reader:
        run = reader.run(run_id)
        plan = reader.plan(run.id)
        records = reader.step_records(run.id)
    return [
        s
        for s in plan.steps
        if s.destructive and (s.id not in records or records[s.id].state.value != "done")
    ]


def resume_cmd(
    env_file: EnvFileOpt = None,
    yes: YesOpt = False,
    run: RunOpt = None,
    accept_downtime: AcceptDowntimeOpt = None,
    max_parallel_builds: MaxBuildsOpt = None,
    build_timeout: BuildTimeoutOpt = None,
    force_revoke: Annotated[
        bool, typer.Option("--force-revoke", help="revoke even if a gate fails (recorded)")
    ] = False,
    value_file: ValueFileOpt = None,
    json_out: JsonOpt = False,
    confirm_unverified: ConfirmUnverifiedOpt = False,
    confirm_revoked: ConfirmRevokedOpt = None,
) -> None:
    """Continue an interrupted or failed run: steps whose outcome is unknown are settled by
    reading provider state back, then the rest runs."""
    files = _value_files(value_file)
    cfg = get_config(env_file)
    if not cfg.journal_path.exists():
        raise UsageError(f"no journal at {cfg.journal_path}", hint="nothing to resume; run `keyroll apply`")
    settings = effective_policy(
        cfg,
        accept_downtime=accept_downtime,
        max_parallel_builds=max_parallel_builds,
        build_timeout_s=build_timeout,
    )
    consent = _confirm_destructive(_pending_destructive(cfg, run), yes, "revoke / cutover reset")
    option_kw = {
        "yes": consent,
        "force_revoke": force_revoke,
        "confirm_unverified": confirm_unverified,
        "confirm_revoked": tuple(confirm_revoked or ()),
    }
    result = _with_engine(cfg, settings, option_kw, "resume", run, json_out, files)
    if json_out:
        emit_json(to_jsonable(result) | {"settings": _settings_json(settings)})
    else:
        out_console.print(_result_table(result))
    _exit_for(result)


def rollback_cmd(
    env_file: EnvFileOpt = None, yes: YesOpt = False, run: RunOpt = None, json_out: JsonOpt = False
) -> None:
    """Restore the old values of every credential of a run not yet revoked, redeploy what was
    redeployed, and remove what was minted."""
    cfg = get_config(env_file)
    if not cfg.journal_path.exists():
        raise UsageError(f"no journal at {cfg.journal_path}", hint="nothing to roll back")
    if not yes:
        if not sys.stdin.isatty():
            raise ConsentRequired("rollback rewrites env vars and redeploys", hint="pass --yes")
        if not typer.confirm("Restore the old values and redeploy?", default=False, err=True):
            raise typer.Exit(int(ExitCode.USAGE))
    # the file's build limits hold for the rollback's redeploys too
    result = _with_engine(cfg, effective_policy(cfg), {"yes": True}, "rollback", run, json_out, {})
    residue = _residue(cfg, result.run_id)
    if json_out:
        emit_json(to_jsonable(result) | {"residue": residue})
    elif result.extra.get("nothing_to_do"):
        why = "the old credentials are revoked" if result.state is RunState.DONE else "it has ended"
        out_console.print(f"nothing to roll back: run {result.run_id} is {result.state.value} ({why})")
    else:
        out_console.print(_result_table(result))
        for r in residue:
            err_console.print(f"[yellow]left for a person:[/] {escape(r['what'])} — {escape(r['do'])}")
    if result.extra.get("nothing_to_do"):
        return
    if result.state is RunState.ROLLED_BACK and residue:
        raise typer.Exit(int(ExitCode.FINDINGS))
    if result.state not in (RunState.ROLLED_BACK, RunState.DONE):
        err_console.print(
            f"run {result.run_id} is not rolled back: `keyroll resume` finishes it forward; "
            f"`keyroll abandon {result.run_id} --reason …` closes it with a recorded reason"
        )
        raise typer.Exit(int(ExitCode.FAILED))


def _residue(cfg: Config, run_id: str) -> list[dict[str, str]]:
    """What rollbacks of a run left for a person (``[{credential, what, do}]``)."""
    if not run_id or not cfg.journal_path.exists():
        return []
    with Journal.open(cfg.journal_path) as reader:
        plan = reader.plan(run_id)
        records = reader.step_records(run_id)
    out = []
    for cp in plan.credentials:
        rb = records.get(f"{cp.steps[0].id.split('/', 1)[0]}/rollback")
        for r in (rb.detail.get("residue") or []) if rb is not None else []:
            out.append(
                {"credential": cp.credential, "what": str(r.get("what", "")), "do": str(r.get("do", ""))}
            )
    return out


def abandon_cmd(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="the run to close (see `keyroll status`)")],
    reason: Annotated[
        str,
        typer.Option(
            "--reason", help="why the run is closed unfinished (journaled, shown in status and report)"
        ),
    ],
    env_file: EnvFileOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Close a run that neither `resume` nor `rollback` can end, with a recorded reason. Nothing is
    changed at the providers; what is left undone is listed (status and report show it too)."""
    from keyroll.rotate.closing import abandon

    cfg = get_config(env_file)
    if not cfg.journal_path.exists():
        raise UsageError(f"no journal at {cfg.journal_path}", hint="nothing to abandon")
    with Journal.open(cfg.journal_path) as journal:
        record, residue = abandon(journal, run_id, reason)
    if json_out:
        emit_json({"run": to_jsonable(record), "residue": residue})
        return
    out_console.print(f"run [bold]{record.id}[/] — closed (abandoned: {escape(' '.join(reason.split()))})")
    for r in residue:
        out_console.print(
            f"  {r['credential']} ({r['state']}): not done: {escape('; '.join(r['not_done']) or '-')}"
        )
        out_console.print(f"    → {escape(r['do'])}")


def status_cmd(
    env_file: EnvFileOpt = None,
    json_out: JsonOpt = False,
    run: RunOpt = None,
    steps: Annotated[bool, typer.Option("--steps", help="list every step")] = False,
) -> None:
    """Show the latest run (or --run): state, each credential's place in the rotation, steps,
    and the journal's integrity check. Exit 1 when the journal has integrity problems."""
    cfg = get_config(env_file)
    if not cfg.journal_path.exists():
        raise UsageError(f"no journal at {cfg.journal_path}", hint="run `keyroll apply` first")
    with Journal.open(cfg.journal_path) as reader:
        problems = reader.check_integrity()
        live = reader.is_locked_by_other()
        record = reader.run(run) if reader.runs() else None
        if record is None:
            raise UsageError(f"journal {cfg.journal_path} has no runs")
        plan = reader.plan(record.id)
        records = reader.step_records(record.id)
        closing = closing_of(reader, record.id) if record.state is RunState.CLOSED else {}
    run_state = record.state.value
    if record.state is RunState.RUNNING and not live:
        run_state = "interrupted"
    waiting = [
        {
            "step": s.id,
            "credential": s.credential,
            "instructions": str(s.params.get("instructions") or s.description),
            "since": records[s.id].ts,
        }
        for s in plan.steps
        if s.id in records and records[s.id].state.value == "pending" and records[s.id].detail.get("waiting")
    ]
    residue = [
        {"credential": cp.credential, "what": str(r.get("what", "")), "do": str(r.get("do", ""))}
        for cp in plan.credentials
        if (rb := records.get(f"{cp.steps[0].id.split('/', 1)[0]}/rollback")) is not None
        for r in rb.detail.get("residue") or []
    ]
    creds = []
    for cp in plan.credentials:
        creds.append(
            {"credential": cp.credential, "strategy": cp.strategy.value, "state": group_state(cp, records)}
        )
    step_rows = [
        {
            "id": s.id,
            "kind": s.kind.value,
            "state": records[s.id].state.value if s.id in records else "pending",
            "error": records[s.id].detail.get("error", "") if s.id in records else "",
        }
        for s in plan.steps
    ]
    if json_out:
        emit_json(
            {
                "run": to_jsonable(record) | {"state": run_state, "live": live},
                "plan_id": plan.id,
                "credentials": creds,
                "steps": step_rows,
                "integrity": problems,
                "waiting": waiting,
                "residue": residue,
                "closed": closing,
            }
        )
    else:
        origin = record.options.get("sources") or {}
        flags = [
            f"{k} ({origin[k]})" if k in origin else k
            for k in ("accept_downtime", "force_revoke", "rewrite_files")
            if record.options.get(k)
        ]
        out_console.print(
            f"run [bold]{record.id}[/] — {run_state}{' (running now)' if live else ''}"
            + (f" — flags: {escape(', '.join(flags))}" if flags else "")
        )
        table = Table()
        add_fingerprint_column(table)
        for col in ("strategy", "state"):
            table.add_column(col)
        for c in creds:
            table.add_row(c["credential"], c["strategy"], c["state"])
        out_console.print(table)
        if steps:
            st = Table(title="steps")
            for col in ("step", "kind", "state", "error"):
                st.add_column(col)
            for row in step_rows:
                st.add_row(row["id"], row["kind"], row["state"], row["error"])
            out_console.print(st)
        for w in waiting:
            out_console.print(
                f"[yellow]waiting for a person[/] ({escape(str(w['step']))}): {escape(str(w['instructions']))}\n"
                "  then run `keyroll resume` (it checks that it was done)",
                highlight=False,
            )
        if closing:
            out_console.print(f"abandoned: {escape(closing['reason'])}", highlight=False)
            for r in closing["residue"]:
                out_console.print(
                    f"  {r['credential']} ({r['state']}): not done: {escape('; '.join(r['not_done']) or '-')}",
                    highlight=False,
                )
        for r in residue:
            out_console.print(f"[yellow]left for a person:[/] {escape(r['what'])} — {escape(r['do'])}")
        for p in problems:
            err_console.print(f"[red]integrity:[/] {p}")
    if problems:
        raise typer.Exit(int(ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``plan``, ``apply``, ``status``, ``resume``, ``rollback`` and ``abandon`` to the main app."""
    app.command("plan")(plan_cmd)
    app.command("apply")(apply_cmd)
    app.command("status")(status_cmd)
    app.command("resume")(resume_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("abandon")(abandon_cmd)
