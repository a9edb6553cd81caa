"""Check 6 — Upstash Credential Protection is off where the plan supports it (low).

With Credential Protection on, Upstash no longer stores the database credentials (they are
shown once) and console features that read them are disabled; a compromised Upstash console
session can then not read them. It is a Prod Pack feature, so it is only reported for
databases whose plan supports it. Enabling it keeps the current credentials valid (only
*disabling* revokes and reissues them), so ``--fix`` is safe for running apps.
"""

from __future__ import annotations

from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id

__all__ = ["check"]


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
                fix=(
                    "Enable Credential Protection (database → Configuration → Protect Credentials); "
                    "credentials stay valid, Upstash stops storing them. Keep a copy where your "
                    "deployments get them (Vercel env vars) — the console will not show them again."
                ),
                fixable_by_keyroll=True,
                details={"database_id": db.id, "database": db.name},
            )
        )
    return findings
