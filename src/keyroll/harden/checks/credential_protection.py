"""Check 6 — Upstash Credential Protection is off where the plan supports it (low).

With Credential Protection on, Upstash no longer stores the database credentials (they are
shown once) and console features that read them are disabled; a compromised Upstash console
session can then not read them. It is a Prod Pack feature, so it is only reported for
databases whose plan supports it. Enabling it keeps the current credentials valid (only
*disabling* revokes and reissues them).

The Developer API has no endpoint for it (a console toggle, absent from Upstash's OpenAPI
file), so keyroll cannot apply it: the finding is "manual" and its fix says where to click.
"""

from __future__ import annotations

from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id

__all__ = ["check", "console_instructions"]


def console_instructions(name: str) -> str:
    """Where to turn Credential Protection on (no API exists for it)."""
    return (
        f"In the Upstash console open Redis → {name} → Configuration → Credential Protection and "
        "enable it (Prod Pack required; there is no Developer API endpoint for it, so keyroll cannot "
        "do it for you). Credentials stay valid and Upstash stops storing them: keep a copy where your "
        "deployments get them (Vercel env vars) — the console will not show them again."
    )


def check(ctx: HardenContext) -> list[Finding]:
    """One finding per database with protection off and a plan that supports it."""
    findings: list[Finding] = []
    for db in ctx.databases:
        if db.credential_protection is not False or db.protection_supported is not True:
            continue
        findings.append(
            Finding(
                id=finding_id(Rule.CREDENTIAL_PROTECTION_OFF, db.id),
                rule=Rule.CREDENTIAL_PROTECTION_OFF,
                severity=Severity.LOW,
                title=f"Redis database {db.name}: Credential Protection is off",
                evidence=(
                    Evidence(
                        f"database {db.name} ({db.id}) reports credential protection off; its plan supports it",
                        f"upstash: GET /v2/redis/database/{db.id}",
                    ),
                ),
                fix=console_instructions(db.name),
                fixable_by_keyroll=False,
                details={"database_id": db.id, "database": db.name},
            )
        )
    return findings
