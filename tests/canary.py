"""The secret canary: fail any test whose output, logs or listed files contain a known secret.

Registered values:
* every :class:`keyroll.core.secret.Secret` of 12+ characters constructed while tests run
  (``Secret.__init__`` is wrapped by :func:`install`), and
* values passed to ``canary.register(...)`` explicitly (e.g. sandbox tokens).

Checked after each test: captured stdout/stderr, every log record (any logger), and the
files given to ``canary.watch(path)`` (journals, reports). Each value is looked for in plain,
URL-encoded (``quote``/``quote_plus``) and base64 (standard, urlsafe, unpadded) forms with
an Aho–Corasick automaton, so thousands of canaries cost little.
"""

from __future__ import annotations

import base64
import logging
import threading
import urllib.parse
from pathlib import Path

import ahocorasick

MIN_LEN = 12

_lock = threading.Lock()
_values: set[str] = set()
_automaton: ahocorasick.Automaton | None = None


def forms(value: str) -> set[str]:
    """The encodings of a value that the canary looks for."""
    raw = value.encode()
    out = {
        value,
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(raw).decode().rstrip("="),
    }
    return {f for f in out if len(f) >= MIN_LEN}


def looks_like_secret(value: str) -> bool:
    """Automatic registration skips word-like values (``qstash_reset``, ``production-db``):
    tests wrap plenty of non-secret strings in Secrets (URLs, names) and those legitimately
    appear in output. A real credential mixes at least two character classes beyond lowercase."""
    classes = sum(
        (
            any(ch.isupper() for ch in value),
            any(ch.isdigit() for ch in value),
            any(not ch.isalnum() and ch not in "_-" for ch in value),
        )
    )
    return classes >= 1 and any(ch.isdigit() or ch.isupper() for ch in value)


def register(value: str, *, explicit: bool = True) -> None:
    """Add a value to the canary set (automatic registrations must look like a secret)."""
    global _automaton
    if not isinstance(value, str) or len(value) < MIN_LEN:
        return
    if not explicit and not looks_like_secret(value):
        return
    with _lock:
        if value not in _values:
            _values.add(value)
            _automaton = None


def forget(value: str) -> None:
    """Drop a value from the canary set: for property tests that wrap hundreds of arbitrary
    strings (``0000000000000``) in Secrets — left registered, they would trip later tests on
    text that merely contains the same characters."""
    global _automaton
    with _lock:
        if value in _values:
            _values.discard(value)
            _automaton = None


def _build() -> ahocorasick.Automaton | None:
    global _automaton
    with _lock:
        if _automaton is None and _values:
            a = ahocorasick.Automaton()
            for v in _values:
                for f in forms(v):
                    a.add_word(f, v)
            a.make_automaton()
            _automaton = a
        return _automaton


def find(text: str) -> list[str]:
    """Fingerprints of every canary value present in ``text`` (in any form)."""
    if not text:
        return []
    a = _build()
    if a is None:
        return []
    from keyroll.core.secret import fingerprint_of

    hits = {fingerprint_of(v) for _, v in a.iter(text)}
    return sorted(hits)


class LogCollector(logging.Handler):
    """Collects every formatted log record of the test (all loggers)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:
            msg = str(record.msg)
        self.texts.append(msg)
        if record.exc_info and record.exc_info[1] is not None:
            self.texts.append(str(record.exc_info[1]))


class Canary:
    """The per-test handle: ``register`` values, ``watch`` files, ``check`` explicitly."""

    def __init__(self) -> None:
        self.files: list[Path] = []

    def register(self, *values: str) -> None:
        """Treat these values as secrets for the rest of the session."""
        for v in values:
            register(v)

    def watch(self, *paths: Path | str) -> None:
        """Scan these files (or every file under these directories) after the test."""
        self.files.extend(Path(p) for p in paths)

    def check_text(self, text: str, where: str = "text") -> None:
        """Fail now if ``text`` holds a canary."""
        hits = find(text)
        assert not hits, f"secret canary: {where} contains {hits}"

    def scan_files(self) -> list[str]:
        """Problems found in watched files."""
        problems = []
        for p in self.files:
            targets = [q for q in p.rglob("*") if q.is_file()] if p.is_dir() else [p]
            for q in targets:
                if not q.exists():
                    continue
                text = q.read_bytes().decode("utf-8", "replace")
                hits = find(text)
                if hits:
                    problems.append(f"{q}: {hits}")
        return problems


_installed = False


def install() -> None:
    """Wrap ``Secret.__init__`` so every secret value created in tests becomes a canary."""
    global _installed
    if _installed:
        return
    from keyroll.core.secret import Secret

    original = Secret.__init__

    def init(self: Secret, value: str) -> None:
        original(self, value)
        register(self.reveal(), explicit=False)

    Secret.__init__ = init  # type: ignore[method-assign]
    _installed = True
