"""The provider adapter interface: how keyroll learns about a kind of credential it can rotate.

An adapter is a class registered under the entry point group ``keyroll.providers`` (see
:mod:`keyroll.adapters.registry` and ``docs/adapters.md``). For its credential kinds it supplies:

* :meth:`ProviderAdapter.detect` — pure: does this value (and the name of the variable holding it)
  look like one of my credentials? Returns a :class:`Detection` (value-free description plus the
  secret part as a :class:`~keyroll.core.secret.Secret`).
* :meth:`ProviderAdapter.probe` — does the provider accept this value *now*? Tri-state
  (:class:`Verdict`), never a bare bool; provider trouble is ``UNKNOWN`` with a reason.
* :meth:`ProviderAdapter.mint` (optional) — make a new credential that works *alongside* the old
  one (an overlap), so that deployments can move to it with zero failed requests.
* :meth:`ProviderAdapter.revoke` (optional) — make the old value stop working.
* :meth:`ProviderAdapter.undo_mint` (optional) — a rollback after mint: the minted value goes.
* :meth:`ProviderAdapter.strategies` (built-ins only) — keyroll's own multi-step strategies
  (the Upstash ones) plug into the planner and engine through this.

Nothing here does I/O; adapters do theirs in ``probe``/``mint``/``revoke`` with what the
:class:`AdapterContext` hands them (settings read from the environment or ``--env-file``, an HTTP
client, keyroll's provider clients). No method may put a secret value in an exception message,
a log line or a returned ``state``: values travel only as :class:`Secret`.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from keyroll.core.errors import ExitCode, RotationError
from keyroll.core.model import Strategy
from keyroll.core.secret import Secret

__all__ = [
    "AdapterContext",
    "AdapterError",
    "CredentialRef",
    "Detection",
    "Minted",
    "NotSupported",
    "ProbeResult",
    "ProviderAdapter",
    "Setting",
    "StrategySet",
    "Verdict",
]


class AdapterError(RotationError):
    """An adapter could not do what was asked (its message names the credential by fingerprint)."""


class NotSupported(AdapterError):
    """The adapter does not offer this operation (e.g. no ``mint``): the planner falls back to
    the ``manual`` strategy or a human step."""

    exit_code = ExitCode.USAGE


class Verdict(enum.StrEnum):
    """A probe's answer. The values match :class:`keyroll.rotate.runtime.Probe`."""

    ACCEPTED = "accepted"
    """the provider accepted the value"""
    REJECTED = "rejected"
    """the provider refused it (bad password, revoked token)"""
    UNKNOWN = "unknown"
    """no answer that proves either (network error, 5xx, no settings)"""


@dataclass(frozen=True)
class ProbeResult:
    """A tri-state verdict and a value-free reason (``"SELECT 1 as app_a_clone"``)."""

    verdict: Verdict
    reason: str = ""


@dataclass(frozen=True)
class Setting:
    """A setting an adapter reads from the environment or ``--env-file`` (never argv)."""

    name: str
    """``NEON_API_KEY``, ``KEYROLL_POSTGRES_ADMIN_URL`` …"""
    help: str
    secret: bool = True
    """shown as a fingerprint only"""


@dataclass(frozen=True)
class Detection:
    """What :meth:`ProviderAdapter.detect` found in a value. Everything but ``secret`` is value-free."""

    adapter: str
    kind: str
    """one of the adapter's :attr:`~ProviderAdapter.kinds`"""
    secret: Secret
    """the credential itself: the password inside a URL, the whole token otherwise"""
    in_url: bool = False
    """the secret sits inside a URL (``scheme://user:<secret>@host``); copies are rewritten as URLs"""
    principal: str = ""
    """the user/role/key id the credential authenticates as"""
    endpoint: str = ""
    """where it is used, without credentials (``postgres://host:5432/db``)"""
    resource_id: str = ""
    """the provider's id of the resource (a Neon endpoint id …)"""
    product: str = "other"
    """a :class:`keyroll.core.model.Product` value (``other`` outside Upstash)"""


@dataclass(frozen=True)
class CredentialRef:
    """One credential as an adapter acts on it: the value-free description plus the value."""

    adapter: str
    kind: str
    secret: Secret
    principal: str = ""
    endpoint: str = ""
    resource_id: str = ""
    product: str = "other"
    url: Secret | None = None
    """a complete connection string when one is known (the copy a deployment holds)"""


@dataclass(frozen=True)
class Minted:
    """A new credential that works alongside the old one."""

    secret: Secret
    principal: str = ""
    """the user/role the new secret belongs to (alternating users: the other role)"""
    url: Secret | None = None
    """a complete connection string for the new credential, when the adapter builds one"""
    state: Mapping[str, Any] = field(default_factory=dict)
    """JSON-able, value-free facts ``revoke``/``undo_mint`` need later (journaled with the step)"""


