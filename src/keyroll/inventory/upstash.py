"""Source: what Upstash itself says exists — the Developer API and QStash's signing keys.

Every Redis database (password, REST token, read-only REST token), every Vector and Search
index (token, read-only token), every QStash user (token, read-only token) and the QStash
signing keys (current, next). Credentials of one resource are ``related``: they rotate
together. Failures become :class:`~keyroll.core.model.Unknown` entries, never a crash.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import TypeVar

from keyroll.core.errors import KeyrollError, ManagedByIntegrationError
from keyroll.core.model import Credential, CredentialKind, Management, Product, Strategy, Unknown
from keyroll.core.progress import Progress
from keyroll.core.secret import Secret
from keyroll.core.strategy import NO_ACL_NOTE
from keyroll.inventory.classify import strategy_for
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.records import UpstashSnapshot
from keyroll.providers.factory import Providers
from keyroll.providers.upstash.developer import DeveloperAPI, RedisDatabase, SearchIndex, VectorIndex
from keyroll.providers.upstash.endpoints import (
    QSTASH_REGIONS,
    HostMap,
    qstash_region_of_url,
    qstash_url_for_region,
)

__all__ = ["collect_upstash"]

K = CredentialKind
T = TypeVar("T")


def _group(items: list[tuple[Secret | None, CredentialKind, str]], **common: object) -> list[Credential]:
    """Credentials of one resource, each listing the others as ``related``."""
    creds: list[Credential] = []
    for value, kind, acl_user in items:
        if value is None or not value.reveal():
            continue
        cred = Credential(
            fingerprint=value.fingerprint,
            kind=kind,
            acl_user=acl_user,
            last4=value.last4,
            value=value,
            **common,  # type: ignore[arg-type]
        )
        creds.append(dataclasses.replace(cred, strategy=strategy_for(cred)))
    fps = [c.fingerprint for c in creds]
    return [
        dataclasses.replace(c, related=tuple(f for f in fps if f != c.fingerprint)).with_value(c.value)
        for c in creds
    ]


class _Collector:
    def __init__(self, providers: Providers, limiter: Limiter, progress: Progress) -> None:
        self.providers = providers
        self.limiter = limiter
        self.progress = progress
        self.snap = UpstashSnapshot()

    def unknown(self, where: str, exc: KeyrollError) -> None:
        self.snap.unknowns.append(Unknown(where=where, reason=exc.message))
        self.progress.note(f"upstash: {where}: {exc.message}")

    async def call(self, where: str, fn: Callable[..., Awaitable[T]], *args: object) -> T | None:
        try:
            return await self.limiter.run(fn, *args)
        except KeyrollError as exc:
            self.unknown(where, exc)
            return None

    # -- Redis ---------------------------------------------------------------------------
    async def redis(self, dev: DeveloperAPI) -> None:
        dbs = await self.call("upstash redis databases", dev.list_redis)
        if dbs is None:
            return
        await asyncio.gather(*(self.redis_db(dev, db) for db in dbs))

    async def redis_db(self, dev: DeveloperAPI, db: RedisDatabase) -> None:
        name = db.database_name or db.database_id
        if db.password is None or db.rest_token is None:
            try:
                db = await self.limiter.run(dev.get_redis, db.database_id)
            except ManagedByIntegrationError as exc:
                self.unknown(f"upstash redis {name}", exc)
                return
            except KeyrollError as exc:
                self.unknown(f"upstash redis {name}", exc)
                return
        if db.password is None and db.rest_token is None and db.read_only_rest_token is None:
            self.snap.unknowns.append(
                Unknown(
                    where=f"upstash redis {name}",
                    reason="the Developer API returns no credentials (credential protection is on?); "
                    "copies are classified by variable name only",
                )
            )
            return
        group = _group(
            [
                (db.password, K.PASSWORD, "default"),
                (db.rest_token, K.REST_TOKEN, "default"),
                (db.read_only_rest_token, K.READONLY_REST_TOKEN, "default_ro"),
            ],
            product=Product.REDIS,
            resource_id=db.database_id,
            resource_name=db.database_name,
            management=Management.NATIVE,
            endpoint=db.rest_url,
        )
        if not db.acl_enabled:
            # a free database has no ACL: no overlap user can be created, so a cutover it is
            group = [
                dataclasses.replace(
                    c, strategy=Strategy.REDIS_CUTOVER, notes=(*c.notes, NO_ACL_NOTE)
                ).with_value(c.value)
                for c in group
            ]
        # the password is used over TCP: give it the database's real TCP endpoint (host, port, TLS)
        host = db.host
        if host and db.password is not None:
            tcp = f"{'rediss' if db.tcp_tls else 'redis'}://{host}:{db.port}"
            group = [
                dataclasses.replace(c, endpoint=tcp).with_value(c.value)
                if c.fingerprint == db.password.fingerprint and c.kind is K.PASSWORD
                else c
                for c in group
            ]
        self.snap.credentials.extend(group)

    # -- Vector / Search -----------------------------------------------------------------
    async def indexes(self, dev: DeveloperAPI, product: Product) -> None:
        lister = dev.list_vector if product is Product.VECTOR else dev.list_search
        getter = dev.get_vector if product is Product.VECTOR else dev.get_search
        items: list[VectorIndex] | list[SearchIndex] | None = await self.call(
            f"upstash {product.value} indexes", lister
        )
        for listed in items or []:
            index: VectorIndex | SearchIndex | None = listed
            if listed.token is None:
                index = await self.call(
                    f"upstash {product.value} {listed.name or listed.id}", getter, listed.id
                )
            if index is None:
                continue
            vercel_email = str(getattr(index, "vercel_email", "") or "")
            self.snap.credentials.extend(
                _group(
                    [(index.token, K.INDEX_TOKEN, ""), (index.read_only_token, K.INDEX_READONLY_TOKEN, "")],
                    product=product,
                    resource_id=index.id,
                    resource_name=index.name,
                    management=Management.VERCEL_INTEGRATION if vercel_email else Management.NATIVE,
                    endpoint=index.rest_url,
                )
            )

    # -- QStash ----------------------------------------------------------------------------
    async def qstash_users(self, dev: DeveloperAPI) -> list[tuple[Secret, str, str]]:
        """Every region's user: its credentials (endpoint = the region's origin); returns
        ``(token, region url, user id)`` for reading each region's signing keys."""
        users = await self.call("upstash qstash users", dev.list_qstash_users)
        tokens: list[tuple[Secret, str, str]] = []
        for user in users or []:
            url = user.url
            group = _group(
                [(user.token, K.QSTASH_TOKEN, "")],
                product=Product.QSTASH,
                resource_id=user.id,
                resource_name=user.region,
                management=Management.NATIVE,
                endpoint=url,
            )
            if user.read_only_token is not None and user.read_only_token.reveal():
                ro = user.read_only_token
                ro_cred = Credential(
                    fingerprint=ro.fingerprint,
                    product=Product.QSTASH,
                    kind=K.QSTASH_TOKEN,
                    resource_id=user.id,
                    resource_name=user.region,
                    management=Management.NATIVE,
                    strategy=None,
                    endpoint=url,
                    related=tuple(c.fingerprint for c in group),
                    last4=ro.last4,
                    notes=("read-only QStash token; reset together with the user's token",),
                    value=ro,
                )
                ro_cred = dataclasses.replace(ro_cred, strategy=strategy_for(ro_cred)).with_value(ro)
                group = [
                    dataclasses.replace(c, related=(*c.related, ro.fingerprint)).with_value(c.value)
                    for c in group
                ]
                group.append(ro_cred)
            self.snap.credentials.extend(group)
            if user.token is not None:
                tokens.append((user.token, url, user.id))
        return tokens

    async def region_of(self, token: Secret) -> str:
        """The origin of the QStash region that accepts ``token`` (the configured URL first,
        then every documented region through the host map); ``""`` when none answers yes."""
        qstash = self.providers.qstash
        cfg = self.providers.config
        if qstash is None:
            return ""
        hosts = HostMap(cfg.upstash_hosts)
        candidates = [cfg.qstash_url, *(hosts.url(qstash_url_for_region(r)) for r in QSTASH_REGIONS)]
        for url in dict.fromkeys(candidates):
            try:
                if await self.limiter.run(qstash.check_token, token, url=url):
                    return url
            except KeyrollError:
                continue
        return ""

    async def signing_keys(self, tokens: list[tuple[Secret, str, str]]) -> None:
        """Each region's signing keys, read with that region's token."""
        qstash = self.providers.qstash
        if qstash is None or not tokens:
            return
        done: set[str] = set()
        failures: dict[str, KeyrollError] = {}
        for token, url, resource_id in tokens:
            if url in done:
                continue
            try:
                keys = await self.limiter.run(qstash.get_keys, token, url=url or None)
            except KeyrollError as exc:
                failures.setdefault(url, exc)
                continue
            done.add(url)
            failures.pop(url, None)
            region = qstash_region_of_url(HostMap(self.providers.config.upstash_hosts).reverse(url))
            self.snap.credentials.extend(
                _group(
                    [(keys.current, K.SIGNING_KEY_CURRENT, ""), (keys.next, K.SIGNING_KEY_NEXT, "")],
                    product=Product.QSTASH,
                    resource_id=resource_id,
                    resource_name=f"signing keys {region}".strip(),
                    management=Management.NATIVE,
                    endpoint=url,
                )
            )
        for url, failure in failures.items():
            self.unknown(f"qstash signing keys at {url}", failure)


