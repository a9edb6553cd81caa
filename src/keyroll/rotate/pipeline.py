"""Plan building blocks shared by the strategies: the per-project distribution pipeline.

For one set of copies and one set of new values, :func:`distribution_steps` emits

* one ``write_env`` step per project (batched), one for team shared vars, one for GitHub
  secrets, one for local files;
* per affected project a ``redeploy`` step (after that project's writes — and the shared-var
  write when the project is linked to one — not after a global barrier) and an ``await_ready``
  step.

Step ids are ``<gid>/<name>[/<project>]``; ``params`` hold only JSON-able, value-free data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from keyroll.core.model import Confidence, DeploymentRef, Inventory, LocationKind, Step, StepKind, Strategy
from keyroll.core.secret import Fingerprint
from keyroll.core.steps import (
    AwaitParams,
    LocationSpec,
    ProbeNewParams,
    ProbeOldParams,
    RedeployParams,
    RescanParams,
    When,
    WriteParams,
)
from keyroll.rotate.groups import Group, group_locations, location_spec

__all__ = ["PlanContext", "StrategyPlan", "cutover_tail", "distribution_steps", "projects_of"]

_ROLE_RANK = {"url": 0, "rest_token": 1, "token": 1, "signing_current": 1, "signing_next": 1, "password": 2}


@dataclass
class StrategyPlan:
    """What a strategy contributes: steps plus the human-readable parts of a CredentialPlan."""

    steps: list[Step]
    expected_outage_s: float = 0.0
    requires_downtime_consent: bool = False
    human_steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class PlanContext:
    """Everything a strategy needs to lay out its steps for one group."""

    inventory: Inventory
    group: Group
    build_estimate_s: float
    locations: list[LocationSpec] = field(default_factory=list)
    ambiguous: list[LocationSpec] = field(default_factory=list)
    """unreadable copies that may hold one of several credentials: reported, not written"""

    def __post_init__(self) -> None:
        specs: dict[tuple[str, ...], LocationSpec] = {}
        self.ambiguous: list[LocationSpec] = []
        for loc, cred in group_locations(self.inventory, self.group):
            if loc.confidence is Confidence.UNVERIFIED:
                # several credentials could be behind this unreadable copy: never written blind
                self.ambiguous.append(location_spec(loc, cred, self.group.strategy))
                continue
            spec = location_spec(loc, cred, self.group.strategy)
            ident = _identity(spec)
            old = specs.get(ident)
            if old is None or _ROLE_RANK.get(spec.role, 5) < _ROLE_RANK.get(old.role, 5):
                specs[ident] = spec
        self.locations = list(specs.values())

    @property
    def gid(self) -> str:
        """The group id used in step ids."""
        return self.group.gid

    @property
    def fp(self) -> Fingerprint:
        """The group's primary fingerprint."""
        return self.group.primary.fingerprint

    @property
    def strategy(self) -> Strategy:
        """The group's strategy."""
        return self.group.strategy

    def deployments(self, project_id: str, *, serving: bool = True) -> list[DeploymentRef]:
        """Inventory deployments of a project (serving ones by default), oldest first."""
        return sorted(
            (d for d in self.inventory.deployments if d.project_id == project_id and d.serving == serving),
            key=lambda d: (d.created_at, d.deployment_id),
        )

    def project_name(self, project_id: str) -> str:
        """A project's name from any location that names it."""
        for loc in self.inventory.locations:
            if loc.project_id == project_id and loc.project_name:
                return loc.project_name
        return ""


def _identity(spec: LocationSpec) -> tuple[str, ...]:
    kind = spec.kind.value
    if spec.is_vercel:
        return (kind, spec.project_id, spec.env_id, spec.key)
    if spec.kind is LocationKind.GITHUB_SECRET:
        return (kind, spec.repo, spec.scope, spec.name)
    return (kind, spec.path, str(spec.line), str(spec.column), spec.old_fp)


def projects_of(locations: Iterable[LocationSpec]) -> list[str]:
    """Projects whose deployments read these copies (project vars and linked shared vars)."""
    out: dict[str, None] = {}
    for spec in locations:
        for p in spec.project_ids:
            out[p] = None
    return sorted(out)


