"""Turn sightings into an :class:`~keyroll.core.model.Inventory`: credentials × locations.

Stages (see :func:`keyroll.inventory.take_inventory`):

1. :class:`Resolver` collects every candidate value — Upstash's credentials, Vercel values
   whose key / content hint / shape says "Upstash credential", the caller's extra values —
   and builds one :class:`~keyroll.scan.known.KnownValues` matcher over all of them.
2. Every readable Vercel value is matched in one pass: each match is an exact location
   (with its form: plain, in a URL, base64 …), whatever the variable is called.
3. :meth:`Resolver.identify` asks Redis who unknown REST tokens belong to (``ACL WHOAMI``).
4. :meth:`Resolver.finish` merges the evidence into credentials, links what could not be
   read (sensitive vars, GitHub secrets) to credentials by key, integration and endpoint,
   adds files, git history and deployments, and relates credentials that rotate together.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence

from keyroll.core.errors import AuthError, KeyrollError
from keyroll.core.model import (
    Confidence,
    Credential,
    CredentialKind,
    DeploymentRef,
    Form,
    Inventory,
    Location,
    LocationKind,
    Management,
    Product,
    Unknown,
)
from keyroll.core.secret import Fingerprint, Secret
from keyroll.inventory import matching
from keyroll.inventory.classify import (
    KeyClass,
    classify_hint,
    classify_key,
    classify_value,
    normalize_endpoint,
)
from keyroll.inventory.deployments import effective_env
from keyroll.inventory.evidence import Evidence, merge
from keyroll.inventory.files import DotenvSighting
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.records import (
    EnvRecord,
    GitHubSecretRecord,
    ProjectInfo,
    TextHit,
    UpstashSnapshot,
    VercelSnapshot,
)
from keyroll.inventory.secrets import GENERIC, SecretClassifier
from keyroll.providers.upstash.endpoints import prefer_seen
from keyroll.providers.upstash.redis import RedisREST
from keyroll.scan.known import KnownValues

__all__ = ["MIN_VALUE", "Resolver", "record_class", "rotation_unit"]

K = CredentialKind
MIN_VALUE = 8
"""Values shorter than this under an Upstash name are placeholders, not credentials."""

_KIND_ORDER = {k: i for i, k in enumerate(LocationKind)}
_LOOPBACK = ("127.", "localhost", "::1", "0.0.0.0")


def record_class(record: EnvRecord) -> KeyClass | None:
    """The class of a Vercel var: its key when that is a well-known name, else its content hint."""
    key_cls = classify_key(record.key)
    if key_cls is not None and key_cls.exact:
        return key_cls
    return classify_hint(record.content_hint) or key_cls


def rotation_unit(product: Product, kind: CredentialKind, acl_user: str) -> str:
    """Credentials with the same unit (and resource) rotate together."""
    if product is Product.REDIS:
        if kind in (K.ACL_PASSWORD, K.ACL_REST_TOKEN) or acl_user not in ("", "default", "default_ro"):
            return f"redis-acl:{acl_user}"
        return "redis-default"
    if product is Product.QSTASH:
        return "qstash-signing" if kind in (K.SIGNING_KEY_CURRENT, K.SIGNING_KEY_NEXT) else "qstash-token"
    return f"{product.value}-index"


_LOGIN_KEY = re.compile(r"(^|_)(PG)?USER(NAME)?$", re.IGNORECASE)
"""``PGUSER``, ``POSTGRES_USER``, ``DATABASE_USERNAME``, ``DB_USER`` …"""


def _owner(r: EnvRecord) -> str:
    return "shared" if r.shared else r.project_id


def _scope_overlap(a: EnvRecord, b: EnvRecord) -> bool:
    if set(a.custom_environment_ids) & set(b.custom_environment_ids):
        return True
    if set(a.targets) & set(b.targets):
        return not (a.git_branch and b.git_branch and a.git_branch != b.git_branch)
    return False


_REDIS_FAMILIES = frozenset({"kv", "redis", "upstash_redis"})


def _families_ok(a: KeyClass, b: KeyClass) -> bool:
    if a.family == b.family:
        return True
    return {a.family, b.family} <= _REDIS_FAMILIES and "redis" in (a.family, b.family)


def _hostname(endpoint: str) -> str:
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].lower()
    return "" if not host or host.startswith(_LOOPBACK) else host


def _hostport(endpoint: str) -> str:
    """``host:port`` of a URL, scheme dropped (``""`` when it has none)."""
    return endpoint.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].lower()


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class Resolver:
    """Matches values, merges evidence and builds the inventory (see the module docstring)."""

    def __init__(
        self,
        upstash: UpstashSnapshot,
        vercel: VercelSnapshot,
        extra_values: Iterable[Secret] = (),
        *,
        all_secrets: bool = False,
    ) -> None:
        self.upstash = upstash
        self._secrets = SecretClassifier() if all_secrets else None
        self.secret_fps: set[Fingerprint] = set()
        """credentials beyond Upstash's that the scanner's detectors found in Vercel values"""
        self.vercel = vercel
        self.base: dict[Fingerprint, Credential] = {c.fingerprint: c for c in upstash.credentials}
        self.values: dict[Fingerprint, Secret] = {}
        self.evidence: dict[Fingerprint, list[Evidence]] = defaultdict(list)
        self.notes: dict[Fingerprint, list[str]] = defaultdict(list)
        self.integration_fps: set[Fingerprint] = set()
        self.candidate_of: dict[int, Fingerprint] = {}
        """id(record) → the credential value the record itself holds"""
        self.env_locations: dict[int, list[Location]] = defaultdict(list)
        """id(record) → its locations (exact matches, then links for unreadable ones)"""
        self.unknowns: list[Unknown] = [*upstash.unknowns, *vercel.unknowns]
        self._urls: dict[tuple[str, Product], list[tuple[EnvRecord, KeyClass, str]]] = defaultdict(list)
        self._native_by_endpoint: dict[str, Credential] = {}
        self._native_by_host: dict[str, Credential] = {}
        self._native_by_hostport: dict[str, Credential] = {}
        """``host:port`` → credential: a ``redis://`` and a ``rediss://`` URL of one database (a URL
        keyroll wrote for its own ACL user keeps the host and port, not always the scheme)"""
        for cred in upstash.credentials:
            if cred.value is not None:
                self.values[cred.fingerprint] = cred.value
            if cred.product is not Product.QSTASH and cred.endpoint:
                self._native_by_endpoint.setdefault(normalize_endpoint(cred.endpoint), cred)
                if cred.endpoint.startswith(("redis://", "rediss://")):
                    self._native_by_hostport.setdefault(_hostport(cred.endpoint), cred)
                host = _hostname(cred.endpoint)
                if host:
                    self._native_by_host.setdefault(host, cred)
        self._readable: list[EnvRecord] | None = None
        self._by_configuration: dict[str, list[EnvRecord]] = defaultdict(list)
        self._index_urls()
        for record in self.readable():
            self._candidate(record)
        for secret in extra_values:
            if secret.reveal():
                self.values.setdefault(secret.fingerprint, secret)
        self.matcher = KnownValues(self.values.values())
        self._match_records()

    # -- stage 1 and 2 ----------------------------------------------------------------------
    def readable(self) -> list[EnvRecord]:
        """Vercel vars whose value was read."""
        if self._readable is None:
            self._readable = [r for r in self.vercel.records if r.value is not None]
            for r in self._readable:
                if r.configuration_id:
                    self._by_configuration[r.configuration_id].append(r)
        return self._readable

    def _index_urls(self) -> None:
        for r in self.readable():
            cls = record_class(r)
            if cls is not None and cls.role == "url" and r.value is not None:
                url = r.value.reveal().strip()
                if normalize_endpoint(url):
                    self._urls[(_owner(r), cls.product)].append((r, cls, url))

    def sibling_url(self, record: EnvRecord, cls: KeyClass) -> str:
        """The REST URL var written next to a credential var (same prefix and scope), if any."""
        best = ""
        for other, ocls, url in self._urls.get((_owner(record), cls.product), []):
            same_set = ocls.prefix == cls.prefix and ocls.suffix == cls.suffix and _families_ok(cls, ocls)
            same_integration = (
                bool(record.configuration_id) and record.configuration_id == other.configuration_id
            )
            if not (same_set or same_integration) or not _scope_overlap(record, other):
                continue
            if other.targets == record.targets and other.git_branch == record.git_branch:
                return url
            best = best or url
        return best

    def _native_resource(self, endpoint: str) -> Credential | None:
        if not endpoint:
            return None
        return (
            self._native_by_endpoint.get(normalize_endpoint(endpoint))
            or (
                self._native_by_hostport.get(_hostport(endpoint))
                if endpoint.startswith(("redis://", "rediss://"))
                else None
            )
            or self._native_by_host.get(_hostname(endpoint))
        )

    def _candidate(self, r: EnvRecord) -> None:
        assert r.value is not None
        value = r.value.reveal().strip()
        if len(value) < MIN_VALUE:
            return
        cls = record_class(r)
        integration = bool(r.configuration_id or r.hint_type)
        vc = classify_value(value)
        if vc is not None:
            kind = vc.kind
            if cls is not None and cls.kind is not None and cls.product is vc.product and not vc.endpoint:
                kind = cls.kind  # e.g. a sig_… key under QSTASH_NEXT_SIGNING_KEY
            secret, source = vc.secret, ("key" if cls is not None else "shape")
            product, acl_user, endpoint = vc.product, vc.acl_user, vc.endpoint
            if not endpoint and cls is not None and cls.product is vc.product:
                endpoint = self.sibling_url(r, cls)  # the URL var next to it: a seen data-plane URL
        elif cls is not None and cls.kind is not None and cls.role != "redis_url":
            kind, secret, product, acl_user = cls.kind, Secret(value), cls.product, ""
            source = "key" if cls.exact and cls.canonical else ("hint" if cls.exact else "heuristic")
            endpoint = self.sibling_url(r, cls)
        else:
            self._adapter_candidate(r, value, integration)
            self._other_secret(r, value)
            return
        native = self._native_resource(endpoint) if product is Product.REDIS or endpoint else None
        if native is not None and native.product is not product:
            native = None
        fp = secret.fingerprint
        self.values.setdefault(fp, secret)
        self.candidate_of[id(r)] = fp
        if fp in self.base:
            base = self.base[fp]
            if base.product in (Product.VECTOR, Product.SEARCH) and endpoint.startswith(
                ("http://", "https://")
            ):
                # the API gives a slug and its host is an inferred mapping: the URL seen next to
                # the token wins
                url = prefer_seen(base.endpoint, endpoint)
                for other_fp, other in list(self.base.items()):  # the index's other token too
                    if other_fp == fp or (
                        other.product is base.product
                        and other.resource_id == base.resource_id
                        and other.endpoint == base.endpoint
                    ):
                        self.base[other_fp] = dataclasses.replace(other, endpoint=url).with_value(other.value)
            return
        self.evidence[fp].append(
            Evidence(
                source=source,
                product=product,
                kind=kind,
                acl_user=acl_user,
                endpoint=endpoint,
                resource_id=native.resource_id if native else "",
                resource_name=native.resource_name if native else "",
                integration=integration,
                native=native is not None,
                note=(
                    f"not a credential the Developer API lists for {native.resource_name or native.resource_id}: "
                    "an ACL user's token, or an old one"
                    if native is not None
                    else ""
                ),
            )
        )

    def _other_secret(self, r: EnvRecord, value: str) -> None:
        """A secret beyond Upstash's (Stripe, OpenAI, a Postgres password …), by the detectors."""
        if self._secrets is None:
            return
        found = self._secrets.classify(r.key, value, r.type)
        if found is None:
            return
        fp = found.secret.fingerprint
        self.values.setdefault(fp, found.secret)
        self.candidate_of[id(r)] = fp
        if fp in self.base:
            return
        self.secret_fps.add(fp)
        what = f"the scanner's {found.rule_id} detector" if found.rule_id else "an encrypted value"
        self.evidence[fp].append(
            Evidence(
                source="detector" if found.service != GENERIC else "generic",
                product=found.product,
                kind=found.kind,
                integration=bool(r.configuration_id or r.hint_type),
                service=found.service,
                note=f"{found.service}: recognised by {what}",
            )
        )

    def key_links(self, r: EnvRecord) -> list[tuple[Fingerprint, str]]:
        """Secrets an unreadable var probably holds because a readable var of the same name holds
        them (its own project's first, then anywhere in the team), each with how it was linked."""
        if self._secrets is None or not self.secret_fps:
            return []
        key = r.key.upper()
        holders = [
            (o, self.candidate_of[id(o)])
            for o in self.readable()
            if o.key.upper() == key and self.candidate_of.get(id(o)) in self.secret_fps
        ]
        near = [
            (o, fp)
            for o, fp in holders
            if r.project_id
            and ((not o.shared and o.project_id == r.project_id) or r.project_id in o.linked_project_ids)
        ]
        out: dict[Fingerprint, str] = {}
        for o, fp in near or holders:
            out.setdefault(fp, f"a readable var of the same name holds it ({o.where()})")
        return sorted(out.items())

    def _adapter_candidate(self, r: EnvRecord, value: str, integration: bool) -> None:
        """A value a provider adapter (entry point group ``keyroll.providers``) recognises: a
        credential of that adapter (Upstash's own shapes were handled above)."""
        from keyroll.adapters.registry import get_registry

        found = get_registry().detect(value, key=r.key, skip=("upstash",))
        if found is None:
            return
        try:
            product = Product(found.product)
        except ValueError:
            product = Product.OTHER
        fp = found.secret.fingerprint
        self.values.setdefault(fp, found.secret)
        self.candidate_of[id(r)] = fp
        if fp in self.base:
            return
        self.evidence[fp].append(
            Evidence(
                source="shape",
                product=product,
                kind=K.PASSWORD if found.in_url else K.UNKNOWN,
                acl_user=found.principal,
                endpoint=found.endpoint,
                resource_id=found.resource_id,
                integration=integration,
                adapter=found.adapter,
                adapter_kind=found.kind,
            )
        )

    def _login_locations(self, creds: dict[Fingerprint, Credential], found: list[Location]) -> list[Location]:
        """Login-name vars (``PGUSER``, ``POSTGRES_USER`` …) holding the login of an adapter
        credential whose *bare* password sits in the same project and scope: an alternating-users
        rotation changes the login, so they are written with it (``Form.LOGIN``)."""
        bare: dict[Fingerprint, list[Location]] = defaultdict(list)
        for loc in found:
            cred = creds.get(loc.fingerprint)
            if cred is not None and cred.adapter and cred.acl_user and loc.form is Form.PLAIN:
                bare[loc.fingerprint].append(loc)
        out: list[Location] = []
        for fp, locs in bare.items():
            user = creds[fp].acl_user
            for r in self.readable():
                assert r.value is not None
                if r.value.reveal().strip() != user or not _LOGIN_KEY.search(r.key):
                    continue
                same_scope = any(
                    loc.project_id == r.project_id
                    and loc.git_branch == r.git_branch
                    and (
                        set(loc.targets) & set(r.targets)
                        or set(loc.custom_environment_ids) & set(r.custom_environment_ids)
                    )
                    for loc in locs
                )
                if same_scope:
                    out.append(
                        self._env_location(
                            r,
                            fp,
                            Form.LOGIN,
                            reason="the login name next to the password (alternating roles change it)",
                        )
                    )
        return out

    def _match_records(self) -> None:
        for r in self.readable():
            assert r.value is not None
            seen: set[Fingerprint] = set()
            for m in matching.find(self.matcher, r.value.reveal()):
                if m.fingerprint in seen:
                    continue
                seen.add(m.fingerprint)
                self.env_locations[id(r)].append(self._env_location(r, m.fingerprint, m.form))
                if r.configuration_id or r.hint_type:
                    self.integration_fps.add(m.fingerprint)

    @staticmethod
    def _env_location(
        r: EnvRecord,
        fp: Fingerprint,
        form: Form,
        confidence: Confidence = Confidence.EXACT,
        reason: str = "",
    ) -> Location:
        return Location(
            kind=LocationKind.VERCEL_SHARED_ENV if r.shared else LocationKind.VERCEL_ENV,
            fingerprint=fp,
            form=form,
            confidence=confidence,
            reason=reason,
            project_id=r.project_id,
            project_name=r.project_name,
            env_id=r.env_id,
            key=r.key,
            targets=r.targets,
            git_branch=r.git_branch,
            custom_environment_ids=r.custom_environment_ids,
            env_type=r.type,
            configuration_id=r.configuration_id,
            content_hint=r.hint_type,
            linked_project_ids=r.linked_project_ids,
        )

    # -- stage 3 -------------------------------------------------------------------------------
    async def identify(self, redis: RedisREST | None, limiter: Limiter) -> None:
        """Ask each Redis endpoint who an unknown REST token belongs to (``ACL WHOAMI``).

        Tells an ACL user's token (its own strategy) from a default-user token, and flags a
        token that the endpoint already rejects. Failures only add a note.
        """
        if redis is None:
            return
        jobs = []
        for fp, evs in self.evidence.items():
            if fp in self.base or not evs:
                continue
            top = max(evs, key=lambda e: e.priority)
            endpoint = next((e.endpoint for e in evs if e.endpoint.startswith("http")), "")
            if (
                top.product is Product.REDIS
                and top.kind in (K.REST_TOKEN, K.READONLY_REST_TOKEN)
                and endpoint
            ):
                jobs.append(self._whoami(redis, limiter, fp, endpoint, top))
        await asyncio.gather(*jobs)

    async def _whoami(
        self, redis: RedisREST, limiter: Limiter, fp: Fingerprint, endpoint: str, top: Evidence
    ) -> None:
        try:
            user = await limiter.run(redis.command, endpoint, self.values[fp], "ACL", "WHOAMI")
        except AuthError:
            self.notes[fp].append(
                "the Redis endpoint rejects this token (already revoked, or another endpoint)"
            )
            return
        except KeyrollError as exc:
            if "NOPERM" in exc.message:
                self.notes[fp].append("the Redis endpoint accepts this token but denies ACL WHOAMI")
            else:
                self.notes[fp].append("its ACL user could not be identified")
            return
        name = str(user or "")
        if not name:
            return
        if name == "default":
            kind = K.REST_TOKEN
        elif name == "default_ro":
            kind = K.READONLY_REST_TOKEN
        else:
            kind = K.ACL_REST_TOKEN
        self.evidence[fp].append(
            dataclasses.replace(top, source="probe", kind=kind, acl_user=name, note=f"ACL user {name}")
        )

    # -- stage 4 -------------------------------------------------------------------------------
    def provisional(self) -> dict[Fingerprint, Credential]:
        """Credentials as known from Upstash and Vercel values (before files, links, relations)."""
        out: dict[Fingerprint, Credential] = {}
        for fp in {*self.base, *self.evidence}:
            out[fp] = self._merged(fp)
        return out

    def _merged(self, fp: Fingerprint) -> Credential:
        cred = merge(
            fp,
            self.values.get(fp),
            self.evidence.get(fp, ()),
            base=self.base.get(fp),
            extra_notes=self.notes.get(fp, ()),
        )
        if cred.management is Management.UNKNOWN and fp in self.integration_fps:
            cred = dataclasses.replace(cred, management=Management.VERCEL_INTEGRATION).with_value(cred.value)
        return cred

    def affected_projects(self) -> list[ProjectInfo]:
        """Projects whose deployments hold (or may hold) a credential."""
        ids: dict[str, None] = {}
        for r in self.vercel.records:
            has_credential = bool(self.env_locations.get(id(r)))
            if not has_credential and r.value is None:
                cls = record_class(r)
                has_credential = (cls is not None and cls.is_credential) or bool(self.key_links(r))
            if not has_credential:
                continue
            for pid in r.linked_project_ids if r.shared else (r.project_id,):
                ids[pid] = None
        return [self.vercel.projects[p] for p in ids if p in self.vercel.projects]

    def _link_unreadable(
        self, r: EnvRecord, cls: KeyClass, creds: dict[Fingerprint, Credential]
    ) -> list[tuple[Fingerprint, str]]:
        """Credentials an unreadable var probably holds, each with how it was linked."""
        links: dict[Fingerprint, str] = {}
        if r.configuration_id:
            label = self.vercel.configurations.get(r.configuration_id, "") or r.configuration_id
            self.readable()
            for other in self._by_configuration.get(r.configuration_id, ()):
                if id(other) not in self.candidate_of:
                    continue
                ocls = record_class(other)
                if ocls is not None and ocls.product is cls.product and ocls.role == cls.role:
                    fp = self.candidate_of[id(other)]
                    links.setdefault(fp, f"same integration ({label}) as {other.where()}")
        url = self.sibling_url(r, cls)
        if url:
            want = {
                "token": {K.REST_TOKEN, K.INDEX_TOKEN, K.QSTASH_TOKEN},
                "readonly_token": {K.READONLY_REST_TOKEN, K.INDEX_READONLY_TOKEN},
                "password": {K.PASSWORD},
                "redis_url": {K.PASSWORD},
            }.get(cls.role, set())
            target = normalize_endpoint(url)
            by_url: dict[Fingerprint, str] = {}
            for fp, cred in creds.items():
                if (
                    cred.product is cls.product
                    and cred.kind in want
                    and cred.endpoint
                    and normalize_endpoint(cred.endpoint) == target
                ):
                    name = cred.resource_name or cred.resource_id or url
                    by_url[fp] = f"the URL var next to it points to {name}"
            # the resource's own credential (Developer API) beats other tokens seen on that endpoint
            authoritative = {fp: how for fp, how in by_url.items() if fp in self.base}
            for fp, how in (authoritative or by_url).items():
                links.setdefault(fp, how)
        return sorted(links.items())

    def _unreadable_locations(self, creds: dict[Fingerprint, Credential]) -> None:
        for r in self.vercel.records:
            if r.value is not None:
                continue
            cls = record_class(r)
            credential_like = cls is not None and cls.is_credential
            if r.read_failed:
                self.unknowns.append(
                    Unknown(
                        where=r.where(),
                        reason=f"value could not be read: {r.unreadable}",
                        key=r.key,
                        project_id=r.project_id,
                        targets=r.targets,
                    )
                )
            if cls is None or not credential_like:
                if cls is None:
                    self._link_by_key(r)
                continue
            links = self._link_unreadable(r, cls, creds)
            what = f"{cls.product.value} {cls.role.replace('_', ' ')}"
            if not links:
                if not r.read_failed:
                    self.unknowns.append(
                        Unknown(
                            where=r.where(),
                            reason=f"{r.unreadable}; the name says {what}, "
                            "but no known credential could be tied to it",
                            key=r.key,
                            project_id=r.project_id,
                            targets=r.targets,
                        )
                    )
                continue
            confidence = (
                Confidence.PROBABLE if len(links) == 1 and not r.read_failed else Confidence.UNVERIFIED
            )
            for fp, how in links:
                reason = f"{r.unreadable}; the name says {what}; {how}"
                if len(links) > 1:
                    reason += f" (one of {len(links)} candidates)"
                self.env_locations[id(r)].append(self._env_location(r, fp, Form.UNKNOWN, confidence, reason))

    def _link_by_key(self, r: EnvRecord) -> None:
        """An unreadable var whose name a readable secret-holding var shares: "probably the same
        value — unverified" (probable with one candidate; with several, unverified and never
        written blind)."""
        if self._secrets is None:
            return
        links = self.key_links(r)
        if not links:
            if r.type in ("sensitive", "secret") and not r.read_failed:
                self.unknowns.append(
                    Unknown(
                        where=r.where(),
                        reason=f"{r.unreadable}; no readable var of the same name holds a known secret",
                        key=r.key,
                        project_id=r.project_id,
                        targets=r.targets,
                    )
                )
            return
        confidence = Confidence.PROBABLE if len(links) == 1 and not r.read_failed else Confidence.UNVERIFIED
        for fp, how in links:
            reason = f"probably the same value — unverified: {r.unreadable}; {how}"
            if len(links) > 1:
                reason += f" (one of {len(links)} candidates)"
            self.env_locations[id(r)].append(self._env_location(r, fp, Form.UNKNOWN, confidence, reason))

    def _github_locations(
        self, secrets: Sequence[GitHubSecretRecord], creds: dict[Fingerprint, Credential]
    ) -> list[Location]:
        by_key: dict[str, list[Location]] = defaultdict(list)
        for locs in self.env_locations.values():
            for loc in locs:
                by_key[loc.key.upper()].append(loc)
        out: list[Location] = []
        for s in secrets:
            cls = classify_key(s.name)
            if cls is None and self._secrets is not None:
                out.extend(self._github_by_name(s, by_key))
                continue
            if cls is None or not cls.is_credential:
                continue
            linked = self._repo_projects(s.repo)
            same_name = by_key.get(s.name.upper(), [])
            candidates = {loc.fingerprint for loc in same_name}
            # a var of a project linked to the repository (or a team shared var linked to one)
            narrowed = {
                loc.fingerprint
                for loc in same_name
                if loc.project_id in linked or linked.intersection(loc.linked_project_ids)
            }
            how = "a Vercel var of the same name holds it"
            if not candidates:
                kinds = {K.PASSWORD} if cls.kind is K.URL_WITH_PASSWORD else {cls.kind}
                candidates = {fp for fp, c in creds.items() if c.product is cls.product and c.kind in kinds}
                narrowed = {
                    loc.fingerprint
                    for locs in self.env_locations.values()
                    for loc in locs
                    if loc.project_id in linked and loc.fingerprint in candidates
                }
                how = f"the only {cls.product.value} {cls.role.replace('_', ' ')} known"
            if narrowed:
                candidates = narrowed
                how += " in the Vercel project linked to this repository"
            updated = f", updated {s.updated_at}" if s.updated_at else ""
            if not candidates:
                self.unknowns.append(
                    Unknown(
                        where=s.where(),
                        reason=f"name {s.name} (value unreadable{updated}) looks like a "
                        f"{cls.product.value} {cls.role.replace('_', ' ')}, but no known credential matches",
                        key=s.name,
                    )
                )
                continue
            confidence = Confidence.PROBABLE if len(candidates) == 1 else Confidence.UNVERIFIED
            for fp in sorted(candidates):
                reason = f"name {s.name} (value unreadable{updated}); {how}"
                if len(candidates) > 1:
                    reason = f"name {s.name} (value unreadable{updated}); one of {len(candidates)} credentials used under this name"
                out.append(
                    Location(
                        kind=LocationKind.GITHUB_SECRET,
                        fingerprint=fp,
                        form=Form.UNKNOWN,
                        confidence=confidence,
                        reason=reason,
                        key=s.name,
                        repo=s.repo or (f"org:{s.org}" if s.org else ""),
                        secret_scope=s.scope,
                        secret_name=s.name,
                        updated_at=s.updated_at,
                    )
                )
        return out

    def _github_by_name(self, s: GitHubSecretRecord, by_key: dict[str, list[Location]]) -> list[Location]:
        """A GitHub secret named like a Vercel var that holds a secret beyond Upstash's: probably
        the same value — unverified (GitHub never returns values)."""
        same = [loc for loc in by_key.get(s.name.upper(), []) if loc.fingerprint in self.secret_fps]
        linked = self._repo_projects(s.repo)
        fps = {loc.fingerprint for loc in same if loc.project_id in linked} or {
            loc.fingerprint for loc in same
        }
        updated = f", updated {s.updated_at}" if s.updated_at else ""
        return [
            Location(
                kind=LocationKind.GITHUB_SECRET,
                fingerprint=fp,
                form=Form.UNKNOWN,
                confidence=Confidence.PROBABLE if len(fps) == 1 else Confidence.UNVERIFIED,
                reason=f"probably the same value — unverified: name {s.name} (value unreadable{updated}); "
                "a Vercel var of the same name holds it"
                + (f" (one of {len(fps)} candidates)" if len(fps) > 1 else ""),
                key=s.name,
                repo=s.repo or (f"org:{s.org}" if s.org else ""),
                secret_scope=s.scope,
                secret_name=s.name,
                updated_at=s.updated_at,
            )
            for fp in sorted(fps)
        ]

    def _repo_projects(self, repo: str) -> set[str]:
        if not repo:
            return set()
        name = repo.rsplit("/", 1)[-1].lower()
        out = set()
        for p in self.vercel.projects.values():
            linked = p.repo.lower()
            by_link = bool(linked) and (linked == repo.lower() or linked.rsplit("/", 1)[-1] == name)
            if by_link or (not linked and p.name.lower() == name):
                out.add(p.id)
        return out

    def _deployment_locations(self, deployments: Sequence[DeploymentRef]) -> list[Location]:
        by_project: dict[str, list[EnvRecord]] = defaultdict(list)
        for r in self.vercel.records:
            for pid in r.linked_project_ids if r.shared else (r.project_id,):
                by_project[pid].append(r)
        names = {p.id: p.name for p in self.vercel.projects.values()}
        out: list[Location] = []
        for d in deployments:
            seen: set[Fingerprint] = set()
            for r in effective_env(by_project.get(d.project_id, ()), d):
                for loc in self.env_locations.get(id(r), ()):
                    if loc.fingerprint in seen:
                        continue
                    seen.add(loc.fingerprint)
                    out.append(
                        Location(
                            kind=LocationKind.DEPLOYMENT,
                            fingerprint=loc.fingerprint,
                            form=loc.form,
                            confidence=loc.confidence,
                            reason=f"built with {r.key}" + (f" ({loc.reason})" if loc.reason else ""),
                            project_id=d.project_id,
                            project_name=names.get(d.project_id, ""),
                            key=r.key,
                            targets=(d.target,),
                            git_branch=d.git_branch,
                            custom_environment_ids=(d.custom_environment_id,)
                            if d.custom_environment_id
                            else (),
                            deployment_id=d.deployment_id,
                            deployment_url=d.url,
                            serving=d.serving,
                        )
                    )
        return out

    @staticmethod
    def _text_location(hit: TextHit) -> Location:
        return Location(
            kind=LocationKind.GIT_COMMIT if hit.commit else LocationKind.FILE,
            fingerprint=hit.fingerprint,
            form=hit.form,
            key=hit.key,
            path=hit.path,
            line=hit.line,
            column=hit.column,
            commit=hit.commit,
            author_date=hit.author_date,
            reason=hit.update,
        )

    def _relate(self, creds: dict[Fingerprint, Credential]) -> dict[Fingerprint, Credential]:
        uf = _UnionFind()
        for fp, cred in creds.items():
            uf.find(fp)
            for other in cred.related:
                if other in creds:
                    uf.union(fp, other)

        def unit(fp: Fingerprint) -> str:
            c = creds[fp]
            return rotation_unit(c.product, c.kind, c.acl_user)

        discovered = {fp for fp in creds if fp not in self.base}
        # vars written as a set (same project, prefix, scope) hold one resource's credentials
        groups: dict[tuple[str, str, str, Product], list[tuple[EnvRecord, Fingerprint]]] = defaultdict(list)
        for r in self.readable():
            held = self.candidate_of.get(id(r))
            cls = record_class(r)
            if held is None or held not in discovered or cls is None:
                continue
            groups[(_owner(r), cls.prefix, cls.suffix, cls.product)].append((r, held))
        for members in groups.values():
            for i, (ra, fa) in enumerate(members):
                for rb, fb in members[i + 1 :]:
                    ca, cb = record_class(ra), record_class(rb)
                    if ca is None or cb is None or not _families_ok(ca, cb):
                        continue
                    if fa != fb and unit(fa) == unit(fb) and _scope_overlap(ra, rb):
                        uf.union(fa, fb)
        # discovered credentials of one endpoint and unit belong to the same resource
        by_endpoint: dict[tuple[str, str], list[Fingerprint]] = defaultdict(list)
        for fp in discovered:
            c = creds[fp]
            if c.endpoint.startswith("http"):
                by_endpoint[(normalize_endpoint(c.endpoint), unit(fp))].append(fp)
        for fps in by_endpoint.values():
            for other in fps[1:]:
                uf.union(fps[0], other)
        members_of: dict[str, list[Fingerprint]] = defaultdict(list)
        for fp in creds:
            members_of[uf.find(fp)].append(fp)
        out: dict[Fingerprint, Credential] = {}
        for fp, cred in creds.items():
            related = tuple(sorted(f for f in members_of[uf.find(fp)] if f != fp))
            out[fp] = dataclasses.replace(cred, related=related).with_value(cred.value)
        return out

    def finish(
        self,
        *,
        deployments: Sequence[DeploymentRef] = (),
        github: Sequence[GitHubSecretRecord] = (),
        text_hits: Iterable[TextHit] = (),
        sightings: Iterable[DotenvSighting] = (),
        unknowns: Iterable[Unknown] = (),
        generated_at: str | None = None,
    ) -> Inventory:
        """The inventory: every credential with a value or a location, and every location."""
        self.unknowns.extend(unknowns)
        for s in sightings:
            fp = s.secret.fingerprint
            self.values.setdefault(fp, s.secret)
            kind = s.key_class.kind or K.UNKNOWN
            self.evidence[fp].append(
                Evidence(
                    "dotenv",
                    s.key_class.product,
                    kind,
                    acl_user=s.acl_user,
                    endpoint=s.endpoint,
                    note="found only in local files",
                )
            )
        creds = self.provisional()
        self._unreadable_locations(creds)
        locations: list[Location] = [loc for locs in self.env_locations.values() for loc in locs]
        locations.extend(self._login_locations(creds, locations))
        locations.extend(self._github_locations(github, creds))
        locations.extend(self._text_location(h) for h in text_hits)
        locations.extend(self._text_location(s.hit) for s in sightings)
        locations.extend(self._deployment_locations(deployments))
        for loc in locations:
            if loc.fingerprint not in creds:
                creds[loc.fingerprint] = self._merged(loc.fingerprint)
        for fp, cred in self.base.items():
            locations.append(
                Location(
                    kind=LocationKind.UPSTASH,
                    fingerprint=fp,
                    form=Form.PLAIN,
                    key=f"{cred.product.value} {cred.resource_name or cred.resource_id} {cred.kind.value}".strip(),
                )
            )
        creds = self._relate(creds)
        ordered = sorted(
            creds.values(),
            key=lambda c: (c.product.value, c.resource_name, c.resource_id, c.kind.value, c.fingerprint),
        )
        locations = sorted(set(locations), key=_location_key)
        unknowns_out = sorted(set(self.unknowns), key=lambda u: (u.where, u.key, u.reason))
        return Inventory(
            credentials=tuple(ordered),
            locations=tuple(locations),
            deployments=tuple(
                sorted(
                    deployments, key=lambda d: (d.project_id, not d.serving, -d.created_at, d.deployment_id)
                )
            ),
            unknowns=tuple(unknowns_out),
            generated_at=generated_at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )


def _location_key(loc: Location) -> tuple[object, ...]:
    return (
        loc.fingerprint,
        _KIND_ORDER[loc.kind],
        loc.project_name,
        loc.project_id,
        loc.key,
        loc.targets,
        loc.git_branch,
        loc.env_id,
        not loc.serving,
        loc.deployment_id,
        loc.repo,
        loc.secret_scope,
        loc.path,
        loc.line,
        loc.column,
        loc.commit,
    )
