"""What not to scan: ``.keyrollignore`` files (gitignore syntax) and the always-skipped ``.git``.

A ``.keyrollignore`` applies to paths below the directory that holds it, like a
``.gitignore`` (patterns, ``dir/``, ``**``, ``!negation``; parsed by ``pathspec``). keyroll
reads the one in the current directory, the one at the root of each directory it scans, and
the one given with ``--ignore-file``. ``.gitignore`` is deliberately *not* honoured: the files
it hides (``.env``, ``.env.local``) are where credentials live.

Inline suppression is per line: a ``keyroll: allow`` comment on the line of a match (or
``keyroll: allow-next-line`` on the line before) — see :mod:`keyroll.scan.textscan`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keyroll.core.errors import ScanError

if TYPE_CHECKING:
    import pathspec

__all__ = ["IGNORE_FILE", "IgnoreRules"]

IGNORE_FILE = ".keyrollignore"
ALWAYS_SKIPPED_DIRS = frozenset({".git"})


@dataclass(frozen=True)
class _Spec:
    base: str
    """absolute directory the patterns are relative to"""
    spec: pathspec.GitIgnoreSpec


class IgnoreRules:
    """A set of ``.keyrollignore`` files, each relative to its own directory."""

    def __init__(self, specs: Iterable[_Spec] = ()) -> None:
        self._specs = tuple(specs)

    @classmethod
    def load(cls, files: Iterable[Path]) -> IgnoreRules:
        """Read the given ignore files (missing ones are skipped).

        :raises ScanError: an ignore file exists but cannot be read.
        """
        specs: list[_Spec] = []
        seen: set[str] = set()
        for f in files:
            absf = os.path.abspath(f)
            if absf in seen or not os.path.isfile(absf):
                continue
            seen.add(absf)
            try:
                lines = Path(absf).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError as exc:
                raise ScanError(
                    f"cannot read ignore file {f}: {exc.strerror}", hint="fix its permissions or remove it"
                ) from None
            import pathspec  # only when an ignore file exists: it costs ~35 ms of start-up

            specs.append(_Spec(os.path.dirname(absf), pathspec.GitIgnoreSpec.from_lines(lines)))
        return cls(specs)

    @classmethod
    def for_targets(cls, targets: Iterable[Path], extra: Path | None = None) -> IgnoreRules:
        """The ignore files that apply to a scan of ``targets``: cwd's, each directory target's, ``extra``."""
        files = [Path.cwd() / IGNORE_FILE]
        files += [t / IGNORE_FILE for t in targets if t.is_dir()]
        if extra is not None:
            if not extra.is_file():
                raise ScanError(f"ignore file not found: {extra}", hint="check the --ignore-file path")
            files.append(extra)
        return cls.load(files)

    def __bool__(self) -> bool:
        return bool(self._specs)

    def ignored(self, path: str, *, is_dir: bool = False) -> bool:
        """Whether ``path`` (absolute, or relative to cwd) is excluded by any ignore file."""
        if not self._specs:
            return False
        absp = os.path.abspath(path)
        for s in self._specs:
            rel = os.path.relpath(absp, s.base)
            if rel.startswith(".."):
                continue
            rel = rel.replace(os.sep, "/") + ("/" if is_dir else "")
            if s.spec.match_file(rel):
                return True
        return False
