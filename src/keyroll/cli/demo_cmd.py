"""``keyroll demo``: a full credential-leak incident on the in-process sandbox, end to end.

Exit codes: 0 the rotation reached done, verify passed and no request failed during an overlap
rotation; 1 the rotation finished but verify or the load generator found a problem (listed);
2 bad input (unknown fleet, non-empty state dir); 3 the rotation did not finish (journaled in
the state dir: ``keyroll status --env-file STATE/demo.env``).
"""

from __future__ import annotations

import contextlib
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from keyroll.cli.common import JsonOpt, emit_json, err_console, out_console, state
from keyroll.cli.progress_view import open_view
from keyroll.core.errors import ConfigError, ExitCode, UsageError
from keyroll.core.model import RunState
from keyroll.core.tables import add_fingerprint_column

__all__ = ["register"]

CHATTY = ("READY dpl_", "redeploying dpl_", ": redeploying ")
"""Engine notes that repeat once per deployment: counted, not printed."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the demo like Ctrl-C (the sandbox's servers and redis-servers stop cleanly)."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _state_dir(path: Path | None) -> Path:
    if path is None:
        return Path(tempfile.mkdtemp(prefix="keyroll-demo-"))
    if path.exists() and not path.is_dir():
        raise UsageError(f"--state-dir {path} is not a directory")
    if path.is_dir() and any(path.iterdir()):
        raise UsageError(
            f"--state-dir {path} is not empty",
            hint="give a new or empty directory (the demo creates a journal, a git repo and reports there)",
        )
    return path


def _fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _render(result: Any) -> None:
    r = result
    if r.ok:
        head = "[bold green]done[/]"
    elif r.run_state == RunState.DONE:
        head = "[bold yellow]rotation done, but not everything checks out (see below)[/]"
    else:
        head = f"[bold red]rotation {r.run_state or 'failed'}[/]"
    out_console.print(
        f"\n[bold]keyroll demo[/] — {head} in {r.duration_s:.1f}s (fleet {r.fleet}, {r.projects} projects)",
        highlight=False,
    )
    f = r.failures
    overlap_mark = "[green]✓[/]" if f.get("overlap", 0) == 0 else "[red]✗[/]"
    windows = "; ".join(
        f"{w['resource']} ({w['strategy']}): {w['window_s']:.2f}s measured, "
        f"{w.get('failed_requests', 0)} failed request(s) inside"
        for w in r.cutover_windows
    )
    stale = r.stale
    stale_kinds = ", ".join(
        f"{row['label']} {row['removed']}/{row['found']}"
        + (" (history is not rewritten)" if row["not_rewritten"] else "")
        for row in stale.get("by_kind", [])
    )
    clicks = "; ".join(
        f'pressed "Reset Credentials" for {c["kind"]} {c["name"]!r} on your behalf (Vercel resynced {c["resynced"]} var(s))'
        for c in r.human_steps
    )
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row(
        "credentials rotated", f"{r.credentials_rotated} of {r.credentials_total} ({len(r.groups)} rotations)"
    )
    table.add_row("deployments redeployed", str(r.deployments_redeployed))
    table.add_row("requests served", f"{r.requests} by the load generator, {r.failed_requests} failed")
    table.add_row(
        "failed requests",
        f"overlap rotations: {f.get('overlap', 0)} {overlap_mark} · inside cutover windows: {f.get('cutover_in_window', 0)} "
        f"· outside: {f.get('cutover_outside_window', 0)} · unattributed: {f.get('unattributed', 0)}",
    )
    table.add_row("cutover windows", windows or "none")
    table.add_row(
        "stale copies",
        f"found {stale.get('found', 0)}, replaced or removed {stale.get('removed', 0)}, left {stale.get('left', 0)}"
        + (f" — {stale_kinds}" if stale_kinds else ""),
    )
    table.add_row("dashboard", clicks or "no human step")
    counts = ", ".join(f"{n} {k}" for k, n in r.verify_counts.items() if n)
    table.add_row(
        "verify", ("[green]passed[/]" if r.verify_passed else "[red]not passed[/]") + f" ({counts})"
    )
    table.add_row("report", r.report_html or "not written")
    table.add_row("state dir", f"{r.state_dir} (journal, git repo, reports, demo.env)")
    out_console.print(table)
    creds = Table(title="rotations")
    add_fingerprint_column(creds)
    for col in ("strategy", "resource", "state", "redeployed", "window"):
        creds.add_column(col)
    for g in r.groups:
        creds.add_row(
            g["credential"],
            g["strategy"],
            g["resource"],
            g["state"],
            str(g["redeployed"]),
            _fmt_s(g["window_s"]),
        )
    out_console.print(creds)
    for p in r.verify_problems:
        err_console.print(f"[yellow]verify:[/] {p}", highlight=False)
    for s in f.get("samples", [])[:5]:
        err_console.print(
            f"[yellow]failed request:[/] +{s.get('t_rel')}s {s.get('project')} {s.get('deployment')}: {s.get('cause')}",
            highlight=False,
        )
    for n in r.notes:
        err_console.print(f"[yellow]note:[/] {n}", highlight=False)


def demo_cmd(
    state_dir: Annotated[
        Path | None,
        typer.Option(
            "--state-dir", help="where the journal, git repo and reports go (default: a new temp dir)"
        ),
    ] = None,
    fleet: Annotated[
        str, typer.Option("--fleet", help="built-in fleet name or a YAML/JSON fleet file")
    ] = "incident",
    keep: Annotated[
        bool,
        typer.Option("--keep", help="leave the sandbox running afterwards (until Ctrl-C) for other commands"),
    ] = False,
    json_out: JsonOpt = False,
    build_seconds: Annotated[
        float, typer.Option("--build-seconds", min=0.0, max=600.0, help="how long a sandbox build takes")
    ] = 2.0,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0.0, max=5000.0, help="added latency per API request")
    ] = 10.0,
    rps: Annotated[
        float, typer.Option("--rps", min=0.1, max=500.0, help="load-generator requests per second")
    ] = 40.0,
    rate_window: Annotated[
        float,
        typer.Option(
            "--rate-window", min=0.1, max=3600.0, help="seconds per rate-limit window (60 like the real APIs)"
        ),
    ] = 10.0,
) -> None:
    """Play a whole incident on the sandbox — no accounts, no network: a team whose Vercel env vars
    leaked, its Upstash credentials everywhere (projects, shared vars, branches, GitHub secrets,
    local files, git history). keyroll takes the inventory, plans, rotates under load, verifies and
    writes the incident report. The demo consents on your behalf (--accept-downtime, --yes,
    --rewrite-files) and clicks the one dashboard button a person would click."""
    from keyroll.demo.run import Demo, DemoOptions
    from keyroll.sandbox.fleet import FleetError, load_fleet

    try:
        load_fleet(fleet)
    except FleetError as exc:
        raise ConfigError(str(exc), hint="`keyroll sandbox fleets` lists the built-in fleets") from None
    directory = _state_dir(state_dir)
    options = DemoOptions(
        directory,
        fleet=fleet,
        build_seconds=build_seconds,
        latency_ms=latency_ms,
        rps=rps,
        rate_window_s=rate_window,
    )
    progress = open_view(err_console, quiet=state.quiet, max_notes=None, counted=CHATTY, timestamps=True)
    if not state.quiet:
        err_console.print(f"[bold]keyroll demo[/] — state dir {directory}", highlight=False)
        err_console.print(
            "[dim]the demo consents on your behalf: --accept-downtime (cutovers cause a short, measured "
            "outage), --yes (revocations run without a prompt), --rewrite-files (local copies are rewritten)[/]",
            highlight=False,
        )
    with _sigterm_as_interrupt(), Demo(options, progress, progress) as demo:
        with progress:
            result = demo.run()
        if json_out:
            emit_json(result.to_dict())
        else:
            _render(result)
        if keep:
            err_console.print(
                f"\nsandbox still running — use [bold]--env-file {demo.env_file}[/] with other commands, e.g.\n"
                f"  keyroll status --env-file {demo.env_file}\n"
                f"  keyroll verify --env-file {demo.env_file} --all\n"
                f"  keyroll report --env-file {demo.env_file} --format html --out incident.html\n"
                "press Ctrl-C to stop",
                highlight=False,
            )
            try:
                while True:
                    time.sleep(1.0)
            except KeyboardInterrupt:
                err_console.print("stopping the sandbox")
    if result.ok:
        return
    if result.run_state != RunState.DONE:
        raise typer.Exit(int(ExitCode.FAILED))
    raise typer.Exit(int(ExitCode.FINDINGS))


def register(app: typer.Typer) -> None:
    """Attach ``demo`` to the main app."""
    app.command("demo")(demo_cmd)
