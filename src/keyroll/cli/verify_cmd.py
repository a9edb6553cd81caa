"""``keyroll verify``: prove the rotation finished — new accepted, old rejected, fresh deployments, no stale copy.

Exit codes: 0 every check passed (warnings such as git history or rollback candidates
allowed); 1 a check failed or could not be decided; 2 bad input (nothing was checked).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keyroll.app.verify import open_journal_to_verify, verify_journal, verify_scope
from keyroll.cli.common import (
    EnvFileOpt,
    GitReposOpt,
    JsonOpt,
    OldValuePathsOpt,
    OutOpt,
    RunIdOpt,
    emit_json,
    err_console,
    get_config,
    out_console,
    output_to,
    state,
)
from keyroll.core.errors import ExitCode, UsageError
from keyroll.core.progress import NULL_PROGRESS
from keyroll.core.tables import add_fingerprint_column
from keyroll.verify.result import CheckStatus, VerifyResult
from keyroll.verify.times import iso

__all__ = ["register", "render_table"]

_STYLE = {
    CheckStatus.PASS: "green",
    CheckStatus.FAIL: "bold red",
    CheckStatus.WARN: "yellow",
    CheckStatus.UNKNOWN: "magenta",
}


def render_table(result: VerifyResult) -> Table:
    """One row per check, grouped by credential; the latest evidence with its time."""
    table = Table(title=f"keyroll verify — run {result.run_id or '(inventory)'}", show_lines=False)
    table.add_column("status", overflow="fold")
    add_fingerprint_column(table)
    for col in ("check", "evidence"):
        table.add_column(col, overflow="fold")
    order = {CheckStatus.FAIL: 0, CheckStatus.UNKNOWN: 1, CheckStatus.WARN: 2, CheckStatus.PASS: 3}
    for c in sorted(result.checks, key=lambda c: (c.credential, order[c.status], c.category.value, c.id)):
        ev = c.evidence[-1] if c.evidence else None
        evidence = f"{ev.source.value} {iso(ev.at)}: {ev.what}" if ev else (c.hint or "")
        table.add_row(
            f"[{_STYLE[c.status]}]{c.status.value}[/]", c.credential, escape(c.title), escape(evidence)
        )
    return table


def _json(result: VerifyResult) -> dict[str, Any]:
    from keyroll.core.serde import to_jsonable

    return {
        "kind": "keyroll.verify",
        "passed": result.passed,
        "counts": result.counts(),
        **to_jsonable(result),
    }


def verify_cmd(
    env_file: EnvFileOpt = None,
    credential: Annotated[
        list[str] | None,
        typer.Option(
            "--credential", "-c", help="fingerprint (or prefix) of a rotated credential (repeatable)"
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="every credential of the run (the default)")] = False,
    run_id: RunIdOpt = None,
    path: OldValuePathsOpt = None,
    git_repo: GitReposOpt = None,
    github_repo: Annotated[
        list[str] | None,
        typer.Option("--github-repo", help="owner/repo whose Actions secrets to check too (repeatable)"),
    ] = None,
    github_org: Annotated[
        list[str] | None,
        typer.Option(
            "--github-org", help="organization whose secrets and repositories to check (repeatable)"
        ),
    ] = None,
    health_path: Annotated[
        str, typer.Option("--health-path", help="path requested on each serving deployment")
    ] = "/",
    no_deployment_probe: Annotated[
        bool, typer.Option("--no-deployment-probe", help="do not GET the deployments' URLs")
    ] = False,
    json_out: JsonOpt = False,
    out: OutOpt = None,
) -> None:
    """Prove the rotation finished: new values accepted, old ones rejected, nothing stale.

    Each new value is accepted and each old one rejected by the provider; every serving
    deployment was built after the env change; no copy of an old value is left in Vercel,
    GitHub secrets or local files (git history is reported apart); no production alias points
    at a pre-rotation build.

    Exit 0: all passed. Exit 1: something failed or is unknown (listed). Exit 2: bad input.
    """
    if credential and all_:
        raise UsageError("--credential and --all exclude each other", hint="pass one of them")
    cfg = get_config(env_file)
    options = verify_scope(
        cfg,
        credentials=tuple(credential or ()),
        run_id=run_id,
        paths=tuple(path or ()),
        git_repos=tuple(git_repo or ()),
        github_repos=tuple(github_repo or ()),
        github_orgs=tuple(github_org or ()),
        health_path=health_path,
        probe_deployments=not no_deployment_probe,
    )
    opened = open_journal_to_verify(cfg)
    try:
        if state.quiet or json_out:
            result = asyncio.run(verify_journal(cfg, opened, options, NULL_PROGRESS))
        else:
            from keyroll.cli.progress_view import ProgressView

            with ProgressView(err_console) as progress:
                result = asyncio.run(verify_journal(cfg, opened, options, progress))
    finally:
        opened.close()
    with output_to(out):
        if json_out:
            emit_json(_json(result))
        else:
            out_console.print(render_table(result))
            counts = result.counts()
            out_console.print(
                f"{counts['pass']} passed, {counts['fail']} failed, {counts['unknown']} unknown, {counts['warn']} warning(s)"
            )
            for note in result.notes:
                err_console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
        raise typer.Exit(int(ExitCode.OK if result.passed else ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``verify`` to the main app."""
    app.command("verify")(verify_cmd)
