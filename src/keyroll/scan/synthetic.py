"""Random credentials in the real formats, for tests, benchmarks and the sandbox.

Every function returns a fresh random value with the layout the detectors verify (see
:mod:`keyroll.scan.detectors.upstash_format` and :mod:`keyroll.scan.detectors.vercel`), as a
:class:`~keyroll.core.secret.Secret`. None of them is, or was, a live credential; keeping
literal tokens out of source files also keeps the repository's own scan clean.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import string
import uuid

from keyroll.core.secret import Secret
from keyroll.scan.detectors.vercel import checksum

__all__ = [
    "index_token",
    "opaque_token",
    "qstash_signing_key",
    "qstash_token",
    "redis_token",
    "upstash_host",
    "vercel_legacy_token",
    "vercel_token",
]

_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_WORDS = ("amused", "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucky", "noble")
_ANIMALS = ("otter", "lynx", "heron", "badger", "marmot", "stork", "walrus", "gecko", "mollusk", "sawfly")


def _b64url(raw: bytes, *, pad: bool = False) -> str:
    out = base64.urlsafe_b64encode(raw).decode()
    return out if pad else out.rstrip("=")


def upstash_host(rng: random.Random | None = None) -> tuple[str, int]:
    """A database host like ``keen-otter-35682.upstash.io`` and its port number."""
    r = rng or random.SystemRandom()
    port = r.randrange(10000, 65000)
    return f"{r.choice(_WORDS)}-{r.choice(_ANIMALS)}-{port}.upstash.io", port


def redis_token(
    *, readonly: bool = False, port: int | None = None, layout: str = "v2", pad: bool = False
) -> Secret:
    """An Upstash Redis REST token (``v2``: current layout; ``v1``: UUID + password layout)."""
    port = port if port is not None else secrets.randbelow(55000) + 10000
    head = bytes([2 if readonly else 1]) + port.to_bytes(2, "big")
    if layout == "v1":
        second = secrets.token_bytes(32) if readonly else secrets.token_hex(16).encode()
        raw = head + b"\x01\x24\x20" + str(uuid.uuid4()).encode() + second
    else:
        region = str(secrets.randbelow(3) + 1).encode()
        second = (
            secrets.token_bytes(32)
            if readonly
            else secrets.token_hex(16).encode() + b"p" + region + str(port).encode()
        )
        raw = head + bytes([0, 2, len(second)]) + b"p" + region + second
    return Secret(_b64url(raw, pad=pad))


def index_token(*, name: str | None = None, readonly: bool = False, layout: str = "v2") -> Secret:
    """An Upstash Vector/Search index token for the index endpoint ``name``."""
    if layout == "v1":
        port = secrets.randbelow(55000) + 10000
        raw = (
            b"\x01"
            + port.to_bytes(2, "big")
            + b"\x00\x24\x20"
            + str(uuid.uuid4()).encode()
            + secrets.token_hex(16).encode()
        )
        return Secret(_b64url(raw, pad=True))
    r = random.SystemRandom()
    name = name or f"{r.choice(_WORDS)}-{r.choice(_ANIMALS)}-{r.randrange(10000, 99999)}-us1"
    role = b"readonly" if readonly else b"admin"
    secret = base64.b64encode(str(uuid.uuid4()).encode())
    raw = bytes([0, len(name), len(role), len(secret)]) + name.encode() + role + secret
    return Secret(base64.b64encode(raw).decode())


def qstash_token() -> Secret:
    """A QStash token: base64 of ``{"UserID": <uuid>, "Password": <32 hex>}``."""
    body = json.dumps({"UserID": str(uuid.uuid4()), "Password": secrets.token_hex(16)}, separators=(",", ":"))
    return Secret(base64.b64encode(body.encode()).decode())


def qstash_signing_key() -> Secret:
    """A QStash signing key: ``sig_`` + 28 base58 characters (with a digit and both cases)."""
    while True:
        body = "".join(secrets.choice(_BASE58) for _ in range(28))
        if (
            any(c.isdigit() for c in body)
            and any(c.isupper() for c in body)
            and any(c.islower() for c in body)
        ):
            return Secret("sig_" + body)


def opaque_token() -> Secret:
    """A random token of no known layout, like an ACL-user token from ``ACL GENTOKEN``: only its
    context (key name, SDK call, Upstash host) can tell what it is. It starts with a letter and
    holds at least four digits, so it reads as random to every filter."""
    while True:
        value = secrets.token_urlsafe(30)
        if sum(c.isdigit() for c in value) >= 4 and value[0].isalpha():
            return Secret(value)


def vercel_token(prefix: str = "vcp") -> Secret:
    """A prefixed Vercel token (``vcp``/``vci``/``vca``/``vcr``/``vck``) with a valid checksum."""
    alphabet = string.ascii_letters + string.digits
    body = "".join(secrets.choice(alphabet) for _ in range(50))
    return Secret(f"{prefix}_{body}{checksum(body)}")


def vercel_legacy_token() -> Secret:
    """A 24-character legacy Vercel token (digits and both cases)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        value = "".join(secrets.choice(alphabet) for _ in range(24))
        if (
            any(c.isdigit() for c in value)
            and any(c.isupper() for c in value)
            and any(c.islower() for c in value)
        ):
            return Secret(value)
