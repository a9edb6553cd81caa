"""``keyroll preflight``: every platform risk a rotation of the credentials in scope would meet — read-only.

Exit codes: 0 nothing blocks; 1 something blocks (``apply`` would refuse); 2 bad input.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from keyroll.cli.common import EnvFileOpt, JsonOpt, emit_json, err_console, get_config, out_console, state
from keyroll.cli.progress_view import open_view
from keyroll.config import Config
from keyroll.config.policy import plan_strategies
from keyroll.core.errors import ExitCode, UsageError
from keyroll.core.progress import Progress
from keyroll.inventory import options_from_config, take_inventory, validate_options
from keyroll.preflight.context import BYPASS_IGNORED_BUILD_STEP
from keyroll.preflight.model import PreflightResult
from keyroll.preflight.render import preflight_table
from keyroll.preflight.run import run_preflight
from keyroll.providers.factory import open_providers
from keyroll.rotate.planner import make_plan

__all__ = ["register"]


async def _run(
    cfg: Config,
    projects: tuple[str, ...],
    github_repos: tuple[str, ...],
    paths: tuple[Path, ...],
    credentials: list[str] | None,
    consents: frozenset[str],
    progress: Progress,
    scratch_database: str | None = None,
) -> PreflightResult:
    options = options_from_config(cfg, projects=projects, github_repos=github_repos, paths=paths)
    validate_options(options)
    async with open_providers(cfg) as providers:
        inv = await take_inventory(providers, options, progress)
        plan = make_plan(
            inv,
            credentials=credentials or None,
            all_upstash=not credentials,
            strategies=plan_strategies(cfg, inv),
        )
        return await run_preflight(
            cfg, providers, inv, plan, consents=consents, scratch_database=scratch_database
        )


def preflight(
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
    cfg.require("VERCEL_TOKEN")
    if scratch_database is not None:
        if not scratch_database.strip():
            raise UsageError("--scratch-database needs a database id", hint="keyroll inventory lists them")
        cfg.require("UPSTASH_EMAIL", "UPSTASH_API_KEY")
    consents = frozenset({BYPASS_IGNORED_BUILD_STEP} if bypass_ignored_build_step else ())
    with open_view(err_console, quiet=state.quiet or json_out) as progress:
        result = asyncio.run(
            _run(
                cfg,
                tuple(project or ()),
                tuple(github_repo or ()),
                tuple(path or ()),
                credential,
                consents,
                progress,
                scratch_database,
            )
        )
    if json_out:
        emit_json(result.to_json())
    else:
        out_console.print(preflight_table(result))
    if result.blocking:
        raise typer.Exit(int(ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``preflight`` to the main app."""
    app.command("preflight")(preflight)
