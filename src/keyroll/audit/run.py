"""``audit``: read the activity logs for a window, classify every event, flag the unusual ones.

Sources: Vercel ``GET /v3/events`` (team-scoped) and, when the Upstash client exposes it, the
Developer API audit log. An event is flagged when

* its actor is unknown (not an actor of keyroll's own journaled writes, nor one the user
  vouched for with ``known_actors``), or
* it is a write (env change, token, membership, integration, credential reset) that no
  journaled keyroll action explains.

The default window starts 30 days before the journal's first run (the exposure period a
leak investigation has to cover) and ends now.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from keyroll.audit.events import WRITE_CATEGORIES, AuditEvent, EventCategory, from_upstash, from_vercel
from keyroll.audit.own import OwnActions, own_actions
from keyroll.core.errors import KeyrollError
from keyroll.core.model import SCHEMA_VERSION
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.journal.runlog import RunLog
from keyroll.providers.factory import Providers

__all__ = ["DEFAULT_LOOKBACK_S", "AuditOptions", "AuditResult", "audit", "default_since", "flag_events"]

DEFAULT_LOOKBACK_S = 30 * 86400.0
"""How far before the first rotation the default window starts."""


@dataclass(frozen=True)
class AuditOptions:
    """What to audit. ``since``/``until`` are epoch seconds (None: default window / now)."""

    since: float | None = None
    until: float | None = None
    known_actors: tuple[str, ...] = ()
    """actors the user vouches for (Vercel principal ids, Upstash emails / API key names)"""
    tolerance_s: float = 120.0
    """how far an event may be from a journaled action to count as keyroll's own"""
    include_upstash: bool = True


@dataclass(frozen=True)
class AuditResult:
    """Every event of the window, classified, with the unusual ones flagged."""

    since: float
    until: float
    events: tuple[AuditEvent, ...] = ()
    notes: tuple[str, ...] = ()
    """sources that could not be read, and why"""
    sources: tuple[str, ...] = ()
    """sources read (``vercel``, ``upstash``)"""
    read_at: float = 0.0
    known_actors: tuple[str, ...] = ()
    version: int = SCHEMA_VERSION

    @property
    def flagged(self) -> tuple[AuditEvent, ...]:
        """Events that need a human look."""
        return tuple(e for e in self.events if e.unusual)

    def counts(self) -> dict[str, int]:
        """Number of events per category (every category present)."""
        return {c.value: sum(1 for e in self.events if e.category is c) for c in EventCategory}


def default_since(runlogs: Sequence[RunLog], now: float) -> float:
    """Start of the default window: the first run's start minus 30 days (now − 30 days without runs)."""
    starts = [r.started_at for log in runlogs for r in log.runs]
    return (min(starts) if starts else now) - DEFAULT_LOOKBACK_S


def flag_events(
    events: Sequence[AuditEvent], own: OwnActions, known_actors: Sequence[str] = ()
) -> tuple[tuple[AuditEvent, ...], tuple[str, ...]]:
    """Mark keyroll's own events and flag unusual ones; returns (events, the known actors).

    Known actors are the user-given ones plus every actor of an event matched to keyroll's
    journaled actions (the identity keyroll ran as).
    """
    matched = [(e, own.match(e)) for e in events]
    known = set(known_actors) | {e.actor for e, m in matched if m is not None and e.actor}
    out: list[AuditEvent] = []
    for e, m in matched:
        reasons: list[str] = []
        is_own = m is not None
        if is_own and m is not None:
            reasons.append(f"keyroll {m.kind.value} (run {m.run_id}, step {m.step_id})")
        elif e.category is EventCategory.ENV_READ and e.actor in known and own.in_read_window(e.at):
            is_own = True
            reasons.append("keyroll inventory read")
        unusual = False
        if not e.actor or e.actor not in known:
            unusual = True
            reasons.append("unknown actor" if e.actor else "no actor recorded")
        if e.category in WRITE_CATEGORIES and not is_own:
            unusual = True
            reasons.append(f"{e.category.value} not made by keyroll's rotation")
        out.append(
            replace(
                e, own=is_own, unusual=unusual and not (is_own and e.actor in known), reasons=tuple(reasons)
            )
        )
    out.sort(key=lambda ev: (ev.at, ev.source, ev.id))
    return tuple(out), tuple(sorted(known))


async def audit(
    providers: Providers,
    options: AuditOptions,
    runlogs: Sequence[RunLog] = (),
    progress: Progress = NULL_PROGRESS,
    *,
    clock: Callable[[], float] = time.time,
) -> AuditResult:
    """Read activity for the window and classify it.

    Provider failures do not abort the audit: the source is listed in ``notes`` and the
    report says it was not reviewed.

    :raises KeyrollError: only for an impossible window (``since`` after ``until``).
    """
    now = float(clock())
    until = options.until if options.until is not None else now
    since = options.since if options.since is not None else default_since(runlogs, now)
    if since > until:
        raise KeyrollError("the audit window starts after it ends", hint="check --since")
    raw: list[AuditEvent] = []
    notes: list[str] = []
    sources: list[str] = []
    task = progress.task("audit: activity logs", total=2)
    if providers.vercel is None:
        notes.append("Vercel activity not read: VERCEL_TOKEN is not set")
    else:
        try:
            events = await providers.vercel.list_events(since=int(since * 1000), until=int(until * 1000))
            raw.extend(ev for ev in map(from_vercel, events) if since <= ev.at <= until or ev.at == 0.0)
            sources.append("vercel")
        except KeyrollError as exc:
            notes.append(f"Vercel activity not read: {exc.message}")
    progress.advance(task)
    if options.include_upstash:
        raw.extend(await _upstash_events(providers, since, until, notes, sources))
    progress.advance(task)
    progress.finish(task)
    own = own_actions(runlogs, tolerance_s=options.tolerance_s)
    flagged, known = flag_events(raw, own, options.known_actors)
    return AuditResult(
        since=since,
        until=until,
        events=flagged,
        notes=tuple(notes),
        sources=tuple(sources),
        read_at=now,
        known_actors=known,
    )


async def _upstash_events(
    providers: Providers, since: float, until: float, notes: list[str], sources: list[str]
) -> list[AuditEvent]:
    client = providers.upstash
    if client is None:
        notes.append("Upstash audit logs not read: UPSTASH_EMAIL / UPSTASH_API_KEY are not set")
        return []
    fetch = getattr(client, "list_audit_logs", None)
    if not callable(fetch):
        notes.append("Upstash audit logs not read: this client does not expose GET /v2/auditlogs")
        return []
    try:
        records = await fetch()
    except KeyrollError as exc:
        notes.append(f"Upstash audit logs not read: {exc.message}")
        return []
    sources.append("upstash")
    return [ev for ev in map(from_upstash, records) if since <= ev.at <= until]
