"""Scanning git history: every blob reachable from the chosen refs, each scanned exactly once.

1. ``git log --reverse -m --raw --no-renames -z`` over the refs (``HEAD``, or ``--all`` with
   ``--all-refs``; ``^REV`` with ``--since REV``) lists, oldest first, every blob each commit
   introduced and where — deleted files included, since their blobs were introduced by the
   commit that added them. For each blob keep the earliest (commit, author date) per path.
2. ``git cat-file --batch-check`` gives sizes (blobs over the limit are counted, not read).
3. Workers each run one ``git cat-file --batch`` over their share of the unique blobs and scan
   the contents; results map back to every path that blob had. A credential is reported once
   per (rule, fingerprint, path) at the commit that introduced it, with the number of blob
   versions that carried it.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from keyroll.core.errors import ScanError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.scan.engine import (
    ScanOptions,
    ScanResult,
    _scanner,
    batch_target,
    finish,
    make_batches,
    run_batches,
    take_parent_build,
    take_work,
    worker_clock,
)
from keyroll.scan.findings import Finding, ScanSummary
from keyroll.scan.ignore import IGNORE_FILE, IgnoreRules
from keyroll.scan.profile import Profile
from keyroll.scan.reader import account, scan_bytes

__all__ = ["Repo", "find_repo", "history_blobs", "scan_git"]

_EMPTY_SHA = "0" * 40
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
    hist = History()
    seen_commits: set[str] = set()
    with subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        for seq, (commit, date, entries) in enumerate(_parse_log(proc.stdout)):
            if commit not in seen_commits:
                seen_commits.add(commit)
                hist.commits += 1
            for mode, sha, path in entries:
                if sha == _EMPTY_SHA or mode == _SUBMODULE_MODE:
                    continue
                intros = hist.blobs.setdefault(sha, [])
                if not any(i.path == path for i in intros):
                    intros.append(Intro(path, commit, date, seq))
        err = proc.stderr.read() if proc.stderr else b""
        if proc.wait() != 0:
            line = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["git log failed"]
            raise ScanError(f"git log failed: {line[0]}", hint="check the repository and the refs")
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


def _blob_sizes(repo: Repo, shas: Sequence[str]) -> dict[str, int]:
    if not shas:
        return {}
    res = subprocess.run(
        _git(["cat-file", "--batch-check=%(objectname) %(objecttype) %(objectsize)"], git_dir=repo.git_dir),
        input="\n".join(shas).encode() + b"\n",
        capture_output=True,
        check=False,
    )
    sizes: dict[str, int] = {}
    for line in res.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] == "blob":
            sizes[parts[0]] = int(parts[2])
    return sizes


BlobTask = tuple[str, list[tuple[str, str]]]
"""``(git dir, [(blob sha, a path it had)])``"""


READERS = 2
"""``git cat-file`` processes per batch: inflating loose objects is git's work, on other cores"""


def _scan_blob_batch(
    task: BlobTask,
) -> tuple[list[tuple[str, list[Finding]]], ScanSummary, dict[str, float]]:
    git_dir, blobs = task
    scanner, config = _scanner()
    clock = worker_clock()
    summary = ScanSummary()
    out: list[tuple[str, list[Finding]]] = []
    # the blobs are read by READERS `git cat-file` processes at once, each fed by its own thread
    # (blob order does not matter: findings are attributed by blob id afterwards)
    parts = [blobs[i::READERS] for i in range(READERS) if blobs[i::READERS]]
    inbox: queue.Queue[tuple[str, str, bytes | None] | None] = queue.Queue()
    readers = [
        threading.Thread(target=_read_blobs, args=(git_dir, part, inbox), daemon=True) for part in parts
    ]
    for r in readers:
        r.start()
    pending = len(readers)
    while pending:
        t0 = time.perf_counter() if clock else 0.0
        item = inbox.get()
        if clock:
            clock.add("read", t0)
        if item is None:  # one reader is done
            pending -= 1
            continue
        sha, path, data = item
        if data is None:  # "<sha> missing"
            summary.skip("unreadable")
            continue
        res = scan_bytes(data, path, scanner, keep_values=config.keep_values, clock=clock)
        account(summary, res)
        summary.blobs += 1
        summary.files -= 1  # blobs are counted as blobs, not files
        if res.findings:
            out.append((sha, res.findings))
    for r in readers:
        r.join()
    return out, summary, take_work()


