"""The built-in Upstash adapter: a thin wrapper that registers keyroll's Upstash strategies,
detectors and probes through the provider-adapter interface.

Nothing is re-implemented here: ``detect`` is :func:`keyroll.inventory.classify.classify_value`,
``probe`` is :func:`keyroll.verify.probes.probe_credential`, and the strategies are the modules in
:mod:`keyroll.rotate.strategies` (imported when first asked for, so that loading the registry
never imports the engine). Upstash credentials rotate through those multi-step strategies (ACL
overlap, signing-key double roll, cutovers), not through ``mint``/``revoke``.
"""

from __future__ import annotations

import importlib
from typing import Any

from keyroll.adapters.interface import (
    AdapterContext,
    CredentialRef,
    Detection,
    ProbeResult,
    ProviderAdapter,
    StrategySet,
    Verdict,
)
from keyroll.core.model import CredentialKind, Product, Strategy

__all__ = ["UpstashAdapter"]

UPSTASH_KINDS: tuple[str, ...] = tuple(
    k.value for k in CredentialKind if k not in (CredentialKind.ACCESS_TOKEN, CredentialKind.UNKNOWN)
)
UPSTASH_PRODUCTS = frozenset({Product.REDIS, Product.QSTASH, Product.VECTOR, Product.SEARCH})

UPSTASH_STRATEGY_MODULES: dict[str, str] = {
    "redis_acl": "redis_acl",
    "redis_acl_password": "redis_acl_password",
    "redis_cutover": "redis_cutover",
    "qstash_signing": "qstash_signing",
    "qstash_token": "qstash_token",
    "index_reset": "index_reset",
    "integration_reset": "integration_reset",
}
"""Strategy value → its module in :mod:`keyroll.rotate.strategies` (``build`` + ``ACTIONS``)."""

UPSTASH_RESTORE_ON_FAILURE = frozenset({Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD})
"""Overlap strategies: the old values stay valid until revocation, so a failure restores them
(and ``undo_mint`` withdraws what was minted)."""


class UpstashAdapter(ProviderAdapter):
    """Upstash Redis, QStash, Vector and Search credentials."""

    name = "upstash"
    title = "Upstash (Redis, QStash, Vector, Search)"
    kinds = UPSTASH_KINDS
    priority = 100

    def detect(self, value: str, *, key: str = "") -> Detection | None:
        """Shapes that identify an Upstash credential by themselves (``rediss://`` URL with a
        password, QStash token, signing key); variable names are the inventory's business."""
        from keyroll.inventory.classify import classify_value

        found = classify_value(value)
        if found is None:
            return None
        return Detection(
            adapter=self.name,
            kind=found.kind.value,
            secret=found.secret,
            in_url=found.endpoint.startswith(("redis://", "rediss://")),
            principal=found.acl_user,
            endpoint=found.endpoint,
            product=found.product.value,
        )

    async def probe(self, cred: CredentialRef, ctx: AdapterContext) -> ProbeResult:
        """:func:`keyroll.verify.probes.probe_credential` with keyroll's Upstash clients."""
        from keyroll.core.model import Credential
        from keyroll.verify.probes import probe_credential
        from keyroll.verify.result import Verdict as VerifyVerdict

        if ctx.providers is None:
            return ProbeResult(Verdict.UNKNOWN, "no Upstash clients configured")
        try:
            product, kind = Product(cred.product), CredentialKind(cred.kind)
        except ValueError:
            return ProbeResult(Verdict.UNKNOWN, f"not an Upstash credential kind: {cred.kind}")
        descriptor = Credential(
            fingerprint=cred.secret.fingerprint,
            product=product,
            kind=kind,
            resource_id=cred.resource_id,
            endpoint=cred.endpoint,
            acl_user=cred.principal,
        )
        outcome = await probe_credential(ctx.providers, descriptor, cred.secret)
        verdict = {
            VerifyVerdict.VALID: Verdict.ACCEPTED,
            VerifyVerdict.INVALID: Verdict.REJECTED,
        }.get(outcome.verdict, Verdict.UNKNOWN)
        return ProbeResult(verdict, outcome.what)

    def strategies(self) -> StrategySet:
        """The Upstash strategies of :mod:`keyroll.rotate.strategies`, unchanged: each module's
        ``build`` and ``ACTIONS`` under its :class:`Strategy` (a strategy this version of the enum
        does not know, or a module that does not exist, is skipped)."""
        builders: dict[Strategy, Any] = {}
        actions: dict[str, Any] = {}
        undo: dict[Strategy, Any] = {}
        for value, module_name in UPSTASH_STRATEGY_MODULES.items():
            try:
                strategy = Strategy(value)
            except ValueError:
                continue
            name = f"keyroll.rotate.strategies.{module_name}"
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                continue
            builders[strategy] = module.build
            actions.update(module.ACTIONS)
            if strategy in UPSTASH_RESTORE_ON_FAILURE and hasattr(module, "undo_mint"):
                undo[strategy] = module.undo_mint
        return StrategySet(
            builders=builders,
            actions=actions,
            undo_mint=undo,
            restore_on_failure=frozenset(UPSTASH_RESTORE_ON_FAILURE),
        )
