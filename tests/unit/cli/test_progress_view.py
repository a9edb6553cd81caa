"""The shared progress view: bars on a terminal only, notes as plain lines, limits and counting."""

from __future__ import annotations

import io

from rich.console import Console

from keyroll.cli.progress_view import MAX_NOTES, ProgressView, QuietView, open_view


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, force_terminal=terminal, width=100, color_system=None), buf


def _bar(view: ProgressView, task_id: str) -> tuple[float | None, float]:
    task = next(t for t in view._bars.tasks if t.description == task_id)
    return task.total, task.completed


def test_bars_count_and_finish() -> None:
    console, _ = _console(terminal=False)
    with ProgressView(console) as view:
        projects = view.task("projects", total=3)
        view.advance(projects)
        view.advance(projects, 1, total=5)
        assert _bar(view, "projects") == (5, 2)
        view.finish(projects)
        assert _bar(view, "projects") == (5, 5)
        deployments = view.task("deployments")  # indeterminate
        view.finish(deployments)
        assert _bar(view, "deployments") == (1, 1)
        assert view.task("projects") == "projects" and len(view._bars.tasks) == 2  # reused
        view.advance("unknown")
        view.finish("unknown")


def test_a_terminal_gets_bars_a_pipe_only_notes() -> None:
    for terminal in (True, False):
        console, buf = _console(terminal)
        with ProgressView(console) as view:
            view.advance(view.task("env vars", total=4), 3)
            view.note("web: 12 env vars")
        text = buf.getvalue()
        assert "web: 12 env vars" in text
        assert ("3/4" in text) is terminal, text
        if not terminal:
            assert text == "web: 12 env vars\n"


def test_notes_past_the_limit_are_counted_then_summed_up() -> None:
    console, buf = _console(terminal=False)
    with ProgressView(console) as view:
        for i in range(MAX_NOTES + 3):
            view.note(f"note {i}")
    lines = buf.getvalue().splitlines()
    assert lines[:MAX_NOTES] == [f"note {i}" for i in range(MAX_NOTES)]
    assert lines[MAX_NOTES:] == ["… 3 more notes"]


def test_the_demo_log_counts_chatter_and_stamps_lines() -> None:
    console, buf = _console(terminal=False)
    with ProgressView(console, max_notes=None, counted=("READY dpl_",), timestamps=True) as view:
        view.phase("apply", "mint → write env")
        for i in range(MAX_NOTES + 5):
            view.note(f"web: READY dpl_{i}")
            view.note(f"web: step {i}")
        view.note("demo: pressed Reset Credentials")
    lines = buf.getvalue().splitlines()
    assert view.counted_notes == MAX_NOTES + 5
    assert not any("READY" in line for line in lines)
    assert len(lines) == 1 + MAX_NOTES + 5 + 1  # nothing held back without a limit
    assert lines[0].endswith("s apply     mint → write env") and lines[0].strip()[0].isdigit()
    assert lines[1].endswith("s           web: step 0")
    assert lines[-1].endswith("demo: pressed Reset Credentials")


def test_notes_are_text_not_markup() -> None:
    console, buf = _console(terminal=False)
    with ProgressView(console) as view:
        view.note("[bold]web[/bold]: target [production]")
        view.note("closing tag [/] alone")
    assert buf.getvalue() == "[bold]web[/bold]: target [production]\nclosing tag [/] alone\n"


def test_quiet_view_says_nothing() -> None:
    console, buf = _console(terminal=True)
    view = open_view(console, quiet=True)
    assert isinstance(view, QuietView)
    with view:
        view.phase("apply")
        view.advance(view.task("x", 2))
        view.finish("x")
        view.note("hello")
    assert buf.getvalue() == ""
    assert isinstance(open_view(console, quiet=False), ProgressView)
