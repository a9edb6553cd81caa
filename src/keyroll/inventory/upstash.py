"""Source: what Upstash itself says exists — the Developer API and QStash's signing keys.

Every Redis database (password, REST token, read-only REST token), every Vector and Search
index (token, read-only token), every QStash user (token, read-only token) and the QStash
signing keys (current, next). Credentials of one resource are ``related``: they rotate
together. Failures become :class:`~keyroll.core.model.Unknown` entries, never a crash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TypeVar

from keyroll.core.errors import KeyrollError, ManagedByIntegrationError
from keyroll.core.model import Credential, CredentialKind, Management, Product, Unknown
from keyroll.core.progress import Progress
from keyroll.core.secret import Secret
from keyroll.inventory.classify import strategy_for
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.records import UpstashSnapshot
from keyroll.providers.factory import Providers
from keyroll.providers.upstash.developer import DeveloperAPI, RedisDatabase, SearchIndex, VectorIndex

__all__ = ["collect_upstash"]

K = CredentialKind
T = TypeVar("T")


def _https(endpoint: str) -> str:
    if not endpoint or endpoint.startswith(("http://", "https://")):
        return endpoint
    return f"https://{endpoint}"


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
        self.snap.credentials.extend(
            _group(
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
        )
        # the password is used over TCP: give it the database's real TCP endpoint (host, port, TLS)
        host = urllib.parse.urlsplit(db.rest_url).hostname or ""
        if host and db.password is not None:
            tcp = f"{'rediss' if db.tls else 'redis'}://{host}:{db.port}"
            self.snap.credentials[:] = [
                dataclasses.replace(c, endpoint=tcp).with_value(c.value)
                if c.fingerprint == db.password.fingerprint and c.kind is K.PASSWORD
                else c
                for c in self.snap.credentials
            ]

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
                    endpoint=_https(index.endpoint),
                )
            )

    # -- QStash ----------------------------------------------------------------------------
    async def qstash_users(self, dev: DeveloperAPI) -> list[Secret]:
        users = await self.call("upstash qstash users", dev.list_qstash_users)
        tokens: list[Secret] = []
        for user in users or []:
            group = _group(
                [(user.token, K.QSTASH_TOKEN, "")],
                product=Product.QSTASH,
                resource_id=user.id,
                resource_name=user.region,
                management=Management.NATIVE,
                endpoint=self.providers.config.qstash_url,
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
                    endpoint=self.providers.config.qstash_url,
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
                tokens.append(user.token)
        return tokens

    async def signing_keys(self, tokens: list[Secret], resource_id: str) -> None:
        qstash = self.providers.qstash
        if qstash is None or not tokens:
            return
        last: KeyrollError | None = None
        for token in tokens:
            try:
                keys = await self.limiter.run(qstash.get_keys, token)
            except KeyrollError as exc:
                last = exc
                continue
            self.snap.credentials.extend(
                _group(
                    [(keys.current, K.SIGNING_KEY_CURRENT, ""), (keys.next, K.SIGNING_KEY_NEXT, "")],
                    product=Product.QSTASH,
                    resource_id=resource_id,
                    resource_name="signing keys",
                    management=Management.NATIVE,
                    endpoint=self.providers.config.qstash_url,
                )
            )
            return
        if last is not None:
            self.unknown("qstash signing keys", last)


async def collect_upstash(providers: Providers, limiter: Limiter, progress: Progress) -> UpstashSnapshot:
    """Every credential Upstash mints for this account, with values attached.

    Never raises for provider failures: they are returned as unknowns.
    """
    c = _Collector(providers, limiter, progress)
    task = progress.task("upstash", total=None)
    tokens: list[Secret] = []
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
    if cfg_token is not None and cfg_token.reveal() and tokens and cfg_token not in tokens:
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
        if cfg_token not in tokens:
            c.snap.credentials.extend(
                _group(
                    [(cfg_token, K.QSTASH_TOKEN, "")],
                    product=Product.QSTASH,
                    resource_name="QSTASH_TOKEN",
                    management=Management.NATIVE,
                    endpoint=providers.config.qstash_url,
                )
            )
        tokens = [cfg_token, *(t for t in tokens if t != cfg_token)]
    users = {c.fingerprint: c.resource_id for c in c.snap.credentials if c.kind is K.QSTASH_TOKEN}
    resource = users.get(tokens[0].fingerprint, "") if tokens else ""
    await c.signing_keys(tokens, resource or "qstash")
    progress.finish(task)
    return c.snap
