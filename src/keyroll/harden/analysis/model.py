"""Results of the static analysis of a project's sources (pure data, no values).

A project's :class:`SourceAnalysis` tells which Redis client libraries it uses, every call
site with the command it sends and the key shape it touches, the HTTP routes it serves and
whether they are rate limited, and which files were skipped and why (unparseable, minified,
too large, unknown framework). An analysis that skipped a file mentioning Redis is
*incomplete*: the checks then refuse to conclude "read-only suffices".
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

__all__ = [
    "CallSite",
    "ClientSite",
    "KeyShape",
    "Route",
    "SkipReason",
    "SourceAnalysis",
    "ValueWrite",
]


class SkipReason(enum.StrEnum):
    """Why a file was not analysed."""

    UNPARSEABLE = "unparseable"
    MINIFIED = "minified"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    UNREADABLE = "unreadable"
    UNKNOWN_FRAMEWORK = "unknown_framework"


@dataclass(frozen=True)
class KeyShape:
    """What the code tells about a key: an exact key, a literal prefix, or nothing (dynamic)."""

    prefix: str
    exact: bool = False

    @property
    def dynamic(self) -> bool:
        """True when nothing is known about the key (no literal prefix)."""
        return not self.exact and not self.prefix

    def describe(self) -> str:
        """``cache:*`` / ``config`` / ``<dynamic>`` for messages."""
        if self.exact:
            return self.prefix
        return f"{self.prefix}*" if self.prefix else "<dynamic>"


DYNAMIC = KeyShape("")


@dataclass(frozen=True)
class ClientSite:
    """Where a Redis client is created (or imported) in the code."""

    library: str
    """``@upstash/redis``, ``@vercel/kv``, ``ioredis``, ``redis``, ``upstash-redis``, ``redis-py``"""
    path: str
    line: int
    transport: str = "rest"
    """``rest`` (Upstash REST) or ``tcp`` (Redis protocol)"""
    env_keys: tuple[str, ...] = ()
    """env vars the construction reads (``process.env.X`` / ``os.environ["X"]`` / ``fromEnv``)"""


@dataclass(frozen=True)
class CallSite:
    """One Redis command sent from the code."""

    path: str
    line: int
    command: str
    """lower-case command name (``get``, ``json.set``), or ``?`` when it cannot be known"""
    keys: tuple[KeyShape, ...] = ()
    via: str = ""
    """the library or helper (``@upstash/ratelimit``) when the call is indirect"""
    client_env: tuple[str, ...] = ()
    """env vars the client it goes through was built from (empty: not known)"""

    def uses_any(self, keys: frozenset[str]) -> bool:
        """True when the call may use a credential from one of these env vars (unknown client: yes)."""
        return not self.client_env or bool(keys.intersection(self.client_env))


@dataclass(frozen=True)
class ValueWrite:
    """A write that stores a value, and whether the value passes through an encryption call."""

    path: str
    line: int
    command: str
    encrypted: bool


@dataclass(frozen=True)
class Route:
    """An HTTP route the project serves."""

    path: str
    """source file"""
    line: int
    framework: str
    """``next-pages``, ``next-app``, ``express``, ``fastapi``, ``flask``"""
    route: str
    """URL path as far as it is known (``/api/items``)"""
    methods: tuple[str, ...] = ()
    rate_limited: bool = False
    protected_by: str = ""
    """what rate-limits (or authenticates) it: ``@upstash/ratelimit``, ``middleware.ts``, ``qstash-signature`` …"""


@dataclass
class SourceAnalysis:
    """Everything the analysers learned about one project's sources."""

    root: str
    files_scanned: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """files skipped, by :class:`SkipReason` value"""
    skipped_with_redis_hints: list[str] = field(default_factory=list)
    """skipped files that mention Redis: the command set may be incomplete"""
    clients: list[ClientSite] = field(default_factory=list)
    calls: list[CallSite] = field(default_factory=list)
    unknown_calls: list[CallSite] = field(default_factory=list)
    """calls whose command cannot be known (dynamic dispatch, a client passed to unknown code)"""
    writes: list[ValueWrite] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    global_rate_limit: str = ""
    """non-empty when a middleware rate-limits every route (names it)"""
    languages: Counter[str] = field(default_factory=Counter)

    @property
    def uses_redis(self) -> bool:
        """True when any Redis client or call was found."""
        return bool(self.clients or self.calls or self.unknown_calls)

    @property
    def commands(self) -> frozenset[str]:
        """Every command the code sends (known ones)."""
        return frozenset(c.command for c in self.calls)

    @property
    def complete(self) -> bool:
        """False when a command could not be known or a file mentioning Redis was skipped."""
        return not self.unknown_calls and not self.skipped_with_redis_hints

    def relevant(self, env_keys: frozenset[str]) -> SourceAnalysis:
        """The part of the analysis that concerns clients built from ``env_keys`` (and unknown ones)."""
        out = SourceAnalysis(root=self.root, files_scanned=self.files_scanned, skipped=self.skipped)
        out.skipped_with_redis_hints = list(self.skipped_with_redis_hints)
        out.clients = [c for c in self.clients if not c.env_keys or env_keys.intersection(c.env_keys)]
        out.calls = [c for c in self.calls if c.uses_any(env_keys)]
        out.unknown_calls = [c for c in self.unknown_calls if c.uses_any(env_keys)]
        out.writes = list(self.writes)
        out.routes = list(self.routes)
        out.global_rate_limit = self.global_rate_limit
        out.languages = self.languages
        return out

    def merge(self, other: SourceAnalysis) -> None:
        """Add another analysis (e.g. a second source root of the same project)."""
        self.files_scanned += other.files_scanned
        self.skipped.update(other.skipped)
        self.skipped_with_redis_hints.extend(other.skipped_with_redis_hints)
        self.clients.extend(other.clients)
        self.calls.extend(other.calls)
        self.unknown_calls.extend(other.unknown_calls)
        self.writes.extend(other.writes)
        self.routes.extend(other.routes)
        self.global_rate_limit = self.global_rate_limit or other.global_rate_limit
        self.languages.update(other.languages)
