"""Probes answer valid / invalid / unknown — never a bare bool — from what the provider says."""

from __future__ import annotations

from typing import Any

import pytest

from keyroll.config import Config
from keyroll.core.errors import AuthError, KeyrollError, ProviderError, UnavailableError
from keyroll.core.model import Credential, CredentialKind, Product
from keyroll.core.secret import Secret
from keyroll.providers.factory import Providers
from keyroll.providers.upstash.qstash import SigningKeys
from keyroll.verify.probes import _tcp_target, probe_credential, probe_signing_keys
from keyroll.verify.result import Verdict

GOOD = Secret("AXgoodRESTtokenValue000000000001")
BAD = Secret("AXrevokedRESTtokenValue00000001")
RO = Secret("AnreadonlyRESTtokenValue0000001")
FLAKY = Secret("AXflakyRESTtokenValue000000001")
URL = "http://127.0.0.1:9/redis-cache"


class FakeRedis:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, tuple[Any, ...]]] = []

    async def command(self, url: str, token: Secret, *args: Any) -> Any:
        self.calls.append((url, token.fingerprint, args))
        if token == BAD:
            raise AuthError("Redis REST answered 401", service="redis", status=401)
        if token == RO:
            raise ProviderError(
                "NOPERM this user has no permissions to run the 'ping' command", service="redis", status=400
            )
        if token == FLAKY:
            raise UnavailableError("Redis REST answered 503", service="redis", status=503)
        return "PONG"


class FakeQStash:
    def __init__(self, keys: SigningKeys | None = None) -> None:
        self.keys = keys

    async def check_token(self, token: Secret, *, url: str | None = None) -> bool:
        if token == FLAKY:
            raise UnavailableError("QStash answered 502", service="qstash", status=502)
        return token == GOOD

    async def get_keys(self, token: Secret, *, url: str | None = None) -> SigningKeys:
        if token != GOOD or self.keys is None:
            raise AuthError("QStash answered 401", service="qstash", status=401)
        return self.keys


class FakeIndex:
    async def info(self, url: str, token: Secret) -> dict[str, Any]:
        if token != GOOD:
            raise AuthError("Unauthorized: Invalid auth token", service="vector", status=401)
        return {"vectorCount": 0}


def providers(**kw: Any) -> Providers:
    return Providers(config=Config(), **kw)


def redis_cred(kind: CredentialKind = CredentialKind.REST_TOKEN, endpoint: str = URL) -> Credential:
    return Credential(GOOD.fingerprint, Product.REDIS, kind, endpoint=endpoint)


@pytest.mark.parametrize(
    ("secret", "verdict", "what"),
    [
        (GOOD, Verdict.VALID, "PING → 200"),
        (BAD, Verdict.INVALID, "401"),
        (RO, Verdict.VALID, "NOPERM"),
        (FLAKY, Verdict.UNKNOWN, "503"),
    ],
)
async def test_redis_rest(secret: Secret, verdict: Verdict, what: str) -> None:
    fake = FakeRedis()
    out = await probe_credential(providers(redis=fake), redis_cred(), secret, clock=lambda: 42.0)
    assert out.verdict is verdict and what in out.what
    assert out.at == 42.0 and out.fingerprint == secret.fingerprint
    assert fake.calls == [(URL, secret.fingerprint, ("PING",))]


async def test_unknown_when_nothing_to_ask() -> None:
    assert (await probe_credential(providers(), redis_cred(), GOOD)).verdict is Verdict.UNKNOWN
    no_url = await probe_credential(providers(redis=FakeRedis()), redis_cred(endpoint=""), GOOD)
    assert no_url.verdict is Verdict.UNKNOWN and "URL" in no_url.what
    other = Credential(GOOD.fingerprint, Product.OTHER, CredentialKind.UNKNOWN)
    assert (await probe_credential(providers(), other, GOOD)).verdict is Verdict.UNKNOWN
    pw = await probe_credential(providers(), redis_cred(CredentialKind.PASSWORD, endpoint=URL), GOOD)
    assert pw.verdict is Verdict.UNKNOWN and "redis://" in pw.what


@pytest.mark.parametrize(
    ("secret", "verdict"), [(GOOD, Verdict.VALID), (BAD, Verdict.INVALID), (FLAKY, Verdict.UNKNOWN)]
)
async def test_qstash_token(secret: Secret, verdict: Verdict) -> None:
    cred = Credential(secret.fingerprint, Product.QSTASH, CredentialKind.QSTASH_TOKEN)
    assert (await probe_credential(providers(qstash=FakeQStash()), cred, secret)).verdict is verdict


@pytest.mark.parametrize("product", [Product.VECTOR, Product.SEARCH])
async def test_index_tokens(product: Product) -> None:
    cred = Credential(GOOD.fingerprint, product, CredentialKind.INDEX_TOKEN, endpoint="http://127.0.0.1:9")
    p = providers(vector=FakeIndex(), search=FakeIndex())
    assert (await probe_credential(p, cred, GOOD)).verdict is Verdict.VALID
    bad = await probe_credential(p, cred, BAD)
    assert bad.verdict is Verdict.INVALID and "/info → 401" in bad.what


