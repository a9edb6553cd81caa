"""Check 4 — a credential in a Vercel env var that is not of type ``sensitive`` (high).

Sensitive values cannot be read back once written, through the dashboard or the API; during
the April 2026 incident, that is the difference between a leaked and a safe variable. Vercel
allows ``sensitive`` only for Production and Preview (and custom environments): a variable
that also targets Development is split as the dashboard does — the existing variable keeps
its id, drops Development and becomes sensitive; a new non-sensitive copy serves Development.

``--fix`` converts in place (``PATCH`` with ``type: sensitive``, the call ``vercel env update
--sensitive`` makes), so builds never see the variable missing. Variables owned by an
integration (``configurationId``) are reported but left alone: the integration rewrites them.
"""

from __future__ import annotations

from keyroll.core.model import LocationKind
from keyroll.harden.context import HardenContext, is_public_key
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id

__all__ = ["BUILD_TARGETS", "check"]

BUILD_TARGETS = frozenset({"production", "preview"})


def check(ctx: HardenContext) -> list[Finding]:
    """One finding per env var holding a credential with a type other than sensitive."""
    findings: list[Finding] = []
    for loc in ctx.env_locations():
        if loc.env_type in ("sensitive", "system", "secret") or not loc.env_id:
            continue
        if is_public_key(loc.key):
            continue  # a public var is a client exposure; sensitive would not help
        build = [t for t in loc.targets if t in BUILD_TARGETS]
        if not build and not loc.custom_environment_ids:
            continue  # development only: Vercel cannot make it sensitive
        dev = "development" in loc.targets
        shared = loc.kind is LocationKind.VERCEL_SHARED_ENV
        integration = bool(loc.configuration_id)
        fixable = not integration and not (shared and dev)
        if shared:
            project = ""
            subject = f"shared env var {loc.key}"
            source = f"vercel: team shared env var {loc.env_id} (GET /v1/env)"
        else:
            project = ctx.project_name(loc.project_id)
            subject = f"project {project} env {loc.key}"
            source = f"vercel: project {project} env var {loc.env_id} (GET /v10/projects/{{id}}/env)"
        scope = ",".join(loc.targets) + (f" branch {loc.git_branch}" if loc.git_branch else "")
        if loc.custom_environment_ids:
            scope += (" " if scope else "") + "custom " + ",".join(loc.custom_environment_names())
        evidence = [
            Evidence(
                f"{loc.key} [{scope}] has type {loc.env_type or 'unknown'} and holds {loc.fingerprint}",
                source,
            )
        ]
        if integration:
            evidence.append(Evidence(f"owned by integration configuration {loc.configuration_id}", source))
        fix = "Convert it to sensitive, keeping value, targets, branch and comment."
        if dev:
            fix += " Development cannot hold sensitive values: a separate non-sensitive Development copy is created."
        if integration:
            fix = (
                "The integration owns this variable: enable the team's sensitive-variables policy "
                "(Team Settings → Security) or ask the integration to create sensitive variables."
            )
        elif shared and dev:
            fix = (
                "Remove Development from the shared variable, make it sensitive, and add a Development copy."
            )
        findings.append(
            Finding(
                id=finding_id(Rule.NOT_SENSITIVE, loc.project_id, loc.env_id),
                rule=Rule.NOT_SENSITIVE,
                severity=Severity.HIGH,
                title=f"{subject}: a credential in a readable ({loc.env_type or 'unknown'}) variable",
                evidence=tuple(evidence),
                fix=fix,
                fixable_by_keyroll=fixable,
                project=project,
                credential=loc.fingerprint,
                details={
                    "env_id": loc.env_id,
                    "project_id": loc.project_id,
                    "key": loc.key,
                    "targets": list(loc.targets),
                    "git_branch": loc.git_branch,
                    "custom_environment_ids": list(loc.custom_environment_ids),
                    "shared": shared,
                    "split_development": dev,
                },
            )
        )
    return findings
