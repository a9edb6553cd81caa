"""Upstash Redis REST tokens, standard and read-only, recognised by their decoded structure.

No context needed: a candidate is reported only if it base64-decodes to one of the layouts in
:mod:`keyroll.scan.detectors.upstash_format` (type byte, port, fixed header, database UUID or
``p<digit>`` body). Key names (``UPSTASH_REDIS_REST_TOKEN``, ``KV_REST_API_TOKEN`` …) are kept
as the finding's ``key`` but do not change the verdict.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from keyroll.core.model import CredentialKind, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import form_at, key_before
from keyroll.scan.detectors.upstash_format import (
    SANDBOX_ACL_ANCHOR,
    decode_b64,
    parse_redis_token,
    redis_v2_anchors,
)
from keyroll.scan.findings import Certainty, Rule

__all__ = ["REDIS_READONLY_TOKEN", "REDIS_REST_TOKEN", "UpstashRedisTokenDetector", "token_run"]

REDIS_REST_TOKEN = Rule(
    id="upstash-redis-rest-token",
    name="Upstash Redis REST token",
    description="A standard (read-write) Upstash Redis REST token; in newer databases it is also the TCP password.",
    product=Product.REDIS,
    kind=CredentialKind.REST_TOKEN,
    confidence=Certainty.HIGH,
    upstash=True,
)
REDIS_READONLY_TOKEN = Rule(
    id="upstash-redis-readonly-token",
    name="Upstash Redis read-only REST token",
    description="A read-only Upstash Redis REST token (reads keys; rotated with the database password).",
    product=Product.REDIS,
    kind=CredentialKind.READONLY_REST_TOKEN,
    confidence=Certainty.HIGH,
    upstash=True,
)

_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")
_RUN = re.compile(r"[A-Za-z0-9_\-+/]{24,600}={0,2}")
_URLSAFE_RUN = re.compile(r"[A-Za-z0-9_\-]{24,600}={0,2}")


def token_run(text: str, start: int) -> list[str]:
    """The base64 run(s) starting at ``start`` (full alphabet, then URL-safe only), or ``[]``.

    ``[]`` when ``start`` is inside a longer run (the character before is base64 too).
    """
    if start < 0 or (start > 0 and text[start - 1] in _B64_CHARS):
        return []
    out = []
    for rx in (_RUN, _URLSAFE_RUN):
        m = rx.match(text, start)
        if m and m.group() not in out:
            out.append(m.group())
    return out


class UpstashRedisTokenDetector(AnchoredDetector):
    """Upstash Redis REST tokens (``upstash-redis-rest-token``, ``upstash-redis-readonly-token``)."""

    rules = (REDIS_REST_TOKEN, REDIS_READONLY_TOKEN)
    anchors = ("ASQg", SANDBOX_ACL_ANCHOR, *redis_v2_anchors())
    priority = 100

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        start = pos - 4  # every anchor sits at offset 4 of the token
        for value in token_run(text, start):
            raw = decode_b64(value)
            info = parse_redis_token(raw) if raw else None
            if info is None:
                continue
            end = start + len(value)
            rule = REDIS_READONLY_TOKEN if info.readonly else REDIS_REST_TOKEN
            yield Candidate(
                rule=rule,
                start=start,
                end=end,
                value=value,
                confidence=Certainty.HIGH,
                reason=f"token structure ({info.layout}, port {info.port})",
                priority=self.priority,
                kind=(
                    CredentialKind.ACL_PASSWORD
                    if info.layout == "sandbox-gentoken"
                    else CredentialKind.ACL_REST_TOKEN
                )
                if info.acl
                else None,
                key=key_before(text, start),
                form=form_at(text, start, end),
            )
            return
