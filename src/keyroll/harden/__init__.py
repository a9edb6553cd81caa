"""``keyroll harden``: least privilege after the rotation (issue #10).

Checks, each with value-free evidence and a fix (applied by ``--fix`` where keyroll can):
client exposure, read-only where writes are not needed, one ACL user per project, sensitive
env vars, a separate development database, Credential Protection, rate limiting on public
routes, application-level encryption. Entry points: :func:`harden` (check, and fix when
asked), or :func:`analyze` then :func:`apply_fixes`.
"""

from keyroll.harden.collect import SourceSpec
from keyroll.harden.findings import Evidence, Finding, FixOutcome, Rule, Severity
from keyroll.harden.run import HardenOptions, HardenResult, analyze, analyze_context, apply_fixes, harden

__all__ = [
    "Evidence",
    "Finding",
    "FixOutcome",
    "HardenOptions",
    "HardenResult",
    "Rule",
    "Severity",
    "SourceSpec",
    "analyze",
    "analyze_context",
    "apply_fixes",
    "harden",
]
