"""``keyroll scan``: find Upstash and Vercel credentials in files, git history or stdin.

Exit codes: 0 nothing found (after pragmas, baseline and ``--min-confidence``), 1 findings,
2 bad input (nothing scanned: a PATH that does not exist, conflicting flags). Odd inputs inside
a scan — unreadable, invalid UTF-8, huge, symlink loops — are counted in the summary line on
stderr, never fatal; binary files are searched byte for byte. ``--git`` on a path outside any
repository is counted as ``not git`` when other paths are repositories, and is bad input
(exit 2) when none is.

This module is the typer command (help, validation); the work is
:func:`keyroll.cli.scan_run.execute`, which ``keyroll scan`` usually reaches through the fast
path of :mod:`keyroll.cli.entry` without loading typer at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keyroll.cli.scan_run import ScanArgs, execute
from keyroll.scan.findings import Certainty
from keyroll.scan.formats import FormatChoice


def scan(
    paths: Annotated[list[Path] | None, typer.Argument(help="files or directories (default: .)")] = None,
    git: Annotated[
        bool, typer.Option("--git", help="scan the git history of the repositories holding PATHs")
    ] = False,
    all_refs: Annotated[
        bool, typer.Option("--all-refs", help="with --git: every branch and tag, not only HEAD")
    ] = False,
    since: Annotated[
        str | None, typer.Option("--since", metavar="REV", help="with --git: only commits after REV")
    ] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="scan standard input")] = False,
    known_values: Annotated[
        Path | None,
        typer.Option(
            "--known-values",
            metavar="FILE",
            help="also find these exact values (one per line)",
            dir_okay=False,
        ),
    ] = None,
    from_inventory: Annotated[
        Path | None,
        typer.Option(
            "--from-inventory",
            metavar="FILE",
            help="also find the credentials of this inventory JSON",
            dir_okay=False,
        ),
    ] = None,
    fmt: Annotated[FormatChoice, typer.Option("--format", help="report format")] = FormatChoice.TEXT,
    json_out: Annotated[bool, typer.Option("--json", help="same as --format json")] = False,
    output: Annotated[
        Path | None,
        typer.Option("--out", "--output", "-o", metavar="FILE", help="write the report here", dir_okay=False),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline", metavar="FILE", help="ignore findings accepted in this baseline", dir_okay=False
        ),
    ] = None,
    update_baseline: Annotated[
        bool, typer.Option("--update-baseline", help="write all current findings to --baseline and exit 0")
    ] = False,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", min=1, help="worker processes (default: one per idle core)")
    ] = None,
    min_confidence: Annotated[
        Certainty, typer.Option("--min-confidence", help="report only findings at least this sure")
    ] = Certainty.LOW,
    max_file_size: Annotated[
        int, typer.Option("--max-file-size", metavar="MIB", min=1, help="skip larger files")
    ] = 512,
    ignore_file: Annotated[
        Path | None,
        typer.Option("--ignore-file", metavar="FILE", help="extra .keyrollignore-style file", dir_okay=False),
    ] = None,
    profile: Annotated[
        bool,
        typer.Option(
            "--profile", help="print where the time went: start-up, walk, read, prefilter, detectors"
        ),
    ] = False,
) -> None:
    """Find Upstash (Redis, QStash, Vector, Search) and Vercel credentials; exit 1 if any."""
    code = execute(
        ScanArgs(
            paths=paths or [],
            git=git,
            all_refs=all_refs,
            since=since,
            stdin=stdin,
            known_values=known_values,
            from_inventory=from_inventory,
            fmt=fmt,
            json_out=json_out,
            output=output,
            baseline=baseline,
            update_baseline=update_baseline,
            jobs=jobs,
            min_confidence=min_confidence,
            max_file_size=max_file_size,
            ignore_file=ignore_file,
            profile=profile,
        )
    )
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Attach ``scan`` to the main app."""
    app.command("scan")(scan)
