"""Shared CLI plumbing: options, config loading, consoles, JSON output, logging setup.

Commands parse, build library objects, call one library function, render, and map errors
to exit codes; they hold no logic of their own.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from keyroll.config import Config, load_config
from keyroll.core.redact import RedactingFilter
from keyroll.core.serde import to_jsonable

__all__ = [
    "DryRunOpt",
    "EnvFileOpt",
    "GitReposOpt",
    "JsonOpt",
    "OldValuePathsOpt",
    "OutOpt",
    "RunIdOpt",
    "YesOpt",
    "emit_json",
    "err_console",
    "get_config",
    "out_console",
    "output_to",
    "setup_logging",
    "state",
    "with_out_option",
]

out_console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class _State:
    debug: bool = False
    quiet: bool = False


state = _State()

EnvFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="dotenv file with VERCEL_TOKEN, UPSTASH_API_KEY, … (tokens are never taken from argv)",
        dir_okay=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", dir_okay=False, help="write the output to this file instead of stdout"),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="show what would happen; change nothing")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="consent to destructive steps without a prompt")]
RunIdOpt = Annotated[str | None, typer.Option("--run", help="journal run id (default: the latest)")]
OldValuePathsOpt = Annotated[
    list[Path] | None,
    typer.Option("--path", help="file or directory to search for old values (repeatable)"),
]
GitReposOpt = Annotated[
    list[Path] | None,
    typer.Option("--git-repo", help="git work tree whose history to search (repeatable)"),
]


def get_config(env_file: Path | None) -> Config:
    """Load the effective config and print its warnings (keys only, never values) to stderr."""
    cfg = load_config(env_file)
    for w in cfg.warnings:
        err_console.print(f"[yellow]warning:[/] {w}")
    return cfg


def emit_json(obj: Any) -> None:
    """Write a model object as JSON on stdout (secrets become fingerprints)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def output_to(out: Path | None) -> Iterator[None]:
    """Send what the command prints on stdout (tables, ``--json``) to ``out`` instead.

    The file is written once the command has finished — also when it ends with an exit code
    (``typer.Exit``, e.g. 1 for findings) — and never after an error, so that a half-done
    report does not replace a good one. Mode 0600: a report names where credentials live.
    """
    if out is None:
        yield
        return
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield
    except typer.Exit:
        _write_private(out, buffer.getvalue())
        raise
    _write_private(out, buffer.getvalue())


def with_out_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with an ``--out/-o`` option that sends its stdout to a file (:func:`output_to`).

    For commands whose module is not this change's to edit (``apply``, ``resume``, ``rollback``,
    ``status``): :data:`keyroll.cli.main.OUT_COMMANDS` lists them explicitly. A command that
    declares ``out`` itself is returned unchanged.
    """
    sig = inspect.signature(fn, eval_str=True)
    if "out" in sig.parameters:
        return fn

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        out = kwargs.pop("out", None)
        with output_to(out):
            return fn(*args, **kwargs)

    extra = inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=OutOpt)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
    return wrapper


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    err_console.print(f"wrote {path}", highlight=False)


def setup_logging(debug: bool) -> None:
    """Configure logging once, in the CLI callback, with the redaction filter attached."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("keyroll")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    root.propagate = False
