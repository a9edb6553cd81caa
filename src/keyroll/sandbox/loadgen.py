"""A bounded load generator: steady traffic to every serving deployment, failures recorded.

``LoadGenerator(world, rps=…, duration=…)`` runs in a thread of its own (with its own event
loop and HTTP client), so it can be started and stopped around any operation — a test's
``keyroll apply``, the demo, a benchmark — without sharing an event loop with it::

    with LoadGenerator(sb.world, rps=20, duration=30) as lg:
        run_rotation()
    assert lg.stats()["failed"] == 0

Every tick it re-reads ``world.hooks["vercel.serving_deployments"]()`` (so redeploys are
picked up at once) and sends ``GET http://<deployment url>/`` to the next deployment,
round-robin. Deployments that hold QStash signing keys also get QStash messages published to
``…/api/qstash`` (through ``world.hooks["qstash.publish"]``); every failed delivery attempt
counts as a failed request of that deployment. Each failure is recorded with time,
deployment, project, status and cause (the deployment names the failing *key*, never a
value).

Bounds: ``rps`` ≤ 500, ``duration`` ≤ 1 h, ``max_requests`` (default ``rps × duration``),
``concurrency`` in-flight requests (beyond that a tick is counted as ``skipped``), loopback
destinations only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import urllib.parse
from collections import deque
from concurrent.futures import Future
from typing import Any

import httpx

from keyroll.sandbox.world import World

__all__ = ["LoadGenerator", "LoadgenRegistry"]

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_RPS = 500.0
MAX_DURATION = 3600.0
KEPT_FAILURES = 2000


class LoadGenerator:
    """Steady, bounded traffic to every serving deployment; counts failures."""

    def __init__(
        self,
        world: World,
        *,
        rps: float = 20.0,
        duration: float = 30.0,
        max_requests: int | None = None,
        concurrency: int = 16,
        qstash: bool = True,
        qstash_ratio: float = 0.25,
        timeout: float = 10.0,
    ) -> None:
        """
        :raises ValueError: ``rps``/``duration``/``concurrency`` out of bounds.
        """
        if not 0 < rps <= MAX_RPS:
            raise ValueError(f"rps must be in (0, {MAX_RPS:g}]")
        if not 0 < duration <= MAX_DURATION:
            raise ValueError(f"duration must be in (0, {MAX_DURATION:g}] seconds")
        if not 1 <= concurrency <= 256:
            raise ValueError("concurrency must be in [1, 256]")
        self.world = world
        self.rps = float(rps)
        self.duration = float(duration)
        self.max_requests = int(max_requests if max_requests is not None else max(1, rps * duration))
        self.concurrency = concurrency
        self.qstash = qstash
        self.qstash_ratio = max(0.0, min(1.0, qstash_ratio))
        self.timeout = timeout
        self.tag = f"loadgen-{id(self):x}"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None
        self._stopped_at: float | None = None
        self._requests = 0
        self._ok = 0
        self._failed = 0
        self._skipped = 0
        self._published = 0
        self._delivered = 0
        self._delivery_failures = 0
        self._failures: deque[dict[str, Any]] = deque(maxlen=KEPT_FAILURES)
        self._first_failure: float | None = None
        self._last_failure: float | None = None
        self._per_deployment: dict[str, dict[str, Any]] = {}
        self._targets: dict[str, dict[str, Any]] = {}
        self._pending = 0
        self._note = ""
        register = world.hooks.get("loadgen.register")
        if register is not None:
            register(self)

    # -- control ------------------------------------------------------------------------
    def start(self) -> LoadGenerator:
        """Start sending (returns at once)."""
        if self._thread is not None:
            return self
        self._started_at = time.time()
        self._thread = threading.Thread(target=self._thread_main, name="keyroll-loadgen", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 15.0) -> dict[str, Any]:
        """Stop, wait for in-flight requests, and return :meth:`stats`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats()

    def wait(self, timeout: float | None = None) -> dict[str, Any]:
        """Block until the run ends by itself (duration or request budget)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.stats()

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- results ------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counts so far, every kept failure (time, deployment, cause), per-deployment totals."""
        with self._lock:
            end = self._stopped_at or time.time()
            return {
                "running": self.running,
                "rps": self.rps,
                "duration": self.duration,
                "started_at": self._started_at,
                "stopped_at": self._stopped_at,
                "elapsed_s": round(end - self._started_at, 3) if self._started_at else 0.0,
                "requests": self._requests,
                "ok": self._ok,
                "failed": self._failed + self._delivery_failures,
                "http_failed": self._failed,
                "skipped": self._skipped,
                "qstash": {
                    "published": self._published,
                    "delivered": self._delivered,
                    "failed_attempts": self._delivery_failures,
                },
                "first_failure_at": self._first_failure,
                "last_failure_at": self._last_failure,
                "failure_window_s": (
                    round(self._last_failure - self._first_failure, 3)
                    if self._first_failure is not None and self._last_failure is not None
                    else 0.0
                ),
                "failures": list(self._failures),
                "deployments": {k: dict(v) for k, v in self._per_deployment.items()},
                "note": self._note,
            }

    def _record_failure(self, kind: str, dep: dict[str, Any], status: int | None, cause: str) -> None:
        now = time.time()
        with self._lock:
            if kind == "http":
                self._failed += 1
            else:
                self._delivery_failures += 1
            self._first_failure = self._first_failure or now
            self._last_failure = now
            self._per_deployment.setdefault(dep["id"], _counter(dep))["failed"] += 1
            self._failures.append(
                {
                    "t": now,
                    "t_rel": round(now - (self._started_at or now), 3),
                    "kind": kind,
                    "deployment": dep["id"],
                    "project": dep.get("project_id"),
                    "target": dep.get("target"),
                    "status": status,
                    "cause": cause,
                }
            )

    # -- the loop -----------------------------------------------------------------------
    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._run())
        finally:
            with self._lock:
                self._stopped_at = time.time()
            loop.close()

    async def _run(self) -> None:
        unsubscribe = await self._on_sandbox(self._subscribe) if self.qstash else None
        inflight: set[asyncio.Task[None]] = set()
        interval = 1.0 / self.rps
        loop = asyncio.get_running_loop()
        start = loop.time()
        next_tick = start
        index = 0
        qstash_budget = 0.0
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while (
                not self._stop.is_set()
                and loop.time() - start < self.duration
                and self._requests < self.max_requests
            ):
                deployments = await self._serving()
                if deployments:
                    dep = deployments[index % len(deployments)]
                    index += 1
                    if len(inflight) >= self.concurrency:
                        with self._lock:
                            self._skipped += 1
                    else:
                        task = loop.create_task(self._hit(client, dep))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                    if self.qstash and _has_signing_keys(dep):
                        qstash_budget += self.qstash_ratio
                        if qstash_budget >= 1.0:
                            qstash_budget -= 1.0
                            await self._publish(dep)
                next_tick += interval
                delay = next_tick - loop.time()
                if delay < -1.0:
                    next_tick = loop.time()
                    delay = 0.0
                if delay > 0:
                    await asyncio.sleep(delay)
            if inflight:
                await asyncio.wait(inflight, timeout=self.timeout + 1)
            await self._drain_deliveries()
        if unsubscribe is not None:
            with contextlib.suppress(Exception):
                await self._on_sandbox(lambda: unsubscribe())

    async def _hit(self, client: httpx.AsyncClient, dep: dict[str, Any]) -> None:
        url = _url(dep)
        with self._lock:
            self._requests += 1
            self._per_deployment.setdefault(dep["id"], _counter(dep))["requests"] += 1
        if url is None:
            self._record_failure("http", dep, None, "deployment url is not on loopback")
            return
        try:
            resp = await client.get(url)
        except httpx.HTTPError as exc:
            self._record_failure("http", dep, None, f"request failed ({type(exc).__name__})")
            return
        if resp.status_code == 200:
            with self._lock:
                self._ok += 1
            return
        self._record_failure("http", dep, resp.status_code, _cause(resp))

    # -- sandbox calls (on the sandbox's event loop when it has one) --------------------
    async def _on_sandbox(self, fn: Any) -> Any:
        get_loop = self.world.hooks.get("upstash.loop")
        sandbox_loop = get_loop() if get_loop else None
        if sandbox_loop is None or sandbox_loop.is_closed():
            return fn()
        fut: Future[Any] = Future()

        def call() -> None:
            try:
                fut.set_result(fn())
            except BaseException as exc:
                fut.set_exception(exc)

        try:
            sandbox_loop.call_soon_threadsafe(call)
        except RuntimeError:  # the sandbox loop closed meanwhile
            return fn()
        # bounded: a sandbox that stops before running ``call`` must not hang this thread
        return await asyncio.wait_for(asyncio.wrap_future(fut), 5)

    async def _serving(self) -> list[dict[str, Any]]:
        hook = self.world.hooks.get("vercel.serving_deployments")
        if hook is None:
            self._note = "no vercel.serving_deployments hook: the Vercel emulation is not installed"
            await asyncio.sleep(0)
            return []
        try:
            deployments = await self._on_sandbox(hook)
        except Exception as exc:
            self._note = f"vercel.serving_deployments failed: {type(exc).__name__}"
            return []
        return [d for d in deployments or [] if isinstance(d, dict) and d.get("id")]

    def _subscribe(self) -> Any:
        listen = self.world.hooks.get("qstash.listen")
        if listen is None:
            return None
        return listen(self._on_attempt)

    async def _publish(self, dep: dict[str, Any]) -> None:
        publish = self.world.hooks.get("qstash.publish")
        url = _url(dep)
        if publish is None or url is None:
            return
        target = url.rstrip("/") + "/api/qstash"
        with self._lock:
            self._targets[target] = dep
            self._pending += 1
        try:
            via = str((dep.get("env") or {}).get("QSTASH_URL", ""))  # the app's region signs it
            await self._on_sandbox(lambda: publish(target, b'{"keyroll":"loadgen"}', self.tag, via=via))
        except Exception:
            with self._lock:
                self._pending -= 1
            return
        with self._lock:
            self._published += 1

    def _on_attempt(self, delivery: Any, attempt: Any) -> None:
        """QStash listener (runs on the sandbox loop)."""
        if getattr(delivery, "tag", "") != self.tag:
            return
        with self._lock:
            dep = self._targets.get(delivery.url)
        if dep is None:
            return
        if attempt.ok:
            with self._lock:
                self._delivered += 1
                self._pending -= 1
            return
        cause = attempt.error or f"delivery answered HTTP {attempt.status}"
        if attempt.detail:
            cause = f"delivery: {_cause_text(attempt.detail) or cause}"
        self._record_failure("qstash", dep, attempt.status, cause)
        if len(delivery.attempts) > delivery.retries:
            with self._lock:
                self._pending -= 1

    async def _drain_deliveries(self, timeout: float = 3.0) -> None:
        """Give outstanding deliveries a moment to finish so that their outcome is counted."""
        deadline = time.monotonic() + timeout
        while self._pending > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)


