"""Finding the files to scan under the given paths, counting everything that is not scanned.

Symlinks are followed (a link to a secret file is still a copy worth knowing), with each real
directory and file visited once: a link back to an ancestor is a loop (``symlink_loop``), a
second way to reach the same inode is a ``duplicate``. Nothing raises: missing targets, broken
or self-referential links, unreadable directories, FIFOs/sockets/devices and files over the size
limit are counted in the :class:`~keyroll.scan.findings.ScanSummary` and skipped.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from keyroll.scan.findings import ScanSummary
from keyroll.scan.ignore import ALWAYS_SKIPPED_DIRS, IgnoreRules

__all__ = ["BINARY_SUFFIXES", "FileEntry", "walk"]

BINARY_SUFFIXES = frozenset(
    [
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".webp",
        ".ico",
        ".bmp",
        ".tif",
        ".tiff",
        ".psd",
        ".pdf",
        ".zip",
        ".gz",
        ".tgz",
        ".bz2",
        ".xz",
        ".zst",
        ".7z",
        ".rar",
        ".jar",
        ".war",
        ".whl",
        ".egg",
        ".woff",
        ".woff2",
        ".ttf",
        ".otf",
        ".eot",
        ".mp3",
        ".mp4",
        ".m4a",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".wav",
        ".flac",
        ".ogg",
        ".dmg",
        ".npz",
        ".parquet",
    ]
)
"""Compressed and media formats, skipped (as ``binary``) without being opened: a credential is never
stored in them as plain bytes. Other binary files (a NUL byte in the first 8 KiB: SQLite databases,
``.pyc``, executables, pickles, core dumps) are searched for credential byte patterns."""


@dataclass(frozen=True)
class FileEntry:
    """A regular file to scan."""

    path: str
    """as it will be reported (relative to the cwd when the target was given relative)"""
    size: int


def walk(
    targets: Sequence[Path],
    summary: ScanSummary,
    *,
    ignore: IgnoreRules | None = None,
    max_file_bytes: int | None = None,
) -> Iterator[FileEntry]:
    """Every regular file under ``targets`` that should be scanned, each real file once."""
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: set[tuple[int, int]] = set()
    rules = ignore or IgnoreRules()
    for target in targets:
        top = os.path.normpath(str(target))
        st = _stat(top, summary, explicit=True)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(top, st, summary, rules, max_file_bytes, seen_files, seen_dirs)
        else:
            entry = _file(top, st, summary, rules, max_file_bytes, seen_files)
            if entry:
                yield entry


def _stat(path: str, summary: ScanSummary, *, explicit: bool = False) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            summary.skip("symlink_loop")
        elif exc.errno in (errno.ENOENT, errno.ENOTDIR):
            summary.skip("missing")
            if explicit:
                summary.warnings.append(f"not found: {path}")
        else:
            summary.skip("unreadable")
        return None


def _file(
    path: str,
    st: os.stat_result,
    summary: ScanSummary,
    rules: IgnoreRules,
    max_file_bytes: int | None,
    seen: set[tuple[int, int]],
) -> FileEntry | None:
    if not stat.S_ISREG(st.st_mode):
        summary.skip("special")
        return None
    if rules.ignored(path):
        summary.skip("ignored")
        return None
    ident = (st.st_dev, st.st_ino)
    if ident in seen:
        summary.skip("duplicate")
        return None
    seen.add(ident)
    if os.path.splitext(path)[1].lower() in BINARY_SUFFIXES:
        summary.skip("binary")
        return None
    if max_file_bytes is not None and st.st_size > max_file_bytes:
        summary.skip("too_large")
        return None
    return FileEntry(path, st.st_size)


def _walk_dir(
    top: str,
    top_st: os.stat_result,
    summary: ScanSummary,
    rules: IgnoreRules,
    max_file_bytes: int | None,
    seen_files: set[tuple[int, int]],
    seen_dirs: set[tuple[int, int]],
) -> Iterator[FileEntry]:
    top_id = (top_st.st_dev, top_st.st_ino)
    if top_id in seen_dirs:
        summary.skip("duplicate")
        return
    seen_dirs.add(top_id)
    # depth-first, each entry carrying its chain of ancestor directories (to tell loops from duplicates)
    stack: list[tuple[str, frozenset[tuple[int, int]]]] = [(top, frozenset({top_id}))]
    while stack:
        current, ancestors = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            summary.skip("unreadable")
            continue
        subdirs: list[tuple[str, frozenset[tuple[int, int]]]] = []
        for entry in entries:
            path = entry.name if current == "." else entry.path  # "src/a.env", not "./src/a.env"
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir and entry.name in ALWAYS_SKIPPED_DIRS:
                continue
            st = _stat(path, summary)
            if st is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident in ancestors:
                    summary.skip("symlink_loop")
                    continue
                if ident in seen_dirs:
                    summary.skip("duplicate")
                    continue
                if rules.ignored(path, is_dir=True):
                    summary.skip("ignored")
                    continue
                seen_dirs.add(ident)
                subdirs.append((path, ancestors | {ident}))
                continue
            found = _file(path, st, summary, rules, max_file_bytes, seen_files)
            if found:
                yield found
        stack.extend(reversed(subdirs))
