"""Names, hints and shapes that identify Upstash credentials — and the strategy for each."""

from __future__ import annotations

import urllib.parse

import pytest

from keyroll.core.model import Credential, CredentialKind, Product, Strategy
from keyroll.core.secret import fingerprint_of
from keyroll.inventory import classify_hint, classify_key, classify_value, strategy_for
from keyroll.inventory.classify import normalize_endpoint

K = CredentialKind


@pytest.mark.parametrize(
    ("key", "product", "role", "kind", "prefix", "suffix"),
    [
        ("UPSTASH_REDIS_REST_URL", Product.REDIS, "url", None, "", ""),
        ("UPSTASH_REDIS_REST_TOKEN", Product.REDIS, "token", K.REST_TOKEN, "", ""),
        ("MYAPP_UPSTASH_REDIS_REST_TOKEN", Product.REDIS, "token", K.REST_TOKEN, "MYAPP", ""),
        ("UPSTASH_REDIS_REST_TOKEN_PROD", Product.REDIS, "token", K.REST_TOKEN, "", "PROD"),
        (
            "UPSTASH_REDIS_REST_READ_ONLY_TOKEN",
            Product.REDIS,
            "readonly_token",
            K.READONLY_REST_TOKEN,
            "",
            "",
        ),
        ("UPSTASH_REDIS_REST_READONLY_TOKEN", Product.REDIS, "readonly_token", K.READONLY_REST_TOKEN, "", ""),
        ("UPSTASH_REDIS_PASSWORD", Product.REDIS, "password", K.PASSWORD, "", ""),
        ("REDIS_URL", Product.REDIS, "redis_url", K.URL_WITH_PASSWORD, "", ""),
        ("CACHE_REDIS_URL", Product.REDIS, "redis_url", K.URL_WITH_PASSWORD, "CACHE", ""),
        ("KV_URL", Product.REDIS, "redis_url", K.URL_WITH_PASSWORD, "", ""),
        ("KV_REST_API_URL", Product.REDIS, "url", None, "", ""),
        ("KV_REST_API_TOKEN", Product.REDIS, "token", K.REST_TOKEN, "", ""),
        ("STORAGE_KV_REST_API_TOKEN", Product.REDIS, "token", K.REST_TOKEN, "STORAGE", ""),
        ("KV_REST_API_READ_ONLY_TOKEN", Product.REDIS, "readonly_token", K.READONLY_REST_TOKEN, "", ""),
        ("QSTASH_TOKEN", Product.QSTASH, "token", K.QSTASH_TOKEN, "", ""),
        ("US_EAST_1_QSTASH_TOKEN", Product.QSTASH, "token", K.QSTASH_TOKEN, "US_EAST_1", ""),
        ("QSTASH_URL", Product.QSTASH, "url", None, "", ""),
        ("QSTASH_CURRENT_SIGNING_KEY", Product.QSTASH, "signing_key_current", K.SIGNING_KEY_CURRENT, "", ""),
        ("QSTASH_NEXT_SIGNING_KEY", Product.QSTASH, "signing_key_next", K.SIGNING_KEY_NEXT, "", ""),
        ("UPSTASH_VECTOR_REST_URL", Product.VECTOR, "url", None, "", ""),
        ("UPSTASH_VECTOR_REST_TOKEN", Product.VECTOR, "token", K.INDEX_TOKEN, "", ""),
        (
            "UPSTASH_VECTOR_REST_READONLY_TOKEN",
            Product.VECTOR,
            "readonly_token",
            K.INDEX_READONLY_TOKEN,
            "",
            "",
        ),
        ("UPSTASH_SEARCH_REST_TOKEN", Product.SEARCH, "token", K.INDEX_TOKEN, "", ""),
        ("upstash_search_rest_url", Product.SEARCH, "url", None, "", ""),
        ("NEXT_PUBLIC_UPSTASH_REDIS_REST_TOKEN", Product.REDIS, "token", K.REST_TOKEN, "NEXT_PUBLIC", ""),
    ],
)
def test_classify_key_well_known_names(
    key: str, product: Product, role: str, kind: CredentialKind | None, prefix: str, suffix: str
) -> None:
    cls = classify_key(key)
    assert cls is not None, key
    assert (cls.product, cls.role, cls.kind, cls.prefix, cls.suffix) == (product, role, kind, prefix, suffix)
    assert cls.exact


@pytest.mark.parametrize(
    ("key", "product", "kind"),
    [
        ("REDIS_TOKEN", Product.REDIS, K.REST_TOKEN),
        ("CACHE_REDIS_PASS", Product.REDIS, K.PASSWORD),
        ("UPSTASH_RO_TOKEN", Product.REDIS, K.READONLY_REST_TOKEN),
        ("QSTASH_API_TOKEN", Product.QSTASH, K.QSTASH_TOKEN),
        ("QSTASH_SIGNING_KEY_NEXT", Product.QSTASH, K.SIGNING_KEY_NEXT),
        ("UPSTASH_VECTOR_TOKEN", Product.VECTOR, K.INDEX_TOKEN),
    ],
)
def test_classify_key_heuristics_are_inexact(key: str, product: Product, kind: CredentialKind) -> None:
    cls = classify_key(key)
    assert cls is not None and (cls.product, cls.kind) == (product, kind)
    assert not cls.exact


@pytest.mark.parametrize(
    "key",
    [
        "NODE_ENV",
        "DATABASE_URL",
        "NEXT_PUBLIC_SITE_URL",
        "SEARCH_API_KEY",
        "REDISX_HOST",
        "KVSTORE",
        "TOKEN",
        "",
    ],
)
def test_classify_key_unrelated(key: str) -> None:
    assert classify_key(key) is None


