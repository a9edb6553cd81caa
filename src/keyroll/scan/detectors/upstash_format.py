"""Decoding Upstash REST tokens: what their bytes say, so detectors need no context to be sure.

Upstash does not document its token layouts; these come from decoding public examples
(see /work/shared/reference/upstash-api.md §2.5 and the unit tests for the samples). All are
base64url (sometimes standard base64, sometimes ``=``-padded) of a small binary header:

Redis REST tokens (first byte ``0x01`` standard, ``0x02`` read-only; bytes 1–2 the port)::

    type   port   flag n1 n2  <n1 bytes>                <n2 bytes>
    01|02  2 B    01   36 32  database uuid             password: 32 hex | 32 bytes     (v1)
    01|02  2 B    00   02 n2  "p" digit                 32 hex "p" digits | 32 bytes    (v2)

Vector / Search index tokens::

    v2  00  n  r  s  <name: n chars>  <role: "admin" | "readonly">  <secret: s chars>
    v1  01  port:2  00 24 20  <index uuid>  <32 hex>          (older Vector indexes)

(``n1``/``n2`` are the lengths of the two fields that follow, so the layout checks itself.)

ACL-user tokens (``ACL GENTOKEN`` / ``ACL RESTTOKEN``) have no known production layout and are
found by their context only — except the ones keyroll's own sandbox mints, which carry a marker
(``2a b9 74``, text ``Krl0`` at offset 4; see ``keyroll.sandbox.upstash.tokens``)::

    03  port:2  2a b9 74  ulen  user  plen  password     (GENTOKEN: an ACL password and REST token)
    04  port:2  2a b9 74  <32 bytes>                     (RESTTOKEN: an ACL user's REST token)

Text anchors follow from the fixed header bytes: ``AAI?cD`` at offset 4 of a v2 Redis token,
``ASQg`` (Redis v1) / ``ACQg`` (Vector v1) at offset 4, and the 5-character header of index
tokens at offset 0 (see :func:`index_header_anchors`).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

__all__ = [
    "B64_ALPHABET",
    "SANDBOX_ACL_ANCHOR",
    "IndexToken",
    "RedisToken",
    "decode_b64",
    "index_header_anchors",
    "parse_index_token",
    "parse_redis_token",
    "redis_v2_anchors",
]

B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_B64URL_CHARS = B64_ALPHABET + "-_"
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX32 = re.compile(rb"[0-9a-f]{32}")
_V2_PREFIX = re.compile(rb"p\d")
_V2_STANDARD_BODY = re.compile(rb"[0-9a-f]{32}p\d{1,10}")
_INDEX_NAME = re.compile(rb"[a-z0-9][a-z0-9-]{2,80}")
_INDEX_ROLES = {b"admin": False, b"readonly": True}
_SANDBOX_ACL_MARK = b"\x2a\xb9\x74"
SANDBOX_ACL_ANCHOR = "Krl0"
"""base64 of the sandbox ACL tokens' marker, at offset 4"""
_ACL_USER = re.compile(rb"[!-~]{1,128}")


