"""One module per check; :data:`CHECKS` is the explicit registry (rule → function)."""

from __future__ import annotations

from collections.abc import Callable

from keyroll.harden.checks import (
    app_encryption,
    client_exposure,
    credential_protection,
    dev_separation,
    rate_limit,
    read_only,
    sensitive,
    shared_credential,
)
from keyroll.harden.context import HardenContext
from keyroll.harden.findings import Finding, Rule

__all__ = ["CHECKS", "run_checks"]

Check = Callable[[HardenContext], list[Finding]]

CHECKS: dict[Rule, Check] = {
    Rule.CLIENT_EXPOSURE: client_exposure.check,
    Rule.READ_ONLY_SUFFICES: read_only.check,
    Rule.SHARED_CREDENTIAL: shared_credential.check,
    Rule.NOT_SENSITIVE: sensitive.check,
    Rule.PROD_IN_DEVELOPMENT: dev_separation.check,
    Rule.CREDENTIAL_PROTECTION_OFF: credential_protection.check,
    Rule.NO_RATE_LIMIT: rate_limit.check,
    Rule.NO_APP_ENCRYPTION: app_encryption.check,
}


def run_checks(ctx: HardenContext, rules: tuple[Rule, ...] = ()) -> list[Finding]:
    """Run the selected checks (all when ``rules`` is empty); findings sorted by severity, then id."""
    findings: list[Finding] = []
    for rule, check in CHECKS.items():
        if rules and rule not in rules:
            continue
        findings.extend(check(ctx))
    return sorted(findings, key=lambda f: (f.severity.rank, f.rule.value, f.project, f.id))
