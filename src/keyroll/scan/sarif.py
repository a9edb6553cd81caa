"""SARIF 2.1.0 output: one run, every rule, one result per finding — and no snippets.

Code scanners usually attach the matched source text (``region.snippet``) to each result; for
a secret scanner the snippet *is* the secret, so keyroll never does. A result carries the
rule, a message naming the credential type, its fingerprint and redacted preview, the
location (and, for history, the commit in ``properties``), and ``partialFingerprints``
(``secretFingerprint/v1`` = the value's fingerprint) so SARIF consumers track a credential
across runs without ever seeing it.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keyroll import __version__
from keyroll.scan.findings import Certainty, Finding, Rule, ScanSummary

__all__ = ["SARIF_SCHEMA", "to_sarif"]

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Certainty.HIGH: "error", Certainty.MEDIUM: "warning", Certainty.LOW: "note"}
_SEVERITY = {Certainty.HIGH: "9.0", Certainty.MEDIUM: "7.0", Certainty.LOW: "4.0"}


def _rule(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.id.split("-")),
        "shortDescription": {"text": rule.name},
        "fullDescription": {"text": rule.description},
        "help": {"text": f"{rule.description} Remedy: {rule.remedy}."},
        "defaultConfiguration": {"level": _LEVEL[rule.confidence]},
        "properties": {
            "tags": ["security", "secret", rule.product.value],
            "precision": {"high": "high", "medium": "medium", "low": "low"}[rule.confidence.value],
            "security-severity": _SEVERITY[rule.confidence],
        },
    }


def _artifact(path: str) -> dict[str, Any]:
    if os.path.isabs(path):
        return {"uri": Path(path).as_uri()}
    return {"uri": urllib.parse.quote(path.replace(os.sep, "/")), "uriBaseId": "%SRCROOT%"}


def _result(f: Finding, rule: Rule, index: int) -> dict[str, Any]:
    props: dict[str, Any] = {"confidence": f.confidence.value, "kind": f.kind.value, "form": f.form.value}
    for name, value in (
        ("key", f.key),
        ("commit", f.commit),
        ("authorDate", f.author_date),
        ("cell", f.cell),
    ):
        if value not in ("", None):
            props[name] = value
    if f.known:
        props["known"] = True
    return {
        "ruleId": f.rule_id,
        "ruleIndex": index,
        "level": _LEVEL[f.confidence],
        "message": {"text": f"{rule.name} {f.fingerprint} ({f.preview}): {f.reason}. Remedy: {rule.remedy}."},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": _artifact(f.path),
                    "region": {"startLine": f.line, "startColumn": f.column, "endColumn": f.end_column},
                }
            }
        ],
        "partialFingerprints": {"secretFingerprint/v1": str(f.fingerprint)},
        "properties": props,
    }


def to_sarif(
    findings: Sequence[Finding], summary: ScanSummary, rules: Mapping[str, Rule] | None = None
) -> dict[str, Any]:
    """The SARIF log (a JSON-ready dict) for one scan."""
    if rules is None:
        from keyroll.scan.detectors import RULES

        rules = RULES
    ordered = list(rules.values())
    index = {r.id: i for i, r in enumerate(ordered)}
    results = [_result(f, rules[f.rule_id], index[f.rule_id]) for f in findings if f.rule_id in rules]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "keyroll",
                        "version": __version__,
                        "rules": [_rule(r) for r in ordered],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
                "results": results,
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "properties": {
                            "files": summary.files,
                            "blobs": summary.blobs,
                            "bytes": summary.bytes,
                            "skipped": dict(summary.skipped),
                        },
                    }
                ],
            }
        ],
    }
