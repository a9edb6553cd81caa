"""The one way a workflow gets its providers: the caller's open session, or a new one from the config.

The CLI runs one workflow per command and lets it open the clients from ``Config``; the demo
runs several workflows on one session (one set of rate limiters, one count of API calls) and
passes it in.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from keyroll.config import Config
from keyroll.providers.factory import Providers, open_providers

__all__ = ["providers_session"]


@contextlib.asynccontextmanager
async def providers_session(cfg: Config, providers: Providers | None = None) -> AsyncIterator[Providers]:
    """``providers`` as is (left open), else clients built from ``cfg`` and closed on exit."""
    if providers is not None:
        yield providers
        return
    async with open_providers(cfg) as opened:
        yield opened