@dataclass
class AdapterContext:
    """What an adapter may use: its settings, an HTTP client, keyroll's provider clients."""

    settings: Mapping[str, Secret] = field(default_factory=dict)
    """the adapter's :class:`Setting` values that are set (environment, ``--env-file``)"""
    http: Any = None
    """an ``httpx.AsyncClient`` for the adapter's own API calls (``None``: make one)"""
    providers: Any = None
    """:class:`keyroll.providers.factory.Providers` (the built-in Upstash adapter's clients)"""
    note: Callable[[str], None] = field(default=lambda message: None)
    """progress line for the user (value-free)"""

    def setting(self, name: str) -> Secret | None:
        """A setting's value, ``None`` when unset or empty."""
        value = self.settings.get(name)
        return value if value is not None and value.reveal() else None


@dataclass(frozen=True)
class StrategySet:
    """Keyroll's own multi-step strategies, contributed by a built-in adapter.

    ``builders``: ``Strategy → build(PlanContext) -> StrategyPlan``; ``actions``: step action name →
    :class:`keyroll.rotate.runtime.Action`; ``undo_mint``: what a rollback undoes per strategy;
    ``restore_on_failure``: strategies whose old values stay valid until revocation.
    """

    builders: Mapping[Strategy, Callable[..., Any]] = field(default_factory=dict)
    actions: Mapping[str, Any] = field(default_factory=dict)
    undo_mint: Mapping[Strategy, Callable[..., Any]] = field(default_factory=dict)
    restore_on_failure: frozenset[Strategy] = frozenset()


class ProviderAdapter(ABC):
    """Base class of every provider adapter (see the module docstring and ``docs/adapters.md``).

    Subclasses set :attr:`name` (the entry point name), :attr:`kinds` and implement
    :meth:`detect` and :meth:`probe`; :meth:`mint` and :meth:`revoke` are optional.
    """

    name: ClassVar[str] = ""
    """unique, the entry point's name (``postgres``)"""
    title: ClassVar[str] = ""
    """for humans (``PostgreSQL (alternating login roles)``)"""
    kinds: ClassVar[tuple[str, ...]] = ()
    """the credential kinds this adapter handles (``postgres_password``)"""
    settings: ClassVar[tuple[Setting, ...]] = ()
    """settings it reads (``KEYROLL_POSTGRES_ADMIN_URL``)"""
    priority: ClassVar[int] = 0
    """detection order, highest first: a specific adapter (Neon) outranks a generic one (Postgres)"""

    @abstractmethod
    def detect(self, value: str, *, key: str = "") -> Detection | None:
        """Recognise one of this adapter's credentials in ``value`` (held by variable ``key``).

        Pure and fast (it runs on every readable variable); ``None`` when it is not one.
        """

    @abstractmethod
    async def probe(self, cred: CredentialRef, ctx: AdapterContext) -> ProbeResult:
        """Does the provider accept ``cred.secret`` now? Never raises for provider trouble."""

    def propose(self, cred: CredentialRef) -> Secret | None:
        """A new secret generated locally, or ``None`` when the provider generates it (the default).

        keyroll journals a proposed secret *before* calling :meth:`mint` with it, so a crash in
        between loses nothing: the re-run mints with the same value.
        """
        return None

    async def mint(
        self, cred: CredentialRef, ctx: AdapterContext, *, proposed: Secret | None = None
    ) -> Minted:
        """A new credential with the same rights as ``cred`` that works while ``cred`` still does.

        ``proposed`` is what :meth:`propose` returned (already journaled). Must be idempotent:
        after a crash keyroll calls it again with the same arguments.
        :raises NotSupported: this adapter cannot mint (the default).
        """
        raise NotSupported(f"the {self.name} adapter cannot mint credentials")

    async def revoke(self, cred: CredentialRef, new: Minted | None, ctx: AdapterContext) -> dict[str, Any]:
        """Make ``cred.secret`` stop working (``new`` is what replaced it). Returns value-free
        evidence for the journal. Must be safe to run twice.

        :raises NotSupported: this adapter cannot revoke (the default): a human step does it.
        """
        raise NotSupported(f"the {self.name} adapter cannot revoke credentials")

    async def undo_mint(self, minted: Minted, ctx: AdapterContext) -> dict[str, Any]:
        """Rollback after :meth:`mint`: the minted value stops working (default: nothing to do)."""
        return {}

    def strategies(self) -> StrategySet | None:
        """Keyroll's own strategies (built-in adapters only); ``None`` for plug-ins."""
        return None

    @property
    def can_mint(self) -> bool:
        """True when the subclass implements :meth:`mint`."""
        return type(self).mint is not ProviderAdapter.mint

    @property
    def can_revoke(self) -> bool:
        """True when the subclass implements :meth:`revoke`."""
        return type(self).revoke is not ProviderAdapter.revoke

    def describe(self) -> dict[str, Any]:
        """Value-free summary (``keyroll adapters``, reports)."""
        return {
            "name": self.name,
            "title": self.title,
            "kinds": list(self.kinds),
            "mint": self.can_mint,
            "revoke": self.can_revoke,
            "settings": [s.name for s in self.settings],
        }
