"""Shared HTTP machinery for every provider client.

* :class:`TokenBucket` — one per (service, endpoint class); seeded from documented limits
  and corrected live from ``X-RateLimit-*`` headers and 429 ``Retry-After``.
* :class:`ApiClient` — wraps an injected :class:`httpx.AsyncClient`; retries 429/5xx/timeouts
  with exponential backoff and full jitter; maps failures to :mod:`keyroll.core.errors`;
  counts calls (benchmarks read :attr:`ApiClient.calls`).

Errors never contain secret values: messages carry the method, the path *template* the
caller passes as ``what`` and the service's error code/message.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyroll.core.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    UnavailableError,
)

__all__ = ["ApiClient", "RetryPolicy", "TokenBucket", "error_message"]

log = logging.getLogger(__name__)


class TokenBucket:
    """An async token bucket: ``capacity`` requests per ``period`` seconds.

    :meth:`observe` adjusts it from response headers (``X-RateLimit-Remaining`` /
    ``X-RateLimit-Reset``); :meth:`pause_until` blocks everyone after a 429.
    """

    def __init__(self, capacity: float, period: float = 60.0, *, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(capacity)
        self.period = float(period)
        self._tokens = float(capacity)
        self._clock = clock
        self._updated = clock()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()

    @property
    def rate(self) -> float:
        """Refill rate in tokens per second."""
        return self.capacity / self.period

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    async def acquire(self) -> None:
        """Wait until a request may be sent."""
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._blocked_until:
                    await asyncio.sleep(self._blocked_until - now)
                    continue
                self._refill()
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.rate)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Correct the bucket from ``X-RateLimit-Limit/Remaining/Reset`` headers."""
        try:
            limit = headers.get("x-ratelimit-limit")
            remaining = headers.get("x-ratelimit-remaining")
            reset = headers.get("x-ratelimit-reset")
            if limit is not None and float(limit) > 0:
                self.capacity = float(limit)
            if remaining is not None and reset is not None:
                rem = float(remaining)
                reset_s = float(reset)
                # Reset is an epoch second in Vercel's headers; treat small values as a delta.
                delta = reset_s - time.time() if reset_s > 1e9 else reset_s
                self._refill()
                self._tokens = min(self._tokens, rem)
                if rem <= 0 and delta > 0:
                    self._blocked_until = max(self._blocked_until, self._clock() + min(delta, 3600))
                elif delta > 0 and rem > 0:
                    # Spread what is left over the rest of the window.
                    self.period = (
                        max(self.capacity / max(rem / delta, 1e-6), 1e-3)
                        if rem < self.capacity
                        else self.period
                    )
        except (TypeError, ValueError):
            return

    def pause_until(self, seconds: float) -> None:
        """Block every acquirer for ``seconds`` (after a 429)."""
        self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
        self._tokens = 0.0


@dataclass
class RetryPolicy:
    """How often and how long to retry 429/5xx/timeouts."""

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for ``attempt`` (0-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * (2**attempt)))


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if value is None:
        reset_ms = None
        try:
            body = resp.json()
            reset_ms = body.get("error", {}).get("limit", {}).get("resetMs")
        except Exception:
            reset_ms = None
        if isinstance(reset_ms, (int, float)) and reset_ms > 0:
            return max(0.0, reset_ms / 1000 - time.time()) if reset_ms > 1e12 else reset_ms / 1000
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def error_message(resp: httpx.Response) -> tuple[str, str]:
    """Extract ``(code, message)`` from Vercel (``{"error":{code,message}}``), Upstash (``{"error": "…"}``),
    GitHub (``{"message": …}``) or plain-text bodies."""
    try:
        body = resp.json()
    except Exception:
        text = resp.text.strip()[:200]
        return "", text or resp.reason_phrase
    if isinstance(body, dict):
        err = body.get("error", body.get("err"))
        if isinstance(err, dict):
            return str(err.get("code", "")), str(err.get("message", ""))
        if isinstance(err, str):
            return "", err
        if "message" in body:
            return "", str(body["message"])
    if isinstance(body, str):
        return "", body
    return "", resp.reason_phrase


@dataclass
class ApiClient:
    """Retrying, rate-limited request helper around an injected ``httpx.AsyncClient``.

    ``classify`` maps ``(method, path)`` to an endpoint class name; each class gets its own
    bucket from ``limits`` (``{class: (capacity, period_s)}``), default ``("default")``.
    """

    http: httpx.AsyncClient
    service: str
    limits: dict[str, tuple[float, float]] = field(default_factory=lambda: {"default": (100.0, 1.0)})
    classify: Callable[[str, str], str] = lambda method, path: "default"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    calls: Counter[str] = field(default_factory=Counter)
    """requests sent, by endpoint class (retries included)"""
    hint_for_auth: str = ""
    sleep: Callable[[float], Any] = asyncio.sleep

    def __post_init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self, cls: str) -> TokenBucket:
        """The bucket of an endpoint class (created on first use)."""
        if cls not in self._buckets:
            cap, period = self.limits.get(cls, self.limits.get("default", (100.0, 1.0)))
            self._buckets[cls] = TokenBucket(cap, period)
        return self._buckets[cls]

    @property
    def total_calls(self) -> int:
        """All requests sent so far."""
        return sum(self.calls.values())

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str = "",
        ok: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with rate limiting and retries; return the response if 2xx (or in ``ok``).

        :param what: a value-free description for error messages (e.g. ``project web env API_KEY``).
        :raises AuthError: 401/403. :raises NotFoundError: 404.
        :raises RateLimitError: 429 after retries. :raises UnavailableError: 5xx/timeouts after retries.
        :raises ProviderError: any other failure.
        """
        cls = self.classify(method, path)
        bucket = self.bucket(cls)
        last_exc: Exception | None = None
        resp: httpx.Response | None = None
        for attempt in range(self.retry.attempts):
            await bucket.acquire()
            self.calls[cls] += 1
            try:
                resp = await self.http.request(method, path, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_exc = exc
                log.debug(
                    "%s %s %s: %s (attempt %d)", self.service, method, path, type(exc).__name__, attempt + 1
                )
                await self.sleep(self.retry.backoff(attempt))
                continue
            bucket.observe(resp.headers)
            if resp.status_code == 429:
                wait = _retry_after(resp)
                bucket.pause_until(wait if wait is not None else self.retry.backoff(attempt))
                continue
            if resp.status_code in self.retry.retry_statuses:
                await self.sleep(self.retry.backoff(attempt))
                continue
            break
        where = what or f"{method} {path}"
        if resp is None:
            raise UnavailableError(
                f"{self.service}: {where} failed: {type(last_exc).__name__ if last_exc else 'no response'}",
                service=self.service,
                hint="the service may be down or unreachable; run again later (keyroll resumes safely)",
            )
        status = resp.status_code
        if status < 300 or status in ok:
            return resp
        code, message = error_message(resp)
        text = (
            f"{self.service}: {where}: HTTP {status}"
            + (f" {code}" if code else "")
            + (f" — {message}" if message else "")
        )
        if status in (401, 403):
            raise AuthError(
                text, service=self.service, status=status, code=code, hint=self.hint_for_auth or None
            )
        if status == 404:
            raise NotFoundError(text, service=self.service, status=status, code=code)
        if status == 429:
            raise RateLimitError(
                text, service=self.service, status=status, code=code, hint="wait and run again"
            )
        if status >= 500:
            raise UnavailableError(text, service=self.service, status=status, code=code)
        raise ProviderError(text, service=self.service, status=status, code=code)
