"""``keyroll preflight``: every platform risk a rotation of the credentials in scope would meet — read-only.

Exit codes: 0 nothing blocks; 1 something blocks (``apply`` would refuse); 2 bad input.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from keyroll.app.plan import Scope
from keyroll.app.preflight import PreflightRequest, check_request, preflight
from keyroll.cli.common import EnvFileOpt, JsonOpt, emit_json, err_console, get_config, out_console, state
from keyroll.cli.progress_view import open_view
from keyroll.core.errors import ExitCode
from keyroll.preflight.render import preflight_table

__all__ = ["register"]


def preflight_cmd(
    env_file: EnvFileOpt = None,
    credential: Annotated[
        list[str] | None,
        typer.Option(
            "--credential", "-c", help="fingerprint (or prefix) to plan for; default: every Upstash one"
        ),
    ] = None,
    project: Annotated[
        list[str] | None,
        typer.Option("--project", "-p", help="project id or name (repeatable); default: all"),
    ] = None,
    github_repo: Annotated[
        list[str] | None, typer.Option("--github-repo", help="owner/repo whose Actions secrets are in scope")
    ] = None,
    path: Annotated[
        list[Path] | None, typer.Option("--path", help="file or directory holding copies")
    ] = None,
    bypass_ignored_build_step: Annotated[
        bool,
        typer.Option(
            "--bypass-ignored-build-step",
            help="check as `apply --bypass-ignored-build-step` would run (the setting is cleared, then restored)",
        ),
    ] = False,
    scratch_database: Annotated[
        str | None,
        typer.Option(
            "--scratch-database",
            help="id of an Upstash Redis database keyroll may write to: checks there that a password reset "
            "leaves ACL users working (creates and removes an ACL user, RESETS its password) and records it",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List every platform risk of rotating the credentials in scope — plan tier and build
    parallelism, quota headroom, ignored build steps, deployment protection, hidden env vars,
    staging targets, integration-managed resources, Upstash databases without ACL, QStash regions,
    data-plane URLs and whether the ACL overlap assumption was checked on this account. Reads only
    (except ``--scratch-database``, which writes to the database it names).

    Exit 0: nothing blocks. Exit 1: something blocks (apply would refuse). Exit 2: bad input.
    """
    cfg = get_config(env_file)
    request = PreflightRequest(
        credentials=tuple(credential or ()),
        scope=Scope(
            projects=tuple(project or ()),
            github_repos=tuple(github_repo or ()),
            paths=tuple(str(p) for p in path or ()),
        ),
        bypass_ignored_build_step=bypass_ignored_build_step,
        scratch_database=scratch_database,
    )
    check_request(cfg, request)
    with open_view(err_console, quiet=state.quiet or json_out) as progress:
        result = asyncio.run(preflight(cfg, request, progress))
    if json_out:
        emit_json(result.to_json())
    else:
        out_console.print(preflight_table(result))
    if result.blocking:
        raise typer.Exit(int(ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``preflight`` to the main app."""
    app.command("preflight")(preflight_cmd)
