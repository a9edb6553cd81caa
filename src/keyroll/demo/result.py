"""The demo's outcome: :class:`DemoResult`, value-free, with ``to_dict()`` for ``--json``.

Besides the plain record it summarises two things for the reader: the outcome of each rotation
(:func:`record_run`) and what became of the stale copies verify looked for, by kind of place
(:func:`stale_summary`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from keyroll.core.model import LocationKind, Milestone, Plan, Step
from keyroll.core.steps import GroupSpec, group_spec_of
from keyroll.demo.dashboard import step_label
from keyroll.rotate.options import RunResult
from keyroll.verify.result import CheckCategory, CheckStatus, VerifyResult

__all__ = ["DemoResult", "plan_fingerprints", "record_run", "stale_summary"]


@dataclass
class DemoResult:
    """Everything the demo's summary shows (value-free)."""

    state_dir: str
    env_file: str
    fleet: str
    run_id: str = ""
    run_state: str = ""
    ok: bool = False
    duration_s: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)
    projects: int = 0
    credentials_total: int = 0
    credentials_rotated: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)
    """per credential group: credential, strategy, resource, state, redeployed, window_s"""
    deployments_redeployed: int = 0
    requests: int = 0
    failed_requests: int = 0
    failures: dict[str, Any] = field(default_factory=dict)
    """:meth:`FailureAttribution.to_dict`"""
    cutover_windows: list[dict[str, Any]] = field(default_factory=list)
    stale: dict[str, Any] = field(default_factory=dict)
    """copies of the old values by kind: found, replaced/removed, left"""
    human_steps: list[dict[str, Any]] = field(default_factory=list)
    consent: list[str] = field(default_factory=list)
    verify_passed: bool = False
    verify_counts: dict[str, int] = field(default_factory=dict)
    verify_problems: list[str] = field(default_factory=list)
    report_html: str = ""
    report_json: str = ""
    api_calls: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"kind": "keyroll.demo", "version": 1, **asdict(self)}


_KIND_LABELS = {
    LocationKind.VERCEL_ENV.value: "Vercel project vars",
    LocationKind.VERCEL_SHARED_ENV.value: "team shared vars",
    LocationKind.GITHUB_SECRET.value: "GitHub Actions secrets",
    LocationKind.FILE.value: "local files",
    LocationKind.GIT_COMMIT.value: "git history",
}


def stale_summary(vr: VerifyResult) -> dict[str, Any]:
    """Copies of the old values by kind of place: found, replaced or removed, left."""
    by_kind: dict[str, Counter[str]] = {}
    for c in vr.checks:
        if c.category not in (CheckCategory.STALE, CheckCategory.HISTORY):
            continue
        rest = c.id.removeprefix(f"{c.category.value}:{c.credential}:")
        kind = rest.split(":", 1)[0]
        if kind not in _KIND_LABELS:
            continue
        by_kind.setdefault(kind, Counter())[c.status.value] += 1
    rows = []
    for kind, counts in sorted(by_kind.items()):
        found = sum(counts.values())
        removed = counts.get(CheckStatus.PASS.value, 0)
        rows.append(
            {
                "kind": kind,
                "label": _KIND_LABELS[kind],
                "found": found,
                "removed": removed,
                "left": found - removed,
                "not_rewritten": kind == LocationKind.GIT_COMMIT.value,
            }
        )
    return {
        "found": sum(r["found"] for r in rows),
        "removed": sum(r["removed"] for r in rows),
        "left": sum(r["left"] for r in rows),
        "by_kind": rows,
    }


def plan_fingerprints(steps: Sequence[Step]) -> set[str]:
    """The fingerprints one credential plan rotates (its group's, else the credential's)."""
    for s in steps:
        if (group := group_spec_of(s)) is not None:
            return {str(f) for f in group.fingerprints} or {s.credential}
    return {steps[0].credential} if steps else set()


def record_run(result: DemoResult, run: RunResult, plan: Plan) -> None:
    """Fill ``result`` from the rotation: per group its outcome, the cutover windows, the counts."""
    result.run_id = run.run_id
    result.run_state = run.state.value
    new_ids: set[str] = set()
    rotated: set[str] = set()
    for cp, outcome in zip(plan.credentials, run.credentials, strict=False):
        spec = next((g for s in cp.steps if (g := group_spec_of(s)) is not None), GroupSpec())
        new_ids.update(new for _, new in outcome.deployments)
        if outcome.state == Milestone.DONE:
            rotated.update(plan_fingerprints(cp.steps))
        result.groups.append(
            {
                "credential": outcome.credential,
                "strategy": outcome.strategy.value,
                "resource": step_label(spec),
                "management": spec.management,
                "state": outcome.state,
                "redeployed": len({new for _, new in outcome.deployments}),
                "window_s": outcome.window_s,
                "error": outcome.error,
            }
        )
        if outcome.window_s is not None:
            result.cutover_windows.append(
                {
                    "credential": outcome.credential,
                    "strategy": outcome.strategy.value,
                    "resource": step_label(spec),
                    "window_s": outcome.window_s,
                }
            )
    result.credentials_rotated = len(rotated)
    result.deployments_redeployed = len(new_ids)
    if run.waiting:
        result.notes.append(f"waiting: {run.waiting}")
