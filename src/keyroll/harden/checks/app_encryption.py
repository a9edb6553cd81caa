"""Check 8 — values written to Redis without application-level encryption (advice only).

Whoever holds a leaked token reads every stored value. Encrypting sensitive values in the app
before ``SET``/``HSET`` (and decrypting after ``GET``) keeps them useless without the app's
key, which lives elsewhere. Upstash documents the pattern; keyroll can only point at it.
"""

from __future__ import annotations

from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id

__all__ = ["POINTER", "check"]

POINTER = "https://upstash.com/docs/redis/features/security#application-level-encryption"
MAX_EVIDENCE = 10


def check(ctx: HardenContext) -> list[Finding]:
    """One advice finding per project whose code stores values without an encryption call."""
    findings: list[Finding] = []
    for pid, facts in sorted(ctx.projects.items()):
        a = facts.analysis
        if a is None:
            continue
        plain = [w for w in a.writes if not w.encrypted]
        if not plain:
            continue
        evidence = [
            Evidence(
                f"{w.command.upper()} stores a value that passes through no encryption call",
                f"file {w.path}:{w.line}",
            )
            for w in plain[:MAX_EVIDENCE]
        ]
        if len(plain) > MAX_EVIDENCE:
            evidence.append(Evidence(f"{len(plain) - MAX_EVIDENCE} more write(s)", f"source {a.root}"))
        findings.append(
            Finding(
                id=finding_id(Rule.NO_APP_ENCRYPTION, pid),
                rule=Rule.NO_APP_ENCRYPTION,
                severity=Severity.INFO,
                title=f"project {facts.name}: {len(plain)} Redis write(s) store values in plaintext",
                evidence=tuple(evidence),
                fix=(
                    "Encrypt sensitive values in the application before storing them (e.g. AES-GCM with a key "
                    f"kept outside Redis) and decrypt after reading; see {POINTER}"
                ),
                project=facts.name,
                details={"writes": [f"{w.path}:{w.line} {w.command}" for w in plain], "pointer": POINTER},
            )
        )
    return findings
