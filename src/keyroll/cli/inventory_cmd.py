"""``keyroll inventory``: every copy of every Upstash credential, and the blast radius.

Exit codes: 0 everything was read and matched; 1 something is unverified or unknown
(sensitive vars, GitHub secrets, unreadable projects …); 2 bad input (nothing was sent).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer

from keyroll.app.inventory import inventory_scope, run_inventory
from keyroll.cli.common import EnvFileOpt, JsonOpt, err_console, get_config, out_console, state
from keyroll.cli.progress_view import open_view
from keyroll.core.errors import ExitCode
from keyroll.inventory import InventoryFormat, render, render_table

__all__ = ["register"]


def inventory(
    env_file: EnvFileOpt = None,
    project: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="project id or name (repeatable); default: all"),
    ] = None,
    github_repo: Annotated[
        list[str] | None, typer.Option("--github-repo", help="owner/repo whose Actions secrets to list")
    ] = None,
    github_org: Annotated[
        list[str] | None, typer.Option("--github-org", help="organization whose Actions secrets to list")
    ] = None,
    path: Annotated[
        list[Path] | None, typer.Option("--path", help="file or directory to search for known values")
    ] = None,
    git_repo: Annotated[
        list[Path] | None, typer.Option("--git-repo", help="git work tree whose history to search")
    ] = None,
    json_out: JsonOpt = False,
    fmt: Annotated[
        InventoryFormat, typer.Option("--format", "-f", case_sensitive=False, help="output format")
    ] = InventoryFormat.TABLE,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", dir_okay=False, help="write the output to this file")
    ] = None,
    exclude_paused: Annotated[bool, typer.Option("--exclude-paused", help="skip paused projects")] = False,
    no_deployments: Annotated[
        bool, typer.Option("--no-deployments", help="do not list the deployments of affected projects")
    ] = False,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="requests in flight at most")] = 16,
    upstash_only: Annotated[
        bool,
        typer.Option(
            "--upstash-only",
            help="only Upstash credentials (default: every secret-bearing var, docs/inventory.md)",
        ),
    ] = False,
) -> None:
    """Find every copy of every credential (Upstash's, and every other secret the scanner's
    detectors recognise or an encrypted/sensitive var holds): Vercel env vars (every project, target,
    branch, custom environment, shared vars), deployments, GitHub Actions secrets, local files
    and git history — and show each credential's blast radius.

    Exit 0: complete. Exit 1: something could not be verified (listed). Exit 2: bad input.
    """
    cfg = get_config(env_file)
    options = inventory_scope(
        cfg,
        projects=tuple(project or ()),
        github_repos=tuple(github_repo or ()),
        github_orgs=tuple(github_org or ()),
        paths=tuple(path or ()),
        git_repos=tuple(git_repo or ()),
        include_paused=not exclude_paused,
        include_deployments=not no_deployments,
        concurrency=concurrency,
        all_secrets=not upstash_only,
    )
    if json_out:
        fmt = InventoryFormat.JSON
    with open_view(err_console, quiet=state.quiet or json_out) as progress:
        inv = asyncio.run(run_inventory(cfg, options, progress))
    if out is not None:
        out.write_text(render(inv, fmt), encoding="utf-8")
        err_console.print(f"wrote {out}")
    elif fmt is InventoryFormat.TABLE:
        out_console.print(render_table(inv))
    else:
        sys.stdout.write(render(inv, fmt))
        sys.stdout.flush()
    if not inv.complete:
        raise typer.Exit(int(ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``inventory`` to the main app."""
    app.command("inventory")(inventory)