async def collect_upstash(providers: Providers, limiter: Limiter, progress: Progress) -> UpstashSnapshot:
    """Every credential Upstash mints for this account, with values attached.

    Never raises for provider failures: they are returned as unknowns.
    """
    c = _Collector(providers, limiter, progress)
    task = progress.task("upstash", total=None)
    tokens: list[tuple[Secret, str, str]] = []
    dev = providers.upstash
    if dev is not None:
        results = await asyncio.gather(
            c.redis(dev),
            c.indexes(dev, Product.VECTOR),
            c.indexes(dev, Product.SEARCH),
            c.qstash_users(dev),
        )
        tokens = list(results[3])
    else:
        progress.note("upstash: UPSTASH_EMAIL / UPSTASH_API_KEY not set; classifying Vercel vars by name")
    cfg_token = providers.config.qstash_token
    if cfg_token is not None and cfg_token.reveal() and tokens and all(t[0] != cfg_token for t in tokens):
        # the account's QStash tokens are listed and keyroll's own is not one of them: rotated
        # (dead) or another account's — never a credential to rotate (issue #17, case 5)
        c.snap.unknowns.append(
            Unknown(
                where="QSTASH_TOKEN (keyroll's own)",
                reason="not a QStash token of this Upstash account (rotated since, or another account's); "
                "`keyroll doctor` checks it",
            )
        )
    elif cfg_token is not None and cfg_token.reveal():
        known = next((t for t in tokens if t[0] == cfg_token), None)
        if known is None:
            # not listed by the Developer API: ask each region which one it belongs to
            url = await c.region_of(cfg_token) or providers.config.qstash_url
            c.snap.credentials.extend(
                _group(
                    [(cfg_token, K.QSTASH_TOKEN, "")],
                    product=Product.QSTASH,
                    resource_name="QSTASH_TOKEN",
                    management=Management.NATIVE,
                    endpoint=url,
                )
            )
            known = (cfg_token, url, "")
        tokens = [known, *(t for t in tokens if t[0] != cfg_token)]
    await c.signing_keys([(tok, url, rid or "qstash") for tok, url, rid in tokens])
    progress.finish(task)
    return c.snap
