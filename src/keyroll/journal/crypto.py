"""Encryption of journaled values and the MAC over the hash chain.

One root key per journal comes from its :class:`~keyroll.journal.keys.JournalKey` and the
journal's ``salt`` (``meta.salt``); HKDF splits it into

* an AES-256-GCM key for ``secrets``: each value is encrypted with a fresh 12-byte nonce, and
  the run id, name and fingerprint are bound as associated data, so a ciphertext copied to
  another row does not decrypt;
* an HMAC-SHA256 key over each entry's chain hash, so the chain cannot be rewritten without the key.

``meta.key_check`` holds a known plaintext encrypted with the first key used: a wrong key is
reported as such instead of as tampered secrets.
"""

from __future__ import annotations

import base64
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyroll.journal.keys import JournalKey

__all__ = ["Sealer"]

_KEY_CHECK = b"keyroll-journal-key-check"


class Sealer:
    """The encryption and MAC keys of one journal (derived from its key and salt)."""

    __slots__ = ("_enc", "_mac_key")

    def __init__(self, key: JournalKey, salt: bytes) -> None:
        root = key.derive(salt)
        self._enc = AESGCM(HKDF(hashes.SHA256(), 32, salt, b"enc").derive(root))
        self._mac_key = HKDF(hashes.SHA256(), 32, salt, b"mac").derive(root)

    # -- the key check ---------------------------------------------------------------------
    def key_check(self) -> str:
        """A new ``meta.key_check`` value for this key."""
        nonce = os.urandom(12)
        return base64.b64encode(nonce + self._enc.encrypt(nonce, _KEY_CHECK, b"key-check")).decode()

    def matches(self, key_check: str) -> bool:
        """True when ``key_check`` was made with this key."""
        raw = base64.b64decode(key_check)
        try:
            self._enc.decrypt(raw[:12], raw[12:], b"key-check")
        except InvalidTag:
            return False
        return True

    # -- entries ---------------------------------------------------------------------------
    def mac(self, digest: str) -> str:
        """The MAC of an entry's chain hash."""
        return hmac.new(self._mac_key, digest.encode(), "sha256").hexdigest()

    def mac_ok(self, digest: str, mac: str) -> bool:
        """True when ``mac`` is the MAC of ``digest``."""
        return hmac.compare_digest(self.mac(digest), mac)

    # -- secrets ---------------------------------------------------------------------------
    @staticmethod
    def _aad(run_id: str, name: str, fingerprint: str) -> bytes:
        return f"{run_id}\0{name}\0{fingerprint}".encode()

    def seal(self, run_id: str, name: str, fingerprint: str, plain: bytes) -> tuple[bytes, bytes]:
        """``(nonce, ciphertext)`` of one value."""
        nonce = os.urandom(12)
        return nonce, self._enc.encrypt(nonce, plain, self._aad(run_id, name, fingerprint))

    def open(self, run_id: str, name: str, fingerprint: str, nonce: bytes, ciphertext: bytes) -> bytes:
        """The plaintext of one value.

        :raises cryptography.exceptions.InvalidTag: wrong key, or a tampered row.
        """
        return self._enc.decrypt(nonce, ciphertext, self._aad(run_id, name, fingerprint))
