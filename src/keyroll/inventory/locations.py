"""The :class:`~keyroll.core.model.Location` each sighting makes, and the inventory's order of them.

A value in a Vercel var (:func:`env_location`), in a file or a commit (:func:`text_location`),
in the build of a deployment (:func:`deployment_locations`: the vars of its effective env).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from keyroll.core.model import Confidence, DeploymentRef, Form, Location, LocationKind
from keyroll.core.secret import Fingerprint
from keyroll.inventory.deployments import effective_env
from keyroll.inventory.records import EnvRecord, TextHit, VercelSnapshot

__all__ = ["deployment_locations", "env_location", "location_key", "text_location"]

_KIND_ORDER = {k: i for i, k in enumerate(LocationKind)}


def env_location(
    r: EnvRecord,
    fp: Fingerprint,
    form: Form,
    confidence: Confidence = Confidence.EXACT,
    reason: str = "",
) -> Location:
    """The location of credential ``fp`` in a Vercel var (exact unless said otherwise)."""
    return Location(
        kind=LocationKind.VERCEL_SHARED_ENV if r.shared else LocationKind.VERCEL_ENV,
        fingerprint=fp,
        form=form,
        confidence=confidence,
        reason=reason,
        project_id=r.project_id,
        project_name=r.project_name,
        env_id=r.env_id,
        key=r.key,
        targets=r.targets,
        git_branch=r.git_branch,
        custom_environment_ids=r.custom_environment_ids,
        env_type=r.type,
        configuration_id=r.configuration_id,
        content_hint=r.hint_type,
        linked_project_ids=r.linked_project_ids,
    )


def text_location(hit: TextHit) -> Location:
    """A value found in a file, or in a commit of git history."""
    return Location(
        kind=LocationKind.GIT_COMMIT if hit.commit else LocationKind.FILE,
        fingerprint=hit.fingerprint,
        form=hit.form,
        key=hit.key,
        path=hit.path,
        line=hit.line,
        column=hit.column,
        commit=hit.commit,
        author_date=hit.author_date,
        reason=hit.update,
    )


def deployment_locations(
    vercel: VercelSnapshot,
    env_locations: Mapping[int, Sequence[Location]],
    deployments: Sequence[DeploymentRef],
) -> list[Location]:
    """Each credential a deployment was built with: the locations of the vars in its effective
    env (``env_locations``: ``id(record)`` → the record's locations)."""
    by_project: dict[str, list[EnvRecord]] = defaultdict(list)
    for r in vercel.records:
        for pid in r.linked_project_ids if r.shared else (r.project_id,):
            by_project[pid].append(r)
    names = {p.id: p.name for p in vercel.projects.values()}
    out: list[Location] = []
    for d in deployments:
        seen: set[Fingerprint] = set()
        for r in effective_env(by_project.get(d.project_id, ()), d):
            for loc in env_locations.get(id(r), ()):
                if loc.fingerprint in seen:
                    continue
                seen.add(loc.fingerprint)
                out.append(
                    Location(
                        kind=LocationKind.DEPLOYMENT,
                        fingerprint=loc.fingerprint,
                        form=loc.form,
                        confidence=loc.confidence,
                        reason=f"built with {r.key}" + (f" ({loc.reason})" if loc.reason else ""),
                        project_id=d.project_id,
                        project_name=names.get(d.project_id, ""),
                        key=r.key,
                        targets=(d.target,),
                        git_branch=d.git_branch,
                        custom_environment_ids=(d.custom_environment_id,) if d.custom_environment_id else (),
                        deployment_id=d.deployment_id,
                        deployment_url=d.url,
                        serving=d.serving,
                    )
                )
    return out


def location_key(loc: Location) -> tuple[object, ...]:
    """The inventory's order: by credential, then kind, project, key, scope, place."""
    return (
        loc.fingerprint,
        _KIND_ORDER[loc.kind],
        loc.project_name,
        loc.project_id,
        loc.key,
        loc.targets,
        loc.git_branch,
        loc.env_id,
        not loc.serving,
        loc.deployment_id,
        loc.repo,
        loc.secret_scope,
        loc.path,
        loc.line,
        loc.column,
        loc.commit,
    )
