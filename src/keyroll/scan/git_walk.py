"""The history walk of ``keyroll scan --git``: which blobs the commits in range introduced, where,
when, and how big they are.

``git log --reverse -m --raw --no-renames -z`` over the refs (``HEAD``, or ``--all`` with
``--all-refs``; ``^REV`` with ``--since REV``) lists, oldest first, every blob each commit
introduced and where — deleted files included, since their blobs were introduced by the commit
that added them. For each blob the earliest (commit, author date) per path is kept. Each new
blob is handed to ``git cat-file --batch-check`` as soon as the log names it, so its size is
known when the log ends (blobs over the size limit are counted, never read).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from keyroll.core.errors import ScanError

__all__ = ["History", "Intro", "Repo", "find_repo", "git_command", "history_blobs"]

_EMPTY_SHA = "0" * 40
_SUBMODULE_MODE = "160000"
_CHECK_FORMAT = "%(objectname) %(objecttype) %(objectsize)"


@dataclass(frozen=True)
class Repo:
    """A repository to scan: its git dir and (unless bare) its work tree."""

    git_dir: str
    top: str | None


@dataclass
class Intro:
    """Where and when a blob entered history at one path."""

    path: str
    commit: str
    date: str
    seq: int
    """order of the commit in the oldest-first log (smaller = earlier)"""


@dataclass
class History:
    """The unique blobs of a history walk."""

    blobs: dict[str, list[Intro]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    """the size of every blob git could find (a blob missing here cannot be read)"""
    commits: int = 0


def git_command(args: Sequence[str], *, git_dir: str | None = None, cwd: str | None = None) -> list[str]:
    base = ["git"]
    if git_dir:
        base.append(f"--git-dir={git_dir}")
    return [*base, *args] if cwd is None else [*base, "-C", cwd, *args]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, capture_output=True, check=False, stdin=subprocess.DEVNULL)


def find_repo(path: Path) -> Repo | None:
    """The repository containing ``path`` (a directory or a file in it), or ``None``.

    :raises ScanError: ``git`` is not installed.
    """
    if shutil.which("git") is None:
        raise ScanError("git is not installed", hint="install git, or scan files without --git")
    where = str(path if path.is_dir() else path.parent)
    if not os.path.isdir(where):
        return None
    res = _run(git_command(["rev-parse", "--absolute-git-dir", "--is-bare-repository"], cwd=where))
    if res.returncode != 0:
        return None
    git_dir, bare = res.stdout.decode().split("\n")[:2]
    top = None
    if bare.strip() != "true":
        top_res = _run(git_command(["rev-parse", "--show-toplevel"], cwd=where))
        top = top_res.stdout.decode().strip() or None
    return Repo(git_dir.strip(), top)


def _verify_rev(repo: Repo, rev: str) -> bool:
    return (
        _run(
            git_command(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], git_dir=repo.git_dir)
        ).returncode
        == 0
    )


def history_blobs(repo: Repo, *, all_refs: bool = False, since: str | None = None) -> History:
    """Every blob introduced by the commits in range, with its earliest introduction per path.

    :raises ScanError: ``since`` is not a commit of this repository, or ``git log`` failed.
    """
    if since is not None and not _verify_rev(repo, since):
        raise ScanError(
            f"--since {since}: not a commit in {repo.top or repo.git_dir}",
            hint="give a commit, tag or branch",
        )
    if all_refs:
        revs = ["--all"]
    elif _verify_rev(repo, "HEAD"):
        revs = ["HEAD"]
    else:
        return History()  # no commits yet
    if since is not None:
        revs.append(f"^{since}")
    cmd = git_command(
        [
            "log",
            "--reverse",
            "-m",
            "--raw",
            "--no-renames",
            "--no-abbrev",
            "-z",
            "--format=%x01%H %aI",
            *revs,
            "--",
        ],
        git_dir=repo.git_dir,
    )
    hist = History()
    seen_commits: set[str] = set()
    # every new blob goes to `git cat-file --batch-check` while the log is still being read, so
    # the sizes are known as soon as the log ends; its answers go to a file (never a full pipe)
    with (
        tempfile.TemporaryFile() as answers,
        subprocess.Popen(
            git_command(["cat-file", f"--batch-check={_CHECK_FORMAT}", "--buffer"], git_dir=repo.git_dir),
            stdin=subprocess.PIPE,
            stdout=answers,
            stderr=subprocess.DEVNULL,
        ) as check,
        subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        ) as proc,
    ):
        assert proc.stdout is not None and check.stdin is not None
        ask = check.stdin.write
        for seq, (commit, date, entries) in enumerate(_parse_log(proc.stdout)):
            if commit not in seen_commits:
                seen_commits.add(commit)
                hist.commits += 1
            for mode, sha, path in entries:
                if sha == _EMPTY_SHA or mode == _SUBMODULE_MODE:
                    continue
                intros = hist.blobs.get(sha)
                if intros is None:
                    intros = hist.blobs[sha] = []
                    ask(sha.encode() + b"\n")
                if not any(i.path == path for i in intros):
                    intros.append(Intro(path, commit, date, seq))
        err = proc.stderr.read() if proc.stderr else b""
        check.stdin.close()
        if proc.wait() != 0:
            line = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["git log failed"]
            raise ScanError(f"git log failed: {line[0]}", hint="check the repository and the refs")
        check.wait()
        answers.seek(0)
        hist.sizes = _parse_sizes(answers.read())
    return hist


def _parse_log(stream: IO[bytes]) -> Iterator[tuple[str, str, list[tuple[str, str, str]]]]:
    """``(commit, author date, [(new mode, new blob, path)])`` per log record, streaming."""
    buf = b""
    while True:
        chunk = stream.read(1 << 20)
        buf += chunk
        parts = buf.split(b"\x01")
        buf = parts.pop() if chunk else b""
        for rec in parts if chunk else [*parts, buf]:
            if rec:
                yield _parse_record(rec)
        if not chunk:
            return


def _parse_record(rec: bytes) -> tuple[str, str, list[tuple[str, str, str]]]:
    header, _, rest = rec.partition(b"\0")
    commit, _, date = header.decode().partition(" ")
    fields = rest.lstrip(b"\n").split(b"\0")
    entries: list[tuple[str, str, str]] = []
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].decode("ascii", "replace").lstrip(":").split()
        if len(meta) < 5:
            continue
        path = fields[i + 1].decode("utf-8", "surrogateescape")
        entries.append((meta[1], meta[3], path))
    return commit, date, entries


def _parse_sizes(answers: bytes) -> dict[str, int]:
    """``{blob: size}`` from ``git cat-file --batch-check`` answers (``<sha> missing`` is left out)."""
    sizes: dict[str, int] = {}
    for line in answers.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes
