"""``keyroll harden``: least-privilege findings with evidence, and ``--fix`` for what keyroll can fix.

Exit codes: 0 no open finding, 1 open findings (after fixes), 2 bad input (nothing changed).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from keyroll.app.harden import keep_for_report, run_harden
from keyroll.cli.common import DryRunOpt, EnvFileOpt, YesOpt, err_console, get_config, out_console, state
from keyroll.core.errors import ExitCode, UsageError
from keyroll.core.progress import NullProgress
from keyroll.harden import Finding, HardenOptions, Rule, SourceSpec
from keyroll.harden.render import HardenFormat

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
    confirm = _confirm if sys.stdin is not None and sys.stdin.isatty() else None
    result = asyncio.run(run_harden(cfg, options, _StderrProgress(), confirm=confirm))
    problem = keep_for_report(cfg, options, result)
    if problem:
        err_console.print(f"[yellow]note:[/] {problem}")
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


def _confirm(fixes: Sequence[Finding]) -> bool:
    """Ask on the terminal whether to apply ``fixes``."""
    err_console.print(f"[bold]{len(fixes)} fix(es):[/]")
    for f in fixes:
        err_console.print(f"  {f.id}: {f.title}")
    return typer.confirm("apply them?", default=False, err=True)


def register(app: typer.Typer) -> None:
    """Attach ``harden`` to the main app."""
    app.command("harden")(harden_command)
