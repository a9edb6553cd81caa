"""Probes: does the provider accept a credential value? Tri-state, never a bare bool.

One cheap, read-only call per product, against the provider itself (not a deployment):

* Redis REST tokens (default, read-only, ACL user): ``PING`` on the REST URL. 401 or a
  ``WRONGPASS`` error → invalid; a ``NOPERM`` error means the token authenticated → valid.
* Redis passwords: ``AUTH`` over TCP (redis-py) on the ``redis(s)://`` endpoint.
* QStash token: ``QStashAPI.check_token``.
* QStash signing keys: the provider's ``GET /v2/keys`` (with a working QStash token) — a key
  is valid while it is the current or next key.
* Vector / Search index tokens: ``POST /info``.

Anything else (no endpoint known, network failure, 5xx, no client configured) is UNKNOWN
with the reason. Messages name products and fingerprints, never values.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from keyroll.core.errors import AuthError, KeyrollError, NotFoundError, ProviderError
from keyroll.core.model import Credential, CredentialKind, Product
from keyroll.core.secret import Fingerprint, Secret
from keyroll.core.steps import GroupSpec
from keyroll.providers.factory import Providers
from keyroll.providers.upstash.endpoints import (
    QSTASH_REGIONS,
    HostMap,
    qstash_region_of_url,
    qstash_url_for_region,
)
from keyroll.verify.result import Verdict

__all__ = ["ProbeOutcome", "descriptor_for", "probe_credential", "probe_signing_keys"]

REST_KINDS = frozenset(
    {CredentialKind.REST_TOKEN, CredentialKind.READONLY_REST_TOKEN, CredentialKind.ACL_REST_TOKEN}
)
PASSWORD_KINDS = frozenset(
    {CredentialKind.PASSWORD, CredentialKind.ACL_PASSWORD, CredentialKind.URL_WITH_PASSWORD}
)
SIGNING_KINDS = frozenset({CredentialKind.SIGNING_KEY_CURRENT, CredentialKind.SIGNING_KEY_NEXT})
INDEX_KINDS = frozenset({CredentialKind.INDEX_TOKEN, CredentialKind.INDEX_READONLY_TOKEN})


_ROLE_KIND = {
    "rest_token": CredentialKind.REST_TOKEN,
    "readonly_rest_token": CredentialKind.READONLY_REST_TOKEN,
    "password": CredentialKind.PASSWORD,
    "ro_password": CredentialKind.ACL_PASSWORD,
    "readonly_token": CredentialKind.INDEX_READONLY_TOKEN,
    "signing_current": CredentialKind.SIGNING_KEY_CURRENT,
    "signing_next": CredentialKind.SIGNING_KEY_NEXT,
}


def descriptor_for(
    spec: GroupSpec, role: str, fp: str, *, user: str = "", tcp_endpoint: str = ""
) -> Credential | None:
    """What to probe a journaled value as, from its role and the rotation's group spec.

    ``spec`` is the strategy's group spec (``product``, ``rest_url``, ``endpoint``,
    ``resource_id``, ``acl_user``); ``role`` the last part of the value's journal name;
    ``tcp_endpoint`` a ``redis(s)://host:port`` the inventory knows for the database. Returns
    None for roles that are not credentials on their own (``username``, composite ``url``).
    """
    try:
        product = Product(spec.product)
    except ValueError:
        return None
    if role in ("username", "url", "value") or not role:
        return None
    if spec.adapter and spec.adapter != "upstash":  # a provider adapter probes it
        return Credential(
            fingerprint=Fingerprint(fp),
            product=product,
            kind=CredentialKind.PASSWORD,
            resource_id=spec.resource_id,
            endpoint=spec.endpoint,
            acl_user=user or spec.acl_user,
            adapter=spec.adapter,
            adapter_kind=spec.adapter_kind or "",
        )
    if role == "token":
        kind = CredentialKind.QSTASH_TOKEN if product is Product.QSTASH else CredentialKind.INDEX_TOKEN
    elif role == "readonly_token" and product is Product.QSTASH:
        # QStash's read-only token authenticates like the token (reads allowed, writes 403),
        # so the token check (GET /v2/keys: 200/403 accepted, 401 rejected) probes it too.
        kind = CredentialKind.QSTASH_TOKEN
    else:
        kind = _ROLE_KIND.get(role, CredentialKind.UNKNOWN)
    acl_user = user or spec.acl_user
    if kind is CredentialKind.PASSWORD and acl_user and acl_user != "default":
        kind = CredentialKind.ACL_PASSWORD
    endpoint = spec.rest_url or spec.endpoint
    if kind in (CredentialKind.PASSWORD, CredentialKind.ACL_PASSWORD):
        if spec.endpoint.startswith("redis"):
            endpoint = spec.endpoint
        elif tcp_endpoint.startswith("redis"):
            endpoint = tcp_endpoint
    return Credential(
        fingerprint=Fingerprint(fp),
        product=product,
        kind=kind,
        resource_id=spec.resource_id,
        endpoint=endpoint,
        acl_user=acl_user,
    )


@dataclass(frozen=True)
class ProbeOutcome:
    """A probe's verdict, what was asked (value-free), and when."""

    verdict: Verdict
    what: str
    at: float
    fingerprint: str = ""


