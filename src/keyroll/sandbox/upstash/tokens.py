"""Credential formats minted by the Upstash emulation.

The shapes follow what is observable in production (``shared/reference/upstash-api.md`` §2.5,
§3.2) so that detectors and heuristics built for real credentials also work here:

* Redis standard REST token: base64url of ``0x01 | port (2 bytes, big-endian) | 36 | 32 |
  database uuid | password`` — it embeds the password, which is why a password reset kills it.
* Redis read-only REST token: ``0x02 | port | 36 | 32 | uuid | 32 random bytes``.
* ``ACL GENTOKEN`` token (Upstash extension): ``0x03 | port | len | user | len | password`` —
  deterministic, so that ``ACL RESTTOKEN user <wrapped password>`` can find it again, and
  self-describing, so that it works directly as a REST bearer token once it is the user's password.
* ``ACL RESTTOKEN`` token: ``0x04 | port | 32 random bytes`` (bound to user + password server-side).
* QStash token: base64 of ``{"UserID": …, "Password": …}`` (``eyJVc2VySUQi…``), signing keys ``sig_…``.
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

_B58 = "".join(c for c in string.ascii_letters + string.digits if c not in "0OIl")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


def new_password() -> str:
    """A database password: 32 hex characters."""
    return secrets.token_hex(16)


def redis_rest_token(port: int, database_id: str, password: str) -> str:
    """The standard (full-access) REST token of the ``default`` user."""
    return _b64(
        b"\x01" + port.to_bytes(2, "big") + bytes([36, 32]) + database_id.encode() + password.encode()
    )


def redis_readonly_token(port: int, database_id: str) -> str:
    """A read-only REST token (``default_ro`` user)."""
    return _b64(
        b"\x02" + port.to_bytes(2, "big") + bytes([36, 32]) + database_id.encode() + secrets.token_bytes(32)
    )


def redis_gentoken(port: int, user: str, password: str) -> str:
    """``ACL GENTOKEN user password``: a token that wraps ``password`` for ``user``."""
    u, p = user.encode(), password.encode()
    if len(u) > 255 or len(p) > 255:
        raise ValueError("user name or password too long")
    return _b64(b"\x03" + port.to_bytes(2, "big") + bytes([len(u)]) + u + bytes([len(p)]) + p)


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
    if len(raw) < 5 or raw[0] != 3:
        return None
    port = int.from_bytes(raw[1:3], "big")
    ulen = raw[3]
    user_b = raw[4 : 4 + ulen]
    if len(user_b) != ulen or len(raw) < 5 + ulen:
        return None
    plen = raw[4 + ulen]
    pw_b = raw[5 + ulen : 5 + ulen + plen]
    if len(pw_b) != plen or len(raw) != 5 + ulen + plen:
        return None
    try:
        return GenToken(port, user_b.decode(), pw_b.decode())
    except UnicodeDecodeError:
        return None


def redis_resttoken(port: int) -> str:
    """A REST token minted by ``ACL RESTTOKEN`` (meaningful only with the server's registry)."""
    return _b64(b"\x04" + port.to_bytes(2, "big") + secrets.token_bytes(32))


def qstash_token(user_id: str) -> str:
    """A QStash token in the production shape (base64 JSON with a fresh password)."""
    payload = json.dumps({"UserID": user_id, "Password": secrets.token_hex(16)}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def signing_key() -> str:
    """A QStash signing key (``sig_`` + 28 base58 characters)."""
    return "sig_" + "".join(secrets.choice(_B58) for _ in range(28))


def index_token(kind: int, index_id: str) -> str:
    """A Vector/Search token (``kind`` 1 = full access, 2 = read-only)."""
    return _b64(bytes([kind]) + index_id.encode() + b":" + secrets.token_bytes(24))