def distribution_steps(
    ctx: PlanContext,
    locations: Sequence[LocationSpec],
    *,
    values: str,
    after: Sequence[str],
    tag: str = "",
    redeploy: bool = True,
    phase: int = 1,
    when: When | None = None,
) -> tuple[list[Step], list[str]]:
    """Writes + per-project redeploy pipelines for ``locations`` using value set ``values``.

    ``when`` makes every step conditional: the engine skips it unless that
    step's outcome reported ``key`` (an emergency path laid out in advance).

    :returns: the steps and the ids that mark the end of the distribution (every
        ``await_ready``, plus writes that no redeploy follows).
    """
    gid, fp = ctx.gid, ctx.fp
    steps: list[Step] = []
    tails: list[str] = []
    by_project: dict[str, list[LocationSpec]] = {}
    shared: list[LocationSpec] = []
    github: list[LocationSpec] = []
    files: list[LocationSpec] = []
    for spec in locations:
        kind = spec.kind
        if kind is LocationKind.VERCEL_ENV:
            by_project.setdefault(spec.project_id, []).append(spec)
        elif kind is LocationKind.VERCEL_SHARED_ENV:
            shared.append(spec)
        elif kind is LocationKind.GITHUB_SECRET:
            github.append(spec)
        elif kind is LocationKind.FILE:
            files.append(spec)

    def write(target: str, specs: list[LocationSpec]) -> dict[str, Any]:
        return WriteParams(
            values=values, phase=phase, when=when, target=target, locations=tuple(specs)
        ).to_params()

    write_of: dict[str, str] = {}
    for project_id in sorted(by_project):
        sid = f"{gid}/env{tag}/{project_id}"
        specs = by_project[project_id]
        steps.append(
            Step(
                sid,
                StepKind.WRITE_ENV,
                fp,
                f"write {len(specs)} var(s) of {specs[0].project_name or project_id}",
                tuple(after),
                write("vercel", specs),
                project_id=project_id,
            )
        )
        write_of[project_id] = sid
    shared_id = ""
    if shared:
        shared_id = f"{gid}/shared{tag}"
        steps.append(
            Step(
                shared_id,
                StepKind.WRITE_ENV,
                fp,
                f"update {len(shared)} team shared var(s)",
                tuple(after),
                write("shared", shared),
            )
        )
    if github:
        sid = f"{gid}/github{tag}"
        steps.append(
            Step(
                sid,
                StepKind.WRITE_ENV,
                fp,
                f"update {len(github)} GitHub Actions secret(s)",
                tuple(after),
                write("github", github),
            )
        )
        tails.append(sid)
    if files:
        sid = f"{gid}/files{tag}"
        steps.append(
            Step(
                sid,
                StepKind.WRITE_ENV,
                fp,
                f"rewrite {len(files)} local file location(s) (only with --rewrite-files)",
                tuple(after),
                write("files", files),
            )
        )
        tails.append(sid)
    shared_projects = set(projects_of(shared))
    for project_id in projects_of(locations):
        deps = [
            d for d in (write_of.get(project_id, ""), shared_id if project_id in shared_projects else "") if d
        ]
        serving = ctx.deployments(project_id)
        if not redeploy or not serving:
            tails.extend(deps)
            continue
        name = ctx.project_name(project_id)
        rid = f"{gid}/redeploy{tag}/{project_id}"
        steps.append(
            Step(
                rid,
                StepKind.REDEPLOY,
                fp,
                f"redeploy {len(serving)} serving deployment(s) of {name or project_id}",
                tuple(deps),
                RedeployParams(
                    when=when,
                    phase=phase,
                    project_name=name,
                    deployments=tuple(serving),
                    build_estimate_s=ctx.build_estimate_s,
                ).to_params(),
                project_id=project_id,
            )
        )
        aid = f"{gid}/ready{tag}/{project_id}"
        steps.append(
            Step(
                aid,
                StepKind.AWAIT_READY,
                fp,
                f"wait until the new deployments of {name or project_id} are READY",
                (rid,),
                AwaitParams(
                    when=when, phase=phase, redeploy_step=rid, build_estimate_s=ctx.build_estimate_s
                ).to_params(),
                project_id=project_id,
            )
        )
        tails.append(aid)
    if shared_id and not shared_projects:
        tails.append(shared_id)
    if not tails:
        tails.extend(s.id for s in steps)
    if not tails:  # nothing to distribute: the next step follows what came before
        tails.extend(after)
    return steps, list(dict.fromkeys(tails))


def rescan_step(gid: str, fp: Fingerprint, *, after: str) -> Step:
    """The group's last step: every var it wrote read back with the new fingerprints
    (:func:`keyroll.rotate.gates` ``rescan``)."""
    return Step(
        f"{gid}/rescan",
        StepKind.RESCAN,
        fp,
        "read the written vars back",
        (after,),
        RescanParams().to_params(),
    )


def cutover_tail(ctx: PlanContext, after: str) -> list[Step]:
    """A cutover's steps after the new value is known (step ``after``): write every copy and
    redeploy, probe the new token and the deployments (measuring the window), probe that the old
    token is rejected, read the written vars back."""
    gid, fp = ctx.gid, ctx.fp
    dist, tails = distribution_steps(ctx, ctx.locations, values="new", after=[after])
    probe = Step(
        f"{gid}/probe",
        StepKind.PROBE,
        fp,
        "probe the new token and deployments; measure the window",
        tuple(tails),
        ProbeNewParams(values="new", phase=1, cutover=True).to_params(),
    )
    verify_old = Step(
        f"{gid}/verify-old",
        StepKind.PROBE,
        fp,
        "probe that the old token is rejected",
        (probe.id,),
        ProbeOldParams().to_params(),
    )
    rescan = rescan_step(gid, fp, after=verify_old.id)
    return [*dist, probe, verify_old, rescan]
