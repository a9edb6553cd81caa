"""Where Upstash's data planes live, from what the Developer API and Vercel show.

Facts (``shared/reference/upstash-api.md``, "Platform realities"):

* Redis: the Developer API's ``endpoint`` is a bare host (``eu2-sought-mollusk-30140.upstash.io``);
  the REST URL is ``https://<endpoint>``, TCP is ``<endpoint>:<port>`` with TLS. A bare slug
  (no dot) gets ``.upstash.io``.
* Vector / Search: the documented ``endpoint`` is a slug (``glowing-baboon-15797-us1``) while the
  data-plane host is ``<slug>-vector.upstash.io`` / ``<slug>-search.upstash.io`` (the mapping is
  inferred, so a URL seen in a Vercel var always wins over it: :func:`prefer_seen`).
* QStash: one origin per region, ``https://qstash-<region>.upstash.io``; ``qstash.upstash.io`` is
  ``eu-central-1``. Each region has its own token and signing keys.

:class:`HostMap` is a ``curl --resolve``-style override (``KEYROLL_UPSTASH_HOSTS``,
``host=origin,…``): a documented host is reached at another origin — how keyroll talks to the
sandbox's loopback ports (and to an enterprise proxy) without changing what it reports.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "QSTASH_DEFAULT_REGION",
    "QSTASH_REGIONS",
    "HostMap",
    "index_rest_url",
    "prefer_seen",
    "qstash_region_of_url",
    "qstash_url_for_region",
    "redis_rest_url",
]

QSTASH_REGIONS = ("eu-central-1", "us-east-1")
"""QStash regions (``qstash/howto/multi-region``)."""
QSTASH_DEFAULT_REGION = "eu-central-1"
"""``https://qstash.upstash.io`` is this region."""


def _host_of(endpoint: str) -> str:
    ep = endpoint.strip().rstrip("/")
    if "://" in ep:
        return urllib.parse.urlsplit(ep).netloc
    return ep


def redis_rest_url(endpoint: str) -> str:
    """``https://<endpoint>`` (``.upstash.io`` appended to a bare slug); a full URL is kept."""
    ep = endpoint.strip().rstrip("/")
    if not ep:
        return ""
    if ep.startswith(("http://", "https://")):
        return ep
    if "." not in ep and ":" not in ep:
        ep = f"{ep}.upstash.io"
    return f"https://{ep}"


def index_rest_url(endpoint: str, product: str) -> str:
    """The Vector/Search data-plane URL: a slug becomes ``https://<slug>-<product>.upstash.io``."""
    ep = endpoint.strip().rstrip("/")
    if not ep:
        return ""
    if ep.startswith(("http://", "https://")):
        return ep
    if "." not in ep and ":" not in ep:
        suffix = f"-{product}"
        ep = f"{ep}{'' if ep.endswith(suffix) else suffix}.upstash.io"
    return f"https://{ep}"


def qstash_url_for_region(region: str) -> str:
    """``https://qstash-<region>.upstash.io`` (the documented regional origin)."""
    return f"https://qstash-{region}.upstash.io"


def qstash_region_of_url(url: str) -> str:
    """The region a QStash URL names (``qstash.upstash.io`` is eu-central-1), ``""`` if none."""
    host = urllib.parse.urlsplit(url if "://" in url else f"//{url}").hostname or ""
    if host == "qstash.upstash.io":
        return QSTASH_DEFAULT_REGION
    for region in QSTASH_REGIONS:
        if host == f"qstash-{region}.upstash.io":
            return region
    return ""


def prefer_seen(guessed: str, seen: str) -> str:
    """A data-plane URL seen next to the token (a Vercel var) beats one derived from the API."""
    return seen.rstrip("/") if seen.startswith(("http://", "https://")) else guessed


@dataclass(frozen=True)
class HostMap:
    """Documented host → the origin it is really reached at (empty: the documented host itself)."""

    hosts: Mapping[str, str] = field(default_factory=dict)

    def url(self, url: str) -> str:
        """``url`` with a mapped host replaced by its origin (path and query kept)."""
        if not url or not self.hosts:
            return url
        parts = urllib.parse.urlsplit(url)
        origin = self.hosts.get((parts.hostname or "").lower())
        if origin is None:
            return url
        o = urllib.parse.urlsplit(origin)
        return urllib.parse.urlunsplit((o.scheme, o.netloc, parts.path, parts.query, parts.fragment)).rstrip(
            "/"
        )

    def reverse(self, url: str) -> str:
        """``url`` with a mapped origin replaced by the documented host it stands for (first match)."""
        if not url or not self.hosts:
            return url
        parts = urllib.parse.urlsplit(url)
        for host, origin in sorted(self.hosts.items()):
            o = urllib.parse.urlsplit(origin)
            if (o.scheme, o.netloc) == (parts.scheme, parts.netloc):
                return urllib.parse.urlunsplit(("https", host, parts.path, parts.query, parts.fragment))
        return url

    def tcp_host(self, host: str) -> str:
        """The host a TCP connection to ``host`` really goes to (the mapped origin's hostname)."""
        origin = self.hosts.get(_host_of(host).lower())
        return (urllib.parse.urlsplit(origin).hostname or host) if origin else host

    def tls(self, host: str, documented: bool) -> bool:
        """TLS for a mapped host follows its origin's scheme (the sandbox speaks plain TCP)."""
        origin = self.hosts.get(_host_of(host).lower())
        return origin.startswith("https://") if origin else documented
