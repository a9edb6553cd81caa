"""The :class:`Secret` type: a credential value that never prints itself.

Every credential value in keyroll travels as a ``Secret``. ``str``, ``repr``, ``format``,
f-strings, logging, pickling, ``json.dumps`` and exception messages only ever show the
fingerprint (``sha256:`` + 8 hex characters of the SHA-256 of the value). The value is only
reachable through :meth:`Secret.reveal`, which call sites use at the last moment (an HTTP
body, a Redis command) and never for display.
"""

from __future__ import annotations

import hashlib
from typing import Any, NewType, NoReturn

Fingerprint = NewType("Fingerprint", str)

__all__ = ["Fingerprint", "Secret", "fingerprint_of", "last4"]


def fingerprint_of(value: str | bytes) -> Fingerprint:
    """Return the public identifier of a value: ``sha256:`` + the first 8 hex chars of its SHA-256."""
    raw = value.encode("utf-8") if isinstance(value, str) else value
    return Fingerprint("sha256:" + hashlib.sha256(raw).hexdigest()[:8])


def last4(value: str) -> str:
    """The last four characters of a value, the most a report may show (``…wxyz``)."""
    return value[-4:] if len(value) >= 12 else ""


class Secret:
    """A string-like credential value that only ever shows its fingerprint.

    Equality and hashing compare values (so secrets can be set members and dict keys)
    without exposing them. ``bool(secret)`` is ``False`` for an empty value.
    """

    __slots__ = ("_fingerprint", "_value")
    _value: str
    _fingerprint: Fingerprint

    def __init__(self, value: str) -> None:
        raw: object = value
        if isinstance(raw, Secret):
            raw = raw.reveal()
        if not isinstance(raw, str):
            raise TypeError("Secret expects a str value")
        value = raw
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "_fingerprint", fingerprint_of(value))

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError("Secret is immutable")

    @property
    def fingerprint(self) -> Fingerprint:
        """``sha256:`` + 8 hex characters; safe to print, log and store."""
        return self._fingerprint

    @property
    def last4(self) -> str:
        """The last four characters (empty for short values); the most a report may show."""
        return last4(self._value)

    def reveal(self) -> str:
        """The plaintext value. Use only to send it where it belongs, never to display it."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("keyroll.Secret", self._value))

    def __repr__(self) -> str:
        return f"Secret({self._fingerprint})"

    def __str__(self) -> str:
        return f"<secret {self._fingerprint}>"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; store its fingerprint instead")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; store its fingerprint instead")

    def __iter__(self) -> NoReturn:
        raise TypeError("a Secret is not iterable; call reveal() where the value is really needed")

    def __getitem__(self, item: Any) -> NoReturn:
        raise TypeError("a Secret is not subscriptable; call reveal() where the value is really needed")

    def __json__(self) -> str:
        """Used by :func:`keyroll.core.jsonutil.dumps`: a Secret serialises to its fingerprint."""
        return str(self._fingerprint)
