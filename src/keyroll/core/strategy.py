"""The built-in strategy table (DESIGN.md, "Strategies per credential"): one place that both the
inventory's classification and the planner read, so they never disagree.

* Redis default-user secrets (REST token, read-only token, password, URL with password — also
  when they belong to ``default_ro`` or to keyroll's own alternating users) → ``redis_acl``;
* secrets of a custom ACL user → ``redis_acl_password``;
* the QStash token → ``qstash_token``; signing keys → ``qstash_signing``;
* Vector/Search index tokens → ``index_reset``; anything else → ``manual``.

:func:`default_strategy` adds what a credential's management and origin change: an index or
QStash token created by the Vercel integration has no Developer API reset (a person resets it:
``integration_reset``), and a credential a provider adapter recognised asks the adapters'
registry (core knows no adapters; the caller passes the registry's answer in).
"""

from __future__ import annotations

from collections.abc import Callable

from keyroll.core.model import Credential, CredentialKind, Management, Product, Strategy

__all__ = [
    "KEYROLL_USERS",
    "NO_ACL_NOTE",
    "REDIS_KINDS",
    "builtin_strategy",
    "default_strategy",
    "has_no_acl",
    "is_custom_acl_user",
    "is_keyroll_user",
]

NO_ACL_NOTE = (
    "no ACL on this database (free plan: ACL is available on paid databases only): "
    "the default credentials rotate by cutover"
)
"""The inventory's note on Redis credentials of a database whose Developer API record says
``db_acl_enabled: "false"`` or ``type: "free"``."""

KEYROLL_USERS = ("keyroll-a", "keyroll-b")
"""The two alternating ACL users of the ``redis_acl`` strategy."""

REDIS_KINDS = frozenset(
    {
        CredentialKind.REST_TOKEN,
        CredentialKind.READONLY_REST_TOKEN,
        CredentialKind.PASSWORD,
        CredentialKind.URL_WITH_PASSWORD,
        CredentialKind.ACL_PASSWORD,
        CredentialKind.ACL_REST_TOKEN,
    }
)
"""Redis credential kinds the Redis strategies rotate."""


def is_keyroll_user(user: str) -> bool:
    """True for ``keyroll-a`` / ``keyroll-b`` (and their read-only twins)."""
    return user in KEYROLL_USERS or user in ("keyroll-ro-a", "keyroll-ro-b")


def is_custom_acl_user(user: str) -> bool:
    """A user of the team's own (not ``default``/``default_ro``, not keyroll's, not unknown)."""
    return bool(user) and user not in ("default", "default_ro") and not is_keyroll_user(user)


def has_no_acl(notes: tuple[str, ...]) -> bool:
    """True when the inventory found the credential's database without ACL (:data:`NO_ACL_NOTE`)."""
    return NO_ACL_NOTE in notes


def builtin_strategy(
    product: Product, kind: CredentialKind, acl_user: str = "", *, acl: bool = True
) -> Strategy:
    """The strategy keyroll picks for a credential unless told otherwise (``acl=False``: the
    Redis database has no ACL, so its default credentials get a cutover)."""
    if product is Product.REDIS:
        if kind not in REDIS_KINDS:
            return Strategy.MANUAL
        if is_custom_acl_user(acl_user):
            return Strategy.REDIS_ACL_PASSWORD
        return Strategy.REDIS_ACL if acl else Strategy.REDIS_CUTOVER
    if product is Product.QSTASH:
        if kind in (CredentialKind.SIGNING_KEY_CURRENT, CredentialKind.SIGNING_KEY_NEXT):
            return Strategy.QSTASH_SIGNING
        if kind is CredentialKind.QSTASH_TOKEN:
            return Strategy.QSTASH_TOKEN
    if product in (Product.VECTOR, Product.SEARCH) and kind in (
        CredentialKind.INDEX_TOKEN,
        CredentialKind.INDEX_READONLY_TOKEN,
    ):
        return Strategy.INDEX_RESET
    return Strategy.MANUAL


def default_strategy(cred: Credential, *, adapter: Callable[[str], Strategy]) -> Strategy:
    """DESIGN.md's strategy table, for credentials the inventory did not classify; a credential
    an adapter recognised rotates as ``adapter(name)`` says (the adapters registry's
    ``adapter_strategy``: ``adapter`` when that adapter can mint, else ``manual``)."""
    if cred.adapter:
        return adapter(cred.adapter)
    built_in = builtin_strategy(cred.product, cred.kind, cred.acl_user, acl=not has_no_acl(cred.notes))
    if cred.management is Management.VERCEL_INTEGRATION and built_in in (
        Strategy.INDEX_RESET,
        Strategy.QSTASH_TOKEN,
    ):
        return Strategy.INTEGRATION_RESET  # no Developer API for it: a person resets it
    return built_in
