"""``keyroll harden``: least-privilege findings with evidence, and ``--fix`` for what keyroll can fix.

Exit codes: 0 no open finding, 1 open findings (after fixes), 2 bad input (nothing changed).
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from keyroll.cli.common import DryRunOpt, EnvFileOpt, YesOpt, err_console, get_config, out_console, state
from keyroll.config import Config
from keyroll.core.errors import ConsentRequired, ExitCode, UsageError
from keyroll.core.progress import NullProgress
from keyroll.harden import HardenOptions, HardenResult, Rule, SourceSpec, analyze_context, apply_fixes
from keyroll.harden.render import HardenFormat
from keyroll.harden.run import selected
from keyroll.providers.factory import open_providers

__all__ = ["register"]


class _StderrProgress(NullProgress):
    """Progress notes on stderr (quiet with ``-q``); no bars."""

    def note(self, message: str) -> None:
        if not state.quiet:
            err_console.print(f"[dim]{message}[/]")


def _rules(values: list[str]) -> tuple[Rule, ...]:
    out = []
    for v in values:
        try:
            out.append(Rule(v))
        except ValueError:
            raise UsageError(f"unknown rule {v}", hint=f"known: {', '.join(r.value for r in Rule)}") from None
    return tuple(out)


def harden_command(
    project: Annotated[
        list[str], typer.Option("--project", "-p", help="project name or id (repeatable)")
    ] = [],  # noqa: B006
    source: Annotated[
        list[str],
        typer.Option("--source", "-s", help="source root to analyse, PATH or PROJECT=PATH (repeatable)"),
    ] = [],  # noqa: B006
    fix: Annotated[bool, typer.Option("--fix", help="apply the fixes keyroll can apply")] = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    fmt: Annotated[HardenFormat, typer.Option("--format", "-f", help="output format")] = HardenFormat.TABLE,
    rule: Annotated[list[str], typer.Option("--rule", help="only this check (repeatable)")] = [],  # noqa: B006
    only: Annotated[list[str], typer.Option("--only", help="with --fix: only these finding ids")] = [],  # noqa: B006
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="write the report here (after the work succeeds)")
    ] = None,
    env_file: EnvFileOpt = None,
) -> None:
    """Least privilege after the rotation: find (and with --fix, fix) what widens the blast radius."""
    specs = tuple(SourceSpec.parse(s) for s in source)
    options = HardenOptions(
        projects=tuple(project),
        sources=specs,
        rules=_rules(rule),
        fix=fix,
        yes=yes,
        dry_run=dry_run,
        only=tuple(only),
    )
    cfg = get_config(env_file)
    result = asyncio.run(_run(cfg, options))
    _store(cfg, options, result)
    text = fmt.renderer().render(result)
    if out is not None:
        out.write_text(text, "utf-8")
        err_console.print(f"report written to {out}")
    elif fmt is HardenFormat.TABLE:
        out_console.print(text, end="", markup=False, highlight=False)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if result.open_findings:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _store(cfg: Config, options: HardenOptions, result: HardenResult) -> None:
    """Keep a full run's result next to the journal for ``keyroll report`` (a warning if it cannot)."""
    from keyroll.harden.latest import is_full_run, latest_path, save_latest

    if not is_full_run(options):
        return
    path = latest_path(cfg.journal_path)
    try:
        save_latest(path, result, checked_at=time.time(), sources=len(options.sources))
    except OSError as exc:
        err_console.print(f"[yellow]note:[/] the result could not be kept at {path}: {exc.strerror or exc}")


async def _run(cfg: object, options: HardenOptions) -> HardenResult:
    from keyroll.config import Config

    assert isinstance(cfg, Config)
    progress = _StderrProgress()
    async with open_providers(cfg) as providers:
        ctx, result = await analyze_context(providers, options, progress)
        if not options.fix:
            return result
        wanted = selected(result.findings, options.only) if options.only else list(result.findings)
        fixable = [f for f in wanted if f.fixable_by_keyroll and not f.fixed]
        if not fixable:
            return result
        yes = options.yes
        if not yes and not options.dry_run:
            if not sys.stdin.isatty():
                raise ConsentRequired(
                    f"{len(fixable)} fix(es) would change Vercel env vars, Redis ACL users or Upstash settings",
                    hint="review them with --fix --dry-run, then pass --yes",
                )
            err_console.print(f"[bold]{len(fixable)} fix(es):[/]")
            for f in fixable:
                err_console.print(f"  {f.id}: {f.title}")
            yes = typer.confirm("apply them?", default=False, err=True)
            if not yes:
                return result
        from dataclasses import replace

        return await apply_fixes(providers, ctx, result, replace(options, yes=yes), progress)


def register(app: typer.Typer) -> None:
    """Attach ``harden`` to the main app."""
    app.command("harden")(harden_command)