def _rejected_message(exc: KeyrollError) -> bool:
    text = exc.message.upper()
    return "WRONGPASS" in text or "UNAUTHORIZED" in text or "INVALID AUTH" in text


async def _probe_redis_rest(providers: Providers, url: str, secret: Secret) -> tuple[Verdict, str]:
    if providers.redis is None:
        return Verdict.UNKNOWN, "no Redis REST client"
    if not url:
        return Verdict.UNKNOWN, "REST URL of the database unknown"
    try:
        await providers.redis.command(url, secret, "PING")
    except AuthError as exc:
        return Verdict.INVALID, f"Redis REST PING → {exc.status or 401}"
    except NotFoundError:
        return Verdict.UNKNOWN, "Redis REST PING → 404 (database gone?)"
    except ProviderError as exc:
        if "NOPERM" in exc.message.upper():
            return Verdict.VALID, "Redis REST PING → NOPERM (authenticated, command not allowed)"
        if exc.status in (401, 403) or _rejected_message(exc):
            return Verdict.INVALID, f"Redis REST PING → {exc.status or 'WRONGPASS'}"
        return Verdict.UNKNOWN, f"Redis REST PING failed ({exc.status or type(exc).__name__})"
    except KeyrollError as exc:
        return Verdict.UNKNOWN, f"Redis REST PING failed ({type(exc).__name__})"
    return Verdict.VALID, "Redis REST PING → 200"


_LOOPBACK = ("127.", "localhost", "::1")


def _tcp_target(credential: Credential, secret: Secret) -> tuple[str, int, bool, str] | None:
    """(host, port, tls, user) from the value or the endpoint when either is a ``redis(s)://`` URL."""
    raw = secret.reveal()
    for candidate in (raw, credential.endpoint):
        if candidate.startswith(("redis://", "rediss://")):
            parts = urllib.parse.urlsplit(candidate)
            if parts.hostname:
                user = urllib.parse.unquote(parts.username or "") or credential.acl_user or "default"
                return parts.hostname, parts.port or 6379, parts.scheme == "rediss", user
    return None


async def _tcp_target_from_api(
    providers: Providers, credential: Credential
) -> tuple[str, int, bool, str] | None:
    """The database's TCP endpoint from the Developer API (native accounts only)."""
    if providers.upstash is None or not credential.resource_id:
        return None
    try:
        db = await providers.upstash.get_redis(credential.resource_id)
    except KeyrollError:
        return None
    host = db.host
    if not host:
        return None
    return host, int(db.port or 6379), db.tcp_tls, credential.acl_user or "default"


def _password_of(secret: Secret) -> Secret:
    raw = secret.reveal()
    if raw.startswith(("redis://", "rediss://")):
        parts = urllib.parse.urlsplit(raw)
        return Secret(urllib.parse.unquote(parts.password or ""))
    return secret


async def _probe_redis_password(
    providers: Providers, credential: Credential, secret: Secret, timeout_s: float = 6.0
) -> tuple[Verdict, str]:
    target = _tcp_target(credential, secret) or await _tcp_target_from_api(providers, credential)
    if target is None:
        return Verdict.UNKNOWN, "no TCP endpoint known for an AUTH probe (no redis:// URL, no Developer API)"
    host, port, tls, user = target
    if host.startswith(_LOOPBACK):
        tls = (
            False  # the sandbox on loopback speaks rediss:// as plain TCP; real endpoints are never loopback
        )
    try:
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import AuthenticationError, NoPermissionError, RedisError
    except ImportError:  # redis-py is optional at runtime
        return Verdict.UNKNOWN, "redis-py is not installed: cannot probe a password over TCP"
    client = aioredis.Redis(
        host=host,
        port=port,
        ssl=tls,
        username=user,
        password=_password_of(secret).reveal(),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),  # a rejected AUTH is the answer, not a reason to retry
    )
    what = f"Redis AUTH {user}@{host}:{port}"
    try:
        await asyncio.wait_for(client.ping(), timeout_s)
    except AuthenticationError:
        return Verdict.INVALID, f"{what} → WRONGPASS"
    except NoPermissionError:
        return Verdict.VALID, f"{what} → NOPERM (authenticated)"
    except RedisError as exc:
        text = str(exc)
        if "WRONGPASS" in text.upper() or "invalid username-password" in text:
            return Verdict.INVALID, f"{what} → WRONGPASS"
        return Verdict.UNKNOWN, f"{what} failed ({type(exc).__name__})"
    except (OSError, TimeoutError) as exc:
        return Verdict.UNKNOWN, f"{what} failed ({type(exc).__name__})"
    finally:
        with contextlib.suppress(Exception):
            await client.aclose()
    return Verdict.VALID, f"{what} → OK"


