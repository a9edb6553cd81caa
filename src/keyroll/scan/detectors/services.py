"""API keys of services teams keep next to Upstash in Vercel: Stripe, Clerk, OpenAI, Anthropic,
GitHub, Resend, Supabase.

Formats, from the vendors' public docs:

* Stripe (docs.stripe.com/keys): secret keys ``sk_live_`` / ``sk_test_``, restricted keys
  ``rk_live_`` / ``rk_test_``, webhook signing secrets ``whsec_``. Publishable ``pk_`` keys are
  public and not reported.
* Clerk (clerk.com/docs/deployments/clerk-environment-variables): ``CLERK_SECRET_KEY`` holds
  ``sk_live_`` / ``sk_test_`` too — told apart from Stripe by the key name.
* OpenAI (platform.openai.com/docs/api-reference/authentication): ``sk-proj-``, ``sk-svcacct-``,
  ``sk-admin-`` and legacy ``sk-`` keys carrying ``T3BlbkFJ`` (base64 of "OpenAI").
* Anthropic (docs.anthropic.com/en/api/getting-started): ``sk-ant-api03-`` (and ``sk-ant-admin01-``).
* GitHub (github.blog 2021-04-05 "Behind GitHub's new authentication token formats"):
  ``ghp_/gho_/ghu_/ghs_/ghr_`` + 30 characters + a 6-character Base62 CRC-32, verified here;
  fine-grained PATs ``github_pat_<22>_<59>``.
* Resend (resend.com/docs/api-reference/api-keys): ``re_`` + 8 + ``_`` + 24 characters.
* Supabase (supabase.com/docs/guides/api/api-keys): secret keys ``sb_secret_…``; the legacy
  ``service_role`` key is a JWT, reported under a ``SUPABASE…SERVICE_ROLE…`` / ``…SECRET…`` key.

Each rule names its service in :data:`SERVICE_OF_RULE`, which inventory uses for the "kind" of a
credential found in a Vercel variable.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

from keyroll.core.model import CredentialKind, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import form_at, is_placeholder, key_before
from keyroll.scan.detectors.vercel import checksum
from keyroll.scan.findings import Certainty, Rule

__all__ = [
    "SERVICE_DETECTORS",
    "SERVICE_OF_RULE",
    "VALUE_ONLY_DETECTORS",
    "AnthropicKeyDetector",
    "GitHubTokenDetector",
    "OpenAIKeyDetector",
    "ResendKeyDetector",
    "StripeKeyDetector",
    "SupabaseKeyDetector",
]


def _rule(rule_id: str, name: str, description: str, product: Product = Product.OTHER) -> Rule:
    return Rule(
        id=rule_id,
        name=name,
        description=description,
        product=product,
        kind=CredentialKind.API_KEY,
        confidence=Certainty.HIGH,
        remedy=f"roll the key in the {name.split()[0]} dashboard, then `keyroll plan --credential FP` / `keyroll apply`",
    )


STRIPE_KEY = _rule(
    "stripe-secret-key", "Stripe secret key", "A Stripe secret or restricted key (sk_/rk_ live or test)."
)
STRIPE_WEBHOOK = _rule(
    "stripe-webhook-secret", "Stripe webhook secret", "A Stripe webhook signing secret (whsec_)."
)
CLERK_KEY = _rule(
    "clerk-secret-key", "Clerk secret key", "A Clerk secret key (sk_live_/sk_test_ under a CLERK key)."
)
OPENAI_KEY = _rule(
    "openai-api-key",
    "OpenAI API key",
    "An OpenAI API key (sk-proj-, sk-svcacct-, sk-admin-, legacy sk-…T3BlbkFJ…).",
)
ANTHROPIC_KEY = _rule(
    "anthropic-api-key", "Anthropic API key", "An Anthropic API key (sk-ant-api03-, sk-ant-admin01-)."
)
GITHUB_TOKEN = Rule(
    id="github-token",
    name="GitHub token",
    description="A GitHub token (ghp_/gho_/ghu_/ghs_/ghr_ with a verified checksum, or github_pat_).",
    product=Product.GITHUB,
    kind=CredentialKind.ACCESS_TOKEN,
    confidence=Certainty.HIGH,
    remedy="revoke the token in GitHub settings, create a new one, then `keyroll apply` it",
)
RESEND_KEY = _rule("resend-api-key", "Resend API key", "A Resend API key (re_<8>_<24>).")
SUPABASE_KEY = _rule(
    "supabase-secret-key",
    "Supabase secret key",
    "A Supabase secret key (sb_secret_) or legacy service_role JWT.",
)

SERVICE_OF_RULE: dict[str, str] = {
    STRIPE_KEY.id: "stripe",
    STRIPE_WEBHOOK.id: "stripe",
    CLERK_KEY.id: "clerk",
    OPENAI_KEY.id: "openai",
    ANTHROPIC_KEY.id: "anthropic",
    GITHUB_TOKEN.id: "github",
    RESEND_KEY.id: "resend",
    SUPABASE_KEY.id: "supabase",
}
"""The service a rule's credentials belong to (inventory's ``Credential.service``)."""

_TAIL = r"(?![A-Za-z0-9_\-])"


def _bounded(text: str, pos: int) -> bool:
    """The anchor starts a token (not the middle of an identifier)."""
    return pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in "_-")


def _candidate(rule: Rule, text: str, start: int, end: int, reason: str, priority: int) -> Candidate:
    return Candidate(
        rule=rule,
        start=start,
        end=end,
        value=text[start:end],
        confidence=rule.confidence,
        reason=reason,
        priority=priority,
        key=key_before(text, start),
        form=form_at(text, start, end),
    )


class StripeKeyDetector(AnchoredDetector):
    """Stripe secret/restricted keys and webhook secrets; Clerk secret keys by key name."""

    rules = (STRIPE_KEY, STRIPE_WEBHOOK, CLERK_KEY)
    anchors = ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_")
    priority = 90
    _key = re.compile(r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,247}" + _TAIL)
    _whsec = re.compile(r"whsec_[A-Za-z0-9+/=]{24,128}" + _TAIL)

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if not _bounded(text, pos):
            return
        m = (self._whsec if anchor == "whsec_" else self._key).match(text, pos)
        if not m or is_placeholder(m.group()[len(anchor) :]) or not any(c.isdigit() for c in m.group()):
            return
        if anchor == "whsec_":
            yield _candidate(STRIPE_WEBHOOK, text, *m.span(), "Stripe webhook signing secret", self.priority)
            return
        key = key_before(text, m.start()).upper()
        if "CLERK" in key and anchor.startswith("sk_"):
            yield _candidate(CLERK_KEY, text, *m.span(), f"Clerk secret key under {key}", self.priority)
            return
        live = "live" if "live" in anchor else "test"
        what = "restricted" if anchor.startswith("rk") else "secret"
        yield _candidate(STRIPE_KEY, text, *m.span(), f"Stripe {live} {what} key", self.priority)


class OpenAIKeyDetector(AnchoredDetector):
    """OpenAI API keys (``sk-proj-`` …, legacy ``sk-…T3BlbkFJ…``)."""

    rules = (OPENAI_KEY,)
    anchors = ("sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ")
    priority = 90
    _prefixed = re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,300}" + _TAIL)
    _legacy = re.compile(r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}" + _TAIL)

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if anchor == "T3BlbkFJ":
            start = pos - 23
            if start < 0 or not _bounded(text, start):
                return
            m = self._legacy.match(text, start)
            if m:
                yield _candidate(OPENAI_KEY, text, *m.span(), "OpenAI API key (legacy format)", self.priority)
            return
        if not _bounded(text, pos):
            return
        m = self._prefixed.match(text, pos)
        if m and not is_placeholder(m.group()[len(anchor) :]):
            yield _candidate(OPENAI_KEY, text, *m.span(), f"OpenAI API key ({anchor[3:-1]})", self.priority)


class AnthropicKeyDetector(AnchoredDetector):
    """Anthropic API and admin keys (``sk-ant-…``)."""

    rules = (ANTHROPIC_KEY,)
    anchors = ("sk-ant-",)
    priority = 92
    _key = re.compile(r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_\-]{32,300}" + _TAIL)

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if not _bounded(text, pos):
            return
        m = self._key.match(text, pos)
        if m and not is_placeholder(m.group()[14:]):
            yield _candidate(ANTHROPIC_KEY, text, *m.span(), "Anthropic API key", self.priority)


class GitHubTokenDetector(AnchoredDetector):
    """GitHub tokens: classic prefixes with a verified CRC-32, and fine-grained PATs."""

    rules = (GITHUB_TOKEN,)
    anchors = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")
    priority = 95
    _classic = re.compile(r"gh[pousr]_(?P<body>[A-Za-z0-9]{30})(?P<crc>[A-Za-z0-9]{6})" + _TAIL)
    _fine = re.compile(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}" + _TAIL)

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if not _bounded(text, pos):
            return
        if anchor == "github_pat_":
            m = self._fine.match(text, pos)
            if m:
                yield _candidate(GITHUB_TOKEN, text, *m.span(), "GitHub fine-grained token", self.priority)
            return
        m = self._classic.match(text, pos)
        if m and checksum_ok(m.group("body"), m.group("crc")):
            yield _candidate(GITHUB_TOKEN, text, *m.span(), "GitHub token (checksum verified)", self.priority)


def checksum_ok(body: str, crc: str) -> bool:
    """GitHub's token checksum: Base62 of the CRC-32 of the 30-character body (same scheme as Vercel's)."""
    return checksum(body) == crc


class ResendKeyDetector(AnchoredDetector):
    """Resend API keys (``re_<8>_<24>``)."""

    rules = (RESEND_KEY,)
    anchors = ("re_",)
    priority = 85
    _key = re.compile(r"re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}" + _TAIL)

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if not _bounded(text, pos):
            return
        m = self._key.match(text, pos)
        if m and any(c.isdigit() for c in m.group()[3:]) and not is_placeholder(m.group()[3:]):
            yield _candidate(RESEND_KEY, text, *m.span(), "Resend API key", self.priority)


_JWT = re.compile(r"eyJ[A-Za-z0-9_\-]{10,}\.(?P<payload>eyJ[A-Za-z0-9_\-]{10,})\.[A-Za-z0-9_\-]{20,}" + _TAIL)


def _jwt_role(payload: str) -> tuple[str, str]:
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    return str(data.get("iss", "")), str(data.get("role", ""))


class SupabaseKeyDetector(AnchoredDetector):
    """Supabase secret keys (``sb_secret_``) and legacy ``service_role`` JWTs."""

    rules = (SUPABASE_KEY,)
    anchors = ("sb_secret_", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.")
    priority = 90
    _secret = re.compile(r"sb_secret_[A-Za-z0-9_\-]{20,200}" + _TAIL)

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if not _bounded(text, pos):
            return
        if anchor == "sb_secret_":
            m = self._secret.match(text, pos)
            if m and not is_placeholder(m.group()[10:]):
                yield _candidate(SUPABASE_KEY, text, *m.span(), "Supabase secret key", self.priority)
            return
        m = _JWT.match(text, pos)
        if not m:
            return
        iss, role = _jwt_role(m.group("payload"))
        if iss == "supabase" and role == "service_role":
            yield _candidate(SUPABASE_KEY, text, *m.span(), "Supabase service_role key (JWT)", self.priority)


SERVICE_DETECTORS: tuple[type[AnchoredDetector], ...] = (
    StripeKeyDetector,
    OpenAIKeyDetector,
    AnthropicKeyDetector,
    GitHubTokenDetector,
    SupabaseKeyDetector,
)
"""The detectors of this module that ``keyroll scan`` runs, in registry order."""

VALUE_ONLY_DETECTORS: tuple[type[AnchoredDetector], ...] = (ResendKeyDetector,)
"""Detectors too costly for whole files but cheap on one variable's value: ``re_`` occurs all over
source code (``compare_``, ``store_``), so the Resend detector runs only where a value is
classified on its own (inventory's Vercel values), not in ``keyroll scan``."""
