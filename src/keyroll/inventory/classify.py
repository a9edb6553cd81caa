"""What a variable name, a Vercel content hint or a value says about an Upstash credential.

* :func:`classify_key` — ``MYAPP_UPSTASH_REDIS_REST_TOKEN_PROD`` → Redis REST token (prefix
  ``MYAPP``, suffix ``PROD``). Names come from the Upstash console, the Vercel KV / Upstash
  integration (``KV_*``, ``REDIS_URL``; the integration lets users pick a custom prefix) and
  the SDKs' ``from_env`` readers (``shared/reference/upstash-api.md`` §0, §6).
* :func:`classify_hint` — Vercel's ``contentHint.type`` on integration-created vars
  (``redis-rest-api-token`` …, ``shared/reference/vercel-api.md`` §6.1).
* :func:`classify_value` — shapes that identify a value by themselves: a ``redis(s)://``
  URL with a password, a QStash token (base64 JSON ``{"UserID"…``), a ``sig_…`` signing key.
* :func:`strategy_for` — DESIGN.md's strategy table.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from keyroll.core.model import CredentialKind, Product, Strategy
from keyroll.core.secret import Secret
from keyroll.core.strategy import builtin_strategy

__all__ = [
    "KeyClass",
    "ValueClass",
    "classify_hint",
    "classify_key",
    "classify_value",
    "normalize_endpoint",
    "redis_url_parts",
    "strategy_for",
]

K = CredentialKind


@dataclass(frozen=True)
class KeyClass:
    """What a variable name stands for."""

    product: Product
    role: str
    """``url``, ``redis_url``, ``token``, ``readonly_token``, ``password``,
    ``signing_key_current`` or ``signing_key_next``"""
    kind: CredentialKind | None
    """``None`` for plain URLs (not a credential)"""
    family: str
    """names that the same tool writes together (``upstash_redis``, ``kv``, ``redis``, ``qstash`` …)"""
    canonical: str = ""
    """the well-known name found inside the key (empty for heuristic matches)"""
    prefix: str = ""
    suffix: str = ""
    exact: bool = True
    """False when only a heuristic (``…REDIS…TOKEN``) matched"""

    @property
    def is_credential(self) -> bool:
        """True when the variable holds (or embeds) a secret."""
        return self.kind is not None


_CANONICAL: dict[str, tuple[Product, str, CredentialKind | None, str]] = {
    "UPSTASH_REDIS_REST_URL": (Product.REDIS, "url", None, "upstash_redis"),
    "UPSTASH_REDIS_REST_TOKEN": (Product.REDIS, "token", K.REST_TOKEN, "upstash_redis"),
    "UPSTASH_REDIS_REST_READ_ONLY_TOKEN": (
        Product.REDIS,
        "readonly_token",
        K.READONLY_REST_TOKEN,
        "upstash_redis",
    ),
    "UPSTASH_REDIS_REST_READONLY_TOKEN": (
        Product.REDIS,
        "readonly_token",
        K.READONLY_REST_TOKEN,
        "upstash_redis",
    ),
    "UPSTASH_REDIS_PASSWORD": (Product.REDIS, "password", K.PASSWORD, "upstash_redis"),
    "UPSTASH_REDIS_URL": (Product.REDIS, "redis_url", K.URL_WITH_PASSWORD, "upstash_redis"),
    "REDIS_URL": (Product.REDIS, "redis_url", K.URL_WITH_PASSWORD, "redis"),
    "REDIS_PASSWORD": (Product.REDIS, "password", K.PASSWORD, "redis"),
    "KV_URL": (Product.REDIS, "redis_url", K.URL_WITH_PASSWORD, "kv"),
    "KV_REST_API_URL": (Product.REDIS, "url", None, "kv"),
    "KV_REST_API_TOKEN": (Product.REDIS, "token", K.REST_TOKEN, "kv"),
    "KV_REST_API_READ_ONLY_TOKEN": (Product.REDIS, "readonly_token", K.READONLY_REST_TOKEN, "kv"),
    "QSTASH_URL": (Product.QSTASH, "url", None, "qstash"),
    "QSTASH_TOKEN": (Product.QSTASH, "token", K.QSTASH_TOKEN, "qstash"),
    "QSTASH_CURRENT_SIGNING_KEY": (Product.QSTASH, "signing_key_current", K.SIGNING_KEY_CURRENT, "qstash"),
    "QSTASH_NEXT_SIGNING_KEY": (Product.QSTASH, "signing_key_next", K.SIGNING_KEY_NEXT, "qstash"),
}
for _p, _fam in ((Product.VECTOR, "upstash_vector"), (Product.SEARCH, "upstash_search")):
    _base = f"UPSTASH_{_p.value.upper()}_REST"
    _CANONICAL[f"{_base}_URL"] = (_p, "url", None, _fam)
    _CANONICAL[f"{_base}_TOKEN"] = (_p, "token", K.INDEX_TOKEN, _fam)
    _CANONICAL[f"{_base}_READONLY_TOKEN"] = (_p, "readonly_token", K.INDEX_READONLY_TOKEN, _fam)
    _CANONICAL[f"{_base}_READ_ONLY_TOKEN"] = (_p, "readonly_token", K.INDEX_READONLY_TOKEN, _fam)

# longest names first, so that KV_REST_API_READ_ONLY_TOKEN wins over shorter overlaps
_ORDERED = sorted(((name.split("_"), name) for name in _CANONICAL), key=lambda t: -len(t[0]))

_SECRET_WORDS = frozenset({"TOKEN", "PASSWORD", "PASS", "PWD", "SECRET"})
_READONLY_WORDS = frozenset({"READONLY", "RO"})


def _split(key: str) -> list[str]:
    return [s for s in re.split(r"[_\-.]", key.upper()) if s]


def _find(segments: list[str], needle: list[str]) -> int:
    n = len(needle)
    for i in range(len(segments) - n + 1):
        if segments[i : i + n] == needle:
            return i
    return -1


def classify_key(key: str) -> KeyClass | None:
    """Classify a variable / secret name, with any prefix or suffix; ``None`` if unrelated.

    Well-known names are matched as whole ``_``-separated segments anywhere in the key;
    then a cautious heuristic (a product word such as ``REDIS``/``QSTASH`` plus a secret
    word such as ``TOKEN``/``PASSWORD``) yields an inexact class.
    """
    segments = _split(key)
    if not segments:
        return None
    for needle, name in _ORDERED:
        i = _find(segments, needle)
        if i >= 0:
            product, role, kind, family = _CANONICAL[name]
            return KeyClass(
                product=product,
                role=role,
                kind=kind,
                family=family,
                canonical=name,
                prefix="_".join(segments[:i]),
                suffix="_".join(segments[i + len(needle) :]),
            )
    return _custom_prefix(segments) or _heuristic(segments)


# the Vercel storage integration's names with a custom prefix in place of ``KV`` (e.g.
# ``REDIS_REST_API_TOKEN``, github.com/vercel/storage/issues/636): the KV family
_KV_TAILS = (("REST", "API", "READ", "ONLY", "TOKEN"), ("REST", "API", "TOKEN"), ("REST", "API", "URL"))


def _custom_prefix(segments: list[str]) -> KeyClass | None:
    for tail in _KV_TAILS:
        n = len(tail)
        if len(segments) > n and tuple(segments[-n:]) == tail:
            product, role, kind, family = _CANONICAL["KV_" + "_".join(tail)]
            return KeyClass(
                product, role, kind, family, canonical="KV_" + "_".join(tail), prefix="_".join(segments[:-n])
            )
    return None


def _heuristic(segments: list[str]) -> KeyClass | None:
    words = set(segments)
    readonly = bool(words & _READONLY_WORDS) or _find(segments, ["READ", "ONLY"]) >= 0
    secret = bool(words & _SECRET_WORDS)
    if "QSTASH" in words:
        if "SIGNING" in words or ("KEY" in words and ("CURRENT" in words or "NEXT" in words)):
            nxt = "NEXT" in words
            return KeyClass(
                Product.QSTASH,
                "signing_key_next" if nxt else "signing_key_current",
                K.SIGNING_KEY_NEXT if nxt else K.SIGNING_KEY_CURRENT,
                "qstash",
                exact=False,
            )
        if secret:
            return KeyClass(Product.QSTASH, "token", K.QSTASH_TOKEN, "qstash", exact=False)
        return None
    if "UPSTASH" in words:
        for word, product in (("VECTOR", Product.VECTOR), ("SEARCH", Product.SEARCH)):
            if word in words and secret:
                kind = K.INDEX_READONLY_TOKEN if readonly else K.INDEX_TOKEN
                role = "readonly_token" if readonly else "token"
                return KeyClass(product, role, kind, f"upstash_{word.lower()}", exact=False)
    if words & {"REDIS", "UPSTASH", "KV"} and secret:
        if words & {"PASSWORD", "PASS", "PWD"}:
            return KeyClass(Product.REDIS, "password", K.PASSWORD, "redis", exact=False)
        kind = K.READONLY_REST_TOKEN if readonly else K.REST_TOKEN
        return KeyClass(Product.REDIS, "readonly_token" if readonly else "token", kind, "redis", exact=False)
    return None


_HINTS: dict[str, tuple[str, CredentialKind | None]] = {
    "redis-url": ("redis_url", K.URL_WITH_PASSWORD),
    "redis-rest-api-url": ("url", None),
    "redis-rest-api-token": ("token", K.REST_TOKEN),
    "redis-rest-api-read-only-token": ("readonly_token", K.READONLY_REST_TOKEN),
}


def classify_hint(content_hint: dict[str, Any] | None) -> KeyClass | None:
    """Classify Vercel's ``contentHint`` (legacy KV / Upstash integration vars); ``None`` otherwise."""
    if not content_hint:
        return None
    hint = _HINTS.get(str(content_hint.get("type", "")))
    if hint is None:
        return None
    role, kind = hint
    return KeyClass(Product.REDIS, role, kind, "kv", canonical="", exact=True)


