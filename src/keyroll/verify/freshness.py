"""Freshness: every serving deployment of an affected project was built after its env change.

A deployment snapshots its env when it is created (Vercel applies env changes to new
deployments only), so a serving deployment created before the project's env write still holds
the old credential. Where the deployment's own answer tells more (the sandbox's deployments
list the fingerprints of their credentials; any 5xx means a credential failed) that is added
as evidence — or turns the check into a failure.

Production is covered by :mod:`keyroll.verify.rollback` (the alias and rollback candidates);
this module covers preview branches and custom environments, and groups older deployments
that still answer on their own URLs into one warning per project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set

from keyroll.providers.vercel import Deployment
from keyroll.verify.deployments import HttpAnswer, ProjectDeployments, serving
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, EvidenceSource
from keyroll.verify.times import iso

__all__ = ["answer_evidence", "created_evidence", "freshness_checks"]

LISTED = 10
"""at most this many deployments are listed as evidence of one warning"""


def created_evidence(snap: ProjectDeployments, deployments: Sequence[Deployment]) -> tuple[Evidence, ...]:
    """API evidence of when each deployment was created (the first :data:`LISTED` of them)."""
    return tuple(
        Evidence(EvidenceSource.API, f"{d.id} created {iso(d.created_at / 1000.0)}", snap.read_at, d.id)
        for d in deployments[:LISTED]
    )


def answer_evidence(
    dpl_id: str, answer: HttpAnswer | None, new_fps: Set[str], old_fps: Set[str]
) -> tuple[Evidence | None, str]:
    """Evidence from a deployment's HTTP answer, and a failure reason ('' when none)."""
    if answer is None:
        return None, ""
    if answer.status is None:
        return Evidence(
            EvidenceSource.PROBE, f"GET {dpl_id}: no answer ({answer.error})", answer.at, dpl_id
        ), ""
    seen_old = sorted(answer.fingerprints & old_fps)
    seen_new = sorted(answer.fingerprints & new_fps)
    text = f"GET {dpl_id} → {answer.status}"
    if seen_new:
        text += f", uses {', '.join(seen_new)}"
    if seen_old:
        text += f", still uses {', '.join(seen_old)}"
    if answer.code:
        text += f" ({answer.code})"
    ev = Evidence(EvidenceSource.PROBE, text, answer.at, dpl_id)
    if answer.code == "DEPLOYMENT_PAUSED":
        return ev, ""  # the platform, not a credential: a paused project serves nothing
    if answer.status >= 500:
        return ev, f"answers {answer.status} (a credential fails)"
    if seen_old:
        return ev, f"still uses the old credential {', '.join(seen_old)}"
    return ev, ""


def freshness_checks(
    snap: ProjectDeployments,
    fp: str,
    env_written_at: float | None,
    *,
    answers: Mapping[str, HttpAnswer] | None = None,
    new_fps: Set[str] = frozenset(),
    old_fps: Set[str] = frozenset(),
    revoked: bool = False,
) -> list[Check]:
    """Checks for the non-production serving deployments of one project, plus a warning for old ones.

    :param env_written_at: when the project's env write for ``fp`` completed (journal); None
        when no write was journaled — a failure, since the project is affected.
    """
    answers = answers or {}
    pid = snap.project_id
    label = snap.name or pid
    base = f"freshness:{fp}:{pid}"
    if snap.error:
        return [
            Check(
                id=f"{base}:read",
                category=CheckCategory.FRESHNESS,
                status=CheckStatus.UNKNOWN,
                title=f"{label}: deployments could not be read ({snap.error})",
                credential=fp,
                project_id=pid,
                evidence=(
                    Evidence(EvidenceSource.API, f"GET project {pid}: {snap.error}", snap.read_at, pid),
                ),
                hint="check VERCEL_TOKEN's access to the project and rerun keyroll verify",
            )
        ]
    if env_written_at is None:
        return [
            Check(
                id=f"{base}:env",
                category=CheckCategory.FRESHNESS,
                status=CheckStatus.FAIL,
                title=f"{label}: no env write for this credential was journaled",
                credential=fp,
                project_id=pid,
                hint="the project still holds the old value: finish the rotation (keyroll resume)",
            )
        ]
    written = Evidence(EvidenceSource.JOURNAL, f"env written for {label}", env_written_at, pid)
    checks: list[Check] = []
    live = serving(snap)
    live_ids = {d.id for d in live}
    for d in live:
        if d.target == "production":
            continue
        created = d.created_at / 1000.0
        evidence = [written, *created_evidence(snap, [d])]
        ev, problem = answer_evidence(d.id, answers.get(d.id), new_fps, old_fps)
        if ev is not None:
            evidence.append(ev)
        scope = d.custom_environment_id or d.git_branch or d.target or "preview"
        if created < env_written_at:
            status, title = CheckStatus.FAIL, f"{label} [{scope}]: {d.id} was built before the env change"
            hint = "redeploy it (keyroll resume, or vercel redeploy) so it picks up the new value"
        elif problem:
            status, title = CheckStatus.FAIL, f"{label} [{scope}]: {d.id} {problem}"
            hint = "inspect the deployment's logs; rerun keyroll verify after fixing"
        else:
            status, title, hint = (
                CheckStatus.PASS,
                f"{label} [{scope}]: {d.id} built after the env change",
                "",
            )
        checks.append(
            Check(
                id=f"{base}:{d.id}",
                category=CheckCategory.FRESHNESS,
                status=status,
                title=title,
                credential=fp,
                project_id=pid,
                evidence=tuple(evidence),
                hint=hint,
            )
        )
    older = [
        d
        for d in snap.deployments
        if d.id not in live_ids and d.target != "production" and d.created_at / 1000.0 < env_written_at
    ]
    if older:
        state = "fail now (old credential revoked)" if revoked else "will fail after revocation"
        checks.append(
            Check(
                id=f"{base}:older",
                category=CheckCategory.FRESHNESS,
                status=CheckStatus.WARN,
                title=f"{label}: {len(older)} older deployment(s) still answer on their own URLs and {state}",
                credential=fp,
                project_id=pid,
                evidence=created_evidence(snap, older),
                hint="redeploy or delete them if anyone still uses their URLs",
            )
        )
    return checks