async def _probe_qstash_token(
    providers: Providers, secret: Secret, endpoint: str = ""
) -> tuple[Verdict, str]:
    if providers.qstash is None:
        return Verdict.UNKNOWN, "no QStash client (QSTASH_TOKEN not set)"
    url = endpoint if endpoint.startswith(("http://", "https://")) else None  # the token's own region
    try:
        ok = await providers.qstash.check_token(secret, url=url)
    except KeyrollError as exc:
        return Verdict.UNKNOWN, f"QStash token check failed ({type(exc).__name__})"
    return (
        (Verdict.VALID, "QStash token check → 200") if ok else (Verdict.INVALID, "QStash token check → 401")
    )


async def _probe_index(
    providers: Providers, product: Product, url: str, secret: Secret
) -> tuple[Verdict, str]:
    client = providers.vector if product is Product.VECTOR else providers.search
    name = product.value.capitalize()
    if client is None:
        return Verdict.UNKNOWN, f"no {name} client"
    if not url:
        return Verdict.UNKNOWN, f"{name} REST URL unknown"
    try:
        await client.info(url, secret)
    except AuthError as exc:
        return Verdict.INVALID, f"{name} /info → {exc.status or 401}"
    except ProviderError as exc:
        if exc.status in (401, 403) or _rejected_message(exc):
            return Verdict.INVALID, f"{name} /info → {exc.status or 401}"
        return Verdict.UNKNOWN, f"{name} /info failed ({exc.status or type(exc).__name__})"
    except KeyrollError as exc:
        return Verdict.UNKNOWN, f"{name} /info failed ({type(exc).__name__})"
    return Verdict.VALID, f"{name} /info → 200"


async def _live_pairs(
    providers: Providers, tokens: Sequence[Secret]
) -> tuple[list[tuple[Secret, Secret]], list[str], str]:
    """Every region's live ``(current, next)`` pair keyroll can read: the configured URL, then each
    documented region (only mapped ones when ``KEYROLL_UPSTASH_HOSTS`` says where Upstash is).
    A region the Developer API lists no QStash user in does not exist for this account; one it
    lists is read with that user's token when none of ``tokens`` works there.

    :returns: the pairs, the regions that could not be read, the last error's type.
    """
    assert providers.qstash is not None
    cfg = providers.config
    hosts = HostMap(cfg.upstash_hosts)
    by_region: dict[str, str] = {}
    for url in (cfg.qstash_url, *(qstash_url_for_region(r) for r in QSTASH_REGIONS)):
        mapped = hosts.url(url)
        if hosts.hosts and mapped == url and url != cfg.qstash_url:
            continue  # a host map that does not list it: not reachable from here
        by_region.setdefault(qstash_region_of_url(hosts.reverse(mapped)) or mapped, mapped)
    users: list[Any] | None = None
    pairs: list[tuple[Secret, Secret]] = []
    unread: list[str] = []
    last_error = ""
    for region, url in by_region.items():
        candidates = list(tokens)
        if providers.upstash is not None:
            if users is None:
                try:
                    users = list(await providers.upstash.list_qstash_users())
                except KeyrollError:
                    users = []
            here = [u for u in users if u.region == region or u.url == url]
            if users and not here and region in QSTASH_REGIONS:
                continue  # the account has no QStash user in this region
            candidates += [u.token for u in here if u.token is not None and u.token not in candidates]
        for token in candidates:
            try:
                live = await providers.qstash.get_keys(token, url=url)
            except KeyrollError as exc:
                last_error = type(exc).__name__
                continue
            pairs.append((live.current, live.next))
            break
        else:
            unread.append(url)
    return pairs, unread, last_error


