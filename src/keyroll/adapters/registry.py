"""Finding provider adapters: Python entry points in the group ``keyroll.providers``.

A distribution declares its adapter in its ``pyproject.toml``::

    [project.entry-points."keyroll.providers"]
    stripe = "keyroll_stripe:StripeAdapter"

The object named is a :class:`~keyroll.adapters.interface.ProviderAdapter` subclass (or a
zero-argument factory returning an instance); its ``name`` must equal the entry point's name.
keyroll registers its own adapters (Upstash, Postgres, Neon) the same way in its own
``pyproject.toml``; :data:`BUILTIN` is the fallback used when keyroll runs from a source tree
without installed metadata, so the built-ins are always there.

A plug-in that fails to import or is malformed does not stop keyroll: it is listed in
:attr:`Registry.broken` with the reason, and asking for it by name says why it is unavailable.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from keyroll.adapters.interface import Detection, ProviderAdapter, StrategySet
from keyroll.core.errors import ConfigError
from keyroll.core.model import Strategy

__all__ = [
    "BUILTIN",
    "GROUP",
    "EntryPointLike",
    "Registry",
    "adapter_strategy",
    "get_registry",
    "load_registry",
]

GROUP = "keyroll.providers"
"""The entry point group adapters register under."""

BUILTIN: dict[str, str] = {
    "upstash": "keyroll.adapters.upstash:UpstashAdapter",
    "postgres": "keyroll.adapters.postgres:PostgresAdapter",
    "neon": "keyroll.adapters.neon:NeonAdapter",
}
"""keyroll's own adapters (also declared as entry points in keyroll's ``pyproject.toml``)."""


class EntryPointLike:
    """What the loader needs of an entry point (``importlib.metadata.EntryPoint`` has it)."""

    name: str
    value: str

    def load(self) -> Any:  # pragma: no cover - protocol only
        raise NotImplementedError


@dataclass(frozen=True)
class _Spec:
    name: str
    value: str

    def load(self) -> Any:
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split(".") if attr else []:
            obj = getattr(obj, part)
        return obj


@dataclass
class Registry:
    """The adapters keyroll knows, by name, plus the plug-ins that failed to load."""

    adapters: dict[str, ProviderAdapter] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    """entry point name → why it could not be loaded (value-free)"""
    origin: dict[str, str] = field(default_factory=dict)
    """name → ``entry point`` or ``builtin`` (loaded from :data:`BUILTIN` without metadata)"""

    def __iter__(self) -> Iterator[ProviderAdapter]:
        return iter(self.ordered())

    def __contains__(self, name: object) -> bool:
        return name in self.adapters

    def ordered(self) -> list[ProviderAdapter]:
        """Adapters in detection order: highest priority first, then by name."""
        return sorted(self.adapters.values(), key=lambda a: (-a.priority, a.name))

    def get(self, name: str) -> ProviderAdapter:
        """The adapter called ``name``.

        :raises ConfigError: none is installed under that name (or it failed to load).
        """
        adapter = self.adapters.get(name)
        if adapter is not None:
            return adapter
        if name in self.broken:
            raise ConfigError(
                f"provider adapter {name!r} failed to load: {self.broken[name]}",
                hint="reinstall the package that provides it, or uninstall it",
            )
        known = ", ".join(sorted(self.adapters)) or "none"
        raise ConfigError(
            f"no provider adapter named {name!r} is installed (installed: {known})",
            hint=f"install the package that registers it in the entry point group {GROUP!r}",
        )

    def detect(self, value: str, *, key: str = "", skip: Iterable[str] = ()) -> Detection | None:
        """The first detection among the adapters (priority order), or ``None``.

        An adapter whose ``detect`` raises is skipped for this value (a plug-in bug must not
        stop an inventory).
        """
        skipped = set(skip)
        for adapter in self.ordered():
            if adapter.name in skipped:
                continue
            try:
                found = adapter.detect(value, key=key)
            except Exception:  # a plug-in's bug: treat as "not mine"
                continue
            if found is not None:
                return found
        return None

    def for_kind(self, kind: str) -> ProviderAdapter | None:
        """The adapter that declares credential kind ``kind`` (highest priority wins)."""
        return next((a for a in self.ordered() if kind in a.kinds), None)

    def setting_names(self) -> frozenset[str]:
        """Every setting any adapter reads (``--env-file`` accepts these keys)."""
        return frozenset(s.name for a in self.adapters.values() for s in a.settings)

    def secret_setting_names(self) -> frozenset[str]:
        """The settings whose values are secrets."""
        return frozenset(s.name for a in self.adapters.values() for s in a.settings if s.secret)

    def strategy_sets(self) -> list[StrategySet]:
        """The strategy sets built-in adapters contribute (in detection order)."""
        out = []
        for adapter in self.ordered():
            contributed = adapter.strategies()
            if contributed is not None:
                out.append(contributed)
        return out


def _instantiate(name: str, obj: Any) -> ProviderAdapter:
    adapter = obj() if callable(obj) and not isinstance(obj, ProviderAdapter) else obj
    if not isinstance(adapter, ProviderAdapter):
        raise TypeError(f"{type(adapter).__name__} is not a keyroll ProviderAdapter")
    if adapter.name != name:
        raise TypeError(f"its name is {adapter.name!r}, the entry point says {name!r}")
    if not adapter.kinds:
        raise TypeError("it declares no credential kinds")
    return adapter


def load_registry(entry_points: Iterable[EntryPointLike] | None = None, *, builtins: bool = True) -> Registry:
    """Load every adapter of the group (and the built-ins missing from it).

    :param entry_points: the entry points to load (default: the installed ones of :data:`GROUP`).
    :param builtins: add :data:`BUILTIN` adapters that no entry point provides.
    """
    eps: list[Any] = list(
        importlib.metadata.entry_points(group=GROUP) if entry_points is None else entry_points
    )
    reg = Registry()
    seen: set[str] = set()
    for ep in sorted(eps, key=lambda e: e.name):
        if ep.name in seen:
            # two distributions claim one name: the first (alphabetical by value) wins, loudly
            reg.broken.setdefault(f"{ep.name} ({ep.value})", "another package registers the same name")
            continue
        seen.add(ep.name)
        try:
            adapter = _instantiate(ep.name, ep.load())
        except Exception as exc:  # a broken plug-in must not stop keyroll
            reg.broken[ep.name] = f"{type(exc).__name__}: {str(exc)[:200]}"
            continue
        reg.adapters[ep.name] = adapter
        reg.origin[ep.name] = "entry point"
    if builtins:
        for name, value in BUILTIN.items():
            if name in reg.adapters:
                continue
            try:
                reg.adapters[name] = _instantiate(name, _Spec(name, value).load())
            except Exception as exc:
                reg.broken[name] = f"{type(exc).__name__}: {str(exc)[:200]}"
                continue
            reg.origin[name] = "builtin"
    return reg


@functools.cache
def get_registry() -> Registry:
    """The process-wide registry (loaded once, on first use)."""
    return load_registry()


def adapter_strategy(name: str) -> Strategy:
    """How a credential recognised by adapter ``name`` rotates by default: ``adapter`` when the
    adapter is installed and can mint, else ``manual`` (the user supplies the new value)."""
    reg = get_registry()
    return Strategy.ADAPTER if name in reg and reg.get(name).can_mint else Strategy.MANUAL
