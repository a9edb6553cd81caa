"""Upstash Search data API: the ``/info`` probe (same shape as Vector, see :mod:`.vector`)."""

from __future__ import annotations

from typing import Any, ClassVar

from keyroll.providers.upstash.probe import ProbeResult
from keyroll.providers.upstash.vector import IndexAPI, IndexClient

__all__ = ["IndexAPI", "ProbeResult", "SearchClient"]


class SearchClient(IndexClient):
    """Upstash Search (``UPSTASH_SEARCH_REST_URL``); paths take the index name as a suffix."""

    service: ClassVar[str] = "search"
    write_probe: ClassVar[tuple[str, Any]] = ("/delete/keyroll-write-probe", {"ids": ["keyroll-write-probe"]})
