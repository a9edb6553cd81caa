"""Documented Upstash host names for the sandbox's resources, and their loopback mapping.

The Developer API answers with the shapes ``upstash/docs``' OpenAPI file shows: a Redis
``endpoint`` is a bare host (``us1-cache-41234.upstash.io``; REST ``https://<endpoint>``, TCP
``<endpoint>:<port>``), a Vector/Search ``endpoint`` a slug (``embeddings-41235-us1``) whose
data plane is ``<slug>-vector.upstash.io`` / ``<slug>-search.upstash.io``, QStash regions are
``qstash-<region>.upstash.io`` (``qstash.upstash.io`` = eu-central-1).

None of these names resolve: every one is served on a loopback port. :func:`host_map` lists
``host → http://127.0.0.1:<port>`` and the sandbox publishes it as ``KEYROLL_UPSTASH_HOSTS`` in
``sandbox.env`` (a ``curl --resolve``-style override keyroll honours). Vercel vars hold the
loopback URLs themselves (what the sandbox's "console" shows), so SDKs work unchanged.
The numbers in the names are the resources' loopback ports: unique per sandbox.
"""

from __future__ import annotations

import re
import urllib.parse

__all__ = ["host_map", "index_slug", "qstash_hosts", "redis_host", "region_tag"]


def region_tag(region: str) -> str:
    """``us-east-1`` → ``us1``, ``eu-central-1`` → ``eu1``, ``us-central1`` → ``us1``."""
    return (region[:2] or "us") + "1"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "db"


def _port(url: str) -> int:
    return urllib.parse.urlsplit(url).port or 0


def redis_host(name: str, region: str, rest_url: str) -> str:
    """The bare-host ``endpoint`` of a database."""
    return f"{region_tag(region)}-{_slug(name)}-{_port(rest_url)}.upstash.io"


def index_slug(name: str, region: str, url: str) -> str:
    """The slug ``endpoint`` of a Vector or Search index."""
    return f"{_slug(name)}-{_port(url)}-{region_tag(region)}"


def qstash_hosts(region: str, *, default: bool) -> list[str]:
    """Hosts of a QStash region (``qstash.upstash.io`` too for the default region)."""
    return [f"qstash-{region}.upstash.io", *(["qstash.upstash.io"] if default else [])]


def host_map(pairs: dict[str, str]) -> str:
    """``KEYROLL_UPSTASH_HOSTS`` text from ``{host: origin}``."""
    return ",".join(f"{h}={o.rstrip('/')}" for h, o in sorted(pairs.items()))
