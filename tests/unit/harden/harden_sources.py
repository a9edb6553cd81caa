"""Helpers for the static-analysis tests of hardening: write a source tree, read its call sites."""

from __future__ import annotations

from pathlib import Path

from keyroll.harden.analysis.model import SourceAnalysis
from keyroll.harden.analysis.project import analyze_sources


def analyze_files(tmp_path: Path, files: dict[str, str]) -> SourceAnalysis:
    """Write ``files`` (relative path -> text) under ``tmp_path`` and analyze that tree."""
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return analyze_sources([tmp_path])


def call_keys(a: SourceAnalysis) -> set[tuple[str, tuple[str, ...]]]:
    """Each call site as ``(command, key shapes)``."""
    return {(c.command, tuple(k.describe() for k in c.keys)) for c in a.calls}