@dataclass(frozen=True)
class ValueClass:
    """What a value's shape alone says; ``secret`` is the credential inside it."""

    product: Product
    kind: CredentialKind
    secret: Secret
    acl_user: str = ""
    endpoint: str = ""
    """``redis://host:port`` for URLs"""


_REDIS_URL = re.compile(r"^(rediss?)://([^\s/@]*)@([^\s/:?#]+)(?::(\d+))?(?:[/?#]\S*)?$", re.IGNORECASE)
_QSTASH_TOKEN = re.compile(r"^eyJVc2VySUQi[A-Za-z0-9+/_-]{8,}={0,2}$")
_SIGNING_KEY = re.compile(r"^sig_[A-Za-z0-9]{10,}$")


def redis_url_parts(value: str) -> tuple[str, str, str] | None:
    """``(user, password, endpoint)`` of a ``redis(s)://user:password@host:port`` URL, else ``None``."""
    m = _REDIS_URL.match(value.strip())
    if not m:
        return None
    userinfo = m.group(2)
    user, sep, password = userinfo.partition(":")
    if not sep:
        # redis://password@host is not valid userinfo for Redis clients; treat as no password
        return None
    password = urllib.parse.unquote(password)
    if not password:
        return None
    port = m.group(4) or "6379"
    endpoint = f"{m.group(1).lower()}://{m.group(3).lower()}:{port}"
    return urllib.parse.unquote(user) or "default", password, endpoint


