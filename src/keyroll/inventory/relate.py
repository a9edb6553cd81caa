"""Which sightings belong together: a var's class and scope, a credential's rotation unit.

Vars written as a set (same owner, prefix and scope) hold one resource's credentials; credentials
of one rotation unit and resource rotate together. :func:`relate` groups them (a union-find over
fingerprints) for :meth:`keyroll.inventory.resolve.Resolver.finish`.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Container, Iterable, Mapping

from keyroll.core.model import Credential, CredentialKind, Product
from keyroll.core.secret import Fingerprint
from keyroll.inventory.classify import KeyClass, classify_hint, classify_key, normalize_endpoint
from keyroll.inventory.records import EnvRecord

__all__ = [
    "UnionFind",
    "families_ok",
    "hostname",
    "hostport",
    "owner",
    "record_class",
    "relate",
    "rotation_unit",
    "scope_overlap",
]

K = CredentialKind
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


def owner(r: EnvRecord) -> str:
    """Who a var belongs to: its project, or ``shared`` for a team shared var."""
    return "shared" if r.shared else r.project_id


def scope_overlap(a: EnvRecord, b: EnvRecord) -> bool:
    """The two vars apply to a common target (and branch) or custom environment."""
    if set(a.custom_environment_ids) & set(b.custom_environment_ids):
        return True
    if set(a.targets) & set(b.targets):
        return not (a.git_branch and b.git_branch and a.git_branch != b.git_branch)
    return False


_REDIS_FAMILIES = frozenset({"kv", "redis", "upstash_redis"})


def families_ok(a: KeyClass, b: KeyClass) -> bool:
    """The two classes name one product family (the Redis spellings count as one)."""
    if a.family == b.family:
        return True
    return {a.family, b.family} <= _REDIS_FAMILIES and "redis" in (a.family, b.family)


def hostname(endpoint: str) -> str:
    """The host of a URL, lowercased (``""`` for loopback)."""
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].lower()
    return "" if not host or host.startswith(_LOOPBACK) else host


def hostport(endpoint: str) -> str:
    """``host:port`` of a URL, scheme dropped (``""`` when it has none)."""
    return endpoint.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].lower()


class UnionFind:
    """Disjoint sets of strings (path halving; the smaller root wins)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        """The root of ``x``'s set."""
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        """Join the sets of ``a`` and ``b``."""
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def relate(
    creds: dict[Fingerprint, Credential],
    base: Container[Fingerprint],
    readable: Iterable[EnvRecord],
    candidate_of: Mapping[int, Fingerprint],
) -> dict[Fingerprint, Credential]:
    """Each credential with ``related`` set to the others it rotates with.

    Already related ones stay so; credentials the Developer API does not list (not in ``base``)
    join when vars written as a set (same owner, prefix, scope) hold them, or when they share an
    endpoint and a rotation unit. ``candidate_of`` maps ``id(record)`` to the value it holds.
    """
    uf = UnionFind()
    for fp, cred in creds.items():
        uf.find(fp)
        for other in cred.related:
            if other in creds:
                uf.union(fp, other)

    def unit(fp: Fingerprint) -> str:
        c = creds[fp]
        return rotation_unit(c.product, c.kind, c.acl_user)

    discovered = {fp for fp in creds if fp not in base}
    # vars written as a set (same project, prefix, scope) hold one resource's credentials
    groups: dict[tuple[str, str, str, Product], list[tuple[EnvRecord, Fingerprint]]] = defaultdict(list)
    for r in readable:
        held = candidate_of.get(id(r))
        cls = record_class(r)
        if held is None or held not in discovered or cls is None:
            continue
        groups[(owner(r), cls.prefix, cls.suffix, cls.product)].append((r, held))
    for members in groups.values():
        for i, (ra, fa) in enumerate(members):
            for rb, fb in members[i + 1 :]:
                ca, cb = record_class(ra), record_class(rb)
                if ca is None or cb is None or not families_ok(ca, cb):
                    continue
                if fa != fb and unit(fa) == unit(fb) and scope_overlap(ra, rb):
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
