"""The history walk of ``keyroll scan --git``: which blobs the commits in range introduced, where
and when.

``git log --reverse -m --raw --no-renames -z`` over the refs (``HEAD``, or ``--all`` with
``--all-refs``; ``^REV`` with ``--since REV``) lists, oldest first, every blob each commit
introduced and where — deleted files included, since their blobs were introduced by the commit
that added them. For each blob the earliest (commit, author date) per path is kept, and each
new blob is handed on as soon as the log names it, so reading and scanning blobs overlaps the
walk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from keyroll.core.errors import ScanError

__all__ = ["History", "Intro", "Repo", "find_repo", "history_blobs", "walk_history"]

_NO_BLOBS = frozenset({"0" * 40, "0" * 64})
"""the null object id (SHA-1 and SHA-256 repositories): the new side of a deletion"""
_SUBMODULE_MODE = "160000"


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
    ignored: set[str] = field(default_factory=set)
    """blobs seen at a path the walk was told not to keep (some may be kept at another path)"""
    commits: int = 0


def _git(args: Sequence[str], *, git_dir: str | None = None, cwd: str | None = None) -> list[str]:
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
    res = _run(_git(["rev-parse", "--absolute-git-dir", "--is-bare-repository"], cwd=where))
    if res.returncode != 0:
        return None
    git_dir, bare = res.stdout.decode().split("\n")[:2]
    top = None
    if bare.strip() != "true":
        top_res = _run(_git(["rev-parse", "--show-toplevel"], cwd=where))
        top = top_res.stdout.decode().strip() or None
    return Repo(git_dir.strip(), top)


def _verify_rev(repo: Repo, rev: str) -> bool:
    return (
        _run(_git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], git_dir=repo.git_dir)).returncode
        == 0
    )


def history_blobs(repo: Repo, *, all_refs: bool = False, since: str | None = None) -> History:
    """Every blob introduced by the commits in range, with its earliest introduction per path.

    :raises ScanError: ``since`` is not a commit of this repository, or ``git log`` failed.
    """
    hist = History()
    for _ in walk_history(repo, hist, all_refs=all_refs, since=since):
        pass
    return hist


def walk_history(
    repo: Repo,
    into: History,
    *,
    all_refs: bool = False,
    since: str | None = None,
    keep: Callable[[str], bool] = lambda path: True,
) -> Iterator[tuple[str, str]]:
    """``(blob, path)`` for each blob the first time the log names it at a path ``keep`` accepts,
    while the log is still being read; ``into`` receives every kept introduction (and the blobs
    seen only at paths not kept, in ``into.ignored``).

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
        return  # no commits yet
    if since is not None:
        revs.append(f"^{since}")
    cmd = _git(
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
    seen_commits: set[str] = set()
    blobs = into.blobs
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        for seq, (commit, date, entries) in enumerate(_parse_log(proc.stdout)):
            if commit not in seen_commits:
                seen_commits.add(commit)
                into.commits += 1
            for mode, sha, path in entries:
                if sha in _NO_BLOBS or mode == _SUBMODULE_MODE:
                    continue
                if not keep(path):
                    into.ignored.add(sha)
                    continue
                intros = blobs.get(sha)
                if intros is None:
                    blobs[sha] = [Intro(path, commit, date, seq)]
                    yield sha, path
                elif not any(i.path == path for i in intros):
                    intros.append(Intro(path, commit, date, seq))
        err = proc.stderr.read() if proc.stderr else b""
        if proc.wait() != 0:
            line = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["git log failed"]
            raise ScanError(f"git log failed: {line[0]}", hint="check the repository and the refs")


def _parse_log(stream: IO[bytes]) -> Iterator[tuple[str, str, list[tuple[str, str, str]]]]:
    """``(commit, author date, [(new mode, new blob, path)])`` per log record, streaming."""
    fd = stream.fileno()
    buf = b""
    while True:
        chunk = os.read(fd, 1 << 16)  # what git has written so far: records as they come
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
