"""The application layer's workflow decisions: scopes checked before any request, the journal a
workflow needs, who must consent to harden's fixes, when an audit needs attention."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from keyroll.app import harden as app_harden
from keyroll.app.audit import audit_scope, needs_attention, own_writes
from keyroll.app.inventory import inventory_scope
from keyroll.app.verify import open_journal_to_verify, verify_scope
from keyroll.audit.run import AuditResult
from keyroll.config import Config
from keyroll.core.errors import ConfigError, ConsentRequired, UsageError
from keyroll.core.secret import Secret
from keyroll.harden.findings import Evidence, Finding, Rule, Severity
from keyroll.harden.latest import latest_path, load_latest
from keyroll.harden.run import HardenOptions, HardenResult
from keyroll.providers.factory import Providers
from tests.unit.report import report_samples as samples

NOW = 1_760_000_000.0


def _cfg(tmp_path: Path, **kw: Any) -> Config:
    return Config(journal_path=tmp_path / "journal.db", **kw)


# -- inventory -----------------------------------------------------------------------------------


def test_inventory_scope_needs_a_vercel_token_and_a_github_token_for_github(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VERCEL_TOKEN"):
        inventory_scope(_cfg(tmp_path))
    vercel = _cfg(tmp_path, vercel_token=Secret("vercel-token-for-app-tests"))
    with pytest.raises(ConfigError, match="GITHUB_TOKEN"):
        inventory_scope(vercel, github_repos=("acme/web",))
    options = inventory_scope(vercel, projects=("web",), concurrency=4)
    assert options.projects == ("web",) and options.concurrency == 4 and not options.github_repos


def test_inventory_scope_checks_local_paths_before_any_request(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, vercel_token=Secret("vercel-token-for-app-tests"))
    with pytest.raises(UsageError):
        inventory_scope(cfg, paths=(tmp_path / "missing",))


def test_inventory_scope_reads_the_toml_scope_and_flags_win(tmp_path: Path) -> None:
    cfg = _cfg(
        tmp_path,
        vercel_token=Secret("vercel-token-for-app-tests"),
        toml={"scope": {"projects": ["api", "web"], "files": [str(tmp_path)]}},
    )
    assert inventory_scope(cfg).projects == ("api", "web")
    assert inventory_scope(cfg).paths == (tmp_path,)
    assert inventory_scope(cfg, projects=("docs",)).projects == ("docs",)


# -- verify --------------------------------------------------------------------------------------


def test_verify_scope_carries_the_flags_and_the_stale_copy_scope(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, toml={"scope": {"files": [str(tmp_path)]}})
    options = verify_scope(
        cfg, credentials=("ab12",), run_id="run_1", health_path="/health", probe_deployments=False
    )
    assert options.credentials == ("ab12",) and options.run_id == "run_1"
    assert options.health_path == "/health" and not options.probe_deployments
    assert options.paths == (tmp_path,)  # from keyroll.toml [scope]
    assert options.inventory_options is not None and options.inventory_options.paths == (tmp_path,)
    with pytest.raises(UsageError):
        verify_scope(cfg, git_repos=(tmp_path / "missing",))


def test_verify_needs_a_journal(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no journal"):
        open_journal_to_verify(_cfg(tmp_path))


# -- audit ---------------------------------------------------------------------------------------


def test_audit_scope_parses_the_window_and_refuses_it_backwards() -> None:
    options = audit_scope(since="30d", until=None, known_actors=("ops@acme.dev",), now=NOW)
    assert options.since == NOW - 30 * 86400 and options.until is None
    assert options.known_actors == ("ops@acme.dev",)
    assert audit_scope(since=None, until=None, now=NOW).since is None
    with pytest.raises(UsageError, match="after --until"):
        audit_scope(since="1d", until="2d", now=NOW)


def test_own_writes_without_a_journal_says_every_write_is_flagged(tmp_path: Path) -> None:
    runlogs, notes = own_writes(_cfg(tmp_path))
    assert runlogs == []
    assert len(notes) == 1 and "every write is flagged" in notes[0]


def test_an_audit_needs_attention_for_flagged_events_or_unread_sources() -> None:
    quiet = samples.audit_result()
    assert not needs_attention(quiet)
    assert needs_attention(samples.audit_result(flagged=True))
    assert needs_attention(AuditResult(since=quiet.since, until=quiet.until, events=(), sources=()))
    unread = AuditResult(
        since=quiet.since, until=quiet.until, events=(), sources=("vercel",), notes=("upstash: 503",)
    )
    assert needs_attention(unread)


# -- harden --------------------------------------------------------------------------------------


def _finding(ident: str, *, fixable: bool = True, fixed: bool = False) -> Finding:
    return Finding(
        id=ident,
        rule=Rule.NOT_SENSITIVE,
        severity=Severity.HIGH,
        title=f"finding {ident}",
        evidence=(Evidence("env X [production]", "vercel"),),
        fix="mark it sensitive",
        project="web",
        fixable_by_keyroll=fixable,
        fixed=fixed,
    )


FINDINGS = (
    _finding("not_sensitive:web:A"),
    _finding("not_sensitive:api:B"),
    _finding("not_sensitive:web:C", fixable=False),
    _finding("not_sensitive:web:D", fixed=True),
)


def test_fixes_to_apply_are_the_open_fixable_findings_selected() -> None:
    result = HardenResult(findings=FINDINGS)
    every = app_harden.fixes_to_apply(result, HardenOptions(fix=True))
    assert [f.id for f in every] == ["not_sensitive:web:A", "not_sensitive:api:B"]
    only = app_harden.fixes_to_apply(result, HardenOptions(fix=True, only=("not_sensitive:api",)))
    assert [f.id for f in only] == ["not_sensitive:api:B"]


class _Harden:
    """Stands in for the harden checks and fixes: records the options the fixes ran with."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.applied: list[HardenOptions] = []
        monkeypatch.setattr(app_harden, "analyze_context", self.analyze)
        monkeypatch.setattr(app_harden, "apply_fixes", self.fix)

    async def analyze(
        self, providers: Any, options: HardenOptions, progress: Any
    ) -> tuple[Any, HardenResult]:
        return object(), HardenResult(findings=FINDINGS)

    async def fix(
        self, providers: Any, ctx: Any, result: HardenResult, options: HardenOptions, progress: Any
    ) -> HardenResult:
        self.applied.append(options)
        return HardenResult(findings=tuple(f.marked_fixed() for f in result.findings))


