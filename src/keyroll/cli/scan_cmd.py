"""``keyroll scan``: find Upstash and Vercel credentials in files, git history or stdin.

Exit codes: 0 nothing found (after pragmas, baseline and ``--min-confidence``), 1 findings,
2 bad input (nothing scanned). Odd inputs inside a scan — binary, unreadable, invalid UTF-8,
huge, symlink loops — are counted in the summary line on stderr, never fatal. ``--git`` on a
path outside any repository is counted as ``not git`` when other paths are repositories, and
is bad input (exit 2) when none is.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from keyroll.cli.common import err_console
from keyroll.core.errors import ExitCode, UsageError
from keyroll.scan.baseline import load_baseline, write_baseline
from keyroll.scan.engine import ScanOptions, ScanResult, recount, scan_paths, scan_stdin
from keyroll.scan.findings import Certainty
from keyroll.scan.formats import FORMATS, FormatChoice, summary_line
from keyroll.scan.git import scan_git
from keyroll.scan.sources import load_inventory_fingerprints, load_known_values


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
        int | None, typer.Option("--jobs", "-j", min=1, help="worker processes (default: one per core)")
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
) -> None:
    """Find Upstash (Redis, QStash, Vector, Search) and Vercel credentials; exit 1 if any."""
    if (all_refs or since) and not git:
        raise UsageError("--all-refs and --since need --git", hint="add --git")
    if update_baseline and baseline is None:
        raise UsageError(
            "--update-baseline needs --baseline FILE", hint="add --baseline .keyroll-baseline.json"
        )
    if stdin and git:
        raise UsageError("--stdin and --git cannot be combined", hint="run them as two scans")
    options = ScanOptions(
        jobs=jobs,
        max_file_bytes=max_file_size * 1024 * 1024,
        min_confidence=min_confidence,
        known_values=load_known_values(known_values) if known_values else (),
        fingerprints=load_inventory_fingerprints(from_inventory) if from_inventory else frozenset(),
        ignore_file=ignore_file,
    )
    accepted = load_baseline(baseline) if baseline and not update_baseline else None

    result = _run(paths or [], git=git, all_refs=all_refs, since=since, stdin=stdin, options=options)

    if update_baseline:
        assert baseline is not None
        n = write_baseline(baseline, result.findings)
        err_console.print(summary_line(result.summary), highlight=False, markup=False)
        err_console.print(
            f"baseline written: {baseline} ({n} entr{'y' if n == 1 else 'ies'})",
            highlight=False,
            markup=False,
        )
        return
    if accepted is not None:
        result.findings, old = accepted.split(result.findings)
        result.summary.baselined = len(old)
        recount(result)
    findings = result.findings

    report = FORMATS[FormatChoice.JSON if json_out else fmt]().render(findings, result.summary)
    if output is not None:
        try:
            output.write_text(report, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write --output {output}: {exc.strerror}", hint="check the path"
            ) from None
    else:
        sys.stdout.write(report)
        sys.stdout.flush()
    for warning in result.summary.warnings:
        err_console.print(f"warning: {warning}", highlight=False, markup=False)
    err_console.print(summary_line(result.summary), highlight=False, markup=False)
    if findings:
        raise typer.Exit(int(ExitCode.FINDINGS))


def _run(
    paths: list[Path], *, git: bool, all_refs: bool, since: str | None, stdin: bool, options: ScanOptions
) -> ScanResult:
    if git:
        return scan_git(paths or [Path(".")], options, all_refs=all_refs, since=since)
    if stdin and not paths:
        return scan_stdin(sys.stdin.buffer, options)
    result = scan_paths(paths or [Path(".")], options)
    if stdin:
        extra = scan_stdin(sys.stdin.buffer, options)
        result.findings.extend(extra.findings)
        result.summary.merge(extra.summary)
        result.summary.seconds += extra.summary.seconds
        recount(result)
    return result


def register(app: typer.Typer) -> None:
    """Attach ``scan`` to the main app."""
    app.command("scan")(scan)
