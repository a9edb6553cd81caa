"""Source: the history of git repositories — every commit on every ref that added a copy.

One ``git log --all -p -U0`` stream per repository; the added lines of each file diff are
matched in one :class:`~keyroll.scan.known.KnownValues` pass, so the cost is one read of the
history whatever the number of values. Merge commits add nothing new and are not diffed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from keyroll.core.errors import UsageError
from keyroll.core.model import Unknown
from keyroll.inventory import matching
from keyroll.inventory.records import TextHit
from keyroll.scan.known import KnownValues

__all__ = ["GitScan", "check_git_repo", "scan_git"]

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")
_COMMIT = "\x00commit "


@dataclass
class GitScan:
    """Result of scanning git histories."""

    hits: list[TextHit] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)
    commits: int = 0


def check_git_repo(repo: Path) -> None:
    """:raises UsageError: when ``repo`` is not a git work tree (or git is missing)."""
    if shutil.which("git") is None:
        raise UsageError("git is not installed", hint="install git or drop --git-repo")
    if not repo.is_dir():
        raise UsageError(f"{repo} is not a directory", hint="--git-repo takes a git work tree")
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--git-dir"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise UsageError(f"{repo} is not a git repository", hint="--git-repo takes a git work tree")


class _Diff:
    """Added lines of one file in one commit."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.numbers: list[int] = []

    def flush(self, matcher: KnownValues, commit: str, date: str, path: str, out: GitScan) -> None:
        if not self.lines or not path:
            self.lines.clear()
            self.numbers.clear()
            return
        text = "\n".join(self.lines)
        for line, column, m in matching.iter_lines(matcher, text):
            out.hits.append(
                TextHit(m.fingerprint, m.form, path, self.numbers[line - 1], column, commit, date)
            )
        self.lines.clear()
        self.numbers.clear()


def scan_git(repo: Path, matcher: KnownValues) -> GitScan:
    """Every commit of every ref in ``repo`` that added a known value (blocking; run in a thread)."""
    out = GitScan()
    if len(matcher) == 0:
        return out
    cmd = [
        "git",
        "-C",
        str(repo),
        "-c",
        "core.quotepath=off",
        "log",
        "--all",
        "-p",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        "--no-textconv",
        f"--format={_COMMIT.replace(chr(0), '%x00')}%H %aI",
    ]
    with tempfile.TemporaryFile() as errfile:
        try:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=errfile, text=True, encoding="utf-8", errors="replace"
            )
        except OSError as exc:
            out.unknowns.append(Unknown(where=f"git {repo}", reason=f"git could not run: {exc}"))
            return out
        _consume(proc, matcher, out)
        code = proc.wait()
        errfile.seek(0)
        stderr = errfile.read().decode("utf-8", "replace").strip()
    if code != 0:
        first = stderr.splitlines()[0] if stderr else f"exit {code}"
        out.unknowns.append(Unknown(where=f"git {repo}", reason=f"git log failed: {first}"))
    return out


def _consume(proc: subprocess.Popen[str], matcher: KnownValues, out: GitScan) -> None:
    assert proc.stdout is not None
    commit = date = path = ""
    in_hunk = False
    number = 0
    diff = _Diff()
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        if line.startswith(_COMMIT):
            diff.flush(matcher, commit, date, path, out)
            commit, _, date = line[len(_COMMIT) :].partition(" ")
            path, in_hunk = "", False
            out.commits += 1
        elif line.startswith("diff --git "):
            diff.flush(matcher, commit, date, path, out)
            path, in_hunk = "", False
        elif not in_hunk and line.startswith("+++ "):
            target = line[4:]
            path = "" if target == "/dev/null" else target.removeprefix("b/")
        elif line.startswith("@@"):
            m = _HUNK.match(line)
            in_hunk = m is not None
            number = int(m.group(1)) if m else 0
        elif in_hunk and line.startswith("+"):
            diff.lines.append(line[1:])
            diff.numbers.append(number)
            number += 1
    diff.flush(matcher, commit, date, path, out)
