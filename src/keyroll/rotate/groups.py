"""Rotatable units: which credentials rotate together, and what each copy of them is (its role).

A Redis database's default password, REST token, read-only token and ``redis://`` URL rotate
together; so do QStash's current and next signing keys, and an index's token and read-only
token. :func:`build_groups` folds the inventory's ``related`` links and shared resource ids
into such groups; :func:`location_spec` turns each copy into the JSON-able description the
write steps carry (no values).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from keyroll.adapters.registry import adapter_strategy
from keyroll.core.errors import UsageError
from keyroll.core.model import (
    Credential,
    CredentialKind,
    Form,
    Inventory,
    Location,
    LocationKind,
    Management,
    Product,
    Strategy,
)
from keyroll.core.roles import is_readonly_note, is_readonly_user
from keyroll.core.secret import Fingerprint
from keyroll.core.steps import LocationSpec
from keyroll.core.strategy import REDIS_KINDS, default_strategy, has_no_acl, is_keyroll_user

__all__ = [
    "UPSTASH_PRODUCTS",
    "Group",
    "build_groups",
    "check_strategy",
    "is_keyroll_user",
    "location_spec",
    "role_of",
]

UPSTASH_PRODUCTS = frozenset({Product.REDIS, Product.QSTASH, Product.VECTOR, Product.SEARCH})


_URL_KEY = re.compile(r"(^|_)(URL|URI|DSN)($|_)", re.IGNORECASE)


_REDIS_KINDS = REDIS_KINDS


def check_strategy(cred: Credential, strategy: Strategy) -> str | None:
    """Why ``strategy`` cannot rotate ``cred`` (``None`` when it can)."""
    kind, product = cred.kind, cred.product
    if strategy is Strategy.MANUAL:
        return None
    if strategy is Strategy.ADAPTER:
        from keyroll.adapters.registry import get_registry

        if not cred.adapter:
            return f"{strategy} needs a credential a provider adapter recognised; {cred.fingerprint} is a {product} {kind}"
        if cred.adapter not in get_registry():
            return f"{strategy}: the provider adapter {cred.adapter!r} of {cred.fingerprint} is not installed"
        if not get_registry().get(cred.adapter).can_mint:
            return f"{strategy}: the {cred.adapter} adapter cannot mint (use manual)"
        return None
    if strategy is Strategy.REDIS_ACL:
        if product is not Product.REDIS or kind not in _REDIS_KINDS:
            return f"{strategy} rotates Redis default credentials, not a {product} {kind}"
        if (
            cred.acl_user
            and cred.acl_user not in ("default", "default_ro")
            and not is_keyroll_user(cred.acl_user)
        ):
            return f"{strategy} rotates the default user; {cred.fingerprint} belongs to ACL user {cred.acl_user} (use redis_acl_password)"
        if has_no_acl(cred.notes):
            return f"{strategy}: the database of {cred.fingerprint} has no ACL (free plan); use redis_cutover"
        return None
    if strategy is Strategy.REDIS_CUTOVER:
        if product is not Product.REDIS or kind not in _REDIS_KINDS:
            return f"{strategy} rotates Redis default credentials, not a {product} {kind}"
        if cred.acl_user and cred.acl_user not in ("default", "default_ro"):
            return f"{strategy} resets the default password; {cred.fingerprint} belongs to ACL user {cred.acl_user}"
        if cred.management is Management.VERCEL_INTEGRATION:
            return f"{strategy}: {cred.fingerprint} is managed by the Vercel integration (reset it in the dashboard; use manual)"
        if not cred.resource_id:
            return f"{strategy}: the database id of {cred.fingerprint} is unknown"
        return None
    if strategy is Strategy.REDIS_ACL_PASSWORD:
        if product is not Product.REDIS or kind not in _REDIS_KINDS:
            return f"{strategy} rotates Redis ACL user passwords, not a {product} {kind}"
        if not cred.acl_user or cred.acl_user in ("default", "default_ro"):
            return f"{strategy} needs a custom ACL user; {cred.fingerprint} belongs to the default user (use redis_acl)"
        if cred.management is Management.VERCEL_INTEGRATION and not cred.endpoint:
            return f"{strategy}: the REST URL of {cred.fingerprint} is unknown"
        return None
    if strategy is Strategy.QSTASH_SIGNING:
        if kind not in (CredentialKind.SIGNING_KEY_CURRENT, CredentialKind.SIGNING_KEY_NEXT):
            return f"{strategy} rotates QStash signing keys, not a {product} {kind}"
        return None
    if strategy is Strategy.QSTASH_TOKEN:
        if kind is not CredentialKind.QSTASH_TOKEN:
            return f"{strategy} rotates the QStash token, not a {product} {kind}"
        if cred.management is Management.VERCEL_INTEGRATION:
            return (
                f"{strategy}: {cred.fingerprint} is managed by the Vercel integration (use integration_reset)"
            )
        return None
    if strategy is Strategy.INTEGRATION_RESET:
        if product not in (Product.VECTOR, Product.SEARCH, Product.QSTASH) or kind not in (
            CredentialKind.INDEX_TOKEN,
            CredentialKind.INDEX_READONLY_TOKEN,
            CredentialKind.QSTASH_TOKEN,
        ):
            return (
                f"{strategy} rotates integration-created Vector/Search/QStash tokens, not a {product} {kind}"
            )
        return None
    if strategy is Strategy.INDEX_RESET:
        if product not in (Product.VECTOR, Product.SEARCH) or kind not in (
            CredentialKind.INDEX_TOKEN,
            CredentialKind.INDEX_READONLY_TOKEN,
        ):
            return f"{strategy} rotates Vector/Search index tokens, not a {product} {kind}"
        if cred.management is Management.VERCEL_INTEGRATION:
            return (
                f"{strategy}: {cred.fingerprint} is managed by the Vercel integration (use integration_reset)"
            )
        if not cred.resource_id:
            return f"{strategy}: the index id of {cred.fingerprint} is unknown"
    return None


@dataclass
class Group:
    """Credentials that rotate together under one strategy."""

    strategy: Strategy
    credentials: list[Credential] = field(default_factory=list)

    @property
    def primary(self) -> Credential:
        """The credential that names the group (REST token / current key / token first)."""
        order = [
            CredentialKind.REST_TOKEN,
            CredentialKind.ACL_REST_TOKEN,
            CredentialKind.QSTASH_TOKEN,
            CredentialKind.INDEX_TOKEN,
            CredentialKind.SIGNING_KEY_CURRENT,
            CredentialKind.PASSWORD,
            CredentialKind.ACL_PASSWORD,
            CredentialKind.URL_WITH_PASSWORD,
        ]
        rank = {k: i for i, k in enumerate(order)}
        return sorted(
            self.credentials,
            key=lambda c: (
                is_readonly_user(c.acl_user) or is_readonly_note(c),
                rank.get(c.kind, 99),
                c.fingerprint,
            ),
        )[0]

    @property
    def gid(self) -> str:
        """Short id used in step ids: the 8 hex characters of the primary fingerprint."""
        return self.primary.fingerprint.split(":", 1)[-1]

    @property
    def fingerprints(self) -> tuple[Fingerprint, ...]:
        """Every fingerprint of the group, sorted."""
        return tuple(sorted(c.fingerprint for c in self.credentials))

    def by_kind(self, *kinds: CredentialKind) -> Credential | None:
        """The first credential of one of ``kinds``."""
        for kind in kinds:
            for c in sorted(self.credentials, key=lambda c: c.fingerprint):
                if c.kind is kind:
                    return c
        return None


def developer_api_rejected(inventory: Inventory) -> str:
    """``HTTP 401`` / ``HTTP 403`` when the inventory saw the Developer API refuse keyroll's
    credentials (a wrong ``UPSTASH_API_KEY``), else ``""``."""
    for u in inventory.unknowns:
        if u.where.startswith("upstash"):
            for code in ("HTTP 401", "HTTP 403"):
                if code in u.reason:
                    return code
    return ""


def _resolve(inventory: Inventory, ref: str) -> Credential:
    fp = ref if ref.startswith("sha256:") else f"sha256:{ref}"
    matches = [c for c in inventory.credentials if c.fingerprint == fp or c.fingerprint.startswith(fp)]
    if not matches:
        raise UsageError(f"no credential {ref} in the inventory", hint="list them with `keyroll inventory`")
    if len(matches) > 1:
        raise UsageError(
            f"{ref} matches {len(matches)} credentials", hint="give more characters of the fingerprint"
        )
    return matches[0]


def build_groups(
    inventory: Inventory,
    *,
    credentials: Sequence[str] | None,
    all_upstash: bool,
    strategies: Mapping[str, Strategy] | None,
) -> list[Group]:
    """Select credentials and fold them into rotatable groups (deterministic order).

    :raises UsageError: nothing selected, an unknown or ambiguous fingerprint, or a strategy
        that cannot rotate a selected credential.
    """
    rejected = developer_api_rejected(inventory)
    if rejected:
        raise UsageError(
            f"the Upstash Developer API rejected UPSTASH_EMAIL / UPSTASH_API_KEY ({rejected}): keyroll cannot "
            "tell which database, index or QStash user a credential belongs to, nor reset one",
            hint="set the right UPSTASH_EMAIL and UPSTASH_API_KEY (Upstash console → Account → Management API) "
            "and check with `keyroll doctor`",
        )
    overrides: dict[str, Strategy] = {}
    for ref, strat in (strategies or {}).items():
        overrides[_resolve(inventory, ref).fingerprint] = Strategy(strat)
    if credentials:
        selected = {_resolve(inventory, ref).fingerprint for ref in credentials}
    elif all_upstash:
        selected = {c.fingerprint for c in inventory.credentials if c.product in UPSTASH_PRODUCTS}
    else:
        raise UsageError(
            "choose what to rotate", hint="pass --credential FINGERPRINT (repeatable) or --all-upstash"
        )
    by_fp = {c.fingerprint: c for c in inventory.credentials}

    def strategy_of(c: Credential) -> Strategy:
        return overrides.get(c.fingerprint) or c.strategy or default_strategy(c, adapter=adapter_strategy)

    # union-find over related links and shared resources (same strategy only)
    parent: dict[str, str] = {fp: fp for fp in by_fp}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for c in inventory.credentials:
        for r in c.related:
            if r in by_fp and strategy_of(by_fp[r]) == strategy_of(c):
                union(c.fingerprint, r)
    buckets: dict[tuple[str, ...], str] = {}
    for c in sorted(inventory.credentials, key=lambda c: c.fingerprint):
        if not c.resource_id:
            continue
        strat = strategy_of(c)
        if strat is Strategy.MANUAL:
            continue
        user = c.acl_user if strat is Strategy.REDIS_ACL_PASSWORD else ""
        key = (strat.value, c.product.value, c.resource_id, user)
        if key in buckets:
            union(buckets[key], c.fingerprint)
        else:
            buckets[key] = c.fingerprint
    members: dict[str, list[Credential]] = {}
    for c in inventory.credentials:
        members.setdefault(find(c.fingerprint), []).append(c)
    groups: list[Group] = []
    seen: set[str] = set()
    for fp in sorted(selected):
        root = find(fp)
        if root in seen:
            continue
        seen.add(root)
        creds = sorted(members[root], key=lambda c: c.fingerprint)
        strat = strategy_of(by_fp[fp])
        for c in creds:
            problem = check_strategy(c, strat)
            if problem:
                raise UsageError(
                    f"cannot rotate {c.fingerprint}: {problem}", hint="choose another --strategy"
                )
        groups.append(Group(strat, creds))
    groups.sort(key=lambda g: g.gid)
    return groups


def role_of(loc: Location, cred: Credential, strategy: Strategy) -> str:
    """What a copy is, so the writer knows which new value goes there.

    ``rest_token``, ``readonly_rest_token``, ``password``, ``url`` (a Redis URL whose user and
    password are replaced), ``token``, ``readonly_token``, ``signing_current``, ``signing_next``,
    ``value`` (manual).
    """
    if loc.form is Form.LOGIN:
        return "username"
    if strategy is Strategy.MANUAL:
        return "value"
    k = cred.kind
    url_like = loc.form is Form.URL or bool(_URL_KEY.search(loc.key or loc.secret_name or ""))
    if k is CredentialKind.ACL_REST_TOKEN and is_readonly_user(cred.acl_user):
        return "readonly_rest_token"
    if k in (CredentialKind.REST_TOKEN, CredentialKind.ACL_REST_TOKEN):
        return "rest_token"
    if k is CredentialKind.READONLY_REST_TOKEN:
        return "readonly_rest_token"
    if k is CredentialKind.URL_WITH_PASSWORD:
        return "url"
    if k in (CredentialKind.PASSWORD, CredentialKind.ACL_PASSWORD):
        return "url" if url_like else "password"
    if k is CredentialKind.QSTASH_TOKEN and is_readonly_note(cred):
        return "readonly_token"
    if k is CredentialKind.QSTASH_TOKEN or k is CredentialKind.INDEX_TOKEN:
        return "token"
    if k is CredentialKind.INDEX_READONLY_TOKEN:
        return "readonly_token"
    if k is CredentialKind.SIGNING_KEY_CURRENT:
        return "signing_current"
    if k is CredentialKind.SIGNING_KEY_NEXT:
        return "signing_next"
    return "value"


def location_spec(loc: Location, cred: Credential, strategy: Strategy) -> LocationSpec:
    """The description of one copy that a write step carries (no value)."""
    common = LocationSpec(
        kind=loc.kind,
        role=role_of(loc, cred, strategy),
        form=loc.form.value,
        old_fp=str(loc.fingerprint),
        confidence=loc.confidence.value,
    )
    if loc.kind in (LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV):
        return replace(
            common,
            project_id=loc.project_id,
            project_name=loc.project_name,
            env_id=loc.env_id,
            key=loc.key,
            type=loc.env_type,
            targets=tuple(loc.targets),
            git_branch=loc.git_branch,
            custom_environment_ids=tuple(loc.custom_environment_ids),
            configuration_id=loc.configuration_id,
            linked_project_ids=tuple(loc.linked_project_ids),
        )
    if loc.kind is LocationKind.GITHUB_SECRET:
        return replace(common, repo=loc.repo, scope=loc.secret_scope, name=loc.secret_name)
    if loc.kind is LocationKind.FILE:
        return replace(common, path=loc.path, line=loc.line, column=loc.column)
    return common


def group_locations(inventory: Inventory, group: Group) -> Iterable[tuple[Location, Credential]]:
    """Every writable copy of the group's credentials (deployments and git history excluded)."""
    by_fp = {c.fingerprint: c for c in group.credentials}
    seen: set[tuple[str, ...]] = set()
    for loc in sorted(
        inventory.locations,
        key=lambda x: (
            x.kind.value,
            x.project_id,
            x.env_id,
            x.repo,
            x.secret_scope,
            x.secret_name,
            x.path,
            x.line,
            x.column,
            x.fingerprint,
        ),
    ):
        cred = by_fp.get(loc.fingerprint)
        if cred is None or loc.kind in (
            LocationKind.DEPLOYMENT,
            LocationKind.GIT_COMMIT,
            LocationKind.UPSTASH,
        ):
            continue
        ident = (
            loc.kind.value,
            loc.project_id,
            loc.env_id,
            loc.repo,
            loc.secret_scope,
            loc.secret_name,
            loc.path,
            str(loc.line),
            str(loc.column),
            loc.fingerprint,
        )
        if ident in seen:
            continue
        seen.add(ident)
        yield loc, cred
