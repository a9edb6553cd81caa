"""``keyroll plan``: the rotation plan (parse → :mod:`keyroll.app.plan` → render).

Exit codes: 0 planned; 2 bad input (nothing to rotate, an unknown strategy, fingerprint or
variable name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from keyroll.app.plan import PlanRequest, inventory_for, plan_rotation, take_scoped_inventory
from keyroll.cli.common import EnvFileOpt, JsonOpt, emit_json, err_console, get_config, out_console, state
from keyroll.cli.rotate_common import (
    AllUpstashOpt,
    BuildOpt,
    CredentialOpt,
    ExcludePausedOpt,
    GithubOrgOpt,
    GithubRepoOpt,
    GitRepoOpt,
    KeyOpt,
    PathOpt,
    ProjectOpt,
    plan_table,
    policy_note,
    progress_view,
    run_async,
    scope_of,
)
from keyroll.core.errors import UsageError
from keyroll.core.model import Strategy
from keyroll.preflight.render import preflight_table

__all__ = ["parse_strategies", "register"]


def parse_strategies(items: list[str] | None) -> dict[str, Strategy]:
    """``--strategy CRED=STRATEGY`` flags.

    :raises UsageError: not ``CRED=STRATEGY``, or an unknown strategy.
    """
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
    request = PlanRequest(
        strategies=parse_strategies(strategy),
        credentials=tuple(credential or ()),
        keys=tuple(key or ()),
        all_upstash=all_upstash,
        scope=scope_of(project, github_repo, github_org, path, git_repo, exclude_paused),
        inventory_file=inventory,
        build_seconds=build_seconds,
    )
    cfg = get_config(env_file)
    inv = inventory_for(cfg, request)
    if inv is None:
        inv = run_async(lambda p: take_scoped_inventory(cfg, request.scope, p), progress_view(json_out))
    planned = inv
    outcome = run_async(lambda _p: plan_rotation(cfg, request, planned), None)
    if out is not None:
        out.write_text(json.dumps(outcome.document, indent=2) + "\n", encoding="utf-8")
        err_console.print(f"wrote {out}")
    if json_out:
        emit_json(outcome.document)
    elif out is None or not state.quiet:
        out_console.print(plan_table(outcome.plan, outcome.sources))
        if outcome.preflight is not None:
            out_console.print(preflight_table(outcome.preflight))
    for note in outcome.notes:
        policy_note(note)


def register(app: typer.Typer) -> None:
    """Attach ``plan`` to the main app."""
    app.command("plan")(plan_cmd)
