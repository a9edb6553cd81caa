"""Detectors for other services' keys (Stripe, Clerk, OpenAI, Anthropic, GitHub, Resend, Supabase,
database URLs), inventory's classifier on top of them, and ``plan --key`` selection.

Values are generated at run time in the vendors' layouts, so this file holds no literal credential.
"""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from keyroll.core.errors import UsageError
from keyroll.core.model import Confidence, Inventory, Location, LocationKind
from keyroll.core.secret import fingerprint_of
from keyroll.inventory.secrets import SecretClassifier, looks_secret
from keyroll.rotate.select import credentials_by_key
from keyroll.scan.detectors.vercel import checksum
from keyroll.scan.engine import scan_text

_RNG = random.Random(20)
_ALNUM = string.ascii_letters + string.digits


def _rand(n: int, alphabet: str = _ALNUM) -> str:
    while True:
        out = "".join(_RNG.choice(alphabet) for _ in range(n))
        if any(c.isdigit() for c in out) and any(c.isupper() for c in out):
            return out


STRIPE = "sk_" + "live_51" + _rand(97)
STRIPE_RK = "rk_" + "test_51" + _rand(60)
WHSEC = "whsec_" + _rand(32)
CLERK = "sk_" + "test_" + _rand(42)
OPENAI = "sk-" + "proj-" + _rand(120, _ALNUM + "_-")
OPENAI_LEGACY = "sk-" + _rand(20) + "T3Blbk" + "FJ" + _rand(20)
ANTHROPIC = "sk-" + "ant-api03-" + _rand(93, _ALNUM + "_-") + "AA"
_BODY = _rand(30)
GITHUB = "gh" + "p_" + _BODY + checksum(_BODY)
GITHUB_BAD = "gh" + "p_" + _BODY + ("000000" if checksum(_BODY) != "000000" else "111111")
FINE = "github_" + "pat_" + _rand(22) + "_" + _rand(59)
RESEND = "re_" + _rand(8) + "_" + _rand(24)
SB_SECRET = "sb_" + "secret_" + _rand(32)
PG_PW = _rand(24)


def _jwt(payload: dict[str, str]) -> str:
    def b64(d: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d, separators=(",", ":")).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(payload)}.{_rand(43)}"


@pytest.mark.parametrize(
    ("line", "rule", "value"),
    [
        (f"STRIPE_SECRET_KEY={STRIPE}", "stripe-secret-key", STRIPE),
        (f"STRIPE_RESTRICTED={STRIPE_RK}", "stripe-secret-key", STRIPE_RK),
        (f"STRIPE_WEBHOOK_SECRET={WHSEC}", "stripe-webhook-secret", WHSEC),
        (f"CLERK_SECRET_KEY={CLERK}", "clerk-secret-key", CLERK),
        (f'openai_key: "{OPENAI}"', "openai-api-key", OPENAI),
        (f"OPENAI_API_KEY={OPENAI_LEGACY}", "openai-api-key", OPENAI_LEGACY),
        (f"ANTHROPIC_API_KEY={ANTHROPIC}", "anthropic-api-key", ANTHROPIC),
        (f"token = '{GITHUB}'", "github-token", GITHUB),
        (f"GH={FINE}", "github-token", FINE),
        (f"SUPABASE_SECRET_KEY={SB_SECRET}", "supabase-secret-key", SB_SECRET),
        (
            f"SUPABASE_SERVICE_ROLE_KEY={_jwt({'iss': 'supabase', 'role': 'service_role'})}",
            "supabase-secret-key",
            None,
        ),
        (
            f"DATABASE_URL=postgres://app:{PG_PW}@ep-x-1.eu-central-1.aws.neon.tech/db",
            "database-url-password",
            PG_PW,
        ),
        (f"DB=mysql://root:{PG_PW}@db.acme.io:3306/app", "database-url-password", PG_PW),
    ],
)
def test_catches(line: str, rule: str, value: str | None) -> None:
    findings = [f for f in scan_text(line + "\n") if f.rule_id == rule]
    assert len(findings) == 1, [f.rule_id for f in scan_text(line + "\n")]
    if value is not None:
        assert findings[0].fingerprint == fingerprint_of(value)


