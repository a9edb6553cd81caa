"""Documented Upstash endpoint shapes, the host map, QStash regions, and "a seen URL beats a
derived one" in the inventory."""

from __future__ import annotations

import pytest

from keyroll.config import load_config, parse_host_map
from keyroll.core.errors import ConfigError
from keyroll.core.model import Credential, CredentialKind, Management, Product
from keyroll.core.secret import Secret
from keyroll.inventory.evidence import Evidence, merge
from keyroll.providers.upstash.developer import QStashUser, SearchIndex, VectorIndex
from keyroll.providers.upstash.endpoints import (
    HostMap,
    index_rest_url,
    prefer_seen,
    qstash_region_of_url,
    qstash_url_for_region,
    redis_rest_url,
)


def test_documented_shapes() -> None:
    assert (
        redis_rest_url("eu2-sought-mollusk-30140.upstash.io") == "https://eu2-sought-mollusk-30140.upstash.io"
    )
    assert redis_rest_url("eu2-sought-mollusk") == "https://eu2-sought-mollusk.upstash.io"
    assert (
        index_rest_url("glowing-baboon-15797-us1", "vector")
        == "https://glowing-baboon-15797-us1-vector.upstash.io"
    )
    assert (
        index_rest_url("glowing-baboon-15797-us1", "search")
        == "https://glowing-baboon-15797-us1-search.upstash.io"
    )
    assert index_rest_url("x-us1-vector.upstash.io", "vector") == "https://x-us1-vector.upstash.io"
    assert VectorIndex(id="v", endpoint="slug-us1").rest_url == "https://slug-us1-vector.upstash.io"
    assert SearchIndex(id="s", endpoint="slug-eu1").rest_url == "https://slug-eu1-search.upstash.io"
    assert qstash_url_for_region("us-east-1") == "https://qstash-us-east-1.upstash.io"
    assert qstash_region_of_url("https://qstash.upstash.io") == "eu-central-1"
    assert qstash_region_of_url("https://qstash-us-east-1.upstash.io/v2/keys") == "us-east-1"
    assert qstash_region_of_url("http://127.0.0.1:9") == ""
    assert QStashUser(id="u", region="us-east-1").url == "https://qstash-us-east-1.upstash.io"


def test_host_map() -> None:
    hosts = HostMap(
        parse_host_map("a.upstash.io=http://127.0.0.1:4000, qstash-us-east-1.upstash.io=http://127.0.0.1:5")
    )
    assert hosts.url("https://a.upstash.io/pipeline?x=1") == "http://127.0.0.1:4000/pipeline?x=1"
    assert hosts.url("https://b.upstash.io") == "https://b.upstash.io"
    assert hosts.tcp_host("a.upstash.io") == "127.0.0.1" and hosts.tls("a.upstash.io", True) is False
    assert hosts.reverse("http://127.0.0.1:5") == "https://qstash-us-east-1.upstash.io"
    cfg = load_config(None, environ={"KEYROLL_UPSTASH_HOSTS": "a.upstash.io=http://127.0.0.1:4000"})
    assert cfg.upstash_hosts == {"a.upstash.io": "http://127.0.0.1:4000"}
    with pytest.raises(ConfigError, match="KEYROLL_UPSTASH_HOSTS"):
        load_config(None, environ={"KEYROLL_UPSTASH_HOSTS": "a.upstash.io=ftp://x"})


def test_a_seen_url_beats_the_derived_one() -> None:
    assert prefer_seen("https://derived", "https://seen/") == "https://seen"
    assert prefer_seen("https://derived", "") == "https://derived"
    token = Secret("index-token-0123456789abcdef")
    for product, kind in (
        (Product.VECTOR, CredentialKind.INDEX_TOKEN),
        (Product.SEARCH, CredentialKind.INDEX_TOKEN),
    ):
        base = Credential(
            fingerprint=token.fingerprint,
            product=product,
            kind=kind,
            resource_id="ix",
            management=Management.NATIVE,
            endpoint=f"https://slug-us1-{product.value}.upstash.io",
        ).with_value(token)
        seen = Evidence("key", product, kind, endpoint="https://real-host-from-vercel.example")
        cred = merge(token.fingerprint, token, [seen], base=base)
        assert cred.endpoint == "https://real-host-from-vercel.example"
        assert merge(token.fingerprint, token, [], base=base).endpoint == base.endpoint
    # Redis: https://<endpoint> is documented, not guessed — the API's URL stays
    redis = Credential(
        fingerprint=token.fingerprint,
        product=Product.REDIS,
        kind=CredentialKind.REST_TOKEN,
        endpoint="https://eu1-db.upstash.io",
    )
    seen = Evidence("key", Product.REDIS, CredentialKind.REST_TOKEN, endpoint="https://elsewhere.example")
    assert merge(token.fingerprint, token, [seen], base=redis).endpoint == "https://eu1-db.upstash.io"