def decode_b64(token: str) -> bytes | None:
    """Decode base64 or base64url, padded or not; ``None`` if it is not valid base64."""
    core = token.rstrip("=")
    if not core or len(core) % 4 == 1:
        return None
    std = core.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(std + "=" * (-len(std) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class RedisToken:
    """What a Redis REST token's bytes say."""

    readonly: bool
    port: int
    layout: str
    """``v1`` (uuid + password), ``v2``, or ``sandbox-gentoken`` / ``sandbox-resttoken``"""
    acl: bool = False
    """an ACL user's token (``ACL GENTOKEN`` / ``ACL RESTTOKEN``), not the default user's"""


@dataclass(frozen=True)
class IndexToken:
    """What a Vector/Search index token's bytes say."""

    readonly: bool
    name: str
    """the index's endpoint name, e.g. ``prompt-mite-85913-us1`` (not secret)"""
    layout: str


def parse_redis_token(raw: bytes) -> RedisToken | None:
    """A :class:`RedisToken` if ``raw`` (decoded bytes) has a Redis REST token layout."""
    if len(raw) >= 8 and raw[0] in (3, 4) and raw[3:6] == _SANDBOX_ACL_MARK:
        return _parse_sandbox_acl(raw)
    if len(raw) < 38 or raw[0] not in (1, 2):
        return None
    readonly = raw[0] == 2
    port = int.from_bytes(raw[1:3], "big")
    flag, n1, n2 = raw[3], raw[4], raw[5]
    if 6 + n1 + n2 != len(raw):
        return None
    first, second = raw[6 : 6 + n1], raw[6 + n1 :]
    if flag == 1 and n1 == 36 and n2 == 32 and _UUID.fullmatch(first):  # v1: uuid + password
        if readonly or _HEX32.fullmatch(second):
            return RedisToken(readonly, port, "v1")
        return None
    if flag == 0 and n1 == 2 and _V2_PREFIX.fullmatch(first):  # v2: "p<digit>" + body
        if readonly:
            return RedisToken(True, port, "v2") if n2 == 32 else None
        return RedisToken(False, port, "v2") if _V2_STANDARD_BODY.fullmatch(second) else None
    return None


def _parse_sandbox_acl(raw: bytes) -> RedisToken | None:
    port = int.from_bytes(raw[1:3], "big")
    if raw[0] == 4:
        return RedisToken(False, port, "sandbox-resttoken", acl=True) if len(raw) == 38 else None
    ulen = raw[6]
    if len(raw) < 8 + ulen or not _ACL_USER.fullmatch(raw[7 : 7 + ulen]):
        return None
    plen = raw[7 + ulen]
    if plen < 16 or len(raw) != 8 + ulen + plen:
        return None
    return RedisToken(False, port, "sandbox-gentoken", acl=True)


def parse_index_token(raw: bytes) -> IndexToken | None:
    """An :class:`IndexToken` if ``raw`` has a Vector/Search index token layout."""
    if len(raw) < 20:
        return None
    if raw[0] == 0:
        n, r, s = raw[1], raw[2], raw[3]
        if 4 + n + r + s != len(raw):
            return None
        name, role, secret = raw[4 : 4 + n], raw[4 + n : 4 + n + r], raw[4 + n + r :]
        if role not in _INDEX_ROLES or not _INDEX_NAME.fullmatch(name) or len(secret) < 16:
            return None
        if not all(0x21 <= b < 0x7F for b in secret):
            return None
        return IndexToken(_INDEX_ROLES[role], name.decode(), "v2")
    if (
        raw[0] == 1
        and raw[3:6] == b"\x00\x24\x20"
        and len(raw) == 74
        and _UUID.fullmatch(raw[6:42])
        and _HEX32.fullmatch(raw[42:74])
    ):
        return IndexToken(False, "", "v1")
    return None


def redis_v2_anchors() -> tuple[str, ...]:
    """``AAI?cD``: base64 of header bytes 3–7 (``00 02 L "p" digit``) at offset 4 of a v2 token."""
    return tuple(f"AAI{c}cD" for c in _B64URL_CHARS + "+/")


def index_header_anchors() -> tuple[str, ...]:
    """The first five characters of v2 index tokens: ``00 n r`` then the high bits of ``s``.

    ``n`` (name length) is 8–63, ``r`` is 5 (``admin``) or 8 (``readonly``), ``s`` (secret
    length) is 32–63; that gives ``A[B-D][…][FI][I-P]``.
    """
    out: list[str] = []
    for n in range(8, 64):
        for r in (5, 8):
            for s in range(32, 64):
                out.append(base64.b64encode(bytes([0, n, r, s, 0x61, 0x61])).decode()[:5])
    return tuple(sorted(set(out)))
