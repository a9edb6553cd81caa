"""``keyroll status / resume / rollback / abandon``: a journaled run after ``apply`` (parse →
:mod:`keyroll.app.resume` / :mod:`keyroll.app.runs` → render).

Exit codes are those of :mod:`keyroll.cli.rotate_common`; ``status`` exits 1 on journal
integrity problems, ``rollback`` 1 when it left residue for a person and 3 when the run is not
rolled back.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from keyroll.app.plan import settings_json
from keyroll.app.resume import ResumeRequest, prepare_resume, prepare_rollback, run_engine
from keyroll.app.runs import RunStatus, abandon_run, rollback_residue, run_status
from keyroll.cli.common import EnvFileOpt, JsonOpt, YesOpt, emit_json, err_console, get_config, out_console
from keyroll.cli.prompts import interaction, parse_value_files
from keyroll.cli.rotate_common import (
    AcceptDowntimeOpt,
    BuildTimeoutOpt,
    ConfirmRevokedOpt,
    ConfirmUnverifiedOpt,
    MaxBuildsOpt,
    RunOpt,
    ValueFileOpt,
    exit_for,
    progress_view,
    result_table,
    run_async,
)
from keyroll.core.errors import ExitCode
from keyroll.core.model import RunState
from keyroll.core.serde import to_jsonable
from keyroll.core.tables import add_fingerprint_column

__all__ = ["register"]


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
    person = interaction(parse_value_files(value_file))
    cfg = get_config(env_file)
    request = ResumeRequest(
        run_id=run,
        yes=yes,
        accept_downtime=accept_downtime,
        max_parallel_builds=max_parallel_builds,
        build_timeout_s=build_timeout,
        force_revoke=force_revoke,
        confirm_unverified=confirm_unverified,
        confirm_revoked=tuple(confirm_revoked or ()),
    )
    job = prepare_resume(cfg, request, person)
    outcome = run_async(lambda prog: run_engine(cfg, job, person, prog), progress_view(json_out))
    if json_out:
        emit_json(to_jsonable(outcome.result) | {"settings": settings_json(outcome.settings)})
    else:
        out_console.print(result_table(outcome.result))
    exit_for(outcome.result)


def rollback_cmd(
    env_file: EnvFileOpt = None, yes: YesOpt = False, run: RunOpt = None, json_out: JsonOpt = False
) -> None:
    """Restore the old values of every credential of a run not yet revoked, redeploy what was
    redeployed, and remove what was minted."""
    cfg = get_config(env_file)
    person = interaction()
    job = prepare_rollback(cfg, run, yes, person)
    result = run_async(lambda prog: run_engine(cfg, job, person, prog), progress_view(json_out)).result
    residue = rollback_residue(cfg, result.run_id)
    if json_out:
        emit_json(to_jsonable(result) | {"residue": residue})
    elif result.extra.get("nothing_to_do"):
        why = "the old credentials are revoked" if result.state is RunState.DONE else "it has ended"
        out_console.print(f"nothing to roll back: run {result.run_id} is {result.state.value} ({why})")
    else:
        out_console.print(result_table(result))
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
    cfg = get_config(env_file)
    outcome = abandon_run(cfg, run_id, reason)
    if json_out:
        emit_json({"run": to_jsonable(outcome.record), "residue": outcome.residue})
        return
    out_console.print(
        f"run [bold]{outcome.record.id}[/] — closed (abandoned: {escape(' '.join(reason.split()))})"
    )
    for r in outcome.residue:
        out_console.print(
            f"  {r['credential']} ({r['state']}): not done: {escape('; '.join(r['not_done']) or '-')}"
        )
        out_console.print(f"    → {escape(r['do'])}")


def _print_status(status: RunStatus, steps: bool) -> None:
    record = status.record
    origin = record.options.get("sources") or {}
    flags = [
        f"{k} ({origin[k]})" if k in origin else k
        for k in ("accept_downtime", "force_revoke", "rewrite_files")
        if record.options.get(k)
    ]
    out_console.print(
        f"run [bold]{record.id}[/] — {status.state}{' (running now)' if status.live else ''}"
        + (f" — flags: {escape(', '.join(flags))}" if flags else "")
    )
    table = Table()
    add_fingerprint_column(table)
    for col in ("strategy", "state"):
        table.add_column(col)
    for c in status.credentials:
        table.add_row(c["credential"], c["strategy"], c["state"])
    out_console.print(table)
    if steps:
        st = Table(title="steps")
        for col in ("step", "kind", "state", "error"):
            st.add_column(col)
        for row in status.steps:
            st.add_row(row["id"], row["kind"], row["state"], row["error"])
        out_console.print(st)
    for w in status.waiting:
        out_console.print(
            f"[yellow]waiting for a person[/] ({escape(str(w['step']))}): {escape(str(w['instructions']))}\n"
            "  then run `keyroll resume` (it checks that it was done)",
            highlight=False,
        )
    if status.closing:
        out_console.print(f"abandoned: {escape(status.closing['reason'])}", highlight=False)
        for r in status.closing["residue"]:
            out_console.print(
                f"  {r['credential']} ({r['state']}): not done: {escape('; '.join(r['not_done']) or '-')}",
                highlight=False,
            )
    for r in status.residue:
        out_console.print(f"[yellow]left for a person:[/] {escape(r['what'])} — {escape(r['do'])}")
    for p in status.integrity:
        err_console.print(f"[red]integrity:[/] {p}")


def status_cmd(
    env_file: EnvFileOpt = None,
    json_out: JsonOpt = False,
    run: RunOpt = None,
    steps: Annotated[bool, typer.Option("--steps", help="list every step")] = False,
) -> None:
    """Show the latest run (or --run): state, each credential's place in the rotation, steps,
    and the journal's integrity check. Exit 1 when the journal has integrity problems."""
    status = run_status(get_config(env_file), run)
    if json_out:
        emit_json(
            {
                "run": to_jsonable(status.record) | {"state": status.state, "live": status.live},
                "plan_id": status.plan.id,
                "credentials": status.credentials,
                "steps": status.steps,
                "integrity": status.integrity,
                "waiting": status.waiting,
                "residue": status.residue,
                "closed": status.closing,
            }
        )
    else:
        _print_status(status, steps)
    if status.integrity:
        raise typer.Exit(int(ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``status``, ``resume``, ``rollback`` and ``abandon`` to the main app."""
    app.command("status")(status_cmd)
    app.command("resume")(resume_cmd)
    app.command("rollback")(rollback_cmd)
    app.command("abandon")(abandon_cmd)