async def probe_signing_keys(
    providers: Providers,
    keys: Sequence[Secret],
    tokens: Sequence[Secret],
    *,
    clock: Callable[[], float] = time.time,
) -> dict[str, ProbeOutcome]:
    """Whether each signing key is still one QStash signs with (current or next) in some region.

    ``tokens`` are QStash tokens to read ``GET /v2/keys`` with, tried in order (the new token
    after a token rotation, then the configured one), in every region (each has its own keys:
    the configured URL, then each documented region through the host map). A key found in no
    pair is INVALID only when every region could be read; otherwise UNKNOWN. Returns
    fingerprint → outcome.
    """
    out: dict[str, ProbeOutcome] = {}
    if providers.qstash is None or not tokens:
        for k in keys:
            out[k.fingerprint] = ProbeOutcome(
                Verdict.UNKNOWN, "no QStash token to read the signing keys", clock(), k.fingerprint
            )
        return out
    pairs, unread, last_error = await _live_pairs(providers, tokens)
    at = clock()
    if not pairs:
        for k in keys:
            out[k.fingerprint] = ProbeOutcome(
                Verdict.UNKNOWN, f"QStash GET /v2/keys failed ({last_error})", at, k.fingerprint
            )
        return out
    for k in keys:
        pair = next((p for p in pairs if k in p), None)
        if pair is not None:
            role = "current" if k == pair[0] else "next"
            out[k.fingerprint] = ProbeOutcome(
                Verdict.VALID, f"QStash GET /v2/keys: it is the {role} key", at, k.fingerprint
            )
        elif not unread:
            out[k.fingerprint] = ProbeOutcome(
                Verdict.INVALID, "QStash GET /v2/keys: neither current nor next", at, k.fingerprint
            )
        else:
            out[k.fingerprint] = ProbeOutcome(
                Verdict.UNKNOWN,
                f"QStash GET /v2/keys: in no region read ({len(unread)} region(s) not readable with the tokens held)",
                at,
                k.fingerprint,
            )
    return out


async def _probe_adapter(providers: Providers, credential: Credential, secret: Secret) -> tuple[Verdict, str]:
    """The credential's provider adapter answers (``keyroll.providers`` entry points)."""
    from keyroll.adapters.interface import AdapterContext, CredentialRef
    from keyroll.adapters.interface import Verdict as AdapterVerdict
    from keyroll.adapters.registry import get_registry

    try:
        adapter = get_registry().get(credential.adapter)
    except KeyrollError as exc:
        return Verdict.UNKNOWN, exc.message
    ref = CredentialRef(
        adapter=credential.adapter,
        kind=credential.adapter_kind,
        secret=secret,
        principal=credential.acl_user,
        endpoint=credential.endpoint,
        resource_id=credential.resource_id,
        product=credential.product.value,
    )
    settings = dict(getattr(providers.config, "adapter_settings", {}) or {})
    try:
        result = await adapter.probe(ref, AdapterContext(settings=settings, providers=providers))
    except Exception as exc:  # a plug-in's bug: no verdict
        return Verdict.UNKNOWN, f"{credential.adapter} probe raised {type(exc).__name__}"
    verdict = {AdapterVerdict.ACCEPTED: Verdict.VALID, AdapterVerdict.REJECTED: Verdict.INVALID}.get(
        result.verdict, Verdict.UNKNOWN
    )
    return verdict, f"{credential.adapter}: {result.reason}" if result.reason else credential.adapter


async def probe_credential(
    providers: Providers,
    credential: Credential,
    secret: Secret,
    *,
    clock: Callable[[], float] = time.time,
) -> ProbeOutcome:
    """Ask the provider whether it accepts ``secret`` as ``credential`` (product, kind, endpoint).

    Never raises for provider trouble: failures become UNKNOWN with the reason. Signing keys
    need :func:`probe_signing_keys` (they are checked against the live key pair).
    """
    kind = credential.kind
    product = credential.product
    if credential.adapter and credential.adapter != "upstash":
        verdict, what = await _probe_adapter(providers, credential, secret)
        return ProbeOutcome(verdict, what, clock(), secret.fingerprint)
    if product is Product.REDIS and kind in REST_KINDS:
        verdict, what = await _probe_redis_rest(providers, credential.endpoint, secret)
    elif product is Product.REDIS and kind in PASSWORD_KINDS:
        verdict, what = await _probe_redis_password(providers, credential, secret)
    elif product is Product.QSTASH and kind is CredentialKind.QSTASH_TOKEN:
        verdict, what = await _probe_qstash_token(providers, secret, credential.endpoint)
    elif product in (Product.VECTOR, Product.SEARCH) and kind in INDEX_KINDS:
        verdict, what = await _probe_index(providers, product, credential.endpoint, secret)
    elif kind in SIGNING_KINDS:
        verdict, what = Verdict.UNKNOWN, "signing keys are checked against GET /v2/keys"
    else:
        verdict, what = Verdict.UNKNOWN, f"no probe for {product.value} {kind.value}"
    return ProbeOutcome(verdict, what, clock(), secret.fingerprint)
