"""Test-wide fixtures: the secret canary (autouse), a clean environment (autouse), CLI runner."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from tests import canary as canary_mod

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
