"""What each sighting says about a credential, and how the sayings merge.

A value can be seen by Upstash (authoritative: product, kind, resource), under a Vercel key
(``KV_REST_API_TOKEN`` → Redis REST token), through a content hint, by its shape alone
(``rediss://…``), in a dotenv file, or only as a value the caller asked about. Each sighting
is an :class:`Evidence` with a priority; :func:`merge` keeps the most specific one and fills
the gaps (endpoint, resource) from the others.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from keyroll.core.model import Credential, CredentialKind, Management, Product, Strategy
from keyroll.core.secret import Fingerprint, Secret
from keyroll.inventory.classify import strategy_for
from keyroll.providers.upstash.endpoints import prefer_seen

__all__ = ["PRIORITY", "Evidence", "merge"]

PRIORITY = {
    "upstash": 100,
    "probe": 90,
    "key": 60,
    "hint": 55,
    "shape": 40,
    "dotenv": 50,
    "detector": 45,
    "heuristic": 30,
    "generic": 20,
}
"""How much each kind of sighting is trusted when they disagree."""


@dataclass(frozen=True)
class Evidence:
    """One sighting's claims about a credential."""

    source: str
    """``upstash``, ``probe``, ``key``, ``hint``, ``shape``, ``dotenv`` or ``heuristic``"""
    product: Product
    kind: CredentialKind
    acl_user: str = ""
    endpoint: str = ""
    resource_id: str = ""
    resource_name: str = ""
    integration: bool = False
    """seen on a var carrying ``configurationId`` / ``contentHint`` (Vercel-integration managed)"""
    native: bool = False
    """the resource is known to this account's Developer API"""
    note: str = ""
    service: str = ""
    """for secrets beyond Upstash: the service the scanner's detectors name (``stripe`` …)"""
    adapter: str = ""
    """the provider adapter that recognised the value (``postgres``, ``neon``)"""
    adapter_kind: str = ""

    @property
    def priority(self) -> int:
        """Higher wins."""
        return PRIORITY.get(self.source, 0)


def _default_user(product: Product, kind: CredentialKind) -> str:
    if product is not Product.REDIS:
        return ""
    return "default_ro" if kind is CredentialKind.READONLY_REST_TOKEN else "default"


def merge(
    fp: Fingerprint,
    value: Secret | None,
    evidence: Iterable[Evidence],
    *,
    base: Credential | None = None,
    extra_notes: Iterable[str] = (),
) -> Credential:
    """One credential from everything known about ``fp``.

    ``base`` (from Upstash) wins on every field it sets; otherwise the highest-priority
    evidence decides product and kind, and the rest fill in endpoint and resource.
    Management: native when Upstash knows it, ``vercel-integration`` when a copy sits in an
    integration-managed var, else unknown.
    """
    ev = sorted(evidence, key=lambda e: -e.priority)
    notes = [n for n in (*(base.notes if base else ()), *(e.note for e in ev), *extra_notes) if n]
    if base is not None:
        cred = base
        if not cred.endpoint:
            cred = dataclasses.replace(cred, endpoint=next((e.endpoint for e in ev if e.endpoint), ""))
        elif cred.product in (Product.VECTOR, Product.SEARCH):
            # the API gives a slug; its data-plane host is an inferred mapping: a URL seen in a
            # var next to the token wins over it
            seen = next((e.endpoint for e in ev if e.endpoint.startswith(("http://", "https://"))), "")
            cred = dataclasses.replace(cred, endpoint=prefer_seen(cred.endpoint, seen))
    elif ev:
        # a provider adapter knows its credentials best: its sighting decides product and kind over
        # a detector's (which only names the service), whatever their priorities
        adapter_ev = next((e for e in ev if e.adapter), None)
        top = adapter_ev or ev[0]
        acl_user = top.acl_user or next((e.acl_user for e in ev if e.acl_user), "")
        endpoint = next((e.endpoint for e in ev if e.endpoint.startswith("http")), "") or next(
            (e.endpoint for e in ev if e.endpoint), ""
        )
        kind = top.kind
        if top.product is Product.REDIS and kind is CredentialKind.URL_WITH_PASSWORD:
            kind = CredentialKind.PASSWORD
        if (
            top.product is Product.REDIS
            and acl_user not in ("", "default", "default_ro")
            and kind in (CredentialKind.PASSWORD, CredentialKind.REST_TOKEN)
        ):
            kind = (
                CredentialKind.ACL_PASSWORD
                if kind is CredentialKind.PASSWORD
                else CredentialKind.ACL_REST_TOKEN
            )
        resource = next((e for e in ev if e.resource_id), None)
        native = any(e.native for e in ev)
        cred = Credential(
            fingerprint=fp,
            product=top.product,
            kind=kind,
            resource_id=resource.resource_id if resource else "",
            resource_name=resource.resource_name if resource else "",
            management=(
                Management.NATIVE
                if native
                else Management.VERCEL_INTEGRATION
                if any(e.integration for e in ev)
                else Management.UNKNOWN
            ),
            endpoint=endpoint,
            acl_user=acl_user or _default_user(top.product, kind),
            service=next((e.service for e in ev if e.service), ""),
            adapter=adapter_ev.adapter if adapter_ev else "",
            adapter_kind=adapter_ev.adapter_kind if adapter_ev else "",
        )
    else:
        cred = Credential(fingerprint=fp, product=Product.OTHER, kind=CredentialKind.UNKNOWN)
    if cred.management is Management.UNKNOWN and any(e.integration for e in ev):
        cred = dataclasses.replace(cred, management=Management.VERCEL_INTEGRATION)
    unique_notes = tuple(dict.fromkeys(notes))
    cred = dataclasses.replace(
        cred,
        last4=cred.last4 or (value.last4 if value is not None else ""),
        notes=unique_notes,
    )
    strategy = cred.strategy or strategy_for(cred)
    if cred.management is Management.VERCEL_INTEGRATION and strategy in (
        Strategy.INDEX_RESET,
        Strategy.QSTASH_TOKEN,
    ):
        strategy = Strategy.INTEGRATION_RESET  # no Developer API for it: a person resets it
    cred = dataclasses.replace(cred, strategy=strategy)
    return cred.with_value(value if value is not None else (base.value if base else None))
