"""Waiting for builds: one watcher polls every build the run waits for, across projects.

Polling each project (or each deployment) separately costs at least one read per deployment,
and more while build times are still unknown. The watcher instead lists the team's deployments
created since the oldest build it waits for (``GET /v6/deployments?since=…``, all pages) — one
request answers for up to 100 builds of any project. Builds are created in bursts (rate limits)
and take about the same time, so a listing taken when the earliest pending build is due finds
most of its burst done.

When to look: before any build finished, geometrically from ``poll_interval_s`` up to an eighth
of the expected build time; once build times were observed, just before the earliest pending
build is due, then every eighth of a build while one is overdue. A build is due a build time after
it started building (``buildingAt``); one still ``QUEUED`` for a slot (Hobby has one, Pro twelve)
is not due before a build time after the first running build is due to free its slot, so a queue
of waves costs about one look per wave instead of a look every eighth of a build. Build times
come from Vercel's own stamps (``ready`` − ``buildingAt``) when the answer has both, so the look
falls due when a build should be done (:class:`~keyroll.rotate.buildstats.BuildStats`). A build the listing does not
show twice (eventual consistency, a creation time keyroll does not know, a cursor tie) is read
on its own (``GET /v13/deployments/{id}``). A build that is not READY/ERROR/CANCELED by
``build_timeout_s`` after it *started building* is reported ``TIMEOUT``: time spent ``QUEUED`` for a
build slot (Hobby has one, Pro twelve) does not count, only up to ``queue_timeout_s``. The start is
Vercel's ``buildingAt`` when the answer has it, else when keyroll first saw the build out of ``QUEUED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from keyroll.core.errors import KeyrollError
from keyroll.providers.vercel.models import Deployment
from keyroll.providers.vercel.protocol import VercelAPI
from keyroll.rotate.buildstats import BuildStats

__all__ = ["TERMINAL_FAILED", "BuildWatch", "ReadyWatcher", "Seen"]

TERMINAL_FAILED = frozenset({"ERROR", "CANCELED", "DELETED"})
"""States after which a build will never serve."""

_MISSES_BEFORE_GET = 2


@dataclass(frozen=True)
class BuildWatch:
    """One build to wait for: when keyroll asked for it, and Vercel's creation time (ms, 0 if unknown)."""

    started_at: float
    created_ms: int = 0


@dataclass(frozen=True)
class Seen:
    """How a build ended: ``READY``, ``ERROR``, ``CANCELED``, ``DELETED`` or ``TIMEOUT``, when that
    was observed, and after how many looks."""

    state: str
    at: float
    looks: int

    @property
    def ready(self) -> bool:
        """The build is READY."""
        return self.state == "READY"


@dataclass
class _Pending:
    watch: BuildWatch
    future: asyncio.Future[Seen]
    since_look: int = 0
    misses: int = 0
    building_since: float | None = None
    """when the build left QUEUED (s), once known"""
    queued_at: float | None = None
    """when the last look saw it QUEUED, waiting for a build slot (None: not seen queued)"""


