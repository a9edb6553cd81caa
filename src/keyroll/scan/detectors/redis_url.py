"""Redis connection URLs that carry a password: ``redis[s]://user:<password>@host:port``.

On an Upstash host (``*.upstash.io``, or Vercel KV's ``*.kv.vercel-storage.com``) the password
is an Upstash credential (in newer databases the standard REST token itself): high confidence.
Any other host gives the lower-confidence ``redis-url-password`` rule. The reported value is the
password (URL-decoded), so its fingerprint matches the same credential found elsewhere.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator

from keyroll.core.model import CredentialKind, Form, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import entropy, is_placeholder, key_before
from keyroll.scan.findings import Certainty, Rule

__all__ = ["REDIS_URL_PASSWORD", "UPSTASH_REDIS_URL", "RedisUrlDetector", "is_upstash_host"]

UPSTASH_REDIS_URL = Rule(
    id="upstash-redis-url",
    name="Upstash Redis URL with password",
    description="A redis:// or rediss:// URL with the database password on an Upstash (or Vercel KV) host.",
    product=Product.REDIS,
    kind=CredentialKind.URL_WITH_PASSWORD,
    confidence=Certainty.HIGH,
    upstash=True,
)
REDIS_URL_PASSWORD = Rule(
    id="redis-url-password",
    name="Redis URL with password",
    description="A redis:// or rediss:// URL with a password, on a host that is not known to be Upstash.",
    product=Product.OTHER,
    kind=CredentialKind.URL_WITH_PASSWORD,
    confidence=Certainty.MEDIUM,
    remedy="rotate the password and read it from the environment instead",
)

_UPSTASH_SUFFIXES = (".upstash.io", ".kv.vercel-storage.com")
_LOCAL_HOSTS = re.compile(
    r"^(?:localhost|127\.[\d.]+|0\.0\.0\.0|redis|host|hostname|example\.\w+|.*\.example\.\w+)$"
)


def is_upstash_host(host: str) -> bool:
    """``*.upstash.io`` or Vercel KV's ``*.kv.vercel-storage.com``."""
    h = host.lower().rstrip(".")
    return h == "upstash.io" or h.endswith(_UPSTASH_SUFFIXES)


class RedisUrlDetector(AnchoredDetector):
    """Passwords in Redis URLs (``upstash-redis-url``, ``redis-url-password``)."""

    rules = (UPSTASH_REDIS_URL, REDIS_URL_PASSWORD)
    anchors = ("redis://", "rediss://", "REDIS://", "REDISS://", "Redis://", "Rediss://")
    priority = 80
    pattern = re.compile(
        r"(?<![A-Za-z0-9+.-])(?i:rediss?)://"
        r"(?P<user>[^\s:@/\"'`<>\\]{0,128}):(?P<pw>[^\s@/\"'`<>\\]{1,512})@"
        r"(?P<host>[A-Za-z0-9][A-Za-z0-9.\-_]{0,253})"
    )

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        m = self.pattern.match(text, pos)
        if not m:
            return
        raw_pw = m.group("pw")
        pw = urllib.parse.unquote(raw_pw) if "%" in raw_pw else raw_pw
        if is_placeholder(pw):
            return
        host = m.group("host")
        start, end = m.span("pw")
        if is_upstash_host(host):
            rule, confidence, priority = UPSTASH_REDIS_URL, Certainty.HIGH, self.priority
            reason = f"password in a Redis URL on {host.lower()}"
        else:
            strong = len(pw) >= 12 and entropy(pw) >= 3.0 and not _LOCAL_HOSTS.match(host.lower())
            rule, priority = REDIS_URL_PASSWORD, 40
            confidence = Certainty.MEDIUM if strong else Certainty.LOW
            reason = "password in a Redis URL"
        yield Candidate(
            rule=rule,
            start=start,
            end=end,
            value=pw,
            confidence=confidence,
            reason=reason,
            priority=priority,
            key=key_before(text, m.start()),
            form=Form.URL_ENCODED if pw != raw_pw else Form.URL,
        )
