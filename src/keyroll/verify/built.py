"""What freshness and rollback checks share: a project's deployments judged against its env change.

Both families ask the same of a deployment — was it built after the project's env write, and
does its own answer show a failing or an old credential — and word the outcome their own way
(:class:`Wording`); both group older builds into one warning (:func:`older_warning`). The
checks they build differ only in category, id suffix and words.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass

from keyroll.providers.vercel.models import Deployment
from keyroll.rotate.redeploy import PROTECTED_HINT
from keyroll.verify.deployments import HttpAnswer, ProjectDeployments
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, EvidenceSource
from keyroll.verify.times import iso

__all__ = [
    "LISTED",
    "Answers",
    "Wording",
    "answer_evidence",
    "created_evidence",
    "judge_deployment",
    "older_warning",
    "project_check",
    "written_evidence",
]

LISTED = 10
"""at most this many deployments are listed as evidence of one warning"""


def created_evidence(snap: ProjectDeployments, deployments: Sequence[Deployment]) -> tuple[Evidence, ...]:
    """API evidence of when each deployment was created (the first :data:`LISTED` of them)."""
    return tuple(
        Evidence(EvidenceSource.API, f"{d.id} created {iso(d.created_at / 1000.0)}", snap.read_at, d.id)
        for d in deployments[:LISTED]
    )


def written_evidence(snap: ProjectDeployments, env_written_at: float) -> Evidence:
    """Journal evidence of when the project's env write completed."""
    return Evidence(
        EvidenceSource.JOURNAL,
        f"env written for {snap.name or snap.project_id}",
        env_written_at,
        snap.project_id,
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
    if answer.status == 401:
        return Evidence(
            EvidenceSource.PROBE, f"GET {dpl_id} → 401: not probed: protected", answer.at, dpl_id
        ), ""
    if answer.code == "DEPLOYMENT_PAUSED":
        return ev, ""  # the platform, not a credential: a paused project serves nothing
    if answer.status >= 500:
        return ev, f"answers {answer.status} (a credential fails)"
    if seen_old:
        return ev, f"still uses the old credential {', '.join(seen_old)}"
    return ev, ""


def project_check(
    category: CheckCategory,
    fp: str,
    snap: ProjectDeployments,
    suffix: str,
    status: CheckStatus,
    title: str,
    *,
    evidence: Sequence[Evidence] = (),
    hint: str = "",
) -> Check:
    """A check about one project's deployments, id ``<category>:<fp>:<project id>:<suffix>``."""
    return Check(
        id=f"{category.value}:{fp}:{snap.project_id}:{suffix}",
        category=category,
        status=status,
        title=title,
        credential=fp,
        project_id=snap.project_id,
        evidence=tuple(evidence),
        hint=hint,
    )


@dataclass(frozen=True)
class Wording:
    """How a deployment check reads in each outcome."""

    stale: str
    """title when the deployment was built before the env change"""
    stale_hint: str
    broken: str
    """title before the problem its answer shows (``"<broken> answers 503 …"``)"""
    broken_hint: str
    fresh: str
    """title when it was built after the env change and its answer shows nothing wrong"""


@dataclass(frozen=True)
class Answers:
    """The deployments' HTTP answers and the fingerprints to look for in them."""

    by_id: dict[str, HttpAnswer]
    new_fps: Set[str]
    old_fps: Set[str]


def judge_deployment(
    category: CheckCategory,
    fp: str,
    snap: ProjectDeployments,
    d: Deployment,
    env_written_at: float,
    evidence: Sequence[Evidence],
    answers: Answers,
    wording: Wording,
    *,
    suffix: str,
) -> Check:
    """Fail a deployment built before the env change or whose answer shows a problem; else pass.

    ``evidence`` comes first (the env write, the creation time), the answer's evidence after it.
    """
    ev, problem = answer_evidence(d.id, answers.by_id.get(d.id), answers.new_fps, answers.old_fps)
    found = [*evidence, ev] if ev is not None else list(evidence)
    if d.created_at / 1000.0 < env_written_at:
        status, title, hint = CheckStatus.FAIL, wording.stale, wording.stale_hint
    elif problem:
        status, title, hint = CheckStatus.FAIL, f"{wording.broken} {problem}", wording.broken_hint
    elif (answer := answers.by_id.get(d.id)) is not None and answer.status == 401:
        # Deployment Protection: built after the change, but what it serves could not be seen
        status, title, hint = CheckStatus.WARN, f"{wording.fresh}; not probed: protected", PROTECTED_HINT
    else:
        status, title, hint = CheckStatus.PASS, wording.fresh, ""
    return project_check(category, fp, snap, suffix, status, title, evidence=found, hint=hint)


def older_warning(
    category: CheckCategory,
    fp: str,
    snap: ProjectDeployments,
    suffix: str,
    deployments: Sequence[Deployment],
    title: str,
    hint: str,
) -> list[Check]:
    """One warning listing older deployments that still answer ([] when there are none)."""
    if not deployments:
        return []
    return [
        project_check(
            category,
            fp,
            snap,
            suffix,
            CheckStatus.WARN,
            title,
            evidence=created_evidence(snap, deployments),
            hint=hint,
        )
    ]
