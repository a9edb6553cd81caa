"""Scanning git history: every blob reachable from the chosen refs, each scanned exactly once.

1. The history walk (:mod:`keyroll.scan.git_walk`): every blob the commits in range introduced,
   with its earliest (commit, author date) per path.
2. Each new blob goes to a worker as soon as the walk finds it, to be read through
   ``git cat-file --batch`` and scanned (:mod:`keyroll.scan.git_blobs`): reading overlaps the walk.
3. Results map back to every path that blob had. A credential is reported once per (rule,
   fingerprint, path) at the commit that introduced it, with the number of blob versions that
   carried it.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from keyroll.core.errors import ScanError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.scan import forked
from keyroll.scan.engine import (
    ESTIMATED_SIZE,
    STREAM_BATCH_BYTES,
    ScanOptions,
    ScanResult,
    Timed,
    finish,
)
from keyroll.scan.findings import Finding
from keyroll.scan.git_blobs import (
    BlobResult,
    blob_entry,
    reading,
    scan_blob_batch,
    scan_blob_task,
    stop_reader,
)
from keyroll.scan.git_walk import History, Intro, Repo, find_repo, history_blobs, walk_history
from keyroll.scan.ignore import IGNORE_FILE, IgnoreRules
from keyroll.scan.profile import Profile
from keyroll.scan.walk import FileEntry
from keyroll.scan.workers import fan_out_batches, run_batches, stream_batches, take_parent_build

__all__ = ["Repo", "find_repo", "history_blobs", "scan_git"]


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
    ignore_files = [Path(repo.top) / IGNORE_FILE] if repo.top else []
    if options.ignore_file is not None:
        ignore_files.append(options.ignore_file)
    ignore = IgnoreRules.load(ignore_files)
    base = repo.top or repo.git_dir
    hist = History()
    found = walk_history(
        repo,
        hist,
        all_refs=all_refs,
        since=since,
        keep=lambda path: not ignore.ignored(os.path.join(base, path)),
    )
    blobs: Iterator[FileEntry] = (blob_entry(sha, path) for sha, path in found)
    timed = Timed(blobs) if profile else None
    config = dataclasses.replace(options.worker_config(), profile=profile is not None)
    workers = options.workers
    task_id = progress.task("scan git blobs")
    per_blob: list[tuple[str, list[Finding]]] = []
    with reading(repo.git_dir):
        # walk until the history is known to be small (scanned here) or not; a big one is
        # handed to the workers while the walk goes on
        small = options.inline_bytes // ESTIMATED_SIZE  # blobs, at an estimated size each
        first = list(itertools.islice(timed or blobs, small))
        if workers > 1 and len(first) == small and forked.available():
            if profile:
                profile.workers = workers
            done: Iterable[BlobResult] = fan_out_batches(
                itertools.chain(first, timed or blobs), config, workers, scan_blob_batch, stop_reader
            )
        else:
            rest = [*first, *(timed or blobs)]
            batches = stream_batches(rest, lambda e: ESTIMATED_SIZE, STREAM_BATCH_BYTES)
            tasks = [(repo.git_dir, b) for b in batches]
            inline = workers <= 1 or len(tasks) <= 1
            if profile:
                profile.workers = 1 if inline else min(workers, len(tasks))
            done = run_batches(scan_blob_task, tasks, config, workers, inline=inline)
        for found_here, summary, work in done:
            per_blob.extend(found_here)
            result.summary.merge(summary)
            progress.advance(task_id, summary.bytes)
            if profile:
                profile.merge_work(work)
    progress.finish(task_id)
    result.summary.commits += hist.commits
    ignored = len(hist.ignored - hist.blobs.keys())
    if ignored:
        result.summary.skip("ignored", ignored)
    result.findings.extend(_attribute(per_blob, hist.blobs))
    if profile:
        profile.add("walk", timed.seconds if timed else 0.0)
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