def test_classify_hint() -> None:
    assert classify_hint({"type": "redis-rest-api-token", "storeId": "store_1"}).kind is K.REST_TOKEN  # type: ignore[union-attr]
    assert classify_hint({"type": "redis-rest-api-read-only-token"}).kind is K.READONLY_REST_TOKEN  # type: ignore[union-attr]
    assert classify_hint({"type": "redis-rest-api-url"}).kind is None  # type: ignore[union-attr]
    assert classify_hint({"type": "postgres-url"}) is None
    assert classify_hint(None) is None


def test_classify_value_redis_urls() -> None:
    pw = "p@ss/word+with=specials_1234"
    vc = classify_value(f"rediss://default:{urllib.parse.quote(pw, safe='')}@eu1-x.upstash.io:6379")
    assert vc is not None and vc.kind is K.PASSWORD and vc.acl_user == "default"
    assert vc.secret.fingerprint == fingerprint_of(pw)  # the password, decoded, is the credential
    assert vc.endpoint == "rediss://eu1-x.upstash.io:6379"
    acl = classify_value("redis://worker:abcdefghijklmnop@127.0.0.1:6390/3")
    assert acl is not None and acl.kind is K.ACL_PASSWORD and acl.acl_user == "worker"
    assert classify_value("redis://localhost:6379") is None
    assert classify_value("https://eu1-x.upstash.io") is None


def test_classify_value_qstash_shapes() -> None:
    tok = classify_value("eyJVc2VySUQiOiJhYmMiLCJQYXNzd29yZCI6Inh5eiJ9")
    assert tok is not None and (tok.product, tok.kind) == (Product.QSTASH, K.QSTASH_TOKEN)
    sig = classify_value("sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r")
    assert sig is not None and sig.kind is K.SIGNING_KEY_CURRENT
    assert classify_value("just-some-random-value-123456") is None


@pytest.mark.parametrize(
    ("product", "kind", "acl_user", "strategy"),
    [
        (Product.REDIS, K.REST_TOKEN, "default", Strategy.REDIS_ACL),
        (Product.REDIS, K.READONLY_REST_TOKEN, "default_ro", Strategy.REDIS_ACL),
        (Product.REDIS, K.PASSWORD, "default", Strategy.REDIS_ACL),
        (Product.REDIS, K.URL_WITH_PASSWORD, "", Strategy.REDIS_ACL),
        (Product.REDIS, K.ACL_PASSWORD, "worker", Strategy.REDIS_ACL_PASSWORD),
        (Product.REDIS, K.ACL_REST_TOKEN, "worker", Strategy.REDIS_ACL_PASSWORD),
        (Product.REDIS, K.REST_TOKEN, "worker", Strategy.REDIS_ACL_PASSWORD),
        (Product.REDIS, K.ACL_REST_TOKEN, "default_ro", Strategy.REDIS_ACL),
        (Product.REDIS, K.REST_TOKEN, "keyroll-a", Strategy.REDIS_ACL),
        (Product.REDIS, K.ACL_PASSWORD, "", Strategy.REDIS_ACL),
        (Product.QSTASH, K.QSTASH_TOKEN, "", Strategy.QSTASH_TOKEN),
        (Product.QSTASH, K.SIGNING_KEY_CURRENT, "", Strategy.QSTASH_SIGNING),
        (Product.QSTASH, K.SIGNING_KEY_NEXT, "", Strategy.QSTASH_SIGNING),
        (Product.VECTOR, K.INDEX_TOKEN, "", Strategy.INDEX_RESET),
        (Product.SEARCH, K.INDEX_READONLY_TOKEN, "", Strategy.INDEX_RESET),
        (Product.OTHER, K.UNKNOWN, "", Strategy.MANUAL),
    ],
)
def test_strategy_table(product: Product, kind: CredentialKind, acl_user: str, strategy: Strategy) -> None:
    cred = Credential(fingerprint=fingerprint_of("x"), product=product, kind=kind, acl_user=acl_user)
    assert strategy_for(cred) is strategy


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://EU1-x.upstash.io/", "https://eu1-x.upstash.io"),
        ("eu1-x.upstash.io", "https://eu1-x.upstash.io"),
        ("https://eu1-x.upstash.io:443", "https://eu1-x.upstash.io"),
        ("http://127.0.0.1:41234", "http://127.0.0.1:41234"),
        ("", ""),
    ],
)
def test_normalize_endpoint(url: str, expected: str) -> None:
    assert normalize_endpoint(url) == expected


@pytest.mark.parametrize("product", list(Product))
def test_the_planner_accepts_every_built_in_choice(product: Product) -> None:
    """The inventory's classification and the planner's checks read one table: whatever the
    inventory picks, the planner can run."""
    from keyroll.adapters.registry import adapter_strategy
    from keyroll.core.strategy import default_strategy
    from keyroll.rotate.groups import check_strategy

    for kind in K:
        for user in ("", "default", "default_ro", "keyroll-a", "keyroll-ro-b", "worker"):
            cred = Credential(
                fingerprint=fingerprint_of("x"), product=product, kind=kind, acl_user=user, resource_id="r1"
            )
            chosen = strategy_for(cred)
            assert chosen is default_strategy(cred, adapter=adapter_strategy), (kind, user)
            assert check_strategy(cred, chosen) is None, (kind, user, chosen)
