"""``keyroll scan`` end to end, in-process: exit codes, formats, baselines, inputs, bad input."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from keyroll.cli.main import run
from keyroll.core.secret import fingerprint_of
from keyroll.scan import synthetic
from tests import canary as canary_mod


def tok(kind: str = "redis") -> str:
    maker = {
        "redis": synthetic.redis_token,
        "qstash": synthetic.qstash_token,
        "vector": synthetic.index_token,
        "sig": synthetic.qstash_signing_key,
        "vercel": synthetic.vercel_token,
    }[kind]
    value = maker().reveal()
    canary_mod.register(value)
    return value


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    toks = {k: tok(k) for k in ("redis", "qstash", "vector", "sig", "vercel")}
    (tmp_path / ".env.local").write_text(
        f'UPSTASH_REDIS_REST_TOKEN={toks["redis"]}\nQSTASH_TOKEN="{toks["qstash"]}"\n'
    )
    (tmp_path / "config.yaml").write_text(f"vector:\n  UPSTASH_VECTOR_REST_TOKEN: {toks['vector']}\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "hook.ts").write_text(
        f'const r = new Receiver({{ currentSigningKey: "{toks["sig"]}" }})\n'
    )
    (tmp_path / "deploy.sh").write_text(f"vercel deploy --token {toks['vercel']}\n")
    (tmp_path / "clean.py").write_text("print('nothing to see')\n")
    monkeypatch.chdir(tmp_path)
    return toks


def test_findings_exit_1_text_report_and_summary(
    project: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["scan", "."]) == 1
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert len(lines) == 5
    assert any(".env.local:1:26" in ln and "upstash-redis-rest-token" in ln for ln in lines)
    assert "scanned 5 files" in err and "5 findings" in err
    for value in project.values():
        assert value not in out + err


def test_clean_tree_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    assert run(["scan", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "0 findings" in err


def test_json_and_sarif_to_output_file(
    project: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], canary: canary_mod.Canary
) -> None:
    report = tmp_path / "out.json"
    sarif = tmp_path / "out.sarif"
    canary.watch(report, sarif)
    assert run(["scan", ".", "--json", "--output", str(report)]) == 1
    doc = json.loads(report.read_text())
    assert {f["rule_id"] for f in doc["findings"]} == {
        "upstash-redis-rest-token",
        "upstash-qstash-token",
        "upstash-vector-token",
        "upstash-qstash-signing-key",
        "vercel-access-token",
    }
    assert doc["summary"]["files"] == 5
    assert run(["scan", ".", "--format", "sarif", "-o", str(sarif)]) == 1
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert capsys.readouterr().out == ""


def test_baseline_accepts_then_new_finding_fails(
    project: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], canary: canary_mod.Canary
) -> None:
    base = tmp_path / "baseline.json"
    canary.watch(base)
    assert run(["scan", ".", "--baseline", str(base), "--update-baseline"]) == 0
    assert "baseline written" in capsys.readouterr().err
    assert run(["scan", ".", "--baseline", str(base)]) == 0
    assert "5 in baseline" in capsys.readouterr().err
    new = tok()
    Path("new.env").write_text(f"KV_REST_API_TOKEN={new}\n")
    assert run(["scan", ".", "--baseline", str(base)]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "new.env" in out


def test_min_confidence_and_pragma(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t = tok("qstash")
    (tmp_path / "a.py").write_text(
        f'SECRET_KEY = "k2#9x!fj3Lm0qPz8vRt5wYb1nC4sDe7h"\nQSTASH_TOKEN="{t}"  # keyroll: allow\n'
    )
    assert run(["scan", str(tmp_path)]) == 1
    assert run(["scan", str(tmp_path), "--min-confidence", "medium"]) == 0
    err = capsys.readouterr().err
    assert "1 allowed by pragma" in err and "1 below --min-confidence" in err


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    t = tok()
    monkeypatch.setattr(
        sys, "stdin", io.TextIOWrapper(io.BytesIO(f"export KV_REST_API_TOKEN={t}\n".encode()))
    )
    assert run(["scan", "--stdin"]) == 1
    assert "<stdin>:1:" in capsys.readouterr().out


def test_known_values_file_finds_any_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    value = "hunter2-but-longer-and-random-9f8e7d"
    canary_mod.register(value)
    (tmp_path / "values.txt").write_text(f"\n{value}\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text(f"opaque = {value}\n")
    assert run(["scan", str(tmp_path / "src"), "--known-values", str(tmp_path / "values.txt"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    (f,) = doc["findings"]
    assert f["rule_id"] == "known-value" and f["known"] and f["fingerprint"] == fingerprint_of(value)


def test_from_inventory_matches_fingerprints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t1, t2 = tok(), tok()
    inv = {
        "version": 1,
        "credentials": [{"fingerprint": fingerprint_of(t1), "product": "redis", "kind": "rest_token"}],
        "locations": [],
    }
    (tmp_path / "inv.json").write_text(json.dumps(inv))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.env").write_text(f"A={t1}\nB={t2}\n")
    assert run(["scan", str(tmp_path / "src"), "--from-inventory", str(tmp_path / "inv.json"), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    known = {f["fingerprint"]: f["known"] for f in doc["findings"]}
    assert known == {fingerprint_of(t1): True, fingerprint_of(t2): False}


def test_git_history_via_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    t = tok()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e",
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, env=env, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "x.env").write_text(f"KV_REST_API_TOKEN={t}\n")
    git("add", ".")
    git("commit", "-qm", "oops")
    git("rm", "-q", "x.env")
    git("commit", "-qm", "fix")
    monkeypatch.chdir(tmp_path)
    assert run(["scan"]) == 0  # the working tree is clean
    assert run(["scan", "--git"]) == 1
    out, err = capsys.readouterr()
    assert "x.env:1:" in out and "commit=" in out and "blobs in 2 commits" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "--git", "{plain}"], "not a git repository"),
        (["scan", "--since", "HEAD"], "need --git"),
        (["scan", "--update-baseline"], "needs --baseline"),
        (["scan", "--known-values", "{plain}/missing.txt"], "cannot read --known-values"),
        (["scan", "--from-inventory", "{plain}/inv.json"], "is not JSON"),
        (["scan", "--format", "xml"], "xml"),
        (["scan", "--jobs", "0"], "--jobs"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "inv.json").write_text("{nope")
    assert run([a.replace("{plain}", str(plain)) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert message in err and "Traceback" not in err and out == ""


# -- gates a CI job relies on (issue 17, item 7), through both entry points ----------------------


def _both(argv: list[str], capsys: pytest.CaptureFixture[str]) -> list[tuple[int, str, str]]:
    """Run ``argv`` through the full CLI and through the console script's fast path."""
    from keyroll.cli.entry import fast_scan

    out = []
    for runner in (run, fast_scan):
        code = runner(argv)
        assert code is not None, "the fast path refused plain scan arguments"
        o, e = capsys.readouterr()
        out.append((code, o, e))
    return out


