"""``keyroll sandbox up`` (the emulated Vercel, GitHub and Upstash on loopback) and ``keyroll sandbox fleets``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from keyroll.cli.common import JsonOpt, emit_json, err_console, out_console
from keyroll.core.errors import ConfigError, UsageError

sandbox_app = typer.Typer(
    help="Run the emulated Vercel, GitHub and Upstash on 127.0.0.1 (for tests, demos, benchmarks).",
    no_args_is_help=True,
)


@sandbox_app.command("up")
def up(
    state_dir: Annotated[
        Path,
        typer.Option(
            "--state-dir", help="where sandbox.json, sandbox.env (0600) and snapshots go", file_okay=False
        ),
    ],
    fleet: Annotated[
        str, typer.Option("--fleet", help="built-in fleet name or a YAML/JSON fleet file")
    ] = "small",
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="added latency per API request")
    ] = 0.0,
    build_seconds: Annotated[
        float, typer.Option("--build-seconds", min=0, help="how long a deployment builds")
    ] = 1.0,
    faults: Annotated[
        str,
        typer.Option(
            "--faults",
            help="key=value,… (error_rate, timeout_rate, timeout_s, partial_rate, error_builds, storm, redis_restart_after, seed)",
        ),
    ] = "",
    rate_window: Annotated[
        float,
        typer.Option("--rate-window", min=0.01, help="seconds per rate-limit window (60 like the real APIs)"),
    ] = 60.0,
    tls: Annotated[
        bool,
        typer.Option(
            "--tls/--no-tls", help="also serve Vercel and GitHub over HTTPS (the Vercel CLI needs it)"
        ),
    ] = True,
    vercel_plan: Annotated[
        str,
        typer.Option(
            "--vercel-plan",
            help="the team's plan: hobby (1 build at a time, 100 deployments/day), pro (12, 6000), "
            "enterprise (12, 6000: stand-ins for contract figures)",
        ),
    ] = "pro",
    builds_per_day: Annotated[
        int | None,
        typer.Option("--builds-per-day", min=0, help="deployments per day before 402 (default: the plan's)"),
    ] = None,
    concurrent_builds: Annotated[
        int | None,
        typer.Option("--concurrent-builds", min=1, help="build slots (default: the plan's)"),
    ] = None,
) -> None:
    """Serve the sandbox in the foreground until Ctrl-C; writes STATE_DIR/sandbox.env for --env-file."""
    from keyroll.sandbox.fleet import FleetError, load_fleet
    from keyroll.sandbox.server import Sandbox
    from keyroll.sandbox.vercel.plan import PLANS
    from keyroll.sandbox.world import Faults

    try:
        parsed_faults = Faults.parse(faults)
    except ValueError as exc:
        raise UsageError(f"--faults: {exc}", hint="e.g. --faults error_rate=0.1,storm=2,seed=7") from None
    if vercel_plan not in PLANS:
        raise UsageError(f"--vercel-plan: unknown plan {vercel_plan!r}", hint=f"one of: {', '.join(PLANS)}")
    try:
        fleet_data = load_fleet(fleet)
    except FleetError as exc:
        raise ConfigError(str(exc), hint="`keyroll sandbox fleets` lists the built-in fleets") from None
    sandbox = Sandbox(
        state_dir,
        fleet=fleet_data,
        latency_ms=latency_ms,
        build_seconds=build_seconds,
        faults=parsed_faults,
        rate_window_s=rate_window,
        tls=tls,
        vercel_plan=vercel_plan,
        builds_per_day=builds_per_day,
        concurrent_builds=concurrent_builds,
    )
    try:
        sandbox.install()
    except FleetError as exc:
        raise ConfigError(str(exc)) from None

    def ready() -> None:
        table = Table(title=f"keyroll sandbox — fleet {fleet_data.get('name') or fleet}")
        table.add_column("service")
        table.add_column("url")
        for name, url in sorted(sandbox.urls.items()):
            table.add_row(name, url)
        for name, url in sorted(sandbox.world.tls_urls.items()):
            table.add_row(f"{name} (https)", url)
        out_console.print(table)
        limits = sandbox.vercel_limits
        out_console.print(
            f"vercel plan: {limits.plan} ({limits.concurrent_builds} concurrent builds, "
            f"{limits.deployments_per_day if limits.deployments_per_day is not None else 'unlimited'} "
            "deployments/day)"
        )
        env_file = sandbox.state_dir / "sandbox.env"
        out_console.print(f"env file: {env_file}  (e.g. keyroll inventory --env-file {env_file})")
        if sandbox.tls_files is not None:
            out_console.print(
                f"CA for https: {sandbox.tls_files.ca_cert}  (e.g. NODE_EXTRA_CA_CERTS for the Vercel CLI)"
            )
        out_console.print("press Ctrl-C to stop")

    sandbox.serve_forever(on_ready=ready)
    err_console.print("sandbox stopped")


@sandbox_app.command("fleets")
def fleets(json_out: JsonOpt = False) -> None:
    """List the built-in fleets."""
    from keyroll.sandbox.fleet import builtin_fleets, load_fleet

    rows: list[dict[str, str | int]] = []
    for name, description in builtin_fleets().items():
        data = load_fleet(name)
        rows.append(
            {
                "name": name,
                "projects": len(data["projects"]),
                "shared_env": len(data["shared_env"]),
                "github_repos": len(data["github"]["repos"]),
                "description": description,
            }
        )
    if json_out:
        emit_json({"fleets": rows})
        return
    table = Table(title="built-in fleets")
    for col in ("name", "projects", "shared vars", "GitHub repos", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[k]) for k in ("name", "projects", "shared_env", "github_repos", "description")))
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Attach ``sandbox`` to the main app."""
    app.add_typer(sandbox_app, name="sandbox")
