"""Whose fault is a failed request: load-generator failures attributed to credentials.

Failures are attributed by time and key (:func:`attribute_failures`): a failure of a credential
rotated with an overlap strategy is a broken promise; a failure of a cutover credential inside
its measured window is the accepted outage. :func:`group_infos` reads what the attribution
needs from the plan and the journal; :func:`deployment_fingerprints` what each deployment
served (fingerprints only, never values).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from keyroll.core.model import Plan, Strategy
from keyroll.core.secret import fingerprint_of
from keyroll.core.steps import GroupSpec, group_spec_of, locations_of
from keyroll.demo.dashboard import step_label
from keyroll.journal.store import Journal

__all__ = [
    "CUTOVER_STRATEGIES",
    "FailureAttribution",
    "GroupInfo",
    "attribute_failures",
    "deployment_fingerprints",
    "group_infos",
]

CUTOVER_STRATEGIES = frozenset(
    {Strategy.QSTASH_TOKEN, Strategy.INDEX_RESET, Strategy.REDIS_CUTOVER, Strategy.INTEGRATION_RESET}
)
"""Strategies whose old credential dies at once: their failures inside the measured window are
the outage the user accepted."""


@dataclass(frozen=True)
class GroupInfo:
    """What the failure attribution needs to know about one rotated credential group."""

    gid: str
    credential: str
    strategy: Strategy
    label: str
    fingerprints: frozenset[str]
    """old and new fingerprints of every value of the group"""
    writes: frozenset[tuple[str, str]]
    """(project id, env key) pairs the rotation wrote or waited for"""
    window: tuple[float, float] | None = None
    """measured cutover window (reset → last READY), epoch seconds"""

    @property
    def overlap(self) -> bool:
        """True when the strategy promises zero failed requests."""
        return self.strategy not in CUTOVER_STRATEGIES


@dataclass
class FailureAttribution:
    """Load-generator failures sorted by whose fault they are (counts and value-free samples)."""

    total: int = 0
    overlap: int = 0
    """failures of credentials rotated with an overlap strategy (must be 0)"""
    cutover_in_window: int = 0
    """failures of a cutover credential inside its measured window (the accepted outage)"""
    cutover_outside_window: int = 0
    """failures of a cutover credential outside its measured window (the window is wrong)"""
    unattributed: int = 0
    """failures naming no rotated credential"""
    by_credential: dict[str, int] = field(default_factory=dict)
    observed_span: dict[str, tuple[float, float]] = field(default_factory=dict)
    """credential → (first, last) failure time"""
    samples: list[dict[str, Any]] = field(default_factory=list)
    """a few failures that are not the accepted outage: time, deployment, project, cause"""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["observed_span"] = {k: list(v) for k, v in self.observed_span.items()}
        return d


def _value_fps(value: str) -> set[str]:
    out: set[str] = {fingerprint_of(value)}
    if "://" in value:
        parts = urllib.parse.urlsplit(value)
        if parts.password:
            out.add(fingerprint_of(urllib.parse.unquote(parts.password)))
    return out


def deployment_fingerprints(deployments: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """``deployment id → {env key → fingerprints}`` from the sandbox's deployment dicts (values
    are fingerprinted at once: the value itself and a password inside a URL)."""
    out: dict[str, dict[str, set[str]]] = {}
    for d in deployments:
        env = d.get("env") or {}
        out[str(d.get("id"))] = {str(k): _value_fps(str(v)) for k, v in env.items() if v}
    return out


def group_infos(plan: Plan, journal: Journal, run_id: str) -> list[GroupInfo]:
    """One :class:`GroupInfo` per credential plan, from the plan and what the journal holds
    (new fingerprints, measured windows)."""
    secret_fps = journal.secret_fingerprints(run_id) if run_id else {}
    records = journal.step_records(run_id) if run_id else {}
    out: list[GroupInfo] = []
    for cp in plan.credentials:
        gid = cp.steps[0].id.split("/", 1)[0]
        group = next((g for s in cp.steps if (g := group_spec_of(s)) is not None), None)
        spec = group or GroupSpec()
        fps = set(spec.fingerprints) if group is not None else {cp.credential}
        fps |= set(spec.credentials.values())
        fps |= {fp for name, fp in secret_fps.items() if name.startswith(f"{gid}:")}
        writes: set[tuple[str, str]] = set()
        window: tuple[float, float] | None = None
        for s in cp.steps:
            for loc in locations_of(s):
                if loc.key:
                    writes.update((pid, loc.key) for pid in loc.project_ids)
            rec = records.get(s.id)
            if rec is not None and "window_start" in rec.detail and "window_end" in rec.detail:
                start, end = float(rec.detail["window_start"]), float(rec.detail["window_end"])
                window = (min(start, window[0]), max(end, window[1])) if window else (start, end)
        out.append(
            GroupInfo(
                gid, cp.credential, cp.strategy, step_label(spec), frozenset(fps), frozenset(writes), window
            )
        )
    return out


def _failing_keys(cause: str) -> list[str]:
    """``"KEY: cause; KEY2: cause"`` → ``[KEY, KEY2]`` (``A/B`` names both signing keys)."""
    text = cause.removeprefix("delivery: ")
    keys: list[str] = []
    for part in text.split("; "):
        head, sep, _ = part.partition(": ")
        if not sep:
            continue
        for key in head.split("/"):
            key = key.strip()
            if key and key.replace("_", "").isalnum() and key.upper() == key:
                keys.append(key)
    return keys


def attribute_failures(
    failures: Sequence[Mapping[str, Any]],
    env_fps: Mapping[str, Mapping[str, set[str]]],
    groups: Sequence[GroupInfo],
    *,
    slack_s: float = 0.5,
    max_samples: int = 20,
) -> FailureAttribution:
    """Sort load-generator failures by the credential behind them.

    A failure names the failing env keys of a deployment; the deployment's value fingerprints
    for those keys say which rotated group it belongs to (else the group that wrote that key in
    that project). Any overlap group among the candidates makes it an overlap failure; a cutover
    group's failure counts as the accepted outage when it falls inside that group's measured
    window (± ``slack_s`` for requests in flight).
    """
    result = FailureAttribution(total=len(failures))
    spans: dict[str, list[float]] = {}
    for f in failures:
        t = float(f.get("t") or 0.0)
        dep_env = env_fps.get(str(f.get("deployment")), {})
        project = str(f.get("project") or "")
        candidates: list[GroupInfo] = []
        for key in _failing_keys(str(f.get("cause", ""))):
            fps = dep_env.get(key, set())
            by_value = [g for g in groups if fps & g.fingerprints]
            by_write = [g for g in groups if (project, key) in g.writes]
            candidates.extend(by_value or by_write)
        unique = list({g.gid: g for g in candidates}.values())
        sample = {k: f.get(k) for k in ("t_rel", "kind", "deployment", "project", "status", "cause")}
        if not unique:
            result.unattributed += 1
            if len(result.samples) < max_samples:
                result.samples.append({**sample, "attributed_to": None})
            continue
        for g in unique:
            result.by_credential[g.credential] = result.by_credential.get(g.credential, 0) + 1
            spans.setdefault(g.credential, []).append(t)
        overlap = [g for g in unique if g.overlap]
        if overlap:
            result.overlap += 1
            if len(result.samples) < max_samples:
                result.samples.append(
                    {**sample, "attributed_to": overlap[0].credential, "strategy": "overlap"}
                )
            continue
        inside = any(g.window and g.window[0] - slack_s <= t <= g.window[1] + slack_s for g in unique)
        if inside:
            result.cutover_in_window += 1
        else:
            result.cutover_outside_window += 1
            if len(result.samples) < max_samples:
                result.samples.append(
                    {**sample, "attributed_to": unique[0].credential, "strategy": "cutover"}
                )
    result.observed_span = {k: (min(v), max(v)) for k, v in spans.items()}
    return result