def test_missing_path_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    missing = tmp_path / "nope"
    for code, out, err in _both(["scan", str(tmp_path), str(missing)], capsys):
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and f"not found: {missing}" in err and "Traceback" not in err
    for code, _, err in _both(["scan", "--git", str(missing)], capsys):
        assert code == 2 and "not found" in err


def test_binary_file_is_searched_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sqlite3

    t = tok()
    db = tmp_path / "cache.sqlite3"
    with sqlite3.connect(db) as conn:  # a token in a row: no key name, binary all around
        conn.execute("CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO kv (v) VALUES (?)", (t,))
    conn.close()
    assert b"\0" in db.read_bytes()[:8192]
    for code, out, err in _both(["scan", str(tmp_path), "--json"], capsys):
        assert code == 1, err
        (finding,) = json.loads(out)["findings"]
        assert finding["form"] == "binary" and finding["fingerprint"] == fingerprint_of(t)
        assert finding["rule_id"] == "upstash-redis-rest-token"
        assert "1 binary searched" in err and "skipped" not in err
        assert t not in out + err


def test_every_sandbox_token_format_is_found_on_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import uuid

    from keyroll.sandbox.upstash import tokens as minted

    db_id, port = str(uuid.uuid4()), 41234
    values = {
        "rest": minted.redis_rest_token(port, db_id, minted.new_password()),
        "readonly": minted.redis_readonly_token(port, db_id),
        "gentoken": minted.redis_gentoken(port, "keyroll-a", minted.new_password()),
        "resttoken": minted.redis_resttoken(port),
        "qstash": minted.qstash_token(str(uuid.uuid4())),
        "signing": minted.signing_key(),
        "index": minted.index_token(1, str(uuid.uuid4())),
        "index_readonly": minted.index_token(2, str(uuid.uuid4())),
    }
    for v in values.values():
        canary_mod.register(v)
    for name, v in values.items():  # one file each, the value alone: no key name, no URL beside it
        (tmp_path / f"{name}.txt").write_text(f"{v}\n")
    for code, out, _ in _both(["scan", str(tmp_path), "--json"], capsys):
        assert code == 1
        found = {Path(f["path"]).stem: f["fingerprint"] for f in json.loads(out)["findings"]}
        assert found == {name: fingerprint_of(v) for name, v in values.items()}