@pytest.mark.parametrize(
    "line",
    [
        f"token = '{GITHUB_BAD}'",  # checksum does not match
        "STRIPE_PUBLISHABLE_KEY=pk_live_" + _rand(40),  # publishable keys are public
        "STRIPE_SECRET_KEY=sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",  # placeholder
        f"SUPABASE_ANON_KEY={_jwt({'iss': 'supabase', 'role': 'anon'})}",  # the public anon key
        "DATABASE_URL=postgres://user:${DB_PASSWORD}@localhost/app",  # a template
    ],
)
def test_does_not_catch(line: str) -> None:
    rules = {f.rule_id for f in scan_text(line + "\n")}
    assert not rules & {
        "github-token",
        "stripe-secret-key",
        "supabase-secret-key",
        "database-url-password",
    }, rules


def test_classifier_names_the_service_and_the_secret_inside() -> None:
    c = SecretClassifier()
    got = c.classify("RESEND_API_KEY", RESEND, "encrypted")  # value-only detector (not in `keyroll scan`)
    assert got is not None and got.service == "resend" and got.secret.fingerprint == fingerprint_of(RESEND)
    assert not [f for f in scan_text(f"RESEND_API_KEY={RESEND}\n") if f.rule_id == "resend-api-key"]
    got = c.classify("STRIPE_SECRET_KEY", STRIPE, "encrypted")
    assert got is not None and got.service == "stripe" and got.secret.fingerprint == fingerprint_of(STRIPE)
    url = f"postgres://app:{PG_PW}@ep-x-1.eu-central-1.aws.neon.tech/db"
    got = c.classify("DATABASE_URL", url, "encrypted")
    assert got is not None and got.service == "neon" and got.secret.fingerprint == fingerprint_of(PG_PW)
    got = c.classify("POSTGRES_URL", url.replace("neon.tech", "acme.io"), "plain")
    assert got is not None and got.service == "postgres"
    assert c.classify("CLERK_SECRET_KEY", CLERK, "encrypted").service == "clerk"  # type: ignore[union-attr]
    # an encrypted value no detector knows: generic when it looks secret
    random_value = _rand(32)
    got = c.classify("SESSION_SECRET", random_value, "encrypted")
    assert got is not None and got.service == "generic"
    assert c.classify("STRIPE_PRICE_ID", "price_acme_pro", "encrypted") is None
    assert c.classify("SITE_URL", "https://acme.example/shop", "encrypted") is None
    assert c.classify("GREETING", "Hello from Acme", "encrypted") is None


def test_looks_secret() -> None:
    assert looks_secret("API_SECRET", "Correct-Horse-Battery-Staple")
    assert not looks_secret("COPIED_TOKEN", "not-the-token-but-a-new-var")
    assert not looks_secret("LOG_LEVEL_3", "shop-7-log_level_3-123456")  # a setting, not a secret
    assert looks_secret("APP_TOKEN", "svc-" + _rand(24).lower() + "7")  # one long random part
    assert looks_secret("ANYTHING", _rand(32))
    assert not looks_secret("PAGE_SIZE", "1234567890123")
    assert not looks_secret("NAME", "plainwordsvalue")
    assert not looks_secret("SENTRY_DSN", "https://public@sentry.example/1")


def _loc(fp: str, key: str, confidence: Confidence = Confidence.EXACT) -> Location:
    return Location(kind=LocationKind.VERCEL_ENV, fingerprint=fp, key=key, confidence=confidence)  # type: ignore[arg-type]


def test_credentials_by_key() -> None:
    a, b = "sha256:aaaaaaaa", "sha256:bbbbbbbb"
    inv = Inventory(
        locations=(
            _loc(a, "STRIPE_SECRET_KEY"),
            _loc(b, "STRIPE_SECRET_KEY", Confidence.PROBABLE),  # unreadable: exact copies win
            _loc(a, "RESEND_API_KEY"),
            _loc(b, "RESEND_API_KEY"),
        )
    )
    assert credentials_by_key(inv, ["stripe_secret_key"]) == [a]
    with pytest.raises(UsageError, match="2 different credentials"):
        credentials_by_key(inv, ["RESEND_API_KEY"])
    with pytest.raises(UsageError, match="no credential under the name"):
        credentials_by_key(inv, ["OPENAI_API_KEY"])
