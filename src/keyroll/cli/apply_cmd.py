"""``keyroll apply``: run a plan (parse → :mod:`keyroll.app.apply` → render).

Exit codes are those of :mod:`keyroll.cli.rotate_common`: 0 done, 2 nothing changed (bad input,
missing consent, drift, a tampered plan, a blocking preflight finding), 3 failed (journaled;
for ``--dry-run``: the real run would fail), 4 waiting for a person.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from keyroll.app.apply import ApplyRequest, prepare_apply, run_apply
from keyroll.app.plan import settings_json
from keyroll.cli.common import (
    DryRunOpt,
    EnvFileOpt,
    JsonOpt,
    YesOpt,
    emit_json,
    err_console,
    get_config,
    out_console,
)
from keyroll.cli.prompts import interaction, parse_value_files
from keyroll.cli.rotate_common import (
    AcceptDowntimeOpt,
    AllUpstashOpt,
    BuildOpt,
    BuildTimeoutOpt,
    ConfirmRevokedOpt,
    ConfirmUnverifiedOpt,
    CredentialOpt,
    ExcludePausedOpt,
    GithubOrgOpt,
    GithubRepoOpt,
    GitRepoOpt,
    KeyOpt,
    MaxBuildsOpt,
    PathOpt,
    ProjectOpt,
    ValueFileOpt,
    exit_for,
    plan_table,
    progress_view,
    result_table,
    run_async,
    scope_of,
)
from keyroll.core.serde import to_jsonable
from keyroll.preflight.render import preflight_table

__all__ = ["register"]

BypassIgnoredOpt = Annotated[
    bool,
    typer.Option(
        "--bypass-ignored-build-step",
        help="clear projects' Ignored Build Step for the rotation and restore the exact value after (journaled)",
    ),
]


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
    request = ApplyRequest(
        plan_file=plan_file,
        credentials=tuple(credential or ()),
        keys=tuple(key or ()),
        all_upstash=all_upstash,
        scope=scope_of(project, github_repo, github_org, path, git_repo, exclude_paused),
        build_seconds=build_seconds,
        accept_downtime=accept_downtime,
        max_parallel_builds=max_parallel_builds,
        build_timeout_s=build_timeout,
        yes=yes,
        dry_run=dry_run,
        rewrite_files=rewrite_files,
        force_revoke=force_revoke,
        health_path=health_path,
        bypass_ignored_build_step=bypass_ignored_build_step,
        confirm_unverified=confirm_unverified,
        confirm_revoked=tuple(confirm_revoked or ()),
    )
    person = interaction(parse_value_files(value_file))
    cfg = get_config(env_file)
    job = prepare_apply(cfg, request, person)
    progress = progress_view(json_out)
    if dry_run and not json_out:
        err_console.print("[dim]dry run: nothing will change[/]")
    outcome = run_async(lambda prog: run_apply(cfg, job, person, prog), progress)
    result = outcome.result
    if json_out:
        extra: dict[str, Any] = {
            "settings": settings_json(outcome.settings),
            "preflight": outcome.preflight.to_json(),
        }
        emit_json(to_jsonable(result) | extra)
    else:
        out_console.print(result_table(result))
        if result.dry_run:
            out_console.print(plan_table(outcome.plan))
            out_console.print(preflight_table(outcome.preflight))
    exit_for(result)


def register(app: typer.Typer) -> None:
    """Attach ``apply`` to the main app."""
    app.command("apply")(apply_cmd)
