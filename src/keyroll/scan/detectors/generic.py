"""Anything else that looks like a secret: a random value assigned to a token/secret/password key.

Pagination/idempotency tokens (``NextToken``, ``ChangeToken``, ``csrf_token``) are not
credentials and are skipped. Low confidence by design: it exists so that credentials of formats keyroll does not know still
show up, and it yields to every specific detector. Values must be long, random-looking
(entropy, several character classes, a digit) and not code, a path, a URL or a placeholder.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from keyroll.core.model import CredentialKind, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate, Hit
from keyroll.scan.detectors.filters import (
    char_classes,
    entropy,
    form_at,
    is_identifier_like,
    is_placeholder,
    key_start,
)
from keyroll.scan.findings import Certainty, Rule

__all__ = ["GENERIC_SECRET", "GenericSecretDetector", "is_random_value"]

GENERIC_SECRET = Rule(
    id="generic-secret",
    name="Generic secret assignment",
    description="A high-entropy value assigned to a key named like a token, secret, password or API key.",
    product=Product.OTHER,
    kind=CredentialKind.UNKNOWN,
    confidence=Certainty.LOW,
    remedy="if this is a live credential, rotate it and load it from the environment",
)

_WORDS = (
    "token",
    "secret",
    "passw",
    "pwd",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "accesskey",
    "credential",
)
_KEY_SUFFIX_NOT_SECRET = re.compile(
    r"(?i)(?:url|uri|file|path|name|type|id|len|length|field|label|header|prefix|env|var|endpoint|format|"
    r"pattern|regex|dir|count|size|expires|expiry|expiration|at|ttl|kind|mode|hint|policy|class|config|"
    r"tokenizer|tokens|hash|hashed|algorithm|alg|method|scheme|version)$"
)
_HEX = re.compile(r"[0-9a-fA-F]+")
_NOT_SECRET_TOKENS = re.compile(
    r"(?i)(?:next|page|change|idempotency|continuation|cursor|csrf|sync|request)[_-]?token"
)


_ASSIGNED_AFTER = re.compile(r"[A-Za-z0-9_.\-]*[\"'`\]]?[ \t]*[:=]")
"""what must follow an anchor for :attr:`GenericSecretDetector.pattern` to match there: the rest
of the key, then an assignment (a cheap test that rejects most anchors in code: ``self.token)``)"""


_WORTH_A_LOOK_SRC = (
    r"[A-Za-z0-9_.\-]*[\"'`\]]?[ \t]*(?::=|=>|=|:)[ \t]*(?:[A-Za-z]?[\"'`])?"
    r"(?=[A-Za-z0-9_\-+/=.~!@#$%^&*]{0,199}[0-9])[A-Za-z0-9_\-+/=.~!@#$%^&*]{16}"
)
_WORTH_A_LOOK = re.compile(_WORTH_A_LOOK_SRC)
"""the tail of :attr:`GenericSecretDetector.pattern` from an anchor on: the rest of the key, an
assignment and 16 value characters with a digit among the first 200 (the value's; a value
without a digit is not :func:`is_random_value`). The key of a match is one run of key
characters that holds the anchor, so a hit where this does not match cannot give a candidate
(``self.token = None``, ``token = get_token_from_environment()``)."""


def _variants(word: str) -> tuple[str, ...]:
    return (word, word.capitalize(), word.upper())


def is_random_value(value: str) -> bool:
    """Long and random-looking: a digit, two+ character classes, high entropy (hex: lower bar)."""
    if len(value) < 16 or not any(c.isdigit() for c in value) or char_classes(value) < 2:
        return False
    if _HEX.fullmatch(value):
        return len(value) >= 32 and entropy(value) >= 3.0
    return entropy(value) >= 3.5


class GenericSecretDetector(AnchoredDetector):
    """High-entropy values under secret-like key names (``generic-secret``)."""

    rules = (GENERIC_SECRET,)
    anchors = (*(v for w in _WORDS for v in _variants(w)), "apiKey", "ApiKey", "accessKey", "AccessKey")
    priority = 10
    hit_check = re.compile(_WORTH_A_LOOK_SRC.encode())  # ASCII classes: bytes and text agree
    pattern = re.compile(
        r"(?P<key>[A-Za-z0-9_.\-]{1,96})"
        r"[\"'`\]]?[ \t]*(?::=|=>|=|:)[ \t]*(?:[A-Za-z]?[\"'`])?"
        r"(?P<value>[A-Za-z0-9_\-+/=.~!@#$%^&*]{16,200})"
    )

    def find(self, text: str, hits: Sequence[Hit]) -> Iterator[Candidate]:
        # most anchors in code are not assigned a long value (``self.token)``, ``token = None``):
        # drop those before the per-hit machinery (:data:`_WORTH_A_LOOK`; same candidates)
        match = _WORTH_A_LOOK.match
        return super().find(text, [h for h in hits if match(text, h[0])])

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if not _ASSIGNED_AFTER.match(text, pos):
            return
        m = self.pattern.match(text, key_start(text, pos, 48))
        if not m or m.end("key") < pos + len(anchor):
            return
        key = m.group("key")
        value = m.group("value").rstrip(".")
        if (
            _KEY_SUFFIX_NOT_SECRET.search(key.rstrip("_-."))
            or "tokeniz" in key.lower()
            or _NOT_SECRET_TOKENS.search(key)
        ):
            return
        if "://" in value or value.startswith(("/", "./", "~")) or is_placeholder(value):
            return
        if is_identifier_like(value) or not is_random_value(value):
            return
        start = m.start("value")
        end = start + len(value)
        yield Candidate(
            rule=GENERIC_SECRET,
            start=start,
            end=end,
            value=value,
            confidence=Certainty.LOW,
            reason=f"high-entropy value assigned to {key}",
            priority=self.priority,
            key=key,
            form=form_at(text, start, end),
        )