class LoadgenRegistry:
    """Per-world bookkeeping behind the ``loadgen.*`` hooks and the admin endpoints."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.current: LoadGenerator | None = None

    def register(self, generator: LoadGenerator) -> None:
        """Remember the most recent generator (its stats are what ``loadgen.stats`` returns)."""
        self.current = generator

    def stats(self) -> dict[str, Any]:
        """Stats of the most recent generator (``{}`` when none ran)."""
        return self.current.stats() if self.current is not None else {}

    def start(self, *, rps: float = 10.0, duration: float = 60.0) -> None:
        """Start a new generator (stopping the previous one). :raises ValueError: bad bounds."""
        if self.current is not None and self.current.running:
            self.current.stop(timeout=0.5)
        LoadGenerator(self.world, rps=rps, duration=duration).start()

    def stop(self) -> None:
        """Ask the current generator to stop (does not wait)."""
        if self.current is not None:
            self.current._stop.set()


def _counter(dep: dict[str, Any]) -> dict[str, Any]:
    return {"project": dep.get("project_id"), "target": dep.get("target"), "requests": 0, "failed": 0}


def _url(dep: dict[str, Any]) -> str | None:
    raw = str(dep.get("url", ""))
    url = raw if raw.startswith(("http://", "https://")) else f"http://{raw}"
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        return None
    return url if url.endswith("/") else url + "/"


def _has_signing_keys(dep: dict[str, Any]) -> bool:
    env = dep.get("env") or {}
    return bool(env.get("QSTASH_CURRENT_SIGNING_KEY")) and bool(env.get("QSTASH_NEXT_SIGNING_KEY"))


def _cause(resp: httpx.Response) -> str:
    text = _cause_text(resp.text)
    return text or f"HTTP {resp.status_code}"


def _cause_text(body: str) -> str:
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):
            return str(err.get("message") or err.get("code") or "")[:200]
        if err:
            return str(err)[:200]
    return ""