def _read_blobs(
    git_dir: str, blobs: list[tuple[str, str]], inbox: queue.Queue[tuple[str, str, bytes | None] | None]
) -> None:
    """Put ``(sha, path, contents or None)`` of every blob into ``inbox``, then ``None``."""
    try:
        with subprocess.Popen(
            ["git", f"--git-dir={git_dir}", "cat-file", "--batch", "--buffer"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        ) as proc:
            assert proc.stdin is not None and proc.stdout is not None
            # every request up front, from a thread (the pipe may fill while we read): no round
            # trip per blob; git answers in request order
            writer = threading.Thread(
                target=_request_all, args=(proc.stdin, [sha for sha, _ in blobs]), daemon=True
            )
            writer.start()
            for sha, path in blobs:
                header = proc.stdout.readline().split()
                if len(header) != 3:  # "<sha> missing"
                    inbox.put((sha, path, None))
                    continue
                data = proc.stdout.read(int(header[2]))
                proc.stdout.read(1)  # the newline after the contents
                inbox.put((sha, path, data))
            writer.join()
            proc.wait()
    except OSError:
        pass  # git could not run: what was not read is missing from the counts, not fatal
    finally:
        inbox.put(None)


def _request_all(stdin: IO[bytes], shas: list[str]) -> None:
    """Write every blob request to ``git cat-file --batch``, then close its input."""
    try:
        stdin.write(b"".join(sha.encode() + b"\n" for sha in shas))
        stdin.close()
    except OSError:  # git exited early (the reader sees the short output)
        pass


def scan_git(
    paths: Sequence[Path],
    options: ScanOptions = ScanOptions(),
    *,
    all_refs: bool = False,
    since: str | None = None,
    progress: Progress = NULL_PROGRESS,
    profile: Profile | None = None,
) -> ScanResult:
    """Scan the history of the repositories holding ``paths``.

    A path outside any repository is counted (``not_git``) and named in a warning.

    :raises ScanError: none of the paths is in a git repository, ``--since`` is unknown, git is
        missing or fails.
    """
    started = time.perf_counter()
    result = ScanResult()
    repos: dict[str, Repo] = {}
    for p in paths:
        repo = find_repo(p)
        if repo is None:
            result.summary.skip("not_git")
            result.summary.warnings.append(f"not a git repository: {p}")
            continue
        repos.setdefault(repo.git_dir, repo)
    if not repos:
        names = ", ".join(str(p) for p in paths)
        raise ScanError(f"not a git repository: {names}", hint="run inside a repository or drop --git")
    if profile:
        profile.mark("setup")
    for repo in repos.values():
        _scan_repo(repo, options, all_refs, since, progress, result, profile)
    return finish(result, started)


def _scan_repo(
    repo: Repo,
    options: ScanOptions,
    all_refs: bool,
    since: str | None,
    progress: Progress,
    result: ScanResult,
    profile: Profile | None = None,
) -> None:
    hist = history_blobs(repo, all_refs=all_refs, since=since)
    result.summary.commits += hist.commits
    ignore_files = [Path(repo.top) / IGNORE_FILE] if repo.top else []
    if options.ignore_file is not None:
        ignore_files.append(options.ignore_file)
    ignore = IgnoreRules.load(ignore_files)
    base = repo.top or repo.git_dir
    wanted: dict[str, list[Intro]] = {}
    for sha, intros in hist.blobs.items():
        kept = [i for i in intros if not ignore.ignored(os.path.join(base, i.path))]
        if len(kept) < len(intros) and not kept:
            result.summary.skip("ignored")
        if kept:
            wanted[sha] = kept
    sizes = _blob_sizes(repo, list(wanted))
    todo: list[tuple[str, str]] = []
    for sha, intros in wanted.items():
        size = sizes.get(sha)
        if size is None:
            result.summary.skip("unreadable")
        elif size > options.max_file_bytes:
            result.summary.skip("too_large")
        else:
            todo.append((sha, intros[0].path))
    total = sum(sizes[s] for s, _ in todo)
    workers = options.workers
    groups = make_batches(todo, lambda t: sizes[t[0]], batch_target(total, workers))
    inline = total < options.inline_bytes
    if profile:
        profile.mark("walk")
        profile.workers = 1 if inline or workers <= 1 or len(groups) <= 1 else min(workers, len(groups))
    tasks: list[BlobTask] = [(repo.git_dir, g) for g in groups]
    task_id = progress.task("scan git blobs", total=total)
    group_sizes = [sum(sizes[s] for s, _ in g) for g in groups]
    per_blob: list[tuple[str, list[Finding]]] = []
    config = dataclasses.replace(options.worker_config(), profile=profile is not None)
    for found, summary, work in run_batches(
        _scan_blob_batch,
        tasks,
        config,
        workers,
        inline=inline,
        on_done=lambda i: progress.advance(task_id, group_sizes[i]),
    ):
        per_blob.extend(found)
        result.summary.merge(summary)
        if profile:
            profile.merge_work(work)
    progress.finish(task_id)
    result.findings.extend(_attribute(per_blob, wanted))
    if profile:
        profile.merge_work(take_parent_build())
        profile.mark("scan")


def _attribute(per_blob: list[tuple[str, list[Finding]]], intros: dict[str, list[Intro]]) -> list[Finding]:
    """One finding per (rule, fingerprint, path), at the earliest commit, counting blob versions."""
    best: dict[tuple[str, str, str], tuple[int, Finding]] = {}
    versions: dict[tuple[str, str, str], set[str]] = {}
    for sha, findings in per_blob:
        for f in findings:
            for intro in intros[sha]:
                key = (f.rule_id, str(f.fingerprint), intro.path)
                versions.setdefault(key, set()).add(sha)
                current = best.get(key)
                if (
                    current is None
                    or intro.seq < current[0]
                    or (intro.seq == current[0] and f.line < current[1].line)
                ):
                    best[key] = (
                        intro.seq,
                        f.with_changes(path=intro.path, commit=intro.commit, author_date=intro.date),
                    )
    return [f.with_changes(occurrences=len(versions[key])) for key, (_, f) in best.items()]
