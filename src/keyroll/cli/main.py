"""The ``keyroll`` command: a thin typer app over the library.

Each command module exposes ``register(app)``; :data:`COMMAND_MODULES` is the explicit
registry (no discovery magic). :func:`run` is the console-script entry point: it turns a
:class:`KeyrollError` into one clear line and its exit code, with no traceback unless
``--debug`` is given.
"""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from keyroll import __version__
from keyroll.cli.common import err_console, setup_logging, state
from keyroll.core.errors import ExitCode, KeyrollError

COMMAND_MODULES = (
    "keyroll.cli.config_cmd",
    "keyroll.cli.doctor_cmd",
    "keyroll.cli.sandbox_cmd",
    "keyroll.cli.inventory_cmd",
    "keyroll.cli.rotate_cmd",
    "keyroll.cli.verify_cmd",
    "keyroll.cli.report_cmd",
    "keyroll.cli.scan_cmd",
    "keyroll.cli.harden_cmd",
    "keyroll.cli.demo_cmd",
)

COMMANDS = {
    "config": "keyroll.cli.config_cmd",
    "doctor": "keyroll.cli.doctor_cmd",
    "sandbox": "keyroll.cli.sandbox_cmd",
    "inventory": "keyroll.cli.inventory_cmd",
    "plan": "keyroll.cli.rotate_cmd",
    "apply": "keyroll.cli.rotate_cmd",
    "status": "keyroll.cli.rotate_cmd",
    "resume": "keyroll.cli.rotate_cmd",
    "rollback": "keyroll.cli.rotate_cmd",
    "verify": "keyroll.cli.verify_cmd",
    "report": "keyroll.cli.report_cmd",
    "audit": "keyroll.cli.report_cmd",
    "scan": "keyroll.cli.scan_cmd",
    "harden": "keyroll.cli.harden_cmd",
    "demo": "keyroll.cli.demo_cmd",
}
"""Which module provides each command, so that a run imports only what it needs (``keyroll scan``
in a pre-commit hook should not pay for tree-sitter, the rotation engine …). A test keeps
this map and the modules' registrations in step."""

_registered: set[str] = set()

app = typer.Typer(
    name="keyroll",
    help="Rotate every Upstash credential that ever sat in Vercel — inventory, plan, apply, verify, report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="rich",
)


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


def _modules_for(args: list[str]) -> tuple[str, ...]:
    """The modules ``args`` needs: the named command's, or all of them for help/unknown input."""
    for arg in args:
        if arg in ("--help", "-h"):
            break
        if not arg.startswith("-"):
            module = COMMANDS.get(arg)
            return (module,) if module else COMMAND_MODULES
    return COMMAND_MODULES


def run(argv: list[str] | None = None) -> int:
    """Run the CLI in-process and return the exit code (tests call this; nothing exits)."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    register_modules(_modules_for(args))
    try:
        result = app(args=args, prog_name="keyroll", standalone_mode=False)
    except KeyrollError as exc:
        if debug:
            import traceback

            traceback.print_exc()
        err_console.print(f"[bold red]error:[/] {exc.format_message()}", markup=True, highlight=False)
        return int(exc.exit_code)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted — state is journaled; see `keyroll status`, then `keyroll resume`")
        return int(ExitCode.INTERRUPTED)
    except Exception as exc:  # click usage errors and the unexpected
        import click

        try:  # typer >= 0.20 vendors click as typer._click: its usage errors are other classes
            from typer._click.exceptions import ClickException as TyperClickException
        except ImportError:  # pragma: no cover - older typer uses click itself
            TyperClickException = click.exceptions.ClickException

        if isinstance(exc, (click.exceptions.ClickException, TyperClickException)):
            exc.show()
            return int(ExitCode.USAGE)
        if debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__} — rerun with --debug for the traceback"
        )
        return int(ExitCode.FAILED)
    return int(result) if isinstance(result, int) else 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(run())
