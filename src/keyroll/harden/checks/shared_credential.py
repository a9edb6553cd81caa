"""Check 3 — one Redis credential used by several projects (medium).

A shared credential means one leak exposes every project, and a rotation must touch them all
at once. The fix is one ACL user per project, with key patterns derived from the key prefixes
its code uses (``~cache:*``) and exactly its commands; the finding shows the ``ACL SETUSER``
line for each project, and ``--fix`` creates the users and moves each project onto its own
(env write + redeploy; no failed requests).
"""

from __future__ import annotations

from keyroll.core.model import Product
from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id
from keyroll.harden.moves import plan_move

__all__ = ["check"]


def check(ctx: HardenContext) -> list[Finding]:
    """One finding per Redis credential reaching more than one project in scope."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for loc in ctx.env_locations():
        fp = loc.fingerprint
        if fp in seen:
            continue
        seen.add(fp)
        cred = ctx.credential(fp)
        if cred is None or cred.product is not Product.REDIS:
            continue
        projects = ctx.projects_of(fp)
        if len(projects) < 2:
            continue
        read_only = cred.kind.value in ("readonly_rest_token",)
        moves = [m for m in (plan_move(ctx, p, fp, read_only=read_only) for p in projects) if m is not None]
        evidence = [
            Evidence(f"{other.describe()} holds {fp}", f"vercel env var {other.env_id}")
            for other in ctx.env_locations()
            if other.fingerprint == fp
        ][:12]
        acl = []
        for m in moves:
            analysis = ctx.projects[m.project_id].analysis if m.project_id in ctx.projects else None
            acl.append(
                {
                    "project": m.project_name,
                    "user": m.acl.user,
                    "line": m.acl.line(),
                    "narrowed_keys": m.acl.narrowed_keys,
                    "source_analysed": analysis is not None,
                    "vars": [r.key for r in m.rewrites],
                    "blockers": list(m.blockers),
                }
            )
            if analysis is None:
                evidence.append(
                    Evidence(f"no source given for {m.project_name}: its user keeps full rights", "analysis")
                )
            elif not m.acl.narrowed_keys:
                evidence.append(
                    Evidence(
                        f"{m.project_name}: keys computed at run time, key space not narrowed", "analysis"
                    )
                )
        names = ", ".join(m.project_name for m in moves)
        findings.append(
            Finding(
                id=finding_id(Rule.SHARED_CREDENTIAL, fp),
                rule=Rule.SHARED_CREDENTIAL,
                severity=Severity.MEDIUM,
                title=f"one Redis credential ({fp}) is shared by {len(projects)} projects: {names}",
                evidence=tuple(evidence),
                fix="Create one ACL user per project and move each project onto its own:\n"
                + "\n".join(f"  {a['project']}: {a['line']}" for a in acl),
                fixable_by_keyroll=bool(moves) and all(m.fixable for m in moves),
                credential=fp,
                details={"acl": acl, "projects": [m.project_name for m in moves]},
            )
        )
    return findings
