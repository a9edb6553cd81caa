"""What a person at the terminal gives a run: consent, the journal passphrase, human steps, and
new values for the ``manual`` strategy (``--value-file``, else stdin — never argv).

:func:`interaction` bundles them into the :class:`keyroll.app.apply.Interaction` the workflows
take; the workflows decide *when* to ask, this module only asks.
"""

from __future__ import annotations

import asyncio
import getpass
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer

from keyroll.app.apply import Interaction
from keyroll.cli.common import err_console
from keyroll.cli.rotate_common import policy_note
from keyroll.core.errors import ExitCode, RotationError, UsageError
from keyroll.core.model import Step
from keyroll.core.progress import Progress
from keyroll.core.secret import Secret
from keyroll.rotate.options import HumanActions

__all__ = [
    "ANY_CREDENTIAL",
    "ConsoleHuman",
    "FileSecretSource",
    "interaction",
    "parse_value_files",
    "read_value_file",
]

ANY_CREDENTIAL = "*"
"""``--value-file PATH`` without ``FP=``: the value of the plan's one manual credential."""
_FP_REF = re.compile(r"^(?:sha256:)?[0-9a-f]{4,64}$")


class ConsoleHuman:
    """Human steps on a terminal: pause the live progress, print the instructions, wait for the
    person to confirm."""

    def __init__(self, progress: Any = None) -> None:
        self._live = getattr(progress, "_bars", None)
        self._lock = asyncio.Lock()

    async def perform(self, step: Step, instructions: str) -> None:
        """Show ``instructions`` on stderr and wait for confirmation (one person, one at a time).

        :raises RotationError: the person declined.
        """
        async with self._lock:
            if self._live is not None:
                self._live.stop()
            try:
                err_console.print(f"\n[bold yellow]action needed[/] ({step.id}): {instructions}")
                done = await asyncio.to_thread(typer.confirm, "Done?", default=True, err=True)
            finally:
                if self._live is not None:
                    self._live.start()
        if not done:
            raise RotationError(f"{step.id}: not done", hint="run `keyroll resume` when it is")


class FileSecretSource:
    """New values for the ``manual`` strategy: ``--value-file FP=PATH``, else stdin (never argv)."""

    def __init__(self, files: dict[str, Path]) -> None:
        self.files = files
        self._any_used: set[str] = set()

    async def new_value(self, step: Step, description: str) -> Secret:
        """Read the value for ``step.credential``.

        :raises UsageError: no file for it and stdin is not available.
        """
        for ref, path in self.files.items():
            if ref == ANY_CREDENTIAL:
                continue
            fp = ref if ref.startswith("sha256:") else f"sha256:{ref}"
            if step.credential.startswith(fp):
                return read_value_file(path)
        if ANY_CREDENTIAL in self.files:
            self._any_used.add(step.credential)
            if len(self._any_used) > 1:
                raise UsageError(
                    f"--value-file {self.files[ANY_CREDENTIAL]} names no credential and the plan rotates "
                    f"{len(self._any_used)} manual credentials",
                    hint="give each its own --value-file FP=PATH",
                )
            return read_value_file(self.files[ANY_CREDENTIAL])
        if sys.stdin.isatty():
            value = await asyncio.to_thread(getpass.getpass, f"{description} (input hidden): ")
            return Secret(value.strip())
        data = await asyncio.to_thread(sys.stdin.read)
        if not data.strip():
            raise UsageError(
                f"no value for {step.credential}", hint="pass --value-file FP=PATH or pipe it on stdin"
            )
        return Secret(data.strip())


def read_value_file(path: Path) -> Secret:
    """The new value in ``path``, without surrounding white space (a trailing newline, spaces).

    :raises UsageError: the file cannot be read, or holds nothing but white space.
    """
    try:
        value = path.read_text("utf-8").strip()
    except OSError as exc:
        raise UsageError(
            f"--value-file: cannot read {path}: {exc.strerror}", hint="check the path and its permissions"
        ) from None
    except UnicodeDecodeError:
        raise UsageError(f"--value-file: {path} is not UTF-8 text") from None
    if not value:
        raise UsageError(f"--value-file: {path} is empty", hint="write the new value into it (one line)")
    return Secret(value)


def parse_value_files(items: list[str] | None) -> dict[str, Path]:
    """``FP=PATH`` pairs (or one bare ``PATH``); every file is checked here, before anything is
    planned or written.

    :raises UsageError: a malformed pair, or a file that cannot be read or is empty.
    """
    out: dict[str, Path] = {}
    for item in items or ():
        ref, sep, path = item.partition("=")
        if not sep or not _FP_REF.match(ref):
            read_value_file(Path(item))
            out[ANY_CREDENTIAL] = Path(item)
            continue
        if not sep or not ref or not path:
            raise UsageError(f"--value-file expects FP=PATH, got {item.split('=', 1)[0]!r}=…")
        read_value_file(Path(path))
        out[ref] = Path(path)
    return out


def _confirm(question: str, destructive: Sequence[str]) -> None:
    """List the destructive steps (if any) and ask; declining exits 2 (nothing changed)."""
    if destructive:
        err_console.print("[bold]destructive steps[/] (journaled before they run):")
        for description in destructive:
            err_console.print(f"  • {description}")
    if not typer.confirm(question, default=False, err=True):
        raise typer.Exit(int(ExitCode.USAGE))


def _passphrase() -> Secret:
    return Secret(getpass.getpass("journal passphrase (32+ characters): "))


def interaction(files: dict[str, Path] | None = None) -> Interaction:
    """The terminal's :class:`Interaction`: prompts only when stdin is a terminal; ``files`` are
    the ``--value-file`` values for the manual strategy."""
    tty = sys.stdin.isatty()

    def human(progress: Progress) -> HumanActions | None:
        return ConsoleHuman(progress) if tty else None

    passphrase: Callable[[], Secret] | None = _passphrase if tty else None
    return Interaction(
        interactive=tty,
        confirm=_confirm,
        passphrase=passphrase,
        human=human,
        secret_source=FileSecretSource(files or {}),
        note=policy_note,
    )
