"""Check 1 — an Upstash credential that reaches the browser (critical).

Frameworks inline variables with a public prefix (``NEXT_PUBLIC_``, ``VITE_``, ``REACT_APP_`` …)
into client bundles, so such a variable holding a credential publishes it; so does a credential
found inside built client assets (``.next/static``, ``dist/``, ``build/``, ``out/``). The fix is a
rotation plus moving the Upstash access to server code; keyroll cannot move code, so this is
reported, not fixed.
"""

from __future__ import annotations

from collections import defaultdict

from keyroll.core.model import LocationKind
from keyroll.harden.context import HardenContext, is_public_key
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id

__all__ = ["check"]

_FIX = (
    "Rotate this credential now (`keyroll plan --credential {fp}` then `keyroll apply`), remove the "
    "public variable, and call Upstash only from server code (route handler, server action, API "
    "route) that reads an unprefixed variable."
)
MAX_EVIDENCE = 10


def _describe(ctx: HardenContext, fp: str) -> str:
    cred = ctx.credential(fp)
    if cred is None:
        return fp
    what = f"{cred.product.value} {cred.kind.value}"
    if cred.resource_name:
        what += f" of {cred.resource_name}"
    return f"{fp} ({what})"


def check(ctx: HardenContext) -> list[Finding]:
    """Findings for public-prefixed env vars, local env files and built assets holding a credential."""
    findings: list[Finding] = []
    for loc in ctx.env_locations():
        prefix = is_public_key(loc.key)
        if not prefix:
            continue
        where = ",".join(loc.targets) or ",".join(loc.custom_environment_names()) or "all"
        if loc.kind is LocationKind.VERCEL_SHARED_ENV:
            subject = f"shared env {loc.key}"
            source = f"vercel: team shared env var {loc.env_id} (GET /v1/env)"
            projects = ", ".join(ctx.project_name(p) for p in loc.linked_project_ids) or "no project"
            fact = f"shared env var {loc.key} [{where}] linked to {projects} holds {_describe(ctx, loc.fingerprint)}"
            project = ""
        else:
            project = ctx.project_name(loc.project_id)
            subject = f"project {project} env {loc.key}"
            source = f"vercel: project {project} env var {loc.env_id} (GET /v10/projects/{{id}}/env)"
            fact = f"env {loc.key} [{where}] holds {_describe(ctx, loc.fingerprint)}"
        findings.append(
            Finding(
                id=finding_id(Rule.CLIENT_EXPOSURE, "env", loc.project_id, loc.env_id or loc.key),
                rule=Rule.CLIENT_EXPOSURE,
                severity=Severity.CRITICAL,
                title=f"{subject}: an Upstash credential in a {prefix} variable is shipped to browsers",
                evidence=(
                    Evidence(fact, source),
                    Evidence(
                        f"the {prefix} prefix makes the framework inline the value into client bundles",
                        "framework",
                    ),
                ),
                fix=_FIX.format(fp=loc.fingerprint),
                project=project,
                credential=loc.fingerprint,
                details={
                    "key": loc.key,
                    "env_id": loc.env_id,
                    "targets": list(loc.targets),
                    "prefix": prefix,
                },
            )
        )
    for hit in ctx.env_file_hits:
        prefix = is_public_key(hit.key)
        if not prefix:
            continue
        project = ctx.project_name(hit.project_id) if hit.project_id else ""
        findings.append(
            Finding(
                id=finding_id(Rule.CLIENT_EXPOSURE, "envfile", hit.root, hit.path, hit.key),
                rule=Rule.CLIENT_EXPOSURE,
                severity=Severity.CRITICAL,
                title=f"{hit.path}: {hit.key} puts an Upstash credential into client bundles",
                evidence=(
                    Evidence(
                        f"{hit.key} holds {_describe(ctx, hit.fingerprint)}", f"file {hit.path}:{hit.line}"
                    ),
                ),
                fix=_FIX.format(fp=hit.fingerprint),
                project=project,
                credential=hit.fingerprint,
                details={"key": hit.key, "path": hit.path, "prefix": prefix},
            )
        )
    by_cred: dict[tuple[str, str], list[tuple[str, int, int, str]]] = defaultdict(list)
    for a in ctx.asset_hits:
        by_cred[(a.root, a.fingerprint)].append((a.path, a.line, a.column, a.form))
        by_cred[(a.root, a.fingerprint)].sort()
    for (root, fp), hits in sorted(by_cred.items()):
        project_id = next((a.project_id for a in ctx.asset_hits if a.root == root and a.project_id), "")
        project = ctx.project_name(project_id) if project_id else ""
        evidence = [
            Evidence(f"built asset contains {_describe(ctx, fp)} ({form} form)", f"file {path}:{line}:{col}")
            for path, line, col, form in hits[:MAX_EVIDENCE]
        ]
        if len(hits) > MAX_EVIDENCE:
            evidence.append(Evidence(f"{len(hits) - MAX_EVIDENCE} more asset file(s)", f"source root {root}"))
        findings.append(
            Finding(
                id=finding_id(Rule.CLIENT_EXPOSURE, "asset", root, fp),
                rule=Rule.CLIENT_EXPOSURE,
                severity=Severity.CRITICAL,
                title=f"built client assets under {root} contain an Upstash credential",
                evidence=tuple(evidence),
                fix=_FIX.format(fp=fp) + " Rebuild after the change and check the bundle again.",
                project=project,
                credential=fp,
                details={"files": sorted({h[0] for h in hits}), "root": root},
            )
        )
    return findings
