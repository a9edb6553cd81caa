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

from keyroll.verify.deployments import HttpAnswer, ProjectDeployments
from keyroll.verify.freshness import answer_evidence, created_evidence
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, EvidenceSource
from keyroll.verify.times import iso

__all__ = ["rollback_checks"]


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
    answers = answers or {}
    pid = snap.project_id
    label = snap.name or pid
    base = f"rollback:{fp}:{pid}"
    written = Evidence(EvidenceSource.JOURNAL, f"env written for {label}", env_written_at, pid)
    checks: list[Check] = []
    prod = snap.by_id(snap.production_id) if snap.production_id else None
    if prod is not None:
        created = prod.created_at / 1000.0
        evidence = [
            written,
            Evidence(
                EvidenceSource.API,
                f"production alias → {prod.id}, created {iso(created)}",
                snap.read_at,
                prod.id,
            ),
        ]
        ev, problem = answer_evidence(prod.id, answers.get(prod.id), new_fps, old_fps)
        if ev is not None:
            evidence.append(ev)
        if created < env_written_at:
            status = CheckStatus.FAIL
            title = f"{label}: production alias points at {prod.id}, older than the rotation"
            hint = "promote a deployment built after the env change (or redeploy production)"
        elif problem:
            status, title = CheckStatus.FAIL, f"{label}: production {prod.id} {problem}"
            hint = "inspect the production deployment; rerun keyroll verify after fixing"
        else:
            status, title, hint = (
                CheckStatus.PASS,
                f"{label}: production alias → {prod.id}, built after the rotation",
                "",
            )
        checks.append(
            Check(
                id=f"{base}:alias",
                category=CheckCategory.ROLLBACK,
                status=status,
                title=title,
                credential=fp,
                project_id=pid,
                evidence=tuple(evidence),
                hint=hint,
            )
        )
    candidates = [
        d
        for d in snap.deployments
        if d.target == "production" and d.id != snap.production_id and d.created_at / 1000.0 < env_written_at
    ]
    if candidates:
        effect = "serve a revoked credential" if revoked else "serve the old credential (dead once revoked)"
        checks.append(
            Check(
                id=f"{base}:candidates",
                category=CheckCategory.ROLLBACK,
                status=CheckStatus.WARN,
                title=f"{label}: instant rollback to any of {len(candidates)} older production deployment(s) would {effect}",
                credential=fp,
                project_id=pid,
                evidence=created_evidence(snap, candidates),
                hint="do not roll back past the rotation; roll forward with a redeploy instead",
            )
        )
    return checks
