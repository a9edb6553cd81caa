"""Provider adapters: plug-ins that teach keyroll to detect, probe, mint and revoke a kind of
credential (entry point group ``keyroll.providers``; ``docs/adapters.md`` explains how to write one).

* :mod:`keyroll.adapters.interface` — :class:`ProviderAdapter` and its data types;
* :mod:`keyroll.adapters.registry` — the entry point loader and the process-wide registry;
* built-ins: :mod:`~keyroll.adapters.upstash` (a thin wrapper over keyroll's Upstash strategies).
"""

from keyroll.adapters.interface import (
    AdapterContext,
    AdapterError,
    CredentialRef,
    Detection,
    Minted,
    NotSupported,
    ProbeResult,
    ProviderAdapter,
    Setting,
    StrategySet,
    Verdict,
)
from keyroll.adapters.registry import GROUP, Registry, get_registry, load_registry

__all__ = [
    "GROUP",
    "AdapterContext",
    "AdapterError",
    "CredentialRef",
    "Detection",
    "Minted",
    "NotSupported",
    "ProbeResult",
    "ProviderAdapter",
    "Registry",
    "Setting",
    "StrategySet",
    "Verdict",
    "get_registry",
    "load_registry",
]
