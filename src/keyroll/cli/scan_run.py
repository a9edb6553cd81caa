"""What ``keyroll scan`` does, without typer: :class:`ScanArgs` in, exit code out.

Exit codes: 0 nothing found (after pragmas, baseline and ``--min-confidence``), 1 findings,
2 bad input (nothing scanned: a PATH that does not exist, conflicting flags). Odd inputs inside
a scan — unreadable, invalid UTF-8, huge, symlink loops — are counted in the summary line on
stderr, never fatal; binary files are searched byte for byte. ``--git`` on a path outside any
repository is counted as ``not git`` when other paths are repositories, and is bad input
(exit 2) when none is.

Both the typer command (:mod:`keyroll.cli.scan_cmd`) and the fast path of
:mod:`keyroll.cli.entry` (which parses ``keyroll scan …`` without importing typer, rich or
pydantic, so a pre-commit hook starts in a few tens of milliseconds) call :func:`execute`.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from keyroll.core.errors import ExitCode, UsageError
from keyroll.scan.findings import Certainty
from keyroll.scan.formats import FormatChoice

if TYPE_CHECKING:
    from keyroll.scan.engine import ScanOptions, ScanResult
    from keyroll.scan.profile import Profile

__all__ = ["ScanArgs", "execute"]


@dataclass
class ScanArgs:
    """The options of ``keyroll scan`` (see the typer command for their help)."""

    paths: list[Path] = field(default_factory=list)
    git: bool = False
    all_refs: bool = False
    since: str | None = None
    stdin: bool = False
    known_values: Path | None = None
    from_inventory: Path | None = None
    fmt: FormatChoice = FormatChoice.TEXT
    json_out: bool = False
    output: Path | None = None
    baseline: Path | None = None
    update_baseline: bool = False
    jobs: int | None = None
    min_confidence: Certainty = Certainty.LOW
    max_file_size: int = 512
    ignore_file: Path | None = None
    profile: bool = False


def execute(a: ScanArgs, err: TextIO | None = None, started: float | None = None) -> int:
    """Run a scan; report to stdout (or ``--output``), the summary to ``err``; return the exit code.

    ``started`` is when the process started (``--profile`` counts start-up from there).

    :raises KeyrollError: bad input (exit 2), before anything is scanned.
    """
    from keyroll.scan.engine import ScanOptions, recount
    from keyroll.scan.formats import FORMATS, summary_line
    from keyroll.scan.sources import load_inventory_fingerprints, load_known_values

    err = err or sys.stderr
    t_args = time.perf_counter()
    if (a.all_refs or a.since) and not a.git:
        raise UsageError("--all-refs and --since need --git", hint="add --git")
    if a.update_baseline and a.baseline is None:
        raise UsageError(
            "--update-baseline needs --baseline FILE", hint="add --baseline .keyroll-baseline.json"
        )
    if a.stdin and a.git:
        raise UsageError("--stdin and --git cannot be combined", hint="run them as two scans")
    missing = [str(p) for p in a.paths if not os.path.exists(p)]
    if missing:
        raise UsageError(f"not found: {', '.join(missing)}", hint="check the path; nothing was scanned")
    options = ScanOptions(
        jobs=a.jobs,
        max_file_bytes=a.max_file_size * 1024 * 1024,
        min_confidence=a.min_confidence,
        known_values=load_known_values(a.known_values) if a.known_values else (),
        fingerprints=load_inventory_fingerprints(a.from_inventory) if a.from_inventory else frozenset(),
        ignore_file=a.ignore_file,
    )
    accepted = None
    if a.baseline and not a.update_baseline:
        from keyroll.scan.baseline import load_baseline

        accepted = load_baseline(a.baseline)
    profile = _new_profile(started, t_args) if a.profile else None

    result = _run(a, options, profile)

    def say(line: str) -> None:
        err.write(line + "\n")
        err.flush()

    if a.update_baseline:
        from keyroll.scan.baseline import write_baseline

        assert a.baseline is not None
        n = write_baseline(a.baseline, result.findings)
        say(summary_line(result.summary))
        say(f"baseline written: {a.baseline} ({n} entr{'y' if n == 1 else 'ies'})")
        return 0
    if accepted is not None:
        result.findings, old = accepted.split(result.findings)
        result.summary.baselined = len(old)
        recount(result)
    findings = result.findings

    report = FORMATS[FormatChoice.JSON if a.json_out else a.fmt]().render(findings, result.summary)
    if a.output is not None:
        try:
            a.output.write_text(report, encoding="utf-8")
        except OSError as exc:
            raise UsageError(
                f"cannot write --output {a.output}: {exc.strerror}", hint="check the path"
            ) from None
    else:
        sys.stdout.write(report)
        sys.stdout.flush()
    for warning in result.summary.warnings:
        say(f"warning: {warning}")
    say(summary_line(result.summary))
    if profile is not None:
        profile.mark("report")
        say(profile.render())
    return int(ExitCode.FINDINGS) if findings else 0


def _new_profile(started: float | None, t_args: float) -> Profile:
    from keyroll.scan.profile import Profile

    return Profile(started=started if started is not None else t_args, scan_started=t_args)


def _run(a: ScanArgs, options: ScanOptions, profile: Profile | None) -> ScanResult:
    from keyroll.scan.engine import recount, scan_paths, scan_stdin

    if a.git:
        from keyroll.scan.git import scan_git

        return scan_git(a.paths or [Path(".")], options, all_refs=a.all_refs, since=a.since, profile=profile)
    if a.stdin and not a.paths:
        return scan_stdin(sys.stdin.buffer, options, profile=profile)
    result = scan_paths(a.paths or [Path(".")], options, profile=profile)
    if a.stdin:
        extra = scan_stdin(sys.stdin.buffer, options, profile=profile)
        result.findings.extend(extra.findings)
        result.summary.merge(extra.summary)
        result.summary.seconds += extra.summary.seconds
        recount(result)
    return result
