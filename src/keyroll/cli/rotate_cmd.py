"""``keyroll plan / apply / status / resume / rollback``: the rotation, over the library's engine.

Exit codes: 0 done; 1 ``status`` found journal problems; 2 bad input (nothing changed: unknown
fingerprint, drift, missing consent or scopes); 3 the run failed or rolled back, or waits for a
person (state is journaled: ``keyroll status``, ``keyroll resume``); 130 interrupted.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

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
from keyroll.core.errors import (
    ConfigError,
    ConsentRequired,
    ExitCode,
    JournalError,
    RotationError,
    UsageError,
)
from keyroll.core.model import Inventory, Plan, RunState, Step, Strategy
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Secret
from keyroll.core.serde import from_dict, to_jsonable
from keyroll.policy import (
    BUILD_TIMEOUT_RANGE,
    MAX_PARALLEL_BUILDS_RANGE,
    Setting,
    apply_options,
    effective_policy,
    non_sensitive_writes,
    plan_strategies,
    strategy_sources,
)
from keyroll.preflight.context import BYPASS_IGNORED_BUILD_STEP
from keyroll.preflight.model import PreflightResult
from keyroll.preflight.render import preflight_table
from keyroll.preflight.run import PreflightBlocked, run_preflight
from keyroll.providers.factory import open_providers
from keyroll.rotate.engine import Engine, group_state
from keyroll.rotate.journal import Journal
from keyroll.rotate.keys import resolve_journal_key
from keyroll.rotate.options import ApplyOptions, RunResult
from keyroll.rotate.planner import make_plan

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
        "--value-file", help="FP=PATH: the new value of a manually rotated credential, read from a file"
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

    async def new_value(self, step: Step, description: str) -> Secret:
        """Read the value for ``step.credential``.

        :raises UsageError: no file for it and stdin is not available.
        """
        for ref, path in self.files.items():
            fp = ref if ref.startswith("sha256:") else f"sha256:{ref}"
            if step.credential.startswith(fp):
                try:
                    return Secret(path.read_text("utf-8").strip())
                except OSError as exc:
                    raise UsageError(f"cannot read {path}: {exc.strerror}") from None
        if sys.stdin.isatty():
            value = await asyncio.to_thread(getpass.getpass, f"{description} (input hidden): ")
            return Secret(value.strip())
        data = await asyncio.to_thread(sys.stdin.read)
        if not data.strip():
            raise UsageError(
                f"no value for {step.credential}", hint="pass --value-file FP=PATH or pipe it on stdin"
            )
        return Secret(data.strip())


def _value_files(items: list[str] | None) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for item in items or ():
        ref, sep, path = item.partition("=")
        if not sep or not ref or not path:
            raise UsageError(f"--value-file expects FP=PATH, got {item.split('=', 1)[0]!r}=…")
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
    from keyroll.inventory import options_from_config, take_inventory

    options = options_from_config(
        cfg,
        projects=tuple(scope.get("projects") or ()),
        github_repos=tuple(scope.get("github_repos") or ()),
        paths=tuple(Path(p) for p in scope.get("paths") or ()),
    )
    async with open_providers(cfg) as providers:
        return await take_inventory(providers, options, progress)


async def _preflight(
    cfg: Config, inv: Inventory, plan: Plan, consents: frozenset[str]
) -> PreflightResult | None:
    """Preflight of ``plan`` (read-only); ``None`` without a Vercel token (a plan from a saved inventory)."""
    if not cfg.vercel_token:
        return None
    async with open_providers(cfg) as providers:
        return await run_preflight(cfg, providers, inv, plan, consents=consents)


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
    try:
        plan = from_dict(Plan, data)
    except (TypeError, ValueError, KeyError):
        raise UsageError(
            f"{path} is not a valid keyroll plan", hint="make a new one with `keyroll plan`"
        ) from None
    return plan, dict(data.get("scope") or {})


def _plan_document(
    plan: Plan, scope: dict[str, Any], sources: dict[str, str], settings: dict[str, Setting]
) -> dict[str, Any]:
    doc: dict[str, Any] = to_jsonable(plan)
    doc["scope"] = scope
    doc["strategy_sources"] = sources
    doc["settings"] = _settings_json(settings)
    return doc


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
    for col in ("credential", "strategy", "projects", "redeploys", "steps", "outage", "notes"):
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
    for col in ("credential", "strategy", "state", "redeployed", "window", "note"):
        table.add_column(col)
    for c in result.credentials:
        window = "-" if c.window_s is None else f"{c.window_s:.2f}s"
        note = c.error or ("forced revoke" if c.forced else "")
        table.add_row(c.credential, c.strategy.value, c.state, str(len(c.deployments)), window, note)
    return table


def _open_journal(cfg: Config, *, create: bool) -> Journal:
    prompt = (
        (lambda: Secret(getpass.getpass("journal passphrase (32+ characters): ")))
        if sys.stdin.isatty()
        else None
    )
    key = resolve_journal_key(cfg.journal_key, cfg.journal_path, create=create, prompt=prompt)
    if key is None:
        raise JournalError(
            "no journal key: credentials must be journaled encrypted before they are used",
            hint="set KEYROLL_JOURNAL_KEY (32+ characters), use an OS keyring, or run on a terminal",
        )
    return Journal.open(cfg.journal_path, key, create=create)


def _dry_journal() -> Journal:
    """A throw-away journal for ``--dry-run`` (nothing is journaled in the real one)."""
    import tempfile

    from keyroll.rotate.keys import JournalKey

    return Journal.open(
        Path(tempfile.mkdtemp(prefix="keyroll-dry-")) / "journal.db", JournalKey.generate(), create=True
    )


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


def _exit_for(result: RunResult) -> None:
    if result.dry_run or result.state is RunState.DONE:
        return
    if result.waiting:
        err_console.print(f"[yellow]waiting:[/] {result.waiting} — then run `keyroll resume`")
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
    path: PathOpt = None,
    build_seconds: BuildOpt = 60.0,
) -> None:
    """Plan a rotation: per credential the strategy, the steps, the projects and deployments to
    redeploy, the expected outage (0 for overlap strategies), human steps and warnings."""
    overrides = _strategies(strategy)
    if not credential and not all_upstash:
        raise UsageError(
            "choose what to rotate", hint="pass --credential FINGERPRINT (repeatable) or --all-upstash"
        )
    scope = {
        "projects": list(project or ()),
        "github_repos": list(github_repo or ()),
        "paths": [str(p) for p in path or ()],
    }
    cfg = get_config(env_file)  # keyroll.toml's [strategy] and [policy] apply to a saved inventory too
    if inventory is not None:
        inv = _load_inventory_file(inventory)
    else:
        cfg.require("VERCEL_TOKEN")
        inv = _run_async(lambda p: _inventory(cfg, scope, p), _progress(json_out))
    plan = make_plan(
        inv,
        credentials=credential,
        all_upstash=all_upstash,
        strategies=plan_strategies(cfg, inv, overrides),
        build_seconds_estimate=build_seconds,
    )
    sources = strategy_sources(cfg, inv, plan, overrides)
    settings = effective_policy(cfg)
    doc = _plan_document(plan, scope, sources, settings)
    pre = _run_async(lambda _p: _preflight(cfg, inv, plan, frozenset()), None)
    if pre is not None:
        doc["preflight"] = pre.to_json()
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
    path: PathOpt = None,
    build_seconds: BuildOpt = 60.0,
    bypass_ignored_build_step: BypassIgnoredOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Apply a plan (or plan and apply --all-upstash / --credential): mint, write env, redeploy,
    wait READY, verify, revoke — journaled and resumable."""
    if plan_file is None and not all_upstash and not credential:
        raise UsageError("nothing to apply", hint="give a plan file, --credential FP or --all-upstash")
    if plan_file is not None and (all_upstash or credential):
        raise UsageError("give a plan file or --all-upstash/--credential, not both")
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
    scope: dict[str, Any] = {
        "projects": list(project or ()),
        "github_repos": list(github_repo or ()),
        "paths": [str(p) for p in path or ()],
    }
    plan: Plan | None = None
    if plan_file is not None:
        plan, scope = _load_plan(plan_file)
    progress = _progress(json_out)
    consents = frozenset({BYPASS_IGNORED_BUILD_STEP} if bypass_ignored_build_step else ())
    pre: PreflightResult | None = None

    async def run(prog: Progress) -> RunResult:
        nonlocal plan, pre
        async with open_providers(cfg) as providers:
            from keyroll.inventory import options_from_config, take_inventory

            options = options_from_config(
                cfg,
                projects=tuple(scope.get("projects") or ()),
                github_repos=tuple(scope.get("github_repos") or ()),
                paths=tuple(Path(p) for p in scope.get("paths") or ()),
            )
            inv = await take_inventory(providers, options, prog)
            if plan is None:
                plan = make_plan(
                    inv,
                    credentials=credential,
                    all_upstash=all_upstash,
                    strategies=plan_strategies(cfg, inv),
                    build_seconds_estimate=build_seconds,
                )
            _require_sensitive(plan, settings)
            pre = await run_preflight(cfg, providers, inv, plan, consents=consents)
            if pre.blocking and not dry_run:
                raise PreflightBlocked(pre)  # before anything is written
            destructive = [s for s in plan.steps if s.destructive]
            if (
                any(cp.requires_downtime_consent for cp in plan.credentials)
                and not downtime_ok
                and not dry_run
            ):
                raise ConsentRequired(
                    "the plan has cutover steps (a short outage)",
                    hint="pass --accept-downtime or set accept_downtime = true in keyroll.toml [policy] (recorded)",
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
            journal = _dry_journal() if dry_run else _open_journal(cfg, create=True)
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
    cfg: Config, options: ApplyOptions, action: str, run_id: str | None, quiet: bool, files: dict[str, Path]
) -> RunResult:
    progress = _progress(quiet)

    async def run(prog: Progress) -> RunResult:
        journal = _open_journal(cfg, create=False)
        try:
            async with open_providers(cfg) as providers:
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
    options = apply_options(settings, yes=consent, force_revoke=force_revoke)
    result = _with_engine(cfg, options, "resume", run, json_out, files)
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
    options = apply_options(effective_policy(cfg), yes=True)
    result = _with_engine(cfg, options, "rollback", run, json_out, {})
    if json_out:
        emit_json(result)
    else:
        out_console.print(_result_table(result))
    if result.state not in (RunState.ROLLED_BACK, RunState.DONE):
        raise typer.Exit(int(ExitCode.FAILED))


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
    run_state = record.state.value
    if record.state is RunState.RUNNING and not live:
        run_state = "interrupted"
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
        for col in ("credential", "strategy", "state"):
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
        for p in problems:
            err_console.print(f"[red]integrity:[/] {p}")
    if problems:
        raise typer.Exit(int(ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``plan``, ``apply``, ``status``, ``resume`` and ``rollback`` to the main app."""
    app.command("plan")(plan_cmd)
    app.command("apply")(apply_cmd)
    app.command("status")(status_cmd)
    app.command("resume")(resume_cmd)
    app.command("rollback")(rollback_cmd)
