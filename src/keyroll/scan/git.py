"""Scanning git history: every blob reachable from the chosen refs, each scanned exactly once.

1. The history walk (:mod:`keyroll.scan.git_walk`): every blob the commits in range introduced,
   with its earliest (commit, author date) per path and its size.
2. Blobs over the size limit are counted, not read; the rest are split into one group per
   worker, each read by ``git cat-file --batch`` and scanned (:mod:`keyroll.scan.git_blobs`).
3. Results map back to every path that blob had. A credential is reported once per (rule,
   fingerprint, path) at the commit that introduced it, with the number of blob versions that
   carried it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Sequence
from pathlib import Path

from keyroll.core.errors import ScanError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.scan.engine import ScanOptions, ScanResult, finish
from keyroll.scan.findings import Finding
from keyroll.scan.git_blobs import BlobTask, scan_blob_group, split_even
from keyroll.scan.git_walk import Intro, Repo, find_repo, history_blobs
from keyroll.scan.ignore import IGNORE_FILE, IgnoreRules
from keyroll.scan.profile import Profile
from keyroll.scan.workers import run_split, take_parent_build

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
    sizes = hist.sizes
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
    workers = 1 if total < options.inline_bytes else options.workers
    groups = split_even(todo, sizes, workers)
    if profile:
        profile.mark("walk")
        profile.workers = max(1, len(groups))
    tasks: list[BlobTask] = [(repo.git_dir, g) for g in groups]
    task_id = progress.task("scan git blobs", total=total)
    per_blob: list[tuple[str, list[Finding]]] = []
    config = dataclasses.replace(options.worker_config(), profile=profile is not None)
    for found, summary, work in run_split(scan_blob_group, tasks, config):
        per_blob.extend(found)
        result.summary.merge(summary)
        progress.advance(task_id, summary.bytes)
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
