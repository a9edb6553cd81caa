"""Finding the files to scan under the given paths, counting everything that is not scanned.

Symlinks are followed (a link to a secret file is still a copy worth knowing), with each real
directory and file visited once: a link back to an ancestor is a loop (``symlink_loop``), a
second way to reach the same inode is a ``duplicate``. Nothing raises: missing targets, broken
or self-referential links, unreadable directories, FIFOs/sockets/devices and files over the size
limit are counted in the :class:`~keyroll.scan.findings.ScanSummary` and skipped.

A source tree is mostly plain regular files, and a ``stat`` per file is a tenth of a big scan.
So a file the directory listing itself types as regular (not a link) is not stat'ed: its
identity is the listing's inode number on its directory's device, and its size is left
unknown (:data:`UNKNOWN_SIZE`, unless ``sizes=True``): the reader learns it by reading, and
applies the size limit then. That holds only where the listing's inode numbers are the files'
own: on the local file systems of :data:`LISTING_INODES_FS` (looked up by device in
``/proc/self/mountinfo``). Elsewhere — FUSE mounts (which may give every entry the same number),
overlayfs (whose layers may repeat numbers), network file systems, an unknown device, a system
without ``/proc`` — and for links, directories (a mount point has its own device) and untyped
entries, every entry is stat'ed as before.
"""

from __future__ import annotations

import errno
import operator
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from keyroll.scan.findings import ScanSummary
from keyroll.scan.ignore import ALWAYS_SKIPPED_DIRS, IgnoreRules

__all__ = ["BINARY_SUFFIXES", "UNKNOWN_SIZE", "FileEntry", "walk"]

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


LISTING_INODES_FS = frozenset(
    ["ext2", "ext3", "ext4", "xfs", "btrfs", "tmpfs", "f2fs", "zfs", "bcachefs", "jfs"]
)
"""file systems whose directory listings give each file its own inode number (``d_ino == st_ino``)"""
_NAME = operator.attrgetter("name")
"""a directory entry's name (the sort key of a listing)"""
UNKNOWN_SIZE = -1
""":attr:`FileEntry.size` of a file that was not stat'ed (see the module docstring)"""


class FileEntry(NamedTuple):
    """A regular file to scan (a tuple: tens of thousands are made per scan)."""

    path: str
    """as it will be reported (relative to the cwd when the target was given relative)"""
    size: int
    """in bytes, or :data:`UNKNOWN_SIZE`"""


def walk(
    targets: Sequence[Path],
    summary: ScanSummary,
    *,
    ignore: IgnoreRules | None = None,
    max_file_bytes: int | None = None,
    sizes: bool = False,
) -> Iterator[FileEntry]:
    """Every regular file under ``targets`` that should be scanned, each real file once.

    With ``sizes=False`` the plain regular files of a directory come with
    :data:`UNKNOWN_SIZE` and are not checked against ``max_file_bytes`` (the reader does it)."""
    seen_files: set[tuple[int, int]] = set()
    seen_dirs: set[tuple[int, int]] = set()
    rules = ignore or IgnoreRules()
    for target in targets:
        top = os.path.normpath(str(target))
        st = _stat(top, summary, explicit=True)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(top, st, summary, rules, max_file_bytes, seen_files, seen_dirs, sizes)
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
    if _binary_suffix(path):
        summary.skip("binary")
        return None
    if max_file_bytes is not None and st.st_size > max_file_bytes:
        summary.skip("too_large")
        return None
    return FileEntry(path, st.st_size)


def mount_types() -> dict[int, str]:
    """File system type by device number, from ``/proc/self/mountinfo`` (empty when unreadable)."""
    out: dict[int, str] = {}
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                try:
                    major, minor = fields[2].split(":")
                    fstype = fields[fields.index("-", 6) + 1]
                    out.setdefault(os.makedev(int(major), int(minor)), fstype)
                except (ValueError, IndexError):
                    continue
    except OSError:
        pass
    return out


def _binary_suffix(name: str) -> bool:
    """``os.path.splitext(name)[1].lower() in BINARY_SUFFIXES``, without a call for most names."""
    dot = name.rfind(".")
    if dot <= 0 or name[dot:].lower() not in BINARY_SUFFIXES:
        return False
    return os.path.splitext(name)[1].lower() in BINARY_SUFFIXES  # ".png", "a/..png": no suffix


def _walk_dir(
    top: str,
    top_st: os.stat_result,
    summary: ScanSummary,
    rules: IgnoreRules,
    max_file_bytes: int | None,
    seen_files: set[tuple[int, int]],
    seen_dirs: set[tuple[int, int]],
    sizes: bool,
) -> Iterator[FileEntry]:
    top_id = (top_st.st_dev, top_st.st_ino)
    if top_id in seen_dirs:
        summary.skip("duplicate")
        return
    seen_dirs.add(top_id)
    check = bool(rules)
    trusted: dict[int, bool] = {}  # device -> its listing's inode numbers identify files
    mounts: dict[int, str] | None = None
    # depth-first, each entry carrying its device and its chain of ancestor directories (to tell
    # loops from duplicates)
    stack: list[tuple[str, int, frozenset[tuple[int, int]]]] = [(top, top_st.st_dev, frozenset({top_id}))]
    while stack:
        current, dev, ancestors = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = sorted(it, key=_NAME)
        except OSError:
            summary.skip("unreadable")
            continue
        subdirs: list[tuple[str, int, frozenset[tuple[int, int]]]] = []
        here = current != "."
        fast = trusted.get(dev)
        if fast is None:
            if mounts is None:
                mounts = mount_types()
            fast = trusted[dev] = not sizes and mounts.get(dev) in LISTING_INODES_FS
        for entry in entries:
            path = entry.path if here else entry.name  # "src/a.env", not "./src/a.env"
            try:
                plain = fast and entry.is_file(follow_symlinks=False)  # typed by the listing
            except OSError:
                plain = False
            if plain:  # a regular file, not a link: no stat (see the module docstring)
                if check and rules.ignored(path):
                    summary.skip("ignored")
                    continue
                ident = (dev, entry.inode())
                if ident in seen_files:
                    summary.skip("duplicate")
                    continue
                seen_files.add(ident)
                if _binary_suffix(entry.name):
                    summary.skip("binary")
                    continue
                yield FileEntry(path, UNKNOWN_SIZE)
                continue
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
                subdirs.append((path, st.st_dev, ancestors | {ident}))
                continue
            found = _file(path, st, summary, rules, max_file_bytes, seen_files)
            if found:
                yield found
        stack.extend(reversed(subdirs))