async def _harden(tmp_path: Path, options: HardenOptions, **kw: Any) -> HardenResult:
    cfg = _cfg(tmp_path)
    return await app_harden.run_harden(cfg, options, providers=Providers(config=cfg), **kw)


async def test_harden_fixes_need_consent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Harden(monkeypatch)
    with pytest.raises(ConsentRequired, match="2 fix"):
        await _harden(tmp_path, HardenOptions(fix=True))
    asked: list[Sequence[Finding]] = []

    def refuse(fixes: Sequence[Finding]) -> bool:
        asked.append(fixes)
        return False

    result = await _harden(tmp_path, HardenOptions(fix=True), confirm=refuse)
    assert [len(a) for a in asked] == [2] and not fake.applied
    assert not any(f.fixed for f in result.findings if f.fixable_by_keyroll and f.id.endswith(("A", "B")))
    await _harden(tmp_path, HardenOptions(fix=True), confirm=lambda fixes: True)
    assert [o.yes for o in fake.applied] == [True]


async def test_harden_yes_and_dry_run_ask_nobody(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Harden(monkeypatch)

    def never(fixes: Sequence[Finding]) -> bool:
        raise AssertionError("nobody is asked")

    await _harden(tmp_path, HardenOptions(fix=True, yes=True), confirm=never)
    await _harden(tmp_path, HardenOptions(fix=True, dry_run=True), confirm=never)
    assert [(o.yes, o.dry_run) for o in fake.applied] == [(True, False), (False, True)]
    await _harden(tmp_path, HardenOptions(), confirm=never)  # no --fix: only reads
    await _harden(tmp_path, HardenOptions(fix=True, only=("nothing",)), confirm=never)
    assert len(fake.applied) == 2


def test_only_a_full_harden_run_is_kept_for_the_report(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    result = HardenResult(findings=FINDINGS)
    assert app_harden.keep_for_report(cfg, HardenOptions(projects=("web",)), result) == ""
    assert not latest_path(cfg.journal_path).exists()
    assert app_harden.keep_for_report(cfg, HardenOptions(), result, now=lambda: NOW) == ""
    stored = load_latest(latest_path(cfg.journal_path))
    assert stored is not None and stored.checked_at == NOW
    assert {f.id for f in stored.result.findings} == {f.id for f in FINDINGS}


def test_a_harden_result_that_cannot_be_kept_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    cfg = Config(journal_path=tmp_path / "a-file" / "journal.db")
    problem = app_harden.keep_for_report(cfg, HardenOptions(), HardenResult(findings=FINDINGS))
    assert problem.startswith("the result could not be kept at ")
