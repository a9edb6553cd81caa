"""The ``keyroll`` command: a thin typer app over the library.

Each command module exposes ``register(app)``; :data:`COMMAND_MODULES` is the explicit
registry (no discovery magic). :func:`run` is the console-script entry point: it turns a
:class:`KeyrollError` into one clear line and its exit code, with no traceback unless
``--debug`` is given, and Ctrl-C into one line saying what it left behind (exit 130).

:func:`run` drives the click command itself (``make_context`` + ``invoke``) rather than calling
``app(...)``: typer's ``main`` turns a KeyboardInterrupt into a silent ``Exit(130)`` (typer
0.29, ``typer/core.py`` ``_main``), and by then there is no telling it from an exit code a command
chose, so the interrupt has to be caught before typer sees it.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from typing import Annotated, Any, cast

import rich.markup
import typer

from keyroll import __version__
from keyroll.cli.common import err_console, setup_logging, state, with_out_option
from keyroll.core.errors import ExitCode, KeyrollError

COMMAND_MODULES = (
    "keyroll.cli.config_cmd",
    "keyroll.cli.doctor_cmd",
    "keyroll.cli.sandbox_cmd",
    "keyroll.cli.inventory_cmd",
    "keyroll.cli.preflight_cmd",
    "keyroll.cli.plan_cmd",
    "keyroll.cli.apply_cmd",
    "keyroll.cli.run_cmd",
    "keyroll.cli.verify_cmd",
    "keyroll.cli.report_cmd",
    "keyroll.cli.scan_cmd",
    "keyroll.cli.harden_cmd",
    "keyroll.cli.demo_cmd",
    "keyroll.cli.adapters_cmd",
)

COMMANDS = {
    "config": "keyroll.cli.config_cmd",
    "doctor": "keyroll.cli.doctor_cmd",
    "sandbox": "keyroll.cli.sandbox_cmd",
    "inventory": "keyroll.cli.inventory_cmd",
    "preflight": "keyroll.cli.preflight_cmd",
    "plan": "keyroll.cli.plan_cmd",
    "apply": "keyroll.cli.apply_cmd",
    "status": "keyroll.cli.run_cmd",
    "resume": "keyroll.cli.run_cmd",
    "rollback": "keyroll.cli.run_cmd",
    "abandon": "keyroll.cli.run_cmd",
    "verify": "keyroll.cli.verify_cmd",
    "report": "keyroll.cli.report_cmd",
    "audit": "keyroll.cli.report_cmd",
    "scan": "keyroll.cli.scan_cmd",
    "harden": "keyroll.cli.harden_cmd",
    "demo": "keyroll.cli.demo_cmd",
    "adapters": "keyroll.cli.adapters_cmd",
}
"""Which module provides each command, so that a run imports only what it needs (``keyroll scan``
in a pre-commit hook should not pay for tree-sitter, the rotation engine …). A test keeps
this map and the modules' registrations in step."""

JOURNALED = "state is journaled; see `keyroll status`, then `keyroll resume`"
NOTHING_CHANGED = "nothing was changed"
INTERRUPTED_LEAVES = {
    "apply": JOURNALED,
    "resume": JOURNALED,
    "rollback": JOURNALED,
    "abandon": JOURNALED,
    "demo": "the demo's sandbox is stopped; nothing outside it was changed",
    "sandbox": "the sandbox is stopped; nothing outside its state dir was changed",
}
"""What an interrupted command leaves behind, for the Ctrl-C line; a command not listed here
(or run with ``--dry-run``) changes nothing. ``harden`` changes things only with ``--fix``."""
HARDEN_FIX_INTERRUPTED = "some fixes may be applied already; run `keyroll harden` again to see what is open"

OUT_COMMANDS = ("apply", "resume", "rollback", "status", "demo")
"""Commands that get ``--out/-o`` from :func:`keyroll.cli.common.with_out_option` at registration
(the others declare it themselves), so that ``--out`` works everywhere."""

_registered: set[str] = set()