def test_profile_prints_where_the_time_went(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.env").write_text(f"UPSTASH_REDIS_REST_TOKEN={tok()}\n")
    for code, out, err in _both(["scan", str(tmp_path), "--profile"], capsys):
        assert code == 1 and "upstash-redis-rest-token" in out
        profile = err[err.index("profile (wall") :]
        for phase in (
            "start-up",
            "setup",
            "walk",
            "scanner",
            "read",
            "prefilter",
            "detectors",
            "scan",
            "report",
        ):
            assert f"\n  {phase} " in profile, phase


def test_console_script_scans_without_the_full_cli(tmp_path: Path) -> None:
    # `keyroll scan` is a pre-commit hook: its start-up must not pay for typer, rich or pydantic
    # (and an empty folder does not even load the detectors)
    (tmp_path / "empty").mkdir()
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "a.py").write_text("x = 1\n")
    heavy = ("typer", "rich", "pydantic", "httpx", "keyroll.config", "keyroll.scan.detectors")
    for folder, loaded in (("empty", "[]"), ("code", "['keyroll.scan.detectors']")):
        probe = (
            "import sys\n"
            "from keyroll.cli.entry import fast_scan\n"
            f"code = fast_scan(['scan', {str(tmp_path / folder)!r}])\n"
            f"print(code, sorted(m for m in {heavy!r} if m in sys.modules))\n"
        )
        res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
        assert res.stdout.strip() == f"0 {loaded}", res.stdout + res.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--help"],
        ["scan", "-h"],
        ["scan", "--format", "xml"],
        ["scan", "--jobs", "0"],
        ["inventory"],
        [],
    ],
)
def test_fast_path_leaves_help_and_bad_options_to_the_full_cli(argv: list[str]) -> None:
    from keyroll.cli.entry import fast_scan

    assert fast_scan(argv) is None


def test_fast_path_takes_global_flags_and_out_alias(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from keyroll.cli.entry import fast_scan

    (tmp_path / "app.env").write_text(f"QSTASH_TOKEN={tok('qstash')}\n")
    report = tmp_path / "r.json"
    assert fast_scan(["--quiet", "scan", "--out", str(report), "--json", str(tmp_path)]) == 1
    assert json.loads(report.read_text())["findings"][0]["rule_id"] == "upstash-qstash-token"
    assert capsys.readouterr().out == ""
