"""The ``keyroll`` console script: a fast path for ``keyroll scan``, the full CLI for the rest.

``keyroll scan`` runs in pre-commit hooks and CI on every push, so its start-up counts: the full
CLI (:mod:`keyroll.cli.main`) loads typer, rich and pydantic — about a third of a second —
before it scans a byte. This module parses ``keyroll [--debug] [-q] scan …`` with ``argparse``
and calls :func:`keyroll.cli.scan_run.execute` directly, importing only what scanning needs.

Anything the fast path does not handle exactly like the full CLI — ``--help``, an unknown or
malformed option, a directory given where a FILE is expected — falls through to the full CLI,
so help texts and usage errors stay click's. Bad input the scan itself detects (a missing PATH,
conflicting flags) is one line on stderr and exit 2, as everywhere; Ctrl-C is one line and 130.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from pathlib import Path

from keyroll.core.errors import ExitCode, KeyrollError

__all__ = ["entry", "fast_scan"]

_STARTED = time.perf_counter()
_GLOBAL = {"--debug", "--quiet", "-q"}


class _Fallback(Exception):
    """The fast path cannot take these arguments: let the full CLI parse them."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Fallback(message)

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise _Fallback(message or "")


def _int_min1(value: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError(value)
    return n


def _parser() -> _Parser:
    from keyroll.scan.findings import Certainty
    from keyroll.scan.formats import FormatChoice

    p = _Parser(prog="keyroll scan", add_help=False, allow_abbrev=False)
    p.add_argument("paths", nargs="*", type=Path)
    p.add_argument("--git", action="store_true")
    p.add_argument("--all-refs", dest="all_refs", action="store_true")
    p.add_argument("--since")
    p.add_argument("--stdin", action="store_true")
    p.add_argument("--known-values", dest="known_values", type=Path)
    p.add_argument("--from-inventory", dest="from_inventory", type=Path)
    p.add_argument("--format", dest="fmt", type=FormatChoice, choices=list(FormatChoice))
    p.add_argument("--json", dest="json_out", action="store_true")
    p.add_argument("--out", "--output", "-o", dest="output", type=Path)
    p.add_argument("--baseline", type=Path)
    p.add_argument("--update-baseline", dest="update_baseline", action="store_true")
    p.add_argument("--jobs", "-j", type=_int_min1)
    p.add_argument("--min-confidence", dest="min_confidence", type=Certainty, choices=list(Certainty))
    p.add_argument("--max-file-size", dest="max_file_size", type=_int_min1)
    p.add_argument("--ignore-file", dest="ignore_file", type=Path)
    p.add_argument("--profile", action="store_true")
    for flag in _GLOBAL:  # accepted after the command too
        p.add_argument(flag, dest="_global_" + flag.strip("-"), action="store_true")
    return p


def _split(args: list[str]) -> list[str] | None:
    """The arguments after ``scan`` when ``args`` is ``[global flags] scan …``, else ``None``."""
    for i, arg in enumerate(args):
        if arg == "scan":
            return args[i + 1 :]
        if arg not in _GLOBAL:
            return None
    return None


def fast_scan(args: list[str]) -> int | None:
    """Run ``keyroll scan`` without the full CLI; ``None`` when the full CLI must handle ``args``."""
    rest = _split(args)
    if rest is None or any(a in ("--help", "-h") for a in rest):
        return None
    from keyroll.cli.scan_run import ScanArgs, execute

    try:
        ns = _parser().parse_intermixed_args(rest)
    except _Fallback:
        return None
    values = {k: v for k, v in vars(ns).items() if not k.startswith("_global_") and v is not None}
    for name in ("known_values", "from_inventory", "output", "baseline", "ignore_file"):
        if name in values and os.path.isdir(values[name]):
            return None  # click's "is a directory" message
    debug = "--debug" in args
    try:
        return execute(ScanArgs(**values), sys.stderr, started=_process_start())
    except KeyrollError as exc:
        if debug:
            raise
        sys.stderr.write(f"error: {exc.format_message()}\n")
        return int(exc.exit_code)
    except (KeyboardInterrupt, OSError):
        raise
    except Exception as exc:  # as the full CLI: one line, exit 3
        if debug:
            raise
        sys.stderr.write(f"internal error: {type(exc).__name__} — rerun with --debug for the traceback\n")
        return int(ExitCode.FAILED)


def _process_start() -> float:
    from keyroll.scan.profile import process_started

    t = process_started()
    return t if t is not None and t <= _STARTED else _STARTED


def entry() -> None:
    """Console-script entry point (``keyroll``, ``python -m keyroll``)."""
    args = sys.argv[1:]
    try:
        code = fast_scan(args)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted — nothing was changed\n")
        sys.exit(int(ExitCode.INTERRUPTED))
    except BrokenPipeError:
        code = _reader_gone()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        code = _reader_gone()
    if code is None:
        from keyroll.cli.main import entry as full_entry

        full_entry()
        return
    sys.exit(code)


def _reader_gone() -> int:
    """``keyroll scan | head``: the reader of stdout left (as the full CLI: exit 1, no noise)."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 1
