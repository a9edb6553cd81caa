"""The one on-screen progress view every command shares.

:class:`ProgressView` implements the :class:`keyroll.core.progress.Progress` observer (and the
demo's ``DemoReporter``) with rich bars on a console plus a short live log of notes printed
above the bars. On a terminal the bars animate and vanish when the work ends; anywhere else
(a pipe, a file, CI) there are no bars and the notes are printed as plain lines.
:class:`QuietView` is the same interface doing nothing, for ``--quiet`` and ``--json``.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TaskID, TextColumn
from rich.progress import Progress as Bars

from keyroll.core.progress import NullProgress, Progress

__all__ = ["MAX_NOTES", "ProgressView", "QuietView", "View", "open_view"]

MAX_NOTES = 20
"""Notes a view prints by default before it only counts them."""


class View(Progress, Protocol):
    """What a command holds: a progress observer that is also a context manager (bars run
    inside the ``with``) and takes phase headlines."""

    def __enter__(self) -> View: ...

    def __exit__(self, *exc: object) -> None: ...

    def phase(self, title: str, detail: str = "") -> None:
        """A headline for a new phase of the work."""
        ...


class ProgressView:
    """Rich progress bars on ``console`` (stderr for every command) and a live log of notes.

    :param max_notes: print at most this many notes, then one "… N more notes" line when the
        view closes (``None``: print them all; the demo's live log).
    :param counted: notes containing any of these strings are counted in
        :attr:`counted_notes` instead of printed (per-deployment chatter in the demo).
    :param timestamps: prefix phases and notes with the seconds since the view was made.

    Thread-safe: the demo's load generator and the engine report from different threads.
    Nothing here fails; notes are printed as text (rich markup in them is escaped).
    """

    def __init__(
        self,
        console: Console,
        *,
        max_notes: int | None = MAX_NOTES,
        counted: tuple[str, ...] = (),
        timestamps: bool = False,
    ) -> None:
        self._console = console
        # ``_bars`` is the live display: prompts.ConsoleHuman stops and restarts it around a prompt.
        self._bars = Bars(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=console,
            transient=True,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._max_notes = max_notes
        self._counted = counted
        self._timestamps = timestamps
        self.notes = 0
        """Notes printed or held back by ``max_notes`` (counted ones excluded)."""
        self.counted_notes = 0
        """Notes matching ``counted``: counted, not printed."""

    def __enter__(self) -> ProgressView:
        # off a terminal rich draws no bars, and its Progress.stop prints a stray blank line
        if self._console.is_terminal:
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars.live.is_started:
            self._bars.stop()
        if self._max_notes is not None and self.notes > self._max_notes:
            self._console.print(f"[dim]… {self.notes - self._max_notes} more notes[/]")

    def _prefix(self, width: int = 0) -> str:
        if not self._timestamps:
            return ""
        return f"[dim]{time.monotonic() - self._started:6.1f}s[/] " + " " * width

    def phase(self, title: str, detail: str = "") -> None:
        """Print a phase headline above the bars."""
        self._bars.console.print(
            f"{self._prefix()}[bold cyan]{escape(title):<9}[/] {escape(detail)}", highlight=False
        )

    def task(self, name: str, total: int | None = None) -> str:
        """Start a bar (``total=None``: indeterminate); a name already started is reused."""
        with self._lock:
            if name not in self._tasks:
                self._tasks[name] = self._bars.add_task(name, total=total)
        return name

    def advance(self, task_id: str, n: int = 1, *, total: int | None = None) -> None:
        """Advance a bar, optionally changing its total; unknown ids are ignored."""
        tid = self._tasks.get(task_id)
        if tid is None:
            return
        if total is not None:
            self._bars.update(tid, total=total)
        if n:
            self._bars.advance(tid, n)

    def finish(self, task_id: str) -> None:
        """Fill a bar (an indeterminate one becomes 1 of 1); unknown ids are ignored."""
        tid = self._tasks.get(task_id)
        if tid is None:
            return
        task = next((t for t in self._bars.tasks if t.id == tid), None)
        total = task.total if task is not None and task.total is not None else 1
        self._bars.update(tid, total=total, completed=total)

    def note(self, message: str) -> None:
        """Print a one-line event above the bars (or count it, see ``counted`` and ``max_notes``).
        Lines starting ``demo:`` (what the demo does on the person's behalf) stand out in yellow."""
        with self._lock:
            if any(c in message for c in self._counted):
                self.counted_notes += 1
                return
            self.notes += 1
            if self._max_notes is not None and self.notes > self._max_notes:
                return
        style = "yellow" if message.startswith("demo:") else "dim"
        self._bars.console.print(
            f"{self._prefix(10)}[{style}]{escape(message)}[/]", markup=True, highlight=False
        )


class QuietView(NullProgress):
    """The view for ``--quiet`` and ``--json``: ignores everything."""

    def __enter__(self) -> QuietView:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def phase(self, title: str, detail: str = "") -> None:
        """Ignored."""
        return None


def open_view(
    console: Console,
    *,
    quiet: bool,
    max_notes: int | None = MAX_NOTES,
    counted: tuple[str, ...] = (),
    timestamps: bool = False,
) -> View:
    """A :class:`ProgressView` on ``console``, or a :class:`QuietView` when ``quiet``."""
    if quiet:
        return QuietView()
    return ProgressView(console, max_notes=max_notes, counted=counted, timestamps=timestamps)
