"""Configuration loading: dotenv syntax, whitespace cleanup, unknown keys, URL overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from keyroll.cli.main import run
from keyroll.config import load_config, parse_env_text
from keyroll.core.errors import ConfigError


def test_dotenv_syntax() -> None:
    text = """
# comment
export VERCEL_TOKEN=tok_abcdefghijklmnop   # trailing comment
QSTASH_TOKEN='single quoted value'
UPSTASH_EMAIL="a@b.c"
MULTI="line1
line2"
ESCAPED="a\\nb"
EMPTY=
"""
    values, warnings = parse_env_text(text)
    assert values["VERCEL_TOKEN"] == "tok_abcdefghijklmnop"
    assert values["QSTASH_TOKEN"] == "single quoted value"
    assert values["UPSTASH_EMAIL"] == "a@b.c"
    assert values["MULTI"] == "line1\nline2"
    assert values["ESCAPED"] == "a\nb"
    assert values["EMPTY"] == ""
    assert warnings == []


def test_stray_line_break_in_token_is_removed_with_warning_naming_key() -> None:
    values, warnings = parse_env_text('UPSTASH_API_KEY="abcdefgh\nijklmnopqrstuvwx"\n')
    assert values["UPSTASH_API_KEY"] == "abcdefghijklmnopqrstuvwx"
    assert len(warnings) == 1 and "UPSTASH_API_KEY" in warnings[0]
    assert "abcdefgh" not in warnings[0]


@pytest.mark.parametrize(
    ("text", "line"),
    [("GOOD=1\nno equals here\n", 2), ("A=1\nB=2\n9BAD=3\n", 3), ('A="unterminated\n', 1)],
)
def test_malformed_env_names_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_env_text(text, source="x.env")
    assert f"x.env:{line}" in str(exc.value)


def test_unknown_keyroll_key_rejected(tmp_path: Path) -> None:
    f = tmp_path / "x.env"
    f.write_text("KEYROLL_VERCEL_URL=http://x\n")
    with pytest.raises(ConfigError, match="unknown setting KEYROLL_VERCEL_URL"):
        load_config(f, environ={})


def test_urls_overridable_and_validated(tmp_path: Path) -> None:
    cfg = load_config(None, environ={"KEYROLL_VERCEL_API_URL": "http://127.0.0.1:9999/"})
    assert cfg.vercel_api_url == "http://127.0.0.1:9999"
    with pytest.raises(ConfigError):
        load_config(None, environ={"KEYROLL_QSTASH_URL": "not a url"})


def test_toml_unknown_key(tmp_path: Path) -> None:
    t = tmp_path / "keyroll.toml"
    t.write_text("[scope]\nprojects=['a']\nbogus=1\n")
    with pytest.raises(ConfigError, match=r"scope\.bogus"):
        load_config(None, environ={}, toml_path=t)


def test_config_show_prints_fingerprints_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tokens = {
        "VERCEL_TOKEN": "vercel_tok_0123456789abcdef",
        "UPSTASH_API_KEY": "upstash_key_0123456789abcdef",
        "QSTASH_TOKEN": "eyJVc2VySUQiOiJxc3Rhc2gtdG9rZW4ifQ==",
        "GITHUB_TOKEN": "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    }
    f = tmp_path / "x.env"
    f.write_text("".join(f"{k}={v}\n" for k, v in tokens.items()) + "UPSTASH_EMAIL=ops@example.com\n")
    for json_flag in ([], ["--json"]):
        code = run(["config", "show", "--env-file", str(f), *json_flag])
        out = capsys.readouterr()
        assert code == 0
        for v in tokens.values():
            assert v not in out.out + out.err
        from keyroll.core.secret import fingerprint_of

        assert fingerprint_of(tokens["VERCEL_TOKEN"]) in out.out


def test_bad_env_file_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "bad.env"
    f.write_text("VERCEL_TOKEN=secret_value_that_must_not_print\nthis is not valid\n")
    code = run(["config", "show", "--env-file", str(f)])
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.env:2" in err
    assert "Traceback" not in err
    assert "secret_value_that_must_not_print" not in err
    assert len(err.strip().splitlines()) == 1
    assert run(["config", "show", "--env-file", str(tmp_path / "missing.env")]) == 2


def test_doctor_reports_missing_tokens_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["doctor", "--json"])
    assert code == 1
    assert '"present": false' in capsys.readouterr().out


def test_update_env_file_replaces_only_the_old_value_atomically(tmp_path: Path) -> None:
    """Issue #17 case 5: keyroll's own token in its --env-file follows a rotation."""
    import os
    import stat

    from keyroll.config import update_env_file
    from keyroll.core.secret import Secret

    old, new = "qstash_old_token_value_1234567890", "qstash_new_token_value_0987654321"
    f = tmp_path / "incident.env"
    f.write_bytes(
        f'# keyroll\nVERCEL_TOKEN=v\nexport QSTASH_TOKEN="{old}"\r\nOTHER=QSTASH_TOKEN={old}\n'.encode()
    )
    f.chmod(0o644)
    assert update_env_file(f, "QSTASH_TOKEN", Secret(old), Secret(new)) is True
    assert (
        f.read_bytes()
        == f'# keyroll\nVERCEL_TOKEN=v\nexport QSTASH_TOKEN="{new}"\r\nOTHER=QSTASH_TOKEN={old}\n'.encode()
    )
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["incident.env"]  # no temporary file left
    # the file no longer holds the old value: nothing to do, nothing rewritten
    assert update_env_file(f, "QSTASH_TOKEN", Secret(old), Secret("x" * 20)) is False
    assert new in f.read_text()
