"""Upstash credentials found by the variable they are assigned to, whatever their format.

``UPSTASH_REDIS_REST_TOKEN=…``, ``KV_REST_API_READ_ONLY_TOKEN: "…"``, ``QSTASH_NEXT_SIGNING_KEY``,
``"upstash_vector_rest_token": "…"``, ``upstash-redis-rest-token:`` (Kubernetes),
``upstashRedisRestToken: "…"`` (JS config) — in ``.env`` files, YAML, JSON, shell exports, CI configs.
This catches credentials whose format cannot be verified (ACL-user tokens, passwords, future
layouts) at medium confidence; a value whose structure verifies is reported by the structural
detectors instead (they win the overlap and keep this key name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from keyroll.core.model import CredentialKind, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import (
    char_classes,
    entropy,
    form_at,
    is_identifier_like,
    is_placeholder,
    key_start,
)
from keyroll.scan.detectors.qstash import QSTASH_SIGNING_KEY, QSTASH_TOKEN, is_real_login
from keyroll.scan.detectors.upstash_format import decode_b64
from keyroll.scan.detectors.upstash_index import SEARCH_TOKEN, VECTOR_TOKEN
from keyroll.scan.detectors.upstash_redis import REDIS_READONLY_TOKEN, REDIS_REST_TOKEN
from keyroll.scan.findings import Certainty, Rule

__all__ = ["DEVELOPER_API_KEY", "REDIS_PASSWORD", "UpstashEnvDetector", "classify_key", "is_credential_value"]

REDIS_PASSWORD = Rule(
    id="upstash-redis-password",
    name="Upstash Redis password",
    description="An Upstash Redis password (TCP) assigned to an Upstash/KV variable.",
    product=Product.REDIS,
    kind=CredentialKind.PASSWORD,
    confidence=Certainty.MEDIUM,
    upstash=True,
)
DEVELOPER_API_KEY = Rule(
    id="upstash-developer-api-key",
    name="Upstash Developer API key",
    description="An Upstash management (Developer API) key: it can create, reset and delete every resource.",
    product=Product.OTHER,
    kind=CredentialKind.UNKNOWN,
    confidence=Certainty.MEDIUM,
    remedy="delete the key in the Upstash console (Account → Management API) and create a new one",
    upstash=True,
)


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def classify_key(key: str) -> tuple[Rule, CredentialKind] | None:
    """The rule and kind an Upstash-related variable name implies, or ``None`` (URLs, regions …).

    ``UPSTASH_REDIS_REST_TOKEN``, ``upstash-redis-rest-token`` (Kubernetes keys) and
    ``upstashRedisRestToken`` (JS config) read the same.
    """
    k = _CAMEL.sub("_", key).upper().replace("-", "_")
    readonly = "READ_ONLY" in k or "READONLY" in k
    if "QSTASH" in k:
        if "SIGNING_KEY" in k:
            kind = CredentialKind.SIGNING_KEY_NEXT if "NEXT" in k else CredentialKind.SIGNING_KEY_CURRENT
            return QSTASH_SIGNING_KEY, kind
        if k.endswith("TOKEN"):
            return QSTASH_TOKEN, CredentialKind.QSTASH_TOKEN
        return None
    if "UPSTASH" not in k and "KV_REST_API" not in k:
        return None
    if "API_KEY" in k or "MANAGEMENT" in k:
        return DEVELOPER_API_KEY, CredentialKind.UNKNOWN
    for word, rule in (("VECTOR", VECTOR_TOKEN), ("SEARCH", SEARCH_TOKEN)):
        if word in k and k.endswith("TOKEN"):
            return rule, CredentialKind.INDEX_READONLY_TOKEN if readonly else CredentialKind.INDEX_TOKEN
    if k.endswith("TOKEN"):
        if readonly:
            return REDIS_READONLY_TOKEN, CredentialKind.READONLY_REST_TOKEN
        return REDIS_REST_TOKEN, CredentialKind.REST_TOKEN
    if k.endswith(("PASSWORD", "PASS", "PWD")):
        return REDIS_PASSWORD, CredentialKind.PASSWORD
    return None


def is_credential_value(value: str) -> bool:
    """Random-looking enough to be a credential rather than a name, a reference or an example."""
    return (
        len(value) >= 16
        and not is_placeholder(value)
        and not is_identifier_like(value)
        and char_classes(value) >= 2
        and entropy(value) >= 3.0
    )


def is_malformed_structured(value: str) -> bool:
    """Starts like a QStash token (base64 ``{"UserID"``) but is not one: a test stand-in."""
    if not value.startswith("eyJ"):
        return False
    raw = decode_b64(value)
    try:
        obj = json.loads(raw) if raw else None
    except ValueError:
        return False
    return isinstance(obj, dict) and not is_real_login(obj)


class UpstashEnvDetector(AnchoredDetector):
    """Values assigned to Upstash/QStash/KV variable names (medium confidence)."""

    rules = (REDIS_PASSWORD, DEVELOPER_API_KEY)
    anchors = (
        "UPSTASH",
        "upstash",
        "Upstash",
        "KV_REST_API_",
        "kv_rest_api_",
        "kv-rest-api-",
        "KV-REST-API-",
        "kvRestApi",
        "KvRestApi",
        "QSTASH",
        "qstash",
        "QStash",
        "Qstash",
    )
    priority = 60
    pattern = re.compile(
        r"(?P<key>[A-Za-z0-9_\-]{1,128})"
        r"[\"'`\]]?[ \t]*(?::=|=>|=|:)[ \t]*(?:[A-Za-z]?[\"'`])?"
        r"(?P<value>[A-Za-z0-9_\-+/=.~%!@#$^&*]{12,600})"
    )

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        start = key_start(text, pos)
        while start < pos and not (text[start].isalnum() or text[start] == "_"):
            start += 1  # key_start also walks over "." and "-" (not at the start of a key)
        dot = text.rfind(".", start, pos)
        if dot >= 0:
            start = dot + 1  # a dotted path (``env.UPSTASH_…``): its last part is the key
        m = self.pattern.match(text, start)
        if not m or m.end("key") < pos + len(anchor):
            return
        cls = classify_key(m.group("key"))
        value = m.group("value").rstrip(".")
        if cls is None or not is_credential_value(value):
            return
        rule, kind = cls
        if is_malformed_structured(value):
            return
        start = m.start("value")
        end = start + len(value)
        yield Candidate(
            rule=rule,
            start=start,
            end=end,
            value=value,
            confidence=Certainty.MEDIUM,
            reason=f"assigned to {m.group('key')}",
            priority=self.priority,
            kind=kind,
            key=m.group("key"),
            form=form_at(text, start, end),
        )
