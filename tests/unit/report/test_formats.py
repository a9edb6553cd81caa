"""Report formats: the CLI choice → format mapping is exhaustive; each format says the same things."""

from __future__ import annotations

import json
import re

import pytest

from keyroll.cli.report_formats import ReportFormatChoice
from keyroll.report import html as html_mod
from keyroll.report import json as json_mod
from keyroll.report import markdown as md_mod
from keyroll.report.build import build_report
from keyroll.report.interface import ReportFormat
from keyroll.report.model import REPORT_VERSION
from keyroll.report.timeline import render_timeline, tick_step
from tests.unit.report import report_samples as S


@pytest.fixture
def report():
    return build_report(
        S.runlog(),
        S.verify_result(),
        S.audit_result(flagged=True),
        now=S.NOW,
        tool_version="0.1.0",
        journal_path="j.db",
    )


def test_choice_mapping_is_exhaustive() -> None:
    # every format class in the package is reachable from a CLI choice (markdown by two spellings)
    classes = {html_mod.HtmlFormat, json_mod.JsonFormat, md_mod.MarkdownFormat}
    assert set(ReportFormat.__subclasses__()) == classes
    mapped = {type(choice.to_format()) for choice in ReportFormatChoice}
    assert mapped == classes
    assert len(list(ReportFormatChoice)) == len(classes) + 1
    assert {c.value for c in ReportFormatChoice} == {"md", "markdown", "html", "json"}
    assert type(ReportFormatChoice("markdown").to_format()) is md_mod.MarkdownFormat


def test_json_is_versioned_with_iso_times(report, canary) -> None:
    text = ReportFormatChoice.JSON.to_format().format(report)
    canary.check_text(text, "json report")
    data = json.loads(text)
    assert data["version"] == REPORT_VERSION and data["kind"] == "keyroll.incident-report"
    assert data["summary"]["status"] == "unknown"  # a flagged event leaves the log review open
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["generated_at"])
    items = {i["id"]: i for i in data["checklist"]}
    assert items["old_rejected"]["status"] == "done"
    assert items["old_rejected"]["evidence"][0]["at"].endswith("Z")
    creds = {c["fingerprint"]: c for c in data["credentials"]}
    assert creds[S.FP_QSTASH]["outage_s"] == 3.2
    assert data["windows"][0]["start"].endswith("Z")
    assert data["verify"]["checks"] and data["audit"]["events"]


def test_markdown_has_every_section(report, canary) -> None:
    text = ReportFormatChoice.MARKDOWN.to_format().format(report)
    canary.check_text(text, "markdown report")
    for heading in (
        "## Summary",
        "## Checklist",
        "## Credentials",
        "## Projects",
        "## Open risks",
        "## What is not known",
        "## Verification checks",
        "## Activity review",
    ):
        assert heading in text
    assert f"`{S.FP_QSTASH}`" in text and "3.2 s (measured)" in text and "0 s (overlap)" in text
    assert "❔ **Review activity logs" in text
    assert "usr_stranger" in text


def test_html_is_self_contained_with_chart(report, canary) -> None:
    text = ReportFormatChoice.HTML.to_format().format(report)
    canary.check_text(text, "html report")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script" not in text.lower()
    # no external asset: the only URL is the SVG namespace
    urls = set(re.findall(r"(?:src|href)\s*=\s*[\"']([^\"']+)", text))
    assert urls == set()
    assert re.findall(r"https?://[^\s\"'<>]+", text) == ["http://www.w3.org/2000/svg"]
    assert 'data-rows="2"' in text and 'class="window"' in text
    assert text.count('data-kind="ready"') == 3
    assert 'data-metric="deployments_redeployed"><div class="n">3<' in text


def test_html_escapes_untrusted_text(report) -> None:
    from dataclasses import replace

    evil = replace(
        report,
        projects=(replace(report.projects[0], name="<img src=x onerror=alert(1)>"), *report.projects[1:]),
    )
    text = ReportFormatChoice.HTML.to_format().format(evil)
    assert "<img" not in text and "&lt;img src=x" in text


def test_timeline_empty_without_marks() -> None:
    report = build_report(None, None, None, now=S.NOW, journal_error="no journal")
    assert render_timeline(report) == ""
    assert "Nothing was journaled" in ReportFormatChoice.HTML.to_format().format(report)


@pytest.mark.parametrize(
    ("span", "step"), [(3.0, 0.5), (10.0, 2.0), (100.0, 15.0), (4000.0, 600.0), (86400.0 * 3, 43200.0)]
)
def test_tick_steps_are_round(span: float, step: float) -> None:
    assert tick_step(span) == step


def test_interface_imports_no_format() -> None:
    # the formats implement the interface; the choice among them lives in the CLI
    import ast
    import inspect

    from keyroll.report import interface

    tree = ast.parse(inspect.getsource(interface))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"keyroll.report.html", "keyroll.report.json", "keyroll.report.markdown"}
