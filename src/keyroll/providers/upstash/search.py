"""Upstash Search data API: the ``/info`` probe (same shape as Vector, see :mod:`.vector`)."""

from __future__ import annotations

from keyroll.providers.upstash.vector import IndexAPI

__all__ = ["IndexAPI"]
