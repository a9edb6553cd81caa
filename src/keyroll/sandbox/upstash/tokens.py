"""Credential formats minted by the Upstash emulation.

The shapes follow what is observable in production (``shared/reference/upstash-api.md`` §2.5,
§3.2) so that detectors and heuristics built for real credentials also work here:

* Redis standard REST token: base64url of ``0x01 | port (2 bytes, big-endian) | 01 36 32 |
  database uuid | password`` (the layout of decoded production tokens) — it embeds the password,
  which is why a password reset kills it.
* Redis read-only REST token: ``0x02 | port | 01 36 32 | uuid | 32 random bytes``.
* ``ACL GENTOKEN`` token (Upstash extension, real layout unknown): ``0x03 | port | MARK | len |
  user | len | password`` — deterministic, so that ``ACL RESTTOKEN user <wrapped password>`` can
  find it again, and self-describing, so that it works directly as a REST bearer token once it
  is the user's password.
* ``ACL RESTTOKEN`` token (real layout unknown): ``0x04 | port | MARK | 32 random bytes`` (bound
  to user + password server-side).
* ``MARK`` (``2a b9 74``, text ``Krl0`` at offset 4) marks the two invented layouts as the
  sandbox's, so ``keyroll scan`` finds them with no key name beside them.
* Vector/Search index tokens: the production v2 layout ``00 | n | r | s | name | role | secret``.
* QStash token: base64 of ``{"UserID": …, "Password": …}`` (``eyJVc2VySUQi…``), signing keys ``sig_…``.

Every format here is found by ``keyroll scan`` on its own (``tests/integration/test_scan_cli.py``).
"""

from __future__ import annotations

import base64
import json
import secrets
import string

__all__ = [
    "GenToken",
    "index_token",
    "new_password",
    "parse_gentoken",
    "qstash_token",
    "redis_gentoken",
    "redis_readonly_token",
    "redis_rest_token",
    "redis_resttoken",
    "signing_key",
]

ACL_MARK = b"\x2a\xb9\x74"
"""bytes 3–5 of the sandbox's ACL tokens (base64 ``Krl0``)"""
_B58 = "".join(c for c in string.ascii_letters + string.digits if c not in "0OIl")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def new_password() -> str:
    """A database password: 32 hex characters."""
    return secrets.token_hex(16)


def redis_rest_token(port: int, database_id: str, password: str) -> str:
    """The standard (full-access) REST token of the ``default`` user."""
    return _b64(
        b"\x01" + port.to_bytes(2, "big") + bytes([1, 36, 32]) + database_id.encode() + password.encode()
    )


def redis_readonly_token(port: int, database_id: str) -> str:
    """A read-only REST token (``default_ro`` user)."""
    return _b64(
        b"\x02"
        + port.to_bytes(2, "big")
        + bytes([1, 36, 32])
        + database_id.encode()
        + secrets.token_bytes(32)
    )


def redis_gentoken(port: int, user: str, password: str) -> str:
    """``ACL GENTOKEN user password``: a token that wraps ``password`` for ``user``."""
    u, p = user.encode(), password.encode()
    if len(u) > 255 or len(p) > 255:
        raise ValueError("user name or password too long")
    return _b64(b"\x03" + port.to_bytes(2, "big") + ACL_MARK + bytes([len(u)]) + u + bytes([len(p)]) + p)


class GenToken:
    """A decoded ``ACL GENTOKEN`` token."""

    __slots__ = ("password", "port", "user")

    def __init__(self, port: int, user: str, password: str) -> None:
        self.port = port
        self.user = user
        self.password = password


def parse_gentoken(token: str) -> GenToken | None:
    """Decode a GENTOKEN token; ``None`` for anything else (never raises)."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii") + b"=" * (-len(token) % 4))
    except (ValueError, UnicodeEncodeError):
        return None
    if len(raw) < 8 or raw[0] != 3 or raw[3:6] != ACL_MARK:
        return None
    port = int.from_bytes(raw[1:3], "big")
    ulen = raw[6]
    user_b = raw[7 : 7 + ulen]
    if len(user_b) != ulen or len(raw) < 8 + ulen:
        return None
    plen = raw[7 + ulen]
    pw_b = raw[8 + ulen : 8 + ulen + plen]
    if len(pw_b) != plen or len(raw) != 8 + ulen + plen:
        return None
    try:
        return GenToken(port, user_b.decode(), pw_b.decode())
    except UnicodeDecodeError:
        return None


def redis_resttoken(port: int) -> str:
    """A REST token minted by ``ACL RESTTOKEN`` (meaningful only with the server's registry)."""
    return _b64(b"\x04" + port.to_bytes(2, "big") + ACL_MARK + secrets.token_bytes(32))


def qstash_token(user_id: str) -> str:
    """A QStash token in the production shape (base64 JSON with a fresh password)."""
    payload = json.dumps({"UserID": user_id, "Password": secrets.token_hex(16)}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def signing_key() -> str:
    """A QStash signing key (``sig_`` + 28 base58 characters)."""
    return "sig_" + "".join(secrets.choice(_B58) for _ in range(28))


def index_token(kind: int, index_id: str) -> str:
    """A Vector/Search token (``kind`` 1 = full access, 2 = read-only) in the production v2 layout:
    ``00 | len(name) | len(role) | len(secret) | name | admin|readonly | secret``."""
    name = f"sandbox-{index_id.replace('-', '')[:12]}".encode()
    role = b"admin" if kind == 1 else b"readonly"
    secret = base64.b64encode(secrets.token_bytes(36))
    return base64.b64encode(bytes([0, len(name), len(role), len(secret)]) + name + role + secret).decode()
