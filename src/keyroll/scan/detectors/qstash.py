"""QStash API tokens (base64 JSON ``{"UserID":…,"Password":…}``) and signing keys (``sig_…``).

* Token: always starts ``eyJVc2VySUQi`` (base64 of ``{"UserID"``); reported only when it decodes
  to a JSON object with ``UserID`` and ``Password``. The local dev server's published token
  (user ``defaultUser``) is not a secret and is skipped.
* Signing keys: ``sig_`` + 28 base58 characters in every observed key. The prefix is common in
  code (``sig_handler``), so a key must look random (both cases, entropy, digits or an even mix of cases); a
  ``QSTASH_*_SIGNING_KEY`` / ``currentSigningKey`` context raises it to high confidence and
  decides current vs next.

The QStash CLI dev server's token (user ``defaultUser``) and its two fixed signing keys are
published in Upstash's docs and print on every ``qstash dev`` start: not secrets, skipped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

from keyroll.core.model import CredentialKind, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import entropy, form_at, key_before, line_around
from keyroll.scan.detectors.upstash_format import decode_b64
from keyroll.scan.detectors.upstash_redis import token_run
from keyroll.scan.findings import Certainty, Rule

__all__ = ["QSTASH_SIGNING_KEY", "QSTASH_TOKEN", "QStashSigningKeyDetector", "QStashTokenDetector"]

QSTASH_TOKEN = Rule(
    id="upstash-qstash-token",
    name="Upstash QStash token",
    description="A QStash API token (publishes messages, manages schedules); a reset kills it at once.",
    product=Product.QSTASH,
    kind=CredentialKind.QSTASH_TOKEN,
    confidence=Certainty.HIGH,
    upstash=True,
)
QSTASH_SIGNING_KEY = Rule(
    id="upstash-qstash-signing-key",
    name="Upstash QStash signing key",
    description="A QStash request-signing key (current or next); whoever holds it can forge QStash calls.",
    product=Product.QSTASH,
    kind=CredentialKind.SIGNING_KEY_CURRENT,
    confidence=Certainty.HIGH,
    upstash=True,
)

_DEV_USERS = frozenset({"defaultUser"})
# SHA-256 of the QStash CLI dev server's fixed signing keys (printed by `qstash dev`, public)
_DEV_SIGNING_KEYS = frozenset(
    {
        "b5f1743a394ce39b42493de7e6bc40226042491fb77bd417e40e92fcd11a8bd8",
        "54c3b917bfd471e12e0713535d69ad97584a415916ab360f4838bd23f2d70ffe",
    }
)
_SIG = re.compile(r"sig_([1-9A-HJ-NP-Za-km-z]{24,34})(?![A-Za-z0-9_])")
_SIG_CONTEXT = re.compile(r"qstash|signing[_-]?key|signingkey|receiver", re.IGNORECASE)
_NEXT = re.compile(r"next", re.IGNORECASE)


class QStashTokenDetector(AnchoredDetector):
    """QStash API tokens (``upstash-qstash-token``)."""

    rules = (QSTASH_TOKEN,)
    anchors = ("eyJVc2VySUQi",)
    priority = 100

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        for value in token_run(text, pos):
            raw = decode_b64(value)
            if not raw:
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(obj, dict) or not is_real_login(obj):
                continue
            if obj["UserID"] in _DEV_USERS:
                return
            end = pos + len(value)
            yield Candidate(
                rule=QSTASH_TOKEN,
                start=pos,
                end=end,
                value=value,
                confidence=Certainty.HIGH,
                reason="token structure (UserID/Password JSON)",
                priority=self.priority,
                key=key_before(text, pos),
                form=form_at(text, pos, end),
            )
            return


def is_real_login(obj: dict[str, object]) -> bool:
    """``UserID`` and a ``Password`` long enough to be generated (real ones: UUID + 32 hex)."""
    user, password = obj.get("UserID"), obj.get("Password")
    return isinstance(user, str) and isinstance(password, str) and len(user) >= 3 and len(password) >= 16


def is_dev_server_key(value: str) -> bool:
    """One of the QStash local dev server's published, fixed signing keys."""
    return hashlib.sha256(value.encode()).hexdigest() in _DEV_SIGNING_KEYS


def is_random_key(body: str) -> bool:
    """Looks generated rather than named: both cases, high entropy, and digits — or, without a
    digit, the even mix of cases of random letters. One random 28-character base58 key in about
    110 has no digit ((49/58)^28); a name (``sig_handleIncomingWebhookRequest``) has a capital
    per word, about one letter in nine, where a random key has about one in two."""
    if entropy(body) < 3.6 or not any(c.isupper() for c in body) or not any(c.islower() for c in body):
        return False
    if any(c.isdigit() for c in body):
        return True
    upper = sum(c.isupper() for c in body) / len(body)
    return 0.25 <= upper <= 0.75


class QStashSigningKeyDetector(AnchoredDetector):
    """QStash signing keys (``upstash-qstash-signing-key``)."""

    rules = (QSTASH_SIGNING_KEY,)
    anchors = ("sig_",)
    priority = 90

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if pos > 0 and (text[pos - 1].isalnum() or text[pos - 1] == "_"):
            return
        m = _SIG.match(text, pos)
        if not m or not is_random_key(m.group(1)) or is_dev_server_key(m.group()):
            return
        start, end = m.span()
        key = key_before(text, start)
        lo, hi = line_around(text, start, end, 200)
        context = key + " " + text[lo:hi]
        strong = bool(_SIG_CONTEXT.search(context))
        yield Candidate(
            rule=QSTASH_SIGNING_KEY,
            start=start,
            end=end,
            value=m.group(),
            confidence=Certainty.HIGH if strong else Certainty.MEDIUM,
            reason="sig_ key format" + (" + QStash context" if strong else ""),
            priority=self.priority,
            kind=CredentialKind.SIGNING_KEY_NEXT if _NEXT.search(key) else CredentialKind.SIGNING_KEY_CURRENT,
            key=key,
            form=form_at(text, start, end),
        )
