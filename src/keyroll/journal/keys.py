"""The journal key: where it comes from and how it becomes an AES-256 key.

Sources, in order (:func:`resolve_journal_key`):

1. ``KEYROLL_JOURNAL_KEY`` — a passphrase of at least 32 characters, stretched with scrypt
   (salt stored in the journal);
2. the OS keyring (``keyring`` package, service ``keyroll``) — 32 random bytes created with the
   journal, when a real keyring backend is available;
3. an interactive passphrase prompt, injected by the CLI.

A :class:`JournalKey` never exposes its material in ``repr``; derived keys are cached per salt so
that scrypt runs once per process.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from keyroll.core.errors import ConfigError
from keyroll.core.secret import Secret

__all__ = ["MIN_PASSPHRASE", "JournalKey", "resolve_journal_key"]

log = logging.getLogger(__name__)

MIN_PASSPHRASE = 32
"""Shortest accepted ``KEYROLL_JOURNAL_KEY`` / prompted passphrase."""

KEYRING_SERVICE = "keyroll"

# scrypt cost: ~50 ms and 32 MiB on a laptop core; the salt is per journal.
_SCRYPT_N = 2**15
_SCRYPT_R = 8
_SCRYPT_P = 1


class JournalKey:
    """Key material for one journal. :meth:`derive` turns it into the 32-byte AES/HMAC root key."""

    __slots__ = ("_cache", "_kind", "_material", "source")

    def __init__(self, material: Secret, *, kind: str, source: str) -> None:
        self._material = material
        self._kind = kind
        self.source = source
        """``env``, ``keyring``, ``prompt`` or ``raw`` — recorded in the journal (never the key)"""
        self._cache: dict[bytes, bytes] = {}

    @classmethod
    def from_passphrase(cls, passphrase: Secret, *, source: str = "env") -> JournalKey:
        """A passphrase key.

        :raises ConfigError: shorter than :data:`MIN_PASSPHRASE` characters.
        """
        if len(passphrase) < MIN_PASSPHRASE:
            raise ConfigError(
                f"the journal passphrase is too short ({len(passphrase)} characters)",
                hint=f"use at least {MIN_PASSPHRASE} characters, e.g. `openssl rand -base64 33`",
            )
        return cls(passphrase, kind="passphrase", source=source)

    @classmethod
    def from_bytes(cls, raw: bytes, *, source: str = "raw") -> JournalKey:
        """A random 32-byte key (keyring, tests)."""
        if len(raw) < 32:
            raise ConfigError("a raw journal key must have 32 bytes")
        return cls(Secret(base64.b64encode(raw).decode()), kind="raw", source=source)

    @classmethod
    def generate(cls, *, source: str = "raw") -> JournalKey:
        """A fresh random key."""
        return cls.from_bytes(os.urandom(32), source=source)

    def derive(self, salt: bytes) -> bytes:
        """The 32-byte root key for a journal with ``salt`` (scrypt for passphrases, HKDF for raw keys)."""
        if salt in self._cache:
            return self._cache[salt]
        if self._kind == "passphrase":
            key = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P).derive(
                self._material.reveal().encode("utf-8")
            )
        else:
            raw = base64.b64decode(self._material.reveal())
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"keyroll-journal").derive(raw)
        self._cache[salt] = key
        return key

    def exported(self) -> Secret:
        """The material to store in a keyring (base64 for raw keys)."""
        return self._material

    def __repr__(self) -> str:
        return f"JournalKey({self._kind}, source={self.source})"


def _keyring_usable() -> bool:
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:  # a broken backend configuration must not stop keyroll
        return False
    if isinstance(backend, fail.Keyring):
        return False
    priority = getattr(backend, "priority", 0)
    return bool(priority and priority > 0)


def _keyring_entry(path: Path) -> str:
    return f"journal:{path.resolve()}"


def _from_keyring(path: Path, *, create: bool) -> JournalKey | None:
    if not _keyring_usable():
        return None
    import keyring

    entry = _keyring_entry(path)
    try:
        stored = keyring.get_password(KEYRING_SERVICE, entry)
    except Exception as exc:
        log.debug("keyring read failed: %s", type(exc).__name__)
        return None
    if stored:
        try:
            return JournalKey.from_bytes(base64.b64decode(stored), source="keyring")
        except (ValueError, ConfigError):
            return None
    if not create or path.exists():
        return None
    key = JournalKey.generate(source="keyring")
    try:
        keyring.set_password(KEYRING_SERVICE, entry, key.exported().reveal())
    except Exception as exc:
        log.debug("keyring write failed: %s", type(exc).__name__)
        return None
    return key


def resolve_journal_key(
    env_key: Secret | None,
    path: Path,
    *,
    create: bool = False,
    prompt: Callable[[], Secret] | None = None,
    use_keyring: bool = True,
) -> JournalKey | None:
    """Find the key for the journal at ``path``: env passphrase, OS keyring, then ``prompt``.

    :param env_key: the value of ``KEYROLL_JOURNAL_KEY`` (``Config.journal_key``).
    :param create: the journal is about to be created (a keyring key may be generated).
    :returns: ``None`` when no source has a key (readers can still open the journal).
    :raises ConfigError: a passphrase shorter than 32 characters.
    """
    if env_key is not None:
        return JournalKey.from_passphrase(env_key, source="env")
    if use_keyring:
        key = _from_keyring(path, create=create)
        if key is not None:
            return key
    if prompt is not None:
        return JournalKey.from_passphrase(prompt(), source="prompt")
    return None
