"""Freshness: every serving deployment of an affected project was built after its env change.

A deployment snapshots its env when it is created (Vercel applies env changes to new
deployments only), so a serving deployment created before the project's env write still holds
the old credential. Where the deployment's own answer tells more (the sandbox's deployments
list the fingerprints of their credentials; any 5xx means a credential failed) that is added
as evidence — or turns the check into a failure.

Production is covered by :mod:`keyroll.verify.rollback` (the alias and rollback candidates);
this module covers preview branches and custom environments (named by slug where the project
says it), and groups older deployments that still answer on their own URLs into one warning per
project. The judging itself is shared with rollback (:mod:`keyroll.verify.built`).
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from keyroll.verify.built import (
    LISTED,
    Answers,
    Wording,
    answer_evidence,
    created_evidence,
    judge_deployment,
    older_warning,
    project_check,
    written_evidence,
)
from keyroll.verify.deployments import HttpAnswer, ProjectDeployments, serving
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, EvidenceSource

__all__ = ["LISTED", "answer_evidence", "created_evidence", "freshness_checks"]

_CATEGORY = CheckCategory.FRESHNESS


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
    pid = snap.project_id
    label = snap.name or pid
    if snap.error:
        read = Evidence(EvidenceSource.API, f"GET project {pid}: {snap.error}", snap.read_at, pid)
        return [
            project_check(
                _CATEGORY,
                fp,
                snap,
                "read",
                CheckStatus.UNKNOWN,
                f"{label}: deployments could not be read ({snap.error})",
                evidence=(read,),
                hint="check VERCEL_TOKEN's access to the project and rerun keyroll verify",
            )
        ]
    if env_written_at is None:
        return [
            project_check(
                _CATEGORY,
                fp,
                snap,
                "env",
                CheckStatus.FAIL,
                f"{label}: no env write for this credential was journaled",
                hint="the project still holds the old value: finish the rotation (keyroll resume)",
            )
        ]
    written = written_evidence(snap, env_written_at)
    seen = Answers(dict(answers or {}), new_fps, old_fps)
    checks: list[Check] = []
    live = serving(snap)
    for d in live:
        if d.target == "production":
            continue
        head = f"{label} [{snap.scope(d)}]: {d.id}"
        wording = Wording(
            stale=f"{head} was built before the env change",
            stale_hint="redeploy it (keyroll resume, or vercel redeploy) so it picks up the new value",
            broken=head,
            broken_hint="inspect the deployment's logs; rerun keyroll verify after fixing",
            fresh=f"{head} built after the env change",
        )
        evidence = [written, *created_evidence(snap, [d])]
        checks.append(
            judge_deployment(_CATEGORY, fp, snap, d, env_written_at, evidence, seen, wording, suffix=d.id)
        )
    live_ids = {d.id for d in live}
    older = [
        d
        for d in snap.deployments
        if d.id not in live_ids and d.target != "production" and d.created_at / 1000.0 < env_written_at
    ]
    state = "fail now (old credential revoked)" if revoked else "will fail after revocation"
    checks += older_warning(
        _CATEGORY,
        fp,
        snap,
        "older",
        older,
        f"{label}: {len(older)} older deployment(s) still answer on their own URLs and {state}",
        "redeploy or delete them if anyone still uses their URLs",
    )
    return checks
