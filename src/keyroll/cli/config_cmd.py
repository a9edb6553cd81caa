"""``keyroll config show``: the effective configuration, tokens as fingerprints, and the
``keyroll.toml`` ``[strategy]`` / ``[policy]`` choices with where each came from."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from keyroll.app.options import effective_policy
from keyroll.cli.common import EnvFileOpt, JsonOpt, OutOpt, emit_json, get_config, out_console, output_to
from keyroll.config.policy import effective_strategies

config_app = typer.Typer(help="Inspect keyroll's configuration.", no_args_is_help=True)


@config_app.command("show")
def show(env_file: EnvFileOpt = None, json_out: JsonOpt = False, out: OutOpt = None) -> None:
    """Show the effective configuration; tokens appear as fingerprints only."""
    with output_to(out):
        _show(env_file, json_out)


def _show(env_file: Path | None, json_out: bool) -> None:
    cfg = get_config(env_file)
    rows: dict[str, dict[str, str]] = {}
    for name, tok in cfg.tokens().items():
        rows[name] = {"value": tok.fingerprint if tok else "(not set)", "source": cfg.sources.get(name, "")}
    plain = {
        "VERCEL_TEAM_ID": cfg.vercel_team_id,
        "UPSTASH_EMAIL": cfg.upstash_email,
        "KEYROLL_VERCEL_API_URL": cfg.vercel_api_url,
        "KEYROLL_UPSTASH_API_URL": cfg.upstash_api_url,
        "KEYROLL_QSTASH_URL": cfg.qstash_url,
        "KEYROLL_GITHUB_API_URL": cfg.github_api_url,
        "KEYROLL_JOURNAL": str(cfg.journal_path),
        "KEYROLL_JOURNAL_KEY": cfg.journal_key.fingerprint if cfg.journal_key else "(not set)",
    }
    for name, value in plain.items():
        rows[name] = {"value": value or "(not set)", "source": cfg.sources.get(name, "")}
    from keyroll.adapters.registry import get_registry

    secret_settings = get_registry().secret_setting_names()
    for name in sorted(get_registry().setting_names()):  # the provider adapters' settings
        setting_value = cfg.adapter_settings.get(name)
        if setting_value is None:
            shown = "(not set)"
        elif name in secret_settings:
            shown = setting_value.fingerprint
        else:
            shown = setting_value.reveal()
        rows[name] = {"value": shown, "source": cfg.sources.get(name, "")}
    for key, setting in effective_strategies(cfg).items():
        rows[f"strategy.{key}"] = {"value": str(setting.value), "source": setting.source}
    for key, setting in effective_policy(cfg).items():
        value = str(setting.value).lower() if isinstance(setting.value, bool) else f"{setting.value:g}"
        rows[f"policy.{key}"] = {"value": value, "source": setting.source}
    if json_out:
        emit_json({"config": rows, "warnings": list(cfg.warnings)})
        return
    table = Table(title="keyroll configuration")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("source")
    for name, row in rows.items():
        table.add_row(name, escape(row["value"]), escape(row["source"]))
    out_console.print(table)


def register(app: typer.Typer) -> None:
    """Attach ``config`` to the main app."""
    app.add_typer(config_app, name="config")
