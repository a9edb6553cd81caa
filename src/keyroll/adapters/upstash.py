"""The built-in Upstash adapter: a thin wrapper that registers keyroll's Upstash strategies,
detectors and probes through the provider-adapter interface.

Nothing is re-implemented here: ``detect`` is :func:`keyroll.inventory.classify.classify_value`,
``probe`` is :func:`keyroll.verify.probes.probe_credential`, and the strategies are the modules in
:mod:`keyroll.rotate.strategies` (imported when first asked for, so that loading the registry
never imports the engine). Upstash credentials rotate through those multi-step strategies (ACL
overlap, signing-key double roll, cutovers), not through ``mint``/``revoke``.
"""

from __future__ import annotations

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
        """The Upstash strategies of :mod:`keyroll.rotate.strategies`, unchanged."""
        from keyroll.rotate.strategies import (
            index_reset,
            qstash_signing,
            qstash_token,
            redis_acl,
            redis_acl_password,
        )

        return StrategySet(
            builders={
                Strategy.REDIS_ACL: redis_acl.build,
                Strategy.REDIS_ACL_PASSWORD: redis_acl_password.build,
                Strategy.QSTASH_SIGNING: qstash_signing.build,
                Strategy.QSTASH_TOKEN: qstash_token.build,
                Strategy.INDEX_RESET: index_reset.build,
            },
            actions={
                **redis_acl.ACTIONS,
                **redis_acl_password.ACTIONS,
                **qstash_signing.ACTIONS,
                **qstash_token.ACTIONS,
                **index_reset.ACTIONS,
            },
            undo_mint={
                Strategy.REDIS_ACL: redis_acl.undo_mint,
                Strategy.REDIS_ACL_PASSWORD: redis_acl_password.undo_mint,
            },
            restore_on_failure=frozenset({Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD}),
        )
