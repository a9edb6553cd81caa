"""Secrets beyond Upstash's: what a Vercel variable holds when its name says nothing Upstash.

:class:`SecretClassifier` asks the scanner's detectors (:mod:`keyroll.scan.detectors`) about
``KEY=value`` — so key-context detectors (generic ``…_SECRET=``, Clerk's ``CLERK_SECRET_KEY``)
see the name — and keeps the most specific candidate that covers the value: a Stripe key, a
Postgres URL's password, an OpenAI key … An ``encrypted`` / ``sensitive`` variable no detector
knows is still a secret when its value looks like one (:func:`looks_secret`): kind ``generic``.

The credential is the detector's value (for a database URL: the password), so every copy —
exact, inside a URL, URL-encoded or base64 — is matched by the inventory's known-value pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keyroll.core.model import CredentialKind, Product
from keyroll.core.secret import Secret
from keyroll.scan.detectors import RULES, default_detectors
from keyroll.scan.detectors.base import Candidate
from keyroll.scan.detectors.database_url import DATABASE_URL_PASSWORD, DatabaseUrlDetector, service_of_host
from keyroll.scan.detectors.filters import is_placeholder
from keyroll.scan.detectors.generic import is_random_value
from keyroll.scan.detectors.services import SERVICE_OF_RULE, VALUE_ONLY_DETECTORS
from keyroll.scan.textscan import TextScanner

__all__ = ["GENERIC", "SecretClass", "SecretClassifier", "looks_secret"]

GENERIC = "generic"
"""The service of a secret no detector recognises."""

_SECRET_WORDS = re.compile(r"(?i)(token|secret|passw|pwd|api_?key|private|credential|auth|_key$|^key_|dsn)")
_WORDS = re.compile(r"[a-z]+(?:[-_.][a-z]+)*")
"""lower-case words (``not-the-token-but-a-new-var``, ``price_acme_pro``): a name, not a secret"""
_SLUG = re.compile(r"[a-z0-9]+(?:[-_.:][a-z0-9]+)+")


def _is_slug(value: str) -> bool:
    """Lower-case words and numbers joined by ``-_.:`` (``shop-7-log_level-123456``): a name or a
    setting — unless one part is long and mixes letters and digits like a token."""
    if not _SLUG.fullmatch(value):
        return False
    parts = re.split(r"[-_.:]", value)
    return not any(
        len(p) >= 20 and any(c.isdigit() for c in p) and any(c.isalpha() for c in p) for p in parts
    )


_URL_NO_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://(?:[^\s/@:]*@)?[^\s@]*$", re.IGNORECASE)
_OTHER_SERVICES = {
    "vercel-access-token": "vercel",
    "vercel-legacy-token": "vercel",
    "redis-url-password": "redis",
    "generic-secret": GENERIC,
}


@dataclass(frozen=True)
class SecretClass:
    """What a variable's value is, by the detectors."""

    service: str
    """``stripe``, ``openai``, ``anthropic``, ``github``, ``postgres``, ``mysql``, ``neon``,
    ``supabase``, ``clerk``, ``resend``, ``vercel``, ``redis`` or ``generic``"""
    rule_id: str
    product: Product
    kind: CredentialKind
    secret: Secret
    """the credential inside the value (a URL's password, or the whole value)"""


def looks_secret(key: str, value: str) -> bool:
    """An ``encrypted``/``sensitive`` value no detector knows: a secret unless it is plainly not
    one (short, words with spaces, lower-case words, a number, a URL without a password, a
    placeholder), and either random-looking or stored under a secret-like name."""
    v = value.strip()
    if len(v) < 12 or any(c.isspace() for c in v) or v.isdigit() or is_placeholder(v):
        return False
    if _URL_NO_PASSWORD.match(v) or _WORDS.fullmatch(v) or _is_slug(v):
        return False
    return is_random_value(v) or bool(_SECRET_WORDS.search(key))


class SecretClassifier:
    """Classifies Vercel values with the scanner's detectors (build once per inventory)."""

    def __init__(self) -> None:
        self._scanner = TextScanner((*default_detectors(), *(d() for d in VALUE_ONLY_DETECTORS)))

    def classify(self, key: str, value: str, var_type: str) -> SecretClass | None:
        """The secret ``value`` holds, or ``None``. Upstash credentials are left to the
        inventory's Upstash rules (``None`` here)."""
        text = f"{key}={value}"
        offset = len(key) + 1
        best: Candidate | None = None
        for cand in self._scanner.candidates(text):
            if cand.start < offset:
                continue
            if best is None or cand.priority > best.priority:
                best = cand
        if best is not None:
            rule = RULES.get(best.rule.id, best.rule)
            if rule.upstash:
                return None
            service = self._service(best, text)
            kind = best.kind or rule.kind
            if kind is CredentialKind.UNKNOWN:
                kind = CredentialKind.API_KEY if service != GENERIC else CredentialKind.UNKNOWN
            return SecretClass(service, rule.id, rule.product, kind, Secret(best.value))
        if var_type in ("encrypted", "sensitive", "secret") and looks_secret(key, value):
            return SecretClass(GENERIC, "", Product.OTHER, CredentialKind.UNKNOWN, Secret(value.strip()))
        return None

    @staticmethod
    def _service(cand: Candidate, text: str) -> str:
        rid = cand.rule.id
        if rid in SERVICE_OF_RULE:
            return SERVICE_OF_RULE[rid]
        if rid == DATABASE_URL_PASSWORD.id:
            m = DatabaseUrlDetector.pattern.search(text)
            return service_of_host(m.group("scheme"), m.group("host")) if m else "postgres"
        return _OTHER_SERVICES.get(rid, GENERIC)
