"""Test-wide fixtures: the secret canary (autouse), a clean environment (autouse), and what
many tests need once each: a journal key, a fresh journal, the journal settings of the CLI and a
sandbox factory."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from keyroll.core.secret import Secret
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.sandbox.server import Sandbox
from tests import canary as canary_mod
from tests.sandbox_helpers import (
    JOURNAL_PASSPHRASE,
    SandboxFactory,
    register_api_tokens,
    register_template_secrets,
)

canary_mod.install()

_STRIP_PREFIXES = ("VERCEL_", "UPSTASH_", "QSTASH_", "KEYROLL_", "KV_", "REDIS_URL")
_STRIP_KEYS = ("GITHUB_TOKEN", "GH_TOKEN")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's real tokens or URLs."""
    for key in list(os.environ):
        if key.startswith(_STRIP_PREFIXES) or key in _STRIP_KEYS:
            monkeypatch.delenv(key, raising=False)


@pytest.fixture(autouse=True)
def canary(request: pytest.FixtureRequest) -> Iterator[canary_mod.Canary]:
    """Fail the test if any known secret reaches output, logs or watched files."""
    handle = canary_mod.Canary()
    collector = canary_mod.LogCollector()
    root = logging.getLogger()
    root.addHandler(collector)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    # httpx/httpcore log every request URL at INFO/DEBUG; REST URLs travel as Secrets in
    # keyroll, so those lines would trip the canary without saying anything about keyroll.
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "hpack", "asyncio")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    # keyroll's CLI sets propagate=False on its logger; collect there too
    kr = logging.getLogger("keyroll")
    kr.addHandler(collector)
    try:
        yield handle
    finally:
        root.removeHandler(collector)
        kr.removeHandler(collector)
        root.setLevel(old_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        # the CLI configures the "keyroll" logger; undo it so tests don't leak into each other
        kr.handlers[:] = []
        kr.propagate = True
        kr.setLevel(logging.NOTSET)
    problems = []
    hits = canary_mod.find("\n".join(collector.texts))
    if hits:
        problems.append(f"log records contain {hits}")
    problems.extend(handle.scan_files())
    request.node._canary_problems = problems


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    rep = outcome.get_result()
    if rep.when not in ("call", "teardown"):
        return
    problems = list(getattr(item, "_canary_problems", []) if rep.when == "teardown" else [])
    captured = "\n".join(content for _, content in rep.sections)
    hits = canary_mod.find(captured)
    if hits:
        problems.append(f"captured output contains {hits}")
    if problems and rep.passed:
        rep.outcome = "failed"
        rep.longrepr = "secret canary tripped:\n  " + "\n  ".join(problems)


# -- journal ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def journal_key() -> JournalKey:
    """The key of :data:`~tests.sandbox_helpers.JOURNAL_PASSPHRASE`."""
    return JournalKey.from_passphrase(Secret(JOURNAL_PASSPHRASE))


@pytest.fixture
def journal(tmp_path: Path, canary: canary_mod.Canary, journal_key: JournalKey) -> Iterator[Journal]:
    """A new journal at ``tmp_path/jr/journal.db`` (watched by the canary), closed after the test."""
    (tmp_path / "jr").mkdir()
    canary.watch(tmp_path / "jr")
    j = Journal.open(tmp_path / "jr" / "journal.db", journal_key, create=True)
    yield j
    j.close()


@pytest.fixture
def journal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI's journal settings: ``KEYROLL_JOURNAL`` (returned) in ``tmp_path`` and its passphrase."""
    return _set_journal_env(tmp_path, monkeypatch)


def _set_journal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "journal.db"
    monkeypatch.setenv("KEYROLL_JOURNAL", str(path))
    monkeypatch.setenv("KEYROLL_JOURNAL_KEY", JOURNAL_PASSPHRASE)
    return path


# -- sandbox ------------------------------------------------------------------------------------
@pytest.fixture
def sandbox_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxFactory]:
    """Start sandboxes serving ``fleet``, stopped after the test (arguments:
    :class:`~tests.sandbox_helpers.SandboxFactory`); with ``journal`` (the default) the CLI's
    journal is set as :func:`journal_env` sets it."""
    with contextlib.ExitStack() as stack:

        def start(
            fleet: str | dict[str, Any] | Path = "small",
            *,
            build_seconds: float = 0.2,
            canaries: Sequence[str] = ("templates", "api_tokens"),
            state_dir: Path | None = None,
            journal: bool = True,
            **kw: Any,
        ) -> Sandbox:
            if journal:
                _set_journal_env(tmp_path, monkeypatch)
            sb = Sandbox(state_dir or tmp_path / "sb", fleet=fleet, build_seconds=build_seconds, **kw)
            stack.enter_context(sb)
            if "templates" in canaries:
                register_template_secrets(sb)
            if "api_tokens" in canaries:
                register_api_tokens(sb)
            return sb

        yield start
