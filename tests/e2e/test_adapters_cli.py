"""``keyroll adapters``: what is installed, what each adapter can do, which settings are set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keyroll.cli.main import run


def test_adapters_lists_the_builtins_and_which_settings_are_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "keyroll.env"
    env.write_text("NEON_API_KEY=napi_secretvalue0123456789\n")
    assert run(["adapters", "--json", "--env-file", str(env)]) == 0
    out = capsys.readouterr().out
    assert "napi_secretvalue0123456789" not in out
    data = json.loads(out)
    assert data["group"] == "keyroll.providers" and data["broken"] == []
    by_name = {a["name"]: a for a in data["adapters"]}
    assert set(by_name) >= {"upstash", "postgres", "neon"}
    assert by_name["neon"]["settings"] == {"NEON_API_KEY": True, "KEYROLL_NEON_API_URL": False}
    assert by_name["postgres"]["mint"] and by_name["postgres"]["revoke"]
    assert "redis_acl" in by_name["upstash"]["strategies"] and not by_name["upstash"]["mint"]
    assert run(["adapters"]) == 0
    table = capsys.readouterr().out
    assert all(name in table for name in ("upstash", "postgres", "neon"))


def test_config_show_lists_adapter_settings_secret_ones_as_fingerprints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = tmp_path / "keyroll.env"
    env.write_text("NEON_API_KEY=napi_secretvalue0123456789\nKEYROLL_NEON_API_URL=http://127.0.0.1:9\n")
    assert run(["config", "show", "--json", "--env-file", str(env)]) == 0
    out = capsys.readouterr().out
    assert "napi_secretvalue0123456789" not in out
    rows = json.loads(out)["config"]
    assert rows["NEON_API_KEY"]["value"].startswith("sha256:")
    assert rows["KEYROLL_NEON_API_URL"] == {"value": "http://127.0.0.1:9", "source": str(env)}
    assert rows["KEYROLL_POSTGRES_ADMIN_URL"]["value"] == "(not set)"
