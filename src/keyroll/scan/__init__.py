"""Finding credentials in text: detectors for Upstash/Vercel formats and a known-value matcher.

Entry points (see ``docs/scan.md``)::

    scan_paths(paths, ScanOptions(...)) -> ScanResult        files and directories, all cores
    scan_git(paths, options, all_refs=, since=) -> ScanResult  git history, each blob once
    scan_stdin(stream, options) -> ScanResult
    scan_text(text, path) -> list[Finding]                   in-process; findings keep their Secret
    TextScanner(known=..., fingerprints=...).scan(text, path)  the reusable per-text unit

Modules: ``detectors/`` (one per credential family, registry in ``detectors/__init__``),
``prefilter`` (Hyperscan / Aho–Corasick anchors), ``textscan`` (one text), ``reader``
(bytes → chunks), ``walk`` (files), ``engine`` (process pool), ``git``, ``ignore``,
``baseline``, ``formats`` / ``sarif`` (reports), ``sources`` (known values, inventory),
``known`` (exact-value matcher).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Baseline": "keyroll.scan.baseline",
    "load_baseline": "keyroll.scan.baseline",
    "write_baseline": "keyroll.scan.baseline",
    "RULES": "keyroll.scan.detectors",
    "ScanOptions": "keyroll.scan.engine",
    "ScanResult": "keyroll.scan.engine",
    "scan_paths": "keyroll.scan.engine",
    "scan_stdin": "keyroll.scan.engine",
    "scan_text": "keyroll.scan.engine",
    "Certainty": "keyroll.scan.findings",
    "Finding": "keyroll.scan.findings",
    "Rule": "keyroll.scan.findings",
    "ScanSummary": "keyroll.scan.findings",
    "scan_git": "keyroll.scan.git",
    "KnownValues": "keyroll.scan.known",
    "TextScanner": "keyroll.scan.textscan",
}


def __getattr__(name: str) -> Any:
    # lazy: `from keyroll.scan.known import KnownValues` must not load every detector
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)


__all__ = [
    "RULES",
    "Baseline",
    "Certainty",
    "Finding",
    "KnownValues",
    "Rule",
    "ScanOptions",
    "ScanResult",
    "ScanSummary",
    "TextScanner",
    "load_baseline",
    "scan_git",
    "scan_paths",
    "scan_stdin",
    "scan_text",
    "write_baseline",
]