app = typer.Typer(
    name="keyroll",
    help="Rotate every Upstash credential that ever sat in Vercel — inventory, plan, apply, verify, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

GLOBAL_FLAGS = ("--debug", "--quiet", "-q")
"""The main callback's flags (they take no value); :func:`hoist_global_flags` lets them follow
the command as well (``keyroll inventory --debug``)."""


def _version(value: bool) -> None:
    if value:
        print(f"keyroll {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    debug: Annotated[bool, typer.Option("--debug", help="show tracebacks and debug logs")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="less output")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """keyroll — credential-leak response for Vercel + Upstash."""
    state.debug = debug
    state.quiet = quiet
    setup_logging(debug)


def register_modules(names: tuple[str, ...] = COMMAND_MODULES) -> None:
    """Import and register command modules (each at most once)."""
    for name in names:
        if name in _registered:
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # command not built yet
                continue
            raise
        module.register(app)
        _registered.add(name)
    for info in app.registered_commands:
        if info.name in OUT_COMMANDS and info.callback is not None:
            info.callback = with_out_option(info.callback)


def _command_of(args: list[str]) -> str | None:
    """The command ``args`` names (the first word: the global options take no value), or None
    when help comes first or there is no command."""
    for arg in args:
        if arg in ("--help", "-h"):
            return None
        if not arg.startswith("-"):
            return arg
    return None


def hoist_global_flags(args: list[str]) -> list[str]:
    """``args`` with the global flags that follow the command moved in front of it, so that
    ``keyroll inventory --debug`` means ``keyroll --debug inventory``. Nothing after ``--`` moves,
    and no command defines an option of the same name."""
    command = _command_of(args)
    if command is None:
        return list(args)
    at = args.index(command)
    head, tail = list(args[: at + 1]), list(args[at + 1 :])
    moved: list[str] = []
    rest: list[str] = []
    for i, arg in enumerate(tail):
        if arg == "--":
            rest.extend(tail[i:])
            break
        (moved if arg in GLOBAL_FLAGS else rest).append(arg)
    return head[:at] + moved + head[at:] + rest


def _modules_for(args: list[str]) -> tuple[str, ...]:
    """The modules ``args`` needs: the named command's, or all of them for help/unknown input."""
    module = COMMANDS.get(_command_of(args) or "")
    return (module,) if module else COMMAND_MODULES


def interrupt_message(args: list[str]) -> str:
    """The one line printed when the command ``args`` runs is interrupted: what happened and
    what was left behind (and what to do about it)."""
    command = _command_of(args)
    leaves = INTERRUPTED_LEAVES.get(command or "", NOTHING_CHANGED)
    if command == "sandbox" and "up" not in args:
        leaves = NOTHING_CHANGED
    if command == "harden" and "--fix" in args:
        leaves = HARDEN_FIX_INTERRUPTED
    if "--dry-run" in args:
        leaves = NOTHING_CHANGED
    return f"interrupted — {leaves}"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return the exit code (tests call this; nothing exits).

    Ctrl-C (or SIGTERM in the demo) anywhere — while the modules load, inside a command, inside
    its ``asyncio.run`` — and Ctrl-C or end of input at a prompt print :func:`interrupt_message`
    on stderr and return 130, with no traceback unless ``--debug``.
    """
    args = hoist_global_flags(sys.argv[1:] if argv is None else list(argv))
    debug = "--debug" in args
    try:
        register_modules(_modules_for(args))
        return _invoke(args, debug)
    except (KeyboardInterrupt, typer.Abort, EOFError):
        if debug:
            import traceback

            traceback.print_exc()
        err_console.print(interrupt_message(args), markup=False, highlight=False)
        return int(ExitCode.INTERRUPTED)


def _invoke(args: list[str], debug: bool) -> int:
    """Parse ``args`` and run the command, mapping errors to one line and an exit code.
    KeyboardInterrupt, Abort and EOFError propagate to :func:`run`."""
    command = typer.main.get_command(app)
    try:
        with command.make_context("keyroll", args) as ctx:
            result = command.invoke(ctx)
    except KeyrollError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        # escaped: messages name config tables such as "keyroll.toml [policy]", which are not markup
        err_console.print(
            f"[bold red]error:[/] {rich.markup.escape(exc.format_message())}", markup=True, highlight=False
        )
        return int(exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (typer.Abort, EOFError):
        raise
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            return _internal_error(exc, debug)
        return _reader_gone()
    except Exception as exc:  # click usage errors and the unexpected
        return _internal_error(exc, debug)
    return int(result) if isinstance(result, int) else 0


def _reader_gone() -> int:
    """``keyroll … | head``: the reader of stdout left. Point stdout at /dev/null so that nothing
    more fails (nor the flush at exit), and exit 1 as click does."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (in-process tests)
        pass
    return 1


def _internal_error(exc: Exception, debug: bool) -> int:
    """A click usage error (exit 2, click's message) or an unexpected error (one line, exit 3;
    re-raised with ``--debug``)."""
    if isinstance(exc, _click_exceptions()):
        cast(Any, exc).show()
        return int(ExitCode.USAGE)
    if debug:
        raise exc
    err_console.print(
        f"[bold red]internal error:[/] {type(exc).__name__} — rerun with --debug for the traceback"
    )
    return int(ExitCode.FAILED)


def _click_exceptions() -> tuple[type[Exception], ...]:
    """click's ``ClickException``: typer >= 0.20 vendors click as ``typer._click`` (other classes
    than an installed click's); older typer uses click itself."""
    classes = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            classes.append(importlib.import_module(name).ClickException)
        except ImportError:
            continue
    return tuple(classes)


def entry() -> None:
    """Console-script entry point (``keyroll``, ``python -m keyroll``): :func:`run`, then exit
    with its code. A second Ctrl-C while the first is being reported still exits 130 quietly."""
    try:
        code = run()
    except KeyboardInterrupt:
        code = int(ExitCode.INTERRUPTED)
    sys.exit(code)