@dataclass
class ReadyWatcher:
    """Waits for builds to end, with as few deployment reads as the build times allow.

    ``builds`` holds the expected build time; the watcher folds in every build it sees READY.
    """

    vercel: VercelAPI
    builds: BuildStats
    poll_interval_s: float = 0.5
    timeout_s: float = 1800.0
    """a build not ended this long after it started building times out"""
    queue_timeout_s: float = 86400.0
    """a build still QUEUED this long after it was requested times out"""
    looks: int = 0
    """listing rounds so far (for the journal and the benchmark)"""
    _pending: dict[str, _Pending] = field(default_factory=dict)
    _seen: dict[str, Seen] = field(default_factory=dict)
    """builds already seen ending: asking again answers at once"""
    _task: asyncio.Task[None] | None = None
    _next_at: float = 0.0
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self, builds: Mapping[str, BuildWatch]) -> dict[str, Seen]:
        """Wait until every build in ``builds`` (deployment id → watch) ended; how each ended.

        Never raises for a build's outcome (ERROR/CANCELED/TIMEOUT are results); an unexpected
        error of the watcher itself is raised to every waiter.
        """
        loop = asyncio.get_running_loop()
        mine: dict[str, asyncio.Future[Seen]] = {}
        for dep_id, watch in builds.items():
            if dep_id in self._seen:
                done: asyncio.Future[Seen] = loop.create_future()
                done.set_result(self._seen[dep_id])
                mine[dep_id] = done
                continue
            entry = self._pending.get(dep_id)
            if entry is None:
                entry = _Pending(watch, loop.create_future(), since_look=self.looks)
                self._pending[dep_id] = entry
                if self.builds.samples and self._due(entry) < self._next_at:
                    self._wake.set()  # due before the next look (e.g. an older build): look sooner
            mine[dep_id] = entry.future
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._loop(), name="keyroll-ready-watcher")
        results = await asyncio.gather(*(asyncio.shield(f) for f in mine.values()))
        return dict(zip(mine, results, strict=True))

    async def close(self) -> None:
        """Stop polling (pending waiters get ``CancelledError``)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for entry in self._pending.values():
            if not entry.future.done():
                entry.future.cancel()
        self._pending.clear()

    # -- the polling loop ----------------------------------------------------------------------

    def _floor(self) -> float:
        return max(self.poll_interval_s, 0.01)

    def _cap(self) -> float:
        return max(self._floor(), min(self.builds.estimate_s / 8, 10.0))

    def _due(self, entry: _Pending, slot_free_at: float | None = None) -> float:
        """When a build may have ended: a build time after it started building (Vercel's
        ``buildingAt``), or — still QUEUED for a slot — a build time after the first slot frees."""
        build = self.builds.due_s
        if entry.building_since is not None:
            return entry.building_since + build
        if entry.queued_at is not None:
            # seen QUEUED at that look: it cannot end before a build time after it, nor before
            # a build time after one of the run's running builds frees its slot
            return max(entry.queued_at, slot_free_at or 0.0) + build
        return entry.watch.started_at + build

    def _until_due(self) -> float:
        """Seconds until the earliest pending build is due (negative: overdue)."""
        entries = list(self._pending.values())
        building = [self._due(e) for e in entries if e.building_since is not None]
        slot_free_at = min(building) if building else None
        return min(self._due(e, slot_free_at) for e in entries) - time.time()

    def _next_delay(self, delay: float) -> float:
        """Seconds until the next look (``delay`` is the last one, for the geometric phase)."""
        if self.builds.samples == 0:
            return min(delay * 1.5, self._cap())
        due = self._until_due()
        return max(self._floor(), due) if due > 0 else self._cap()

    async def _loop(self) -> None:
        # builds that arrive while the loop sleeps keep its next look unless they are due
        # earlier (then the look comes sooner; re-arming on every arrival could starve the loop)
        delay = self._floor() if not self.builds.samples else self._next_delay(self._floor())
        try:
            while self._pending:
                self._next_at = time.time() + delay
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                except TimeoutError:
                    pass
                else:
                    due = self._until_due()
                    if due > 0:
                        delay = max(self._floor(), due)
                        continue
                await self._look()
                if self._pending:
                    delay = self._next_delay(delay)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # surface to every waiter instead of hanging them
            for entry in self._pending.values():
                if not entry.future.done():
                    entry.future.set_exception(exc)
                    entry.future.exception()
            self._pending.clear()

    async def _look(self) -> None:
        """One round: list the team's recent deployments, read stragglers singly, settle what ended."""
        self.looks += 1
        pending = dict(self._pending)
        known = [e.watch.created_ms for e in pending.values() if e.watch.created_ms > 0]
        states: dict[str, str] = {}
        building_at: dict[str, int] = {}
        took: dict[str, float] = {}
        """build seconds from Vercel's own stamps (``ready`` − ``buildingAt``), when both are there"""

        def note(d: Deployment) -> None:
            states[d.id] = d.ready_state
            if d.building_at:
                building_at[d.id] = d.building_at
                if d.ready_at and d.ready_at >= d.building_at:
                    took[d.id] = (d.ready_at - d.building_at) / 1000

        if known:
            try:
                listed = await self.vercel.list_deployments(None, limit=None, since=min(known) - 1)
            except KeyrollError:
                listed = []
            for d in listed:
                if d.id in pending:
                    note(d)
        stragglers = [
            dep_id
            for dep_id, e in pending.items()
            if dep_id not in states and (e.watch.created_ms <= 0 or e.misses + 1 >= _MISSES_BEFORE_GET)
        ]
        for dep_id in pending:
            if dep_id not in states:
                pending[dep_id].misses += 1

        async def one(dep_id: str) -> None:
            try:
                dep = await self.vercel.get_deployment(dep_id)
            except KeyrollError:
                return
            note(dep)

        await asyncio.gather(*(one(d) for d in stragglers))
        now = time.time()
        for dep_id, entry in pending.items():
            state = states.get(dep_id)
            if entry.building_since is None:
                if dep_id in building_at:
                    entry.building_since = building_at[dep_id] / 1000
                elif state is not None and state != "QUEUED":
                    entry.building_since = now
            entry.queued_at = now if state == "QUEUED" and entry.building_since is None else None
            started = entry.building_since
            if state == "READY":
                if dep_id in took:
                    self.builds.observe(took[dep_id], exact=True)
                else:
                    self.builds.observe(now - (started if started is not None else entry.watch.started_at))
            elif state not in TERMINAL_FAILED:
                if state == "QUEUED" and started is None:
                    if now <= entry.watch.started_at + self.queue_timeout_s:
                        continue  # waiting for a build slot: the build timeout has not begun
                elif now <= (started if started is not None else entry.watch.started_at) + self.timeout_s:
                    continue
                state = "TIMEOUT"
            self._pending.pop(dep_id, None)
            seen = Seen(state, now, self.looks - entry.since_look)
            if state != "TIMEOUT":
                self._seen[dep_id] = seen
            if not entry.future.done():
                entry.future.set_result(seen)
