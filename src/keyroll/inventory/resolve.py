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

The resolver holds the state; :mod:`~keyroll.inventory.links` ties unreadable vars and GitHub
secrets to credentials, :mod:`~keyroll.inventory.locations` makes the locations and
:mod:`~keyroll.inventory.relate` decides which sightings belong together.
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
    classify_value,
    normalize_endpoint,
)
from keyroll.inventory.evidence import Evidence, merge
from keyroll.inventory.files import DotenvSighting
from keyroll.inventory.limiter import Limiter
from keyroll.inventory.links import github_locations, key_links, unreadable_locations
from keyroll.inventory.locations import deployment_locations, env_location, location_key, text_location
from keyroll.inventory.records import (
    EnvRecord,
    GitHubSecretRecord,
    ProjectInfo,
    TextHit,
    UpstashSnapshot,
    VercelSnapshot,
)
from keyroll.inventory.relate import (
    families_ok,
    hostname,
    hostport,
    owner,
    record_class,
    relate,
    scope_overlap,
)
from keyroll.inventory.secrets import GENERIC, SecretClassifier
from keyroll.providers.upstash.endpoints import prefer_seen
from keyroll.providers.upstash.redis import RedisREST
from keyroll.scan.known import KnownValues

__all__ = ["MIN_VALUE", "Resolver"]

K = CredentialKind
MIN_VALUE = 8
"""Values shorter than this under an Upstash name are placeholders, not credentials."""

_LOGIN_KEY = re.compile(r"(^|_)(PG)?USER(NAME)?$", re.IGNORECASE)
"""``PGUSER``, ``POSTGRES_USER``, ``DATABASE_USERNAME``, ``DB_USER`` …"""


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
        self.secrets = SecretClassifier() if all_secrets else None
        """the scanner's detectors (``--all-secrets``), else None: Upstash credentials only"""
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
                    self._native_by_hostport.setdefault(hostport(cred.endpoint), cred)
                host = hostname(cred.endpoint)
                if host:
                    self._native_by_host.setdefault(host, cred)
        self._readable: list[EnvRecord] | None = None
        self.by_configuration: dict[str, list[EnvRecord]] = defaultdict(list)
        """integration configuration id → the readable vars it wrote"""
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
                    self.by_configuration[r.configuration_id].append(r)
        return self._readable

    def _index_urls(self) -> None:
        for r in self.readable():
            cls = record_class(r)
            if cls is not None and cls.role == "url" and r.value is not None:
                url = r.value.reveal().strip()
                if normalize_endpoint(url):
                    self._urls[(owner(r), cls.product)].append((r, cls, url))

    def sibling_url(self, record: EnvRecord, cls: KeyClass) -> str:
        """The REST URL var written next to a credential var (same prefix and scope), if any."""
        best = ""
        for other, ocls, url in self._urls.get((owner(record), cls.product), []):
            same_set = ocls.prefix == cls.prefix and ocls.suffix == cls.suffix and families_ok(cls, ocls)
            same_integration = (
                bool(record.configuration_id) and record.configuration_id == other.configuration_id
            )
            if not (same_set or same_integration) or not scope_overlap(record, other):
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
                self._native_by_hostport.get(hostport(endpoint))
                if endpoint.startswith(("redis://", "rediss://"))
                else None
            )
            or self._native_by_host.get(hostname(endpoint))
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
        if self.secrets is None:
            return
        found = self.secrets.classify(r.key, value, r.type)
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
                        env_location(
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
                self.env_locations[id(r)].append(env_location(r, m.fingerprint, m.form))
                if r.configuration_id or r.hint_type:
                    self.integration_fps.add(m.fingerprint)

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
                has_credential = (cls is not None and cls.is_credential) or bool(key_links(self, r))
            if not has_credential:
                continue
            for pid in r.linked_project_ids if r.shared else (r.project_id,):
                ids[pid] = None
        return [self.vercel.projects[p] for p in ids if p in self.vercel.projects]

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
        unreadable_locations(self, creds)
        locations: list[Location] = [loc for locs in self.env_locations.values() for loc in locs]
        locations.extend(self._login_locations(creds, locations))
        locations.extend(github_locations(self, github, creds))
        locations.extend(text_location(h) for h in text_hits)
        locations.extend(text_location(s.hit) for s in sightings)
        locations.extend(deployment_locations(self.vercel, self.env_locations, deployments))
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
        creds = relate(creds, self.base, self.readable(), self.candidate_of)
        ordered = sorted(
            creds.values(),
            key=lambda c: (c.product.value, c.resource_name, c.resource_id, c.kind.value, c.fingerprint),
        )
        locations = sorted(set(locations), key=location_key)
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
