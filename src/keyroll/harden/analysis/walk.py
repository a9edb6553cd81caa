"""Which files of a source tree get analysed, and which are skipped (with a reason).

Dependencies, VCS data and build output are never analysed as *source* (built client assets
are searched for credentials separately, see :mod:`keyroll.harden.checks.client_exposure`).
Minified bundles, binary and oversized files are skipped and counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from keyroll.harden.analysis.model import SkipReason

__all__ = [
    "ASSET_DIRS",
    "JS_EXTS",
    "PY_EXTS",
    "SourceFile",
    "is_minified",
    "iter_asset_files",
    "iter_source_files",
    "read_text",
]

JS_EXTS = frozenset({".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"})
PY_EXTS = frozenset({".py"})
MAX_BYTES = 2 * 1024 * 1024

_PRUNE = frozenset(
    {
        "node_modules",
        ".git",
        ".hg",
        ".svn",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".turbo",
        ".vercel",
        ".cache",
        "coverage",
        ".tox",
        "site-packages",
    }
)
ASSET_DIRS = (
    ".next/static",
    "dist",
    "build",
    "out",
    ".output/public",
    ".svelte-kit/output/client",
    "storybook-static",
)
"""Directories (relative to a source root) that hold built client assets shipped to browsers."""
_BUILD_OUTPUT = frozenset({".next", "dist", "build", "out", ".output", ".svelte-kit", "storybook-static"})


@dataclass(frozen=True)
class SourceFile:
    """A file to analyse: its path, the path relative to the root, and its language."""

    path: Path
    rel: str
    language: str
    """``js`` or ``py``"""


def _walk(root: Path, prune: frozenset[str]) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in prune)
        for name in sorted(filenames):
            yield Path(dirpath) / name


def iter_source_files(root: Path) -> Iterator[SourceFile]:
    """Every JS/TS/Python source file under ``root`` (a single file is accepted too)."""
    root = root.resolve()
    paths = [root] if root.is_file() else _walk(root, _PRUNE | _BUILD_OUTPUT)
    for p in paths:
        ext = p.suffix.lower()
        if ext in JS_EXTS:
            lang = "js"
        elif ext in PY_EXTS:
            lang = "py"
        else:
            continue
        if p.is_symlink():
            continue
        rel = p.name if root.is_file() else p.relative_to(root).as_posix()
        yield SourceFile(p, rel, lang)


def iter_asset_files(root: Path) -> Iterator[tuple[Path, str]]:
    """``(path, relative path)`` of every file in the built client asset directories under ``root``."""
    root = root.resolve()
    if not root.is_dir():
        return
    for rel_dir in ASSET_DIRS:
        d = root / rel_dir
        if not d.is_dir() or d.is_symlink():
            continue
        for p in _walk(d, frozenset({"node_modules", ".git", "server", "cache"})):
            if p.is_file() and not p.is_symlink():
                yield p, p.relative_to(root).as_posix()


def read_text(path: Path) -> tuple[str | None, SkipReason | None]:
    """The file's text, or the reason it cannot be analysed (binary, too large, unreadable)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return None, SkipReason.TOO_LARGE
        data = path.read_bytes()
    except OSError:
        return None, SkipReason.UNREADABLE
    if b"\0" in data[:8192]:
        return None, SkipReason.BINARY
    return data.decode("utf-8", errors="replace"), None


def is_minified(text: str, name: str = "") -> bool:
    """Heuristic for minified bundles: ``.min.`` names, or long lines with little whitespace."""
    if ".min." in name:
        return True
    if len(text) < 2000:
        return False
    lines = text.splitlines() or [text]
    longest = max(len(line) for line in lines)
    avg = len(text) / len(lines)
    if longest > 5000 and avg > 300:
        return True
    spaces = text.count(" ") + text.count("\n") + text.count("\t")
    return avg > 500 and spaces / len(text) < 0.05
