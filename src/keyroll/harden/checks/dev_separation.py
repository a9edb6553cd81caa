"""Check 5 — the production credential also in the development target or in local files (medium).

Developers' machines and ``vercel env pull`` copies are the least protected places a value
lives in; if they hold the production credential, a laptop leak is a production leak. The fix
is a separate development database (its own credentials in Development and ``.env.local``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from keyroll.core.model import Location, LocationKind
from keyroll.harden.analysis.walk import ASSET_DIRS
from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id

__all__ = ["check"]

_FIX = (
    "Create a separate development database (Upstash console or Developer API), put its credentials "
    "in the Development target and in local .env files, and rotate the production credential that "
    "reached developer machines."
)


def _in_assets(path: str) -> bool:
    p = path.replace("\\", "/")
    return any(f"/{d}/" in f"/{p}" for d in ASSET_DIRS)


def check(ctx: HardenContext) -> list[Finding]:
    """One finding per production credential that is also in Development or in a local file."""
    by_fp: dict[str, list[Location]] = defaultdict(list)
    for loc in ctx.env_locations():
        by_fp[loc.fingerprint].append(loc)
    files: dict[str, dict[str, str]] = defaultdict(dict)
    """fingerprint → {absolute path:line → how to show it}"""
    for hit in ctx.env_file_hits:
        absolute = f"{(Path(hit.root) / hit.path).resolve()}:{hit.line}"
        files[hit.fingerprint][absolute] = f"{hit.path}:{hit.line}"
    for loc in ctx.inventory.locations:
        if loc.kind is LocationKind.FILE and not _in_assets(loc.path):
            absolute = f"{Path(loc.path).resolve()}:{loc.line}"
            files[loc.fingerprint].setdefault(absolute, f"{loc.path}:{loc.line}")
    findings: list[Finding] = []
    for fp, locs in sorted(by_fp.items()):
        prod = [loc for loc in locs if "production" in loc.targets]
        if not prod:
            continue
        dev = [loc for loc in locs if "development" in loc.targets]
        local = sorted(set(files.get(fp, {}).values()))
        if not dev and not local:
            continue
        evidence = [
            Evidence(f"production: {loc.describe()} holds {fp}", f"vercel env var {loc.env_id}")
            for loc in prod[:5]
        ]
        evidence += [
            Evidence(
                f"development: {loc.describe()} holds the same credential", f"vercel env var {loc.env_id}"
            )
            for loc in dev[:5]
        ]
        evidence += [Evidence(f"local file holds the same credential ({fp})", f"file {f}") for f in local[:5]]
        projects = sorted({ctx.project_name(loc.project_id) for loc in prod if loc.project_id})
        findings.append(
            Finding(
                id=finding_id(Rule.PROD_IN_DEVELOPMENT, fp),
                rule=Rule.PROD_IN_DEVELOPMENT,
                severity=Severity.MEDIUM,
                title=f"the production credential {fp} is also used for development"
                + (f" ({', '.join(projects)})" if projects else ""),
                evidence=tuple(evidence),
                fix=_FIX,
                project=projects[0] if len(projects) == 1 else "",
                credential=fp,
                details={
                    "development_vars": [loc.describe() for loc in dev],
                    "local_files": local,
                    "projects": projects,
                },
            )
        )
    return findings
