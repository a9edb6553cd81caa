"""Credential roles: what one value is within the group it rotates with.

A Redis database's default password, REST token, read-only token and ``redis://`` URL rotate
together; each copy of them is written back as the new value *of its role* (``rest_token``,
``readonly_rest_token``, ``password``, ``url`` …). The role follows from the credential's kind,
refined by the user it belongs to (``default_ro`` and keyroll's ``keyroll-ro-a/-b`` are
read-only) and, for QStash tokens, by the inventory's read-only note. The planner, the
strategies and the engine all read roles from here, so they never disagree.
"""

from __future__ import annotations

from keyroll.core.model import Credential, CredentialKind

__all__ = ["ROLE_OF_KIND", "credential_role", "is_readonly_note", "is_readonly_user"]

ROLE_OF_KIND = {
    CredentialKind.REST_TOKEN: "rest_token",
    CredentialKind.ACL_REST_TOKEN: "rest_token",
    CredentialKind.READONLY_REST_TOKEN: "readonly_rest_token",
    CredentialKind.PASSWORD: "password",
    CredentialKind.ACL_PASSWORD: "password",
    CredentialKind.URL_WITH_PASSWORD: "url",
    CredentialKind.QSTASH_TOKEN: "token",
    CredentialKind.INDEX_TOKEN: "token",
    CredentialKind.INDEX_READONLY_TOKEN: "readonly_token",
    CredentialKind.SIGNING_KEY_CURRENT: "signing_current",
    CredentialKind.SIGNING_KEY_NEXT: "signing_next",
}
"""The role of each credential kind's value (a kind not listed: ``value``)."""


def is_readonly_note(cred: Credential) -> bool:
    """True when the inventory marked a token read-only (QStash read-only tokens share the token kind)."""
    return any("read-only" in n.lower() or "readonly" in n.lower() for n in cred.notes)


def is_readonly_user(user: str) -> bool:
    """Read-only Redis users: Upstash's ``default_ro`` and keyroll's ``keyroll-ro-a/-b``."""
    return user == "default_ro" or user.startswith("keyroll-ro-")


def credential_role(cred: Credential) -> str:
    """The role of a credential's own value in its group (``rest_token``, ``token``, …)."""
    if cred.kind is CredentialKind.QSTASH_TOKEN and is_readonly_note(cred):
        return "readonly_token"
    if cred.kind is CredentialKind.ACL_REST_TOKEN and is_readonly_user(cred.acl_user):
        return "readonly_rest_token"
    if cred.kind is CredentialKind.ACL_PASSWORD and is_readonly_user(cred.acl_user):
        return "ro_password"
    return ROLE_OF_KIND.get(cred.kind, "value")
