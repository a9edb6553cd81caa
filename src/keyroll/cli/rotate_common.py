"""What the rotation commands (``plan``, ``apply``, ``status``, ``resume``, ``rollback``,
``abandon``) share: their options, the progress view, the plan and result tables, and the
exit code of a run.

Exit codes: 0 done (also: ``rollback``/``resume`` of a run that already ended — nothing to do);
1 ``status`` found journal problems, or ``rollback`` ended with residue a person must remove;
2 bad input (nothing changed: unknown fingerprint, drift, missing consent or scopes, a tampered
plan); 3 the run failed or was interrupted (state is journaled: ``keyroll status``, ``keyroll
resume``, ``keyroll rollback``, ``keyroll abandon``) — for ``--dry-run``: the real run would fail
there; 4 the run waits for a person (do the step, then ``keyroll resume``); 130 interrupted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from keyroll.app.plan import Scope
from keyroll.cli.common import err_console, state
from keyroll.config.policy import BUILD_TIMEOUT_RANGE, MAX_PARALLEL_BUILDS_RANGE
from keyroll.core.errors import ExitCode
from keyroll.core.model import Plan, RunState
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.tables import add_fingerprint_column
from keyroll.rotate.options import RunResult

__all__ = [
    "AcceptDowntimeOpt",
    "AllUpstashOpt",
    "BuildOpt",
    "BuildTimeoutOpt",
    "ConfirmRevokedOpt",
    "ConfirmUnverifiedOpt",
    "CredentialOpt",
    "ExcludePausedOpt",
    "GitRepoOpt",
    "GithubOrgOpt",
    "GithubRepoOpt",
    "KeyOpt",
    "MaxBuildsOpt",
    "PathOpt",
    "ProjectOpt",
    "RunOpt",
    "ValueFileOpt",
    "exit_for",
    "plan_table",
    "policy_note",
    "progress_view",
    "result_table",
    "run_async",
    "scope_of",
]

T = TypeVar("T")

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


def scope_of(
    project: list[str] | None,
    github_repo: list[str] | None,
    github_org: list[str] | None,
    path: list[Path] | None,
    git_repo: list[Path] | None,
    exclude_paused: bool,
) -> Scope:
    """The inventory scope flags of plan/apply (the same as ``keyroll inventory``'s)."""
    return Scope(
        projects=tuple(project or ()),
        github_repos=tuple(github_repo or ()),
        github_orgs=tuple(github_org or ()),
        paths=tuple(str(p) for p in path or ()),
        git_repos=tuple(str(p) for p in git_repo or ()),
        include_paused=not exclude_paused,
    )


def progress_view(quiet: bool) -> Any:
    """The live progress on stderr (``None`` for ``--json`` or ``--quiet``)."""
    if quiet or state.quiet:
        return None
    from keyroll.cli.progress_view import ProgressView

    return ProgressView(err_console)


def run_async(work: Callable[[Progress], Awaitable[T]], progress: Any) -> T:
    """Run ``work`` under ``progress`` (a view, or ``None`` for no display)."""
    # Ctrl-C propagates: cli.main.run prints the one "interrupted — …" line for the command

    async def main(prog: Progress) -> T:
        return await work(prog)

    if progress is None:
        return asyncio.run(main(NULL_PROGRESS))
    with progress:
        return asyncio.run(main(progress))


def policy_note(note: str) -> None:
    """A value-free line about the policy in force, on stderr (not with ``--quiet``)."""
    if not state.quiet:
        err_console.print(f"[yellow]policy:[/] {escape(note)}", markup=True, highlight=False)


def plan_table(plan: Plan, sources: dict[str, str] | None = None) -> Table:
    """Per credential: strategy (and its source), projects, redeploys, steps, outage, notes."""
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


def result_table(result: RunResult) -> Table:
    """Per credential of a run: strategy, state, redeploys, measured window, note."""
    table = Table(title=f"run {result.run_id or '(dry run)'}: {result.state.value}")
    add_fingerprint_column(table)
    for col in ("strategy", "state", "redeployed", "window", "note"):
        table.add_column(col)
    for c in result.credentials:
        window = "-" if c.window_s is None else f"{c.window_s:.2f}s"
        note = c.error or ("forced revoke" if c.forced else "")
        table.add_row(c.credential, c.strategy.value, c.state, str(len(c.deployments)), window, note)
    return table


def exit_for(result: RunResult) -> None:
    """Say what is next and exit with the run's code (nothing when it is done).

    :raises typer.Exit: 3 failed (or a dry run found where the real run would fail), 4 waiting.
    """
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
