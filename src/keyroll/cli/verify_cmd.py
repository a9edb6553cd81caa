"""``keyroll verify``: prove the rotation finished — new accepted, old rejected, fresh deployments, no stale copy.

Exit codes: 0 every check passed (warnings such as git history or rollback candidates
allowed); 1 a check failed or could not be decided; 2 bad input (nothing was checked).
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from keyroll.app.journal import OpenedJournal, open_journal
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
from keyroll.config import Config
from keyroll.core.errors import ExitCode, UsageError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.tables import add_fingerprint_column
from keyroll.inventory import options_from_config, validate_options
from keyroll.providers.factory import open_providers
from keyroll.verify.result import CheckStatus, VerifyResult
from keyroll.verify.run import VerifyOptions, verify
from keyroll.verify.times import iso

__all__ = ["register", "render_table"]

_STYLE = {
    CheckStatus.PASS: "green",
    CheckStatus.FAIL: "bold red",
    CheckStatus.WARN: "yellow",
    CheckStatus.UNKNOWN: "magenta",
}


async def _run(
    cfg: Config, opened: OpenedJournal, options: VerifyOptions, progress: Progress
) -> VerifyResult:
    assert opened.journal is not None
    async with open_providers(cfg) as providers:
        return await verify(providers, opened.journal, options, progress)


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
    inv_options = options_from_config(
        cfg,
        paths=tuple(path or ()),
        git_repos=tuple(git_repo or ()),
        github_repos=tuple(github_repo or ()),
        github_orgs=tuple(github_org or ()),
    )
    validate_options(inv_options)
    opened = open_journal(cfg, wrong_key_ok=False)
    if opened.journal is None:
        raise UsageError(
            f"the journal cannot be read: {opened.error}", hint="keyroll report shows what is known"
        )
    options = VerifyOptions(
        credentials=tuple(credential or ()),
        run_id=run_id,
        paths=inv_options.paths,
        git_repos=inv_options.git_repos,
        health_path=health_path,
        probe_deployments=not no_deployment_probe,
        inventory_options=inv_options,
    )
    try:
        if state.quiet or json_out:
            result = asyncio.run(_run(cfg, opened, options, NULL_PROGRESS))
        else:
            from keyroll.cli.progress_view import ProgressView

            with ProgressView(err_console) as progress:
                result = asyncio.run(_run(cfg, opened, options, progress))
    finally:
        opened.close()
    if opened.notes:
        result = dataclasses.replace(result, notes=(*opened.notes, *result.notes))
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
