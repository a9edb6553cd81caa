"""The canary itself finds values in every form it promises."""

from __future__ import annotations

import base64
import urllib.parse

from keyroll.core.secret import Secret
from tests import canary


def test_canary_finds_plain_urlencoded_and_base64_forms() -> None:
    v = "canary/value+with=chars_1234"
    Secret(v)  # constructing a Secret registers it
    assert canary.find(f"x {v} y")
    assert canary.find(urllib.parse.quote(v, safe=""))
    assert canary.find(base64.b64encode(v.encode()).decode())
    assert not canary.find("nothing to see here")


def test_canary_fixture_check_text(canary: canary.Canary) -> None:  # type: ignore[name-defined]
    canary.register("explicit-canary-value-xyz")
    try:
        canary.check_text("leaked explicit-canary-value-xyz")
    except AssertionError as exc:
        assert "sha256:" in str(exc)
    else:
        raise AssertionError("canary did not trip")
