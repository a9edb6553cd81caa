"""``keyroll adapters``: the provider adapters installed (entry point group ``keyroll.providers``),
what each can do, which of their settings are set, and plug-ins that failed to load.

Exit codes: 0 all loaded; 1 a plug-in failed to load (listed); 2 bad input.
"""

from __future__ import annotations

import json

import typer
from rich.table import Table

from keyroll.adapters.registry import GROUP, get_registry
from keyroll.cli.common import EnvFileOpt, JsonOpt, get_config, out_console
from keyroll.core.errors import ExitCode

__all__ = ["register"]


def adapters(env_file: EnvFileOpt = None, json_out: JsonOpt = False) -> None:
    """List the provider adapters: credential kinds, mint/revoke support, settings (set or not)."""
    cfg = get_config(env_file)
    reg = get_registry()
    rows = []
    for adapter in reg:
        info = adapter.describe()
        info["origin"] = reg.origin.get(adapter.name, "")
        own = adapter.strategies()
        info["strategies"] = sorted(s.value for s in own.builders) if own is not None else []
        info["settings"] = {s.name: bool(cfg.adapter_settings.get(s.name)) for s in adapter.settings}
        rows.append(info)
    broken = [{"name": name, "reason": why} for name, why in sorted(reg.broken.items())]
    if json_out:
        out_console.print_json(json.dumps({"group": GROUP, "adapters": rows, "broken": broken}))
    else:
        table = Table(title=f"provider adapters (entry point group {GROUP})")
        for col in ("name", "credentials", "mint", "revoke", "settings", "from"):
            table.add_column(col)
        for r in rows:
            settings = ", ".join(f"{k} ({'set' if v else 'unset'})" for k, v in r["settings"].items()) or "-"
            table.add_row(
                r["name"],
                f"{r['title']}\n{', '.join(r['kinds'][:4])}{' …' if len(r['kinds']) > 4 else ''}",
                "yes" if r["mint"] else ("own strategies" if r["strategies"] else "no (manual)"),
                "yes" if r["revoke"] else ("own strategies" if r["strategies"] else "no (human step)"),
                settings,
                r["origin"],
            )
        out_console.print(table)
        for b in broken:
            out_console.print(f"[red]failed to load[/red] {b['name']}: {b['reason']}")
    if broken:
        raise typer.Exit(ExitCode.FINDINGS)


def register(app: typer.Typer) -> None:
    """Attach ``adapters`` to the main app."""
    app.command("adapters")(adapters)