async def test_signing_keys_against_the_live_pair() -> None:
    cur, nxt = Secret("sig_currentkeyvalue0000001"), Secret("sig_nextkeyvalue000000001")
    old = Secret("sig_leakedoldkeyvalue00001")
    p = providers(qstash=FakeQStash(SigningKeys(current=cur, next=nxt)))
    out = await probe_signing_keys(p, [cur, nxt, old], [BAD, GOOD], clock=lambda: 7.0)
    assert out[cur.fingerprint].verdict is Verdict.VALID and "current" in out[cur.fingerprint].what
    assert out[nxt.fingerprint].verdict is Verdict.VALID and "next" in out[nxt.fingerprint].what
    assert out[old.fingerprint].verdict is Verdict.INVALID
    # no token that works: unknown, not invalid
    out = await probe_signing_keys(p, [old], [BAD])
    assert out[old.fingerprint].verdict is Verdict.UNKNOWN
    out = await probe_signing_keys(providers(), [old], [GOOD])
    assert out[old.fingerprint].verdict is Verdict.UNKNOWN


def test_tcp_target_from_url_value_or_endpoint() -> None:
    url_value = Secret("rediss://keyroll-a:s3cretpasswordvalue@db.upstash.io:6380")
    cred = Credential(url_value.fingerprint, Product.REDIS, CredentialKind.URL_WITH_PASSWORD)
    assert _tcp_target(cred, url_value) == ("db.upstash.io", 6380, True, "keyroll-a")
    pw = Secret("plainpasswordvalue0001")
    cred2 = Credential(
        pw.fingerprint,
        Product.REDIS,
        CredentialKind.PASSWORD,
        endpoint="redis://127.0.0.1:6390",
        acl_user="worker",
    )
    assert _tcp_target(cred2, pw) == ("127.0.0.1", 6390, False, "worker")
    assert (
        _tcp_target(Credential(pw.fingerprint, Product.REDIS, CredentialKind.PASSWORD, endpoint=URL), pw)
        is None
    )


async def test_probe_never_raises_on_provider_errors() -> None:
    class Broken:
        async def command(self, *a: Any) -> Any:
            raise KeyrollError("boom")

    out = await probe_credential(providers(redis=Broken()), redis_cred(), GOOD)
    assert out.verdict is Verdict.UNKNOWN


def test_descriptor_from_role_and_group_spec() -> None:
    from keyroll.core.steps import GroupSpec
    from keyroll.verify.probes import descriptor_for

    spec = GroupSpec(product="redis", rest_url=URL, endpoint=URL, resource_id="db_1", acl_user="default")
    rest = descriptor_for(spec, "rest_token", "sha256:00000001")
    assert rest is not None and rest.kind is CredentialKind.REST_TOKEN and rest.endpoint == URL
    pw = descriptor_for(
        spec, "password", "sha256:00000002", user="keyroll-a", tcp_endpoint="rediss://db.upstash.io:6379"
    )
    assert pw is not None and pw.kind is CredentialKind.ACL_PASSWORD and pw.acl_user == "keyroll-a"
    assert pw.endpoint == "rediss://db.upstash.io:6379"
    old_pw = descriptor_for(spec, "password", "sha256:00000003")
    assert old_pw is not None and old_pw.kind is CredentialKind.PASSWORD and old_pw.endpoint == URL
    assert descriptor_for(spec, "username", "sha256:00000004") is None
    assert descriptor_for(spec, "url", "sha256:00000005") is None
    q = descriptor_for(GroupSpec(product="qstash"), "token", "sha256:00000006")
    assert q is not None and q.kind is CredentialKind.QSTASH_TOKEN
    v = descriptor_for(
        GroupSpec(product="vector", rest_url="http://127.0.0.1:9"), "readonly_token", "sha256:00000007"
    )
    assert v is not None and v.kind is CredentialKind.INDEX_READONLY_TOKEN
    s = descriptor_for(GroupSpec(product="qstash"), "signing_next", "sha256:00000008")
    assert s is not None and s.kind is CredentialKind.SIGNING_KEY_NEXT
    assert descriptor_for(GroupSpec(product="nope"), "token", "sha256:00000009") is None


def test_qstash_readonly_token_is_probed_as_a_qstash_token() -> None:
    from keyroll.core.model import CredentialKind, Product
    from keyroll.core.steps import GroupSpec
    from keyroll.verify.probes import descriptor_for

    qstash = descriptor_for(GroupSpec(product="qstash"), "readonly_token", "sha256:00000000")
    index = descriptor_for(GroupSpec(product="vector"), "readonly_token", "sha256:00000000")
    assert qstash is not None and qstash.product is Product.QSTASH
    assert qstash.kind is CredentialKind.QSTASH_TOKEN
    assert index is not None and index.kind is CredentialKind.INDEX_READONLY_TOKEN