def classify_value(value: str) -> ValueClass | None:
    """Recognise a credential from its shape alone; ``None`` when the shape says nothing."""
    text = value.strip()
    parts = redis_url_parts(text)
    if parts is not None:
        user, password, endpoint = parts
        kind = K.PASSWORD if user in ("default", "default_ro") else K.ACL_PASSWORD
        return ValueClass(Product.REDIS, kind, Secret(password), acl_user=user, endpoint=endpoint)
    if _QSTASH_TOKEN.match(text):
        return ValueClass(Product.QSTASH, K.QSTASH_TOKEN, Secret(text))
    if _SIGNING_KEY.match(text):
        return ValueClass(Product.QSTASH, K.SIGNING_KEY_CURRENT, Secret(text))
    return None


def normalize_endpoint(url: str) -> str:
    """A comparable origin: ``scheme://host[:port]`` lower-cased, default ports dropped; ``""`` if not a URL."""
    text = url.strip()
    if not text:
        return ""
    if "://" not in text:
        text = "https://" + text
    try:
        parsed = urllib.parse.urlsplit(text)
        port = parsed.port
    except ValueError:
        return ""
    host = (parsed.hostname or "").lower()
    if not host:
        return ""
    scheme = parsed.scheme.lower()
    default = {"https": 443, "http": 80}.get(scheme)
    netloc = host if port is None or port == default else f"{host}:{port}"
    return f"{scheme}://{netloc}"


class _Classified(Protocol):
    @property
    def product(self) -> Product: ...
    @property
    def kind(self) -> CredentialKind: ...
    @property
    def acl_user(self) -> str: ...


def strategy_for(credential: _Classified) -> Strategy:
    """The rotation strategy for a credential: :func:`keyroll.core.strategy.builtin_strategy`
    (the same table the planner uses for credentials the inventory did not classify); ``adapter``
    for one a minting provider adapter recognised."""
    adapter = str(getattr(credential, "adapter", "") or "")
    if adapter:
        from keyroll.adapters.registry import adapter_strategy

        return adapter_strategy(adapter)
    return builtin_strategy(credential.product, credential.kind, credential.acl_user)
