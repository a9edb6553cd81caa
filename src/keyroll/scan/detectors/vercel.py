"""Vercel credentials: prefixed tokens (checksum-verified) and legacy 24-character tokens (context).

Since 2025 Vercel tokens carry a type prefix (vercel.com/changelog/new-token-formats-and-secret-scanning):
``vcp_`` personal access token, ``vci_`` integration token, ``vca_`` app access token, ``vcr_``
app refresh token, ``vck_`` API key. The body is 50 characters of ``[A-Za-z0-9_-]`` followed by
a 6-character Base62 (``0-9A-Za-z``) CRC-32 of the body, which we verify — no context needed.

Older tokens are 24 alphanumerics with no marker, so they are only reported next to a Vercel
key name (``VERCEL_TOKEN=…``, ``vercel_access_token: …``) or ``vercel … --token …``.
"""

from __future__ import annotations

import re
import string
import zlib
from collections.abc import Iterator

from keyroll.core.model import CredentialKind, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import char_classes, entropy, form_at, is_placeholder, key_before
from keyroll.scan.findings import Certainty, Rule

__all__ = [
    "VERCEL_LEGACY_TOKEN",
    "VERCEL_TOKEN",
    "VercelLegacyTokenDetector",
    "VercelTokenDetector",
    "checksum",
]

VERCEL_TOKEN = Rule(
    id="vercel-access-token",
    name="Vercel token",
    description="A Vercel access token or API key (vcp_/vci_/vca_/vcr_/vck_ prefix, checksum verified).",
    product=Product.VERCEL,
    kind=CredentialKind.ACCESS_TOKEN,
    confidence=Certainty.HIGH,
    remedy="delete the token at vercel.com/account/tokens (or the integration / app) and create a new one",
)
VERCEL_LEGACY_TOKEN = Rule(
    id="vercel-legacy-token",
    name="Vercel token (legacy format)",
    description="A 24-character Vercel access token next to a Vercel key name or --token flag.",
    product=Product.VERCEL,
    kind=CredentialKind.ACCESS_TOKEN,
    confidence=Certainty.MEDIUM,
    remedy=VERCEL_TOKEN.remedy,
)

_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
_TOKEN = re.compile(r"vc[pikar]_(?P<body>[A-Za-z0-9_-]{50})(?P<crc>[A-Za-z0-9]{6})(?![A-Za-z0-9_-])")
_KINDS = {
    "vcp": "personal access token",
    "vci": "integration token",
    "vca": "app access token",
    "vcr": "app refresh token",
    "vck": "API key",
}


def checksum(body: str) -> str:
    """Base62 of the CRC-32 of ``body``, left-padded to 6 characters."""
    n = zlib.crc32(body.encode())
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _BASE62[r] + out
    return out.rjust(6, "0")


class VercelTokenDetector(AnchoredDetector):
    """Prefixed Vercel tokens (``vercel-access-token``)."""

    rules = (VERCEL_TOKEN,)
    anchors = tuple(f"{p}_" for p in _KINDS)
    priority = 95

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if pos > 0 and (text[pos - 1].isalnum() or text[pos - 1] in "_-"):
            return
        m = _TOKEN.match(text, pos)
        if not m or checksum(m.group("body")) != m.group("crc"):
            return
        start, end = m.span()
        yield Candidate(
            rule=VERCEL_TOKEN,
            start=start,
            end=end,
            value=m.group(),
            confidence=Certainty.HIGH,
            reason=f"{_KINDS[anchor[:3]]} (checksum verified)",
            priority=self.priority,
            key=key_before(text, start),
            form=form_at(text, start, end),
        )


class VercelLegacyTokenDetector(AnchoredDetector):
    """24-character Vercel tokens next to a Vercel key name or CLI flag (``vercel-legacy-token``)."""

    rules = (VERCEL_LEGACY_TOKEN,)
    anchors = ("vercel", "Vercel", "VERCEL")
    priority = 50
    pattern = re.compile(
        r"(?i:vercel)(?:"
        r"[A-Za-z0-9_.\-]{0,24}?(?i:token|key|secret|auth)[A-Za-z0-9_]*[\"'`\]]?[ \t]*(?::=|=>|=|:)[ \t]*"
        r"|[^\n]{0,160}?(?:--token[= ]|\s-t\s))"
        r"[\"'`]?(?P<value>[A-Za-z0-9]{24})(?![A-Za-z0-9_\-+/=])"
    )

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        m = self.pattern.match(text, pos)
        if not m:
            return
        value = m.group("value")
        if char_classes(value) < 3 or entropy(value) < 3.5 or is_placeholder(value):
            return
        start, end = m.span("value")
        yield Candidate(
            rule=VERCEL_LEGACY_TOKEN,
            start=start,
            end=end,
            value=value,
            confidence=Certainty.MEDIUM,
            reason="24-character token next to a Vercel key or --token",
            priority=self.priority,
            key=key_before(text, start),
            form=form_at(text, start, end),
        )
