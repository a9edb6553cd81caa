"""Shared HTTP machinery for every provider client.

* :class:`TokenBucket` — one per (service, endpoint class); seeded from documented limits
  and corrected live from ``X-RateLimit-*`` headers and 429 ``Retry-After``.
* :class:`ApiClient` — wraps an injected :class:`httpx.AsyncClient`; retries 429/5xx/timeouts
  with exponential backoff and full jitter; maps failures to :mod:`keyroll.core.errors`;
  counts calls (benchmarks read :attr:`ApiClient.calls`). A request that must not run twice
  (creating a deployment) passes ``recover``: after an ambiguous failure (timeout, 5xx) it is
  asked whether the first attempt took effect before anything is sent again.
* :class:`BearerAuth` — ``Authorization: Bearer`` from a :class:`Secret`, revealed per request.

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
from collections.abc import Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from keyroll.core.errors import (
    AuthError,
    NotFoundError,
    ProviderError,
    QuotaExceededError,
    RateLimitError,
    UnavailableError,
)
from keyroll.core.priority import is_urgent
from keyroll.core.secret import Secret

__all__ = [
    "ApiClient",
    "BearerAuth",
    "Recover",
    "RetryPolicy",
    "TokenBucket",
    "bearer_client",
    "describe",
    "error_message",
]

log = logging.getLogger(__name__)


class TokenBucket:
    """An async rate limiter for one endpoint class.

    It starts as a token bucket (``capacity`` requests per ``period`` seconds, seeded from
    documented limits). Once a response carries ``X-RateLimit-Limit/Remaining/Reset`` it
    switches to the services' own model, fixed windows: at most ``Remaining`` more requests
    until ``Reset``, then the whole ``Limit`` again, with no refill in between (a refilling
    bucket would overshoot a window it has already spent). :meth:`pause_until` blocks everyone
    after a 429 and then lets one request probe. Until the first response is seen, only one
    request is in flight (:meth:`settle`), so a burst sized by the seed cannot overshoot.
    Urgent requests (:func:`keyroll.core.priority.urgent`) take tokens before any other waiter.
    """

    def __init__(self, capacity: float, period: float = 60.0, *, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(capacity)
        self.period = float(period)
        self._tokens = float(capacity)
        self._clock = clock
        self._updated = clock()
        self._blocked_until = 0.0
        self._grant = 0.0
        """tokens available when the current block ends"""
        self._window_end: float | None = None
        """clock time the service's current window ends (``None``: not known)"""
        self._windowed = False
        """True once the service has told us its windows through headers"""
        self._last_reset: float | None = None
        self._inflight = 0
        self._lock = asyncio.Lock()
        self._calibrated = asyncio.Event()
        self._probing = False
        self._urgent = 0
        """urgent acquirers waiting (:func:`keyroll.core.priority.urgent`): others give way"""
        self._no_urgent = asyncio.Event()
        self._no_urgent.set()

    @property
    def rate(self) -> float:
        """Refill rate in tokens per second (before any header was seen)."""
        return self.capacity / self.period

    def _refill(self) -> None:
        now = self._clock()
        if self._blocked_until and now >= self._blocked_until:
            self._tokens = max(self._tokens, min(self._grant, self.capacity))
            self._blocked_until = 0.0
            self._grant = 0.0
        if self._windowed and self._window_end is not None:
            if now >= self._window_end:
                # requests still on the way when the window turned may land in the new one
                # (sent before the reset, counted by the service after it): they take from it
                self._tokens = max(0.0, self.capacity - self._inflight)
                self._last_reset = self._window_end
                self._window_end = None
        elif not self._windowed or self._inflight == 0:
            # no window known (yet, or no answer since the last reset, and none on the way):
            # refill at the average rate, so failures without headers never stall the limiter
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def _wait_s(self) -> float:
        if self._windowed and self._window_end is not None:
            return max(0.005, self._window_end - self._clock())
        return max(0.005, (1 - self._tokens) / self.rate)

    async def acquire(self) -> None:
        """Wait until a request may be sent."""
        if not self._calibrated.is_set():
            if self._probing:
                await self._calibrated.wait()
            else:
                self._probing = True
        first = is_urgent()
        if first:
            self._urgent += 1
            self._no_urgent.clear()
        try:
            while True:
                if not first:
                    await self._no_urgent.wait()
                async with self._lock:
                    if await self._take(first):
                        return
        finally:
            if first:
                self._urgent -= 1
                if not self._urgent:
                    self._no_urgent.set()

    async def _take(self, first: bool) -> bool:
        """Under the lock: wait for a token and take it (True), or give way to urgent work (False)."""
        while True:
            if not first and self._urgent:
                return False
            now = self._clock()
            if now < self._blocked_until:
                await asyncio.sleep(self._blocked_until - now)
                continue
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                self._inflight += 1
                return True
            await asyncio.sleep(self._wait_s())

    def settle(self) -> None:
        """A request of this bucket has finished (answered or failed): call once per :meth:`acquire`."""
        self._inflight = max(0, self._inflight - 1)
        self._calibrated.set()

    def _block(self, seconds: float, grant: float) -> None:
        self._refill()
        self._blocked_until = max(self._blocked_until, self._clock() + max(0.0, seconds))
        self._grant = max(self._grant, grant)
        self._tokens = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Correct the limiter from ``X-RateLimit-Limit/Remaining/Reset`` headers."""
        try:
            limit = headers.get("x-ratelimit-limit")
            remaining = headers.get("x-ratelimit-remaining")
            reset = headers.get("x-ratelimit-reset")
            if limit is not None and float(limit) > 0:
                self.capacity = float(limit)
            if remaining is None or reset is None:
                return
            rem = float(remaining)
            reset_s = float(reset)
            # Reset is an epoch second in Vercel's and GitHub's headers; small values are a delta.
            delta = min(reset_s - time.time() if reset_s > 1e9 else reset_s, 3600.0)
            if delta <= 0:
                return
            self._refill()
            end = self._clock() + delta
            if not self._windowed:
                # first sight (only the probe was in flight): the service's count is the truth
                self._windowed = True
                self._tokens = min(self.capacity, rem)
            else:
                # requests still in flight are not in this count yet: never raise the budget
                self._tokens = min(self._tokens, rem)
            if self._window_end is None or end > self._window_end:
                if self._window_end is None and self._last_reset is not None and end > self._last_reset:
                    self.period = end - self._last_reset  # the window length, learnt
                self._window_end = end
            if rem <= 0:
                self._block(delta, grant=self.capacity)
        except (TypeError, ValueError):
            return

    def pause_until(self, seconds: float) -> None:
        """Block every acquirer for ``seconds`` (after a 429); then one request may probe."""
        self._block(seconds, grant=1.0)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>``; the token stays a :class:`Secret` until the header is built."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request


def bearer_client(
    base_url: str, token: Secret, *, timeout: float, headers: dict[str, str]
) -> httpx.AsyncClient:
    """An HTTP client for a REST API authenticated by a bearer token.

    ``timeout`` bounds each request; connecting is bounded by 10 s (or ``timeout`` if shorter).
    """
    return httpx.AsyncClient(
        base_url=base_url,
        auth=BearerAuth(token),
        timeout=httpx.Timeout(timeout, connect=min(10.0, timeout)),
        headers=headers,
    )


Recover = Callable[[], Awaitable[httpx.Response | None]]
"""Asked after an ambiguous failure: the response of the first attempt if it took effect, else None."""


@dataclass
class RetryPolicy:
    """How often and how long to retry 429/5xx/timeouts.

    ``attempts`` bounds 5xx/timeouts/connection errors; ``rate_limit_attempts`` bounds 429s
    separately (each waits as long as the service says, so a storm costs time, not attempts).
    """

    attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0
    retry_statuses: frozenset[int] = frozenset({429, 500, 502, 503, 504})
    rate_limit_attempts: int = 30

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


def describe(method: str, path: str) -> str:
    """A value-free description of a request for logs and errors.

    Relative paths (control planes: ids and names) are shown without their query; absolute URLs
    (data planes, whose origin is itself an env value and whose path may carry a command's
    arguments) only by their first path segment.
    """
    url = httpx.URL(path)
    if url.is_absolute_url:
        first = url.path.strip("/").split("/", 1)[0]
        return f"{method} <url>/{first}" if first else f"{method} <url>"
    return f"{method} {url.path}"


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
    quota_codes: frozenset[str] = frozenset()
    """error codes of a spent quota (e.g. Vercel's ``builds_rate_limited``): never retried,
    raised as :class:`~keyroll.core.errors.QuotaExceededError`"""

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

    @staticmethod
    def is_rate_limited(resp: httpx.Response) -> bool:
        """429, or GitHub's 403 with ``X-RateLimit-Remaining: 0`` / ``Retry-After`` (rate limits)."""
        if resp.status_code == 429:
            return True
        return resp.status_code == 403 and (
            resp.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in resp.headers
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        what: str = "",
        ok: tuple[int, ...] = (),
        recover: Recover | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with rate limiting and retries; return the response if 2xx (or in ``ok``).

        :param what: a value-free description for error messages (e.g. ``project web env API_KEY``).
        :param recover: for requests that must not run twice: called after a timeout or 5xx,
            before retrying; a response it returns is the answer.
        :raises AuthError: 401/403. :raises NotFoundError: 404.
        :raises RateLimitError: 429 after retries. :raises UnavailableError: 5xx/timeouts after retries.
        :raises ProviderError: any other failure.
        """
        cls = self.classify(method, path)
        bucket = self.bucket(cls)
        last_exc: Exception | None = None
        resp: httpx.Response | None = None
        failures = 0
        limited = 0
        where = what or describe(method, path)
        while True:
            await bucket.acquire()
            self.calls[cls] += 1
            try:
                resp = await self.http.request(method, path, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                bucket.settle()
                last_exc, resp = exc, None
                log.debug("%s %s: %s (failure %d)", self.service, where, type(exc).__name__, failures + 1)
            except BaseException:
                bucket.settle()
                raise
            else:
                bucket.observe(resp.headers)
                bucket.settle()
                if self.quota_codes and resp.status_code in (402, 429) and self._quota_spent(resp):
                    break
                if self.is_rate_limited(resp):
                    limited += 1
                    if limited >= self.retry.rate_limit_attempts:
                        break
                    wait = _retry_after(resp)
                    log.debug("%s %s: rate limited, waiting %.2fs", self.service, where, wait or 0)
                    bucket.pause_until(wait if wait is not None else self.retry.backoff(limited - 1))
                    continue
                if resp.status_code not in self.retry.retry_statuses:
                    break
                log.debug("%s %s: HTTP %d (failure %d)", self.service, where, resp.status_code, failures + 1)
            failures += 1
            if failures >= self.retry.attempts:
                break
            await self.sleep(self.retry.backoff(failures - 1))
            if recover is not None:
                found = await recover()
                if found is not None:
                    return found
        if resp is None:
            raise UnavailableError(
                f"{self.service}: {where} failed: {type(last_exc).__name__ if last_exc else 'no response'}",
                service=self.service,
                hint="the service may be down or unreachable; run again later (keyroll resumes safely)",
            )
        if resp.status_code < 300 or resp.status_code in ok:
            return resp
        raise self.error_for(resp, where)

    def _quota_spent(self, resp: httpx.Response) -> bool:
        return error_message(resp)[0] in self.quota_codes

    def error_for(self, resp: httpx.Response, where: str) -> ProviderError:
        """The :class:`ProviderError` subclass for a failed response (message without values)."""
        status = resp.status_code
        code, message = error_message(resp)
        text = (
            f"{self.service}: {where}: HTTP {status}"
            + (f" {code}" if code else "")
            + (f" — {message}" if message else "")
        )
        if code and code in self.quota_codes:
            return QuotaExceededError(
                text,
                service=self.service,
                status=status,
                code=code,
                hint="the daily quota resets within 24 hours: run `keyroll resume` then, or split the work",
            )
        if self.is_rate_limited(resp):
            return RateLimitError(
                text, service=self.service, status=status, code=code, hint="wait and run again"
            )
        if status in (401, 403):
            return AuthError(
                text, service=self.service, status=status, code=code, hint=self.hint_for_auth or None
            )
        if status == 404:
            return NotFoundError(text, service=self.service, status=status, code=code)
        if status >= 500:
            return UnavailableError(
                text,
                service=self.service,
                status=status,
                code=code,
                hint="run again later (keyroll resumes safely)",
            )
        return ProviderError(text, service=self.service, status=status, code=code)
