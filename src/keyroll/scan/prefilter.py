"""The anchor prefilter: where does any detector's literal occur in a byte string?

Two interchangeable engines over raw bytes, returning ``(byte offset, anchor index)`` pairs:

* :class:`HyperscanPrefilter` — Intel Hyperscan's literal matcher (``hyperscan`` wheel,
  SIMD, GB/s), used whenever the module imports;
* :class:`AhoCorasickPrefilter` — ``pyahocorasick`` over a latin-1 view of the bytes (one
  character per byte, so offsets stay byte offsets), the portable fallback.

Working on bytes lets the caller skip UTF-8 decoding entirely for inputs without a single
anchor — most files of a source tree.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import ahocorasick

__all__ = ["AhoCorasickPrefilter", "HyperscanPrefilter", "Prefilter", "make_prefilter"]


class Prefilter(Protocol):
    """Finds literal anchors in bytes."""

    name: str

    def find(self, data: bytes) -> list[tuple[int, int]]:
        """``(start byte offset, anchor index)`` of every occurrence, in no particular order."""
        ...


class AhoCorasickPrefilter:
    """pyahocorasick over ``data.decode("latin-1")`` (a 1:1 byte→character view)."""

    name = "aho-corasick"

    def __init__(self, anchors: Sequence[str]) -> None:
        self._automaton = ahocorasick.Automaton()
        for i, a in enumerate(anchors):
            self._automaton.add_word(a, (i, len(a)))
        self._automaton.make_automaton()

    def find(self, data: bytes) -> list[tuple[int, int]]:
        """See :meth:`Prefilter.find`."""
        if not data:
            return []
        view = data.decode("latin-1")
        return [(end - n + 1, i) for end, (i, n) in self._automaton.iter(view)]


class HyperscanPrefilter:
    """Hyperscan's pure-literal compiler over the anchors (block mode)."""

    name = "hyperscan"

    def __init__(self, anchors: Sequence[str]) -> None:
        import hyperscan

        self._lengths = [len(a.encode()) for a in anchors]
        self._db: Any = _compiled(tuple(anchors))
        self._scratch: Any = hyperscan.Scratch(self._db)

    def find(self, data: bytes) -> list[tuple[int, int]]:
        """See :meth:`Prefilter.find`."""
        if not data:
            return []
        out: list[tuple[int, int]] = []
        lengths = self._lengths

        def on_match(anchor: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            out.append((to - lengths[anchor], anchor))

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch)
        return out


@functools.lru_cache(maxsize=4)
def _compiled(anchors: tuple[str, ...]) -> Any:
    """The compiled Hyperscan database for ``anchors`` (cached: compiling thousands of
    literals takes tens of milliseconds, and every scanner of a process uses the same set).
    A database is read-only during scans; each prefilter gets its own scratch space.

    The compiled form is also kept on disk (:func:`_cache_path`, serialised with
    ``hyperscan.dumpb``), so a new ``keyroll scan`` process loads it in about a millisecond;
    a missing, stale or unreadable cache file is simply compiled again."""
    import hyperscan

    path = _cache_path(anchors, hyperscan)
    if path is not None:
        try:
            return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
        except (OSError, hyperscan.error, ValueError, TypeError):
            pass
    db = hyperscan.Database()
    db.compile(
        expressions=[a.encode() for a in anchors],
        ids=list(range(len(anchors))),
        elements=len(anchors),
        literal=True,
    )
    if path is not None:
        _store(path, hyperscan.dumpb(db))
    return db


def _cache_path(anchors: tuple[str, ...], hyperscan: Any) -> Path | None:
    """``$XDG_CACHE_HOME/keyroll/prefilter-<digest>.hsdb`` (digest of the anchors and the Hyperscan
    version); ``None`` when ``KEYROLL_NO_CACHE`` is set or there is no home directory."""
    if os.environ.get("KEYROLL_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):
        return None
    digest = hashlib.sha256()
    digest.update(str(getattr(hyperscan, "__version__", "")).encode() + b"\0")
    for a in anchors:
        digest.update(a.encode() + b"\0")
    return Path(base) / "keyroll" / f"prefilter-{digest.hexdigest()[:24]}.hsdb"


def _store(path: Path, data: bytes) -> None:
    """Write the cache file atomically; any failure leaves no file and is not an error."""
    import tempfile  # only when the cache is written: it costs start-up

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".prefilter-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def make_prefilter(anchors: Sequence[str], engine: str | None = None) -> Prefilter:
    """Hyperscan when available (or ``engine="hyperscan"``), else Aho–Corasick.

    :raises ImportError: ``engine="hyperscan"`` was asked for and the module is missing.
    """
    if engine in (None, "hyperscan"):
        try:
            return HyperscanPrefilter(anchors)
        except ImportError:
            if engine == "hyperscan":
                raise
    return AhoCorasickPrefilter(anchors)
