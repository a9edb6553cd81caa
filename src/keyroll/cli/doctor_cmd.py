"""``keyroll doctor``: check the control-plane tokens (exit 0 all good, 1 otherwise)."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from keyroll.cli.common import EnvFileOpt, JsonOpt, OutOpt, emit_json, get_config, out_console, output_to
from keyroll.core.tables import add_fingerprint_column
from keyroll.doctor import run_doctor


def doctor(env_file: EnvFileOpt = None, json_out: JsonOpt = False, out: OutOpt = None) -> None:
    """Check that each control-plane token is present and valid, and list missing scopes."""
    cfg = get_config(env_file)
    checks = asyncio.run(run_doctor(cfg))
    healthy = all(c.present and c.ok for c in checks)
    with output_to(out):
        if json_out:
            emit_json({"ok": healthy, "checks": [c.__dict__ for c in checks]})
        else:
            table = Table(title="keyroll doctor")
            for col in ("token", "status"):
                table.add_column(col)
            add_fingerprint_column(table, "fingerprint")
            table.add_column("detail")
            for c in checks:
                status = (
                    "missing"
                    if not c.present
                    else ("ok" if c.ok else ("unknown" if c.ok is None else "FAIL"))
                )
                detail = c.detail + (
                    f"; missing scopes: {', '.join(c.missing_scopes)}" if c.missing_scopes else ""
                )
                table.add_row(c.name, status, c.fingerprint, detail)
            out_console.print(table)
        raise typer.Exit(0 if healthy else 1)


def register(app: typer.Typer) -> None:
    """Attach ``doctor`` to the main app."""
    app.command("doctor")(doctor)
