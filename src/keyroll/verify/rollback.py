"""Production alias and instant-rollback hazards.

Vercel's Instant Rollback re-points the production domains to an older build without
rebuilding it, so that build keeps the env values it was created with. After a rotation:

* the production alias must point at a deployment built after the project's env change —
  otherwise production still uses the old credential (a failure);
* every older READY production deployment is a rollback candidate that would serve the old
  credential, which is dead once revoked (a warning the report lists).
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from keyroll.verify.built import Answers, Wording, judge_deployment, older_warning, written_evidence
from keyroll.verify.deployments import HttpAnswer, ProjectDeployments
from keyroll.verify.result import Check, CheckCategory, Evidence, EvidenceSource
from keyroll.verify.times import iso

__all__ = ["rollback_checks"]

_CATEGORY = CheckCategory.ROLLBACK


def rollback_checks(
    snap: ProjectDeployments,
    fp: str,
    env_written_at: float | None,
    *,
    answers: Mapping[str, HttpAnswer] | None = None,
    new_fps: Set[str] = frozenset(),
    old_fps: Set[str] = frozenset(),
    revoked: bool = False,
) -> list[Check]:
    """The production alias check and the rollback-candidate warning for one project."""
    if snap.error or env_written_at is None:
        return []  # freshness_checks already reports why nothing can be said
    label = snap.name or snap.project_id
    checks: list[Check] = []
    prod = snap.by_id(snap.production_id) if snap.production_id else None
    if prod is not None:
        alias = Evidence(
            EvidenceSource.API,
            f"production alias → {prod.id}, created {iso(prod.created_at / 1000.0)}",
            snap.read_at,
            prod.id,
        )
        wording = Wording(
            stale=f"{label}: production alias points at {prod.id}, older than the rotation",
            stale_hint="promote a deployment built after the env change (or redeploy production)",
            broken=f"{label}: production {prod.id}",
            broken_hint="inspect the production deployment; rerun keyroll verify after fixing",
            fresh=f"{label}: production alias → {prod.id}, built after the rotation",
        )
        seen = Answers(dict(answers or {}), new_fps, old_fps)
        evidence = [written_evidence(snap, env_written_at), alias]
        checks.append(
            judge_deployment(
                _CATEGORY, fp, snap, prod, env_written_at, evidence, seen, wording, suffix="alias"
            )
        )
    candidates = [
        d
        for d in snap.deployments
        if d.target == "production" and d.id != snap.production_id and d.created_at / 1000.0 < env_written_at
    ]
    effect = "serve a revoked credential" if revoked else "serve the old credential (dead once revoked)"
    checks += older_warning(
        _CATEGORY,
        fp,
        snap,
        "candidates",
        candidates,
        f"{label}: instant rollback to any of {len(candidates)} older production deployment(s) would {effect}",
        "do not roll back past the rotation; roll forward with a redeploy instead",
    )
    return checks
