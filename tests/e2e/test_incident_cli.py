"""Issue #17 through the CLI against the sandbox (fleet ``small``), with the load generator on:
a dead copy next to a live credential, and the same credential rotated again and again."""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.core.secret import Secret
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox
from tests import canary
from tests.sandbox_helpers import SandboxFactory

BUILD = 0.2


@pytest.fixture(autouse=True)
def _quiet_url_logs(caplog: pytest.LogCaptureFixture) -> None:
    """httpx (INFO) names request URLs, which the sandbox's env holds as values (not credentials)."""
    caplog.set_level(logging.WARNING, logger="httpx")
    caplog.set_level(logging.INFO, logger="keyroll.providers.http")


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory("small", build_seconds=BUILD)


def env_file(sb: Sandbox) -> str:
    return str(sb.state_dir / "sandbox.env")


def cli(capsys: pytest.CaptureFixture[str], argv: list[str], code: int | None = 0) -> tuple[int, str, str]:
    rc = run(argv)
    out = capsys.readouterr()
    if code is not None:
        assert rc == code, (argv, out.out[-2000:], out.err[-2000:])
    return rc, out.out, out.err


def cli_json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int | None = 0) -> Any:
    _, out, _ = cli(capsys, argv, code)
    return json.loads(out) if out.strip() else None


def redis_creds(capsys: pytest.CaptureFixture[str], sb: Sandbox) -> list[dict[str, Any]]:
    doc = cli_json(capsys, ["inventory", "--env-file", env_file(sb), "--json"], None)  # 1: unknowns
    return [c for c in doc["credentials"] if c["product"] == "redis" and c["resource_name"] == "cache"]


def cache_token(creds: list[dict[str, Any]]) -> dict[str, Any]:
    """The read-write REST token of ``cache`` that Vercel holds (the default user's or keyroll's)."""
    return next(
        c
        for c in creds
        if c["strategy"] == "redis_acl"
        and c["kind"] in ("rest_token", "acl_rest_token")
        and c["blast_radius"]["env_vars"] > 0
    )


def plan_file(capsys: pytest.CaptureFixture[str], sb: Sandbox, path: Path, fp: str) -> dict[str, Any]:
    cli(
        capsys,
        [
            "plan",
            "--env-file",
            env_file(sb),
            "--credential",
            fp,
            "--out",
            str(path),
            "--build-seconds",
            str(BUILD),
        ],
    )
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def apply_under_load(
    capsys: pytest.CaptureFixture[str], sb: Sandbox, path: Path
) -> tuple[int, str, str, dict[str, Any]]:
    with LoadGenerator(sb.world, rps=30, duration=120) as lg:
        rc, out, err = cli(
            capsys, ["apply", str(path), "--env-file", env_file(sb), "--yes", "--health-path", "/"], None
        )
        stats = lg.stop()
    return rc, out, err, stats


def dead_token_sorting_first() -> str:
    """A REST-token-shaped value nobody accepts whose fingerprint sorts before any live one
    (``base_spec`` once took whichever value of a role sorted first)."""
    for i in itertools.count():
        value = f"AX{i:06d}" + "Q" * 54
        if Secret(value).fingerprint.startswith("sha256:00"):
            canary.register(value)
            return value
    raise AssertionError("unreachable")


def add_var(sb: Sandbox, project: str, key: str, value: str, **fields: Any) -> None:
    env = sb.env()
    resp = httpx.post(
        f"{env['KEYROLL_VERCEL_API_URL']}/v10/projects/{project}/env",
        params={"teamId": env["VERCEL_TEAM_ID"]},
        headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"},
        json={"key": key, "value": value, "type": "encrypted", **fields},
    )
    assert resp.status_code in (200, 201), resp.text


def test_a_dead_copy_is_replaced_and_reported_never_a_blocker(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 1: a dead UPSTASH_REDIS_REST_TOKEN on a preview branch, next to the database's URL."""
    dead = dead_token_sorting_first()
    add_var(sandbox, "web", "UPSTASH_REDIS_REST_TOKEN", dead, target=["preview"], gitBranch="old-branch")
    creds = redis_creds(capsys, sandbox)
    dead_fp = Secret(dead).fingerprint
    assert any(c["fingerprint"] == dead_fp and c["kind"] == "rest_token" for c in creds), creds
    live = cache_token([c for c in creds if c["fingerprint"] != dead_fp])
    doc = plan_file(capsys, sandbox, tmp_path / "plan.json", live["fingerprint"])
    (cp,) = doc["credentials"]
    group = cp["steps"][0]["params"]["group"]
    assert dead_fp in group["fingerprints"] and group["credentials"]["rest_token"] == live["fingerprint"]
    assert dead_fp in group["stale"] and any(dead_fp in w for w in cp["warnings"]), cp["warnings"]
    rc, out, err, stats = apply_under_load(capsys, sandbox, tmp_path / "plan.json")
    assert rc == 0, err[-2000:]
    assert "done" in out
    assert stats["requests"] > 0 and stats["failed"] == 0, stats["failures"][:3]
    # the dead copy got the new value like every other copy; the old live token is revoked
    after = {c["fingerprint"] for c in redis_creds(capsys, sandbox)}
    assert dead_fp not in after and live["fingerprint"] not in after
    status = cli_json(capsys, ["status", "--env-file", env_file(sandbox), "--json"])
    assert status["run"]["state"] == "done"


def test_the_same_credential_rotates_again_and_again(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 2: after a keyroll rotation the copies hold keyroll-a's credentials (its REDIS_URL
    too); the next rotation moves them to keyroll-b and deletes keyroll-a, and back again."""
    users = []
    for round_no in range(3):
        creds = redis_creds(capsys, sandbox)
        # every credential of cache in Vercel belongs to the database (none "management unknown")
        assert all(c["management"] == "native" for c in creds), creds
        token = cache_token(creds)
        users.append(token["acl_user"])
        doc = plan_file(capsys, sandbox, tmp_path / f"plan{round_no}.json", token["fingerprint"])
        (cp,) = doc["credentials"]
        fps = set(cp["steps"][0]["params"]["group"]["fingerprints"])
        copied = {
            c["fingerprint"]
            for c in creds
            if c["blast_radius"]["env_vars"] > 0 and c["strategy"] == "redis_acl"
        }
        assert copied <= fps, "a copy of the database's credential was left out of its group"
        revoke = next(s for s in cp["steps"] if s["id"].endswith("/revoke"))
        if round_no:
            assert revoke["params"]["action"] == "deluser", revoke
            assert users[-1] in revoke["description"]
        rc, _out, err, stats = apply_under_load(capsys, sandbox, tmp_path / f"plan{round_no}.json")
        assert rc == 0, err[-2000:]
        assert stats["requests"] > 0 and stats["failed"] == 0, stats["failures"][:3]
    users.append(cache_token(redis_creds(capsys, sandbox))["acl_user"])
    assert users == ["default", "keyroll-a", "keyroll-b", "keyroll-a"]


def test_dry_run_fails_where_the_real_run_would_and_the_run_ends(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 3: a Redis URL of a database nobody can administer. ``--dry-run`` used to say
    ``done``; the real run failed at its first step and its rollback at ``undo mint`` forever."""
    add_var(
        sandbox,
        "api",
        "CACHE_REDIS_URL",
        "redis://default:Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA@127.0.0.1:1",
        target=["production"],
    )
    canary.register("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA")
    env = env_file(sandbox)
    doc = cli_json(capsys, ["inventory", "--env-file", env, "--json"], None)
    (orphan,) = [c for c in doc["credentials"] if c["product"] == "redis" and c["endpoint"].endswith(":1")]
    path = tmp_path / "plan.json"
    plan_file(capsys, sandbox, path, orphan["fingerprint"])
    _, _, err = cli(capsys, ["apply", str(path), "--env-file", env, "--yes", "--dry-run"], 3)
    assert "would fail at" in err and "/mint" in err and "no admin token" in err, err
    assert not (tmp_path / "journal.db").exists()
    _, _, err = cli(capsys, ["apply", str(path), "--env-file", env, "--yes"], 3)
    status = cli_json(capsys, ["status", "--env-file", env, "--json"])
    assert status["run"]["state"] == "rolled_back", status
    _, out, _ = cli(capsys, ["rollback", "--env-file", env, "--yes"], 0)
    assert "nothing to roll back" in out
    _, out, err = cli(capsys, ["resume", "--env-file", env, "--yes"], 0)
    assert "nothing to do" in err
    # the next apply is not refused
    token = cache_token(redis_creds(capsys, sandbox))
    path2 = tmp_path / "plan2.json"
    plan_file(capsys, sandbox, path2, token["fingerprint"])
    cli(capsys, ["apply", str(path2), "--env-file", env, "--yes", "--dry-run"], 0)


def test_waiting_for_a_person_has_its_own_state_and_abandon_closes_the_run(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Cases 3, 10, 11: an integration database waits for a dashboard reset (exit 4, state
    ``waiting``, ``status`` repeats the instructions); ``abandon`` closes it with a reason."""
    env = env_file(sandbox)
    doc = cli_json(capsys, ["inventory", "--env-file", env, "--json"], None)
    kv = next(
        c
        for c in doc["credentials"]
        if c["product"] == "redis" and c["management"] == "vercel-integration" and c["kind"] == "rest_token"
    )
    path = tmp_path / "plan.json"
    plan_file(capsys, sandbox, path, kv["fingerprint"])
    _, _, err = cli(capsys, ["apply", str(path), "--env-file", env, "--yes", "--health-path", "/"], 4)
    assert "waiting" in err and "Reset Credentials" in err
    status = cli_json(capsys, ["status", "--env-file", env, "--json"])
    assert status["run"]["state"] == "waiting"
    assert status["waiting"] and "Reset Credentials" in status["waiting"][0]["instructions"]
    _, out, _ = cli(capsys, ["status", "--env-file", env])
    assert "waiting for a person" in out and "Reset Credentials" in out and "keyroll resume" in out
    run_id = status["run"]["id"]
    # a new apply is refused while it waits, and says how to end it
    token = cache_token(redis_creds(capsys, sandbox))
    path2 = tmp_path / "plan2.json"
    plan_file(capsys, sandbox, path2, token["fingerprint"])
    _, _, err = cli(capsys, ["apply", str(path2), "--env-file", env, "--yes"], 2)
    assert "unfinished" in err and "abandon" in err
    # ... and a dry run says so too, instead of walking a plan the real run would refuse
    _, _, err = cli(capsys, ["apply", str(path2), "--env-file", env, "--dry-run"], 2)
    assert f"run {run_id} is unfinished" in err and "abandon" in err
    _, _, err = cli(capsys, ["abandon", run_id, "--reason", "  ", "--env-file", env], 2)
    assert "needs a reason" in err
    reason = "the integration was removed; kv is deleted by hand"
    _, out, _ = cli(capsys, ["abandon", run_id, "--reason", reason, "--env-file", env], 0)
    assert "closed" in out and reason in out and "not done" in out
    status = cli_json(capsys, ["status", "--env-file", env, "--json"])
    assert status["run"]["state"] == "closed" and status["closed"]["reason"] == reason
    assert status["integrity"] == []
    cli(capsys, ["apply", str(path2), "--env-file", env, "--dry-run"], 0)  # a closed run blocks nothing
    _, out, _ = cli(capsys, ["status", "--env-file", env])
    assert "abandoned: " + reason in " ".join(out.split())
    report = tmp_path / "report.json"
    cli(capsys, ["report", "--env-file", env, "--offline", "--format", "json", "--out", str(report)], None)
    assert f"was abandoned: {reason}" in report.read_text()
    cli(capsys, ["resume", "--env-file", env, "--yes"], 0)
    _, out, _ = cli(capsys, ["rollback", "--env-file", env, "--yes"], 0)
    assert "nothing to roll back" in out
    _, _, err = cli(capsys, ["abandon", run_id, "--reason", "again", "--env-file", env], 2)
    assert "nothing to abandon" in err
    # the closed run blocks nothing
    cli(capsys, ["apply", str(path2), "--env-file", env, "--yes", "--dry-run"], 0)


def test_an_edited_plan_is_refused_naming_what_changed(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 8: a plan carries a digest; ``apply`` refuses an edited step (exit 2, nothing changed)."""
    env = env_file(sandbox)
    token = cache_token(redis_creds(capsys, sandbox))
    path = tmp_path / "plan.json"
    doc = plan_file(capsys, sandbox, path, token["fingerprint"])
    assert doc["digest"].startswith("sha256:") and doc["digests"]
    write = next(s for s in doc["credentials"][0]["steps"] if s["params"].get("action") == "write")
    write["params"]["locations"][0]["key"] = "ATTACKER_CONTROLLED"
    path.write_text(json.dumps(doc))
    _, _, err = cli(capsys, ["apply", str(path), "--env-file", env, "--yes"], 2)
    assert "modified after `keyroll plan`" in err and f"changed step:{write['id']}" in err, err
    assert not (tmp_path / "journal.db").exists()
    del doc["digest"]
    path.write_text(json.dumps(doc))
    _, _, err = cli(capsys, ["apply", str(path), "--env-file", env, "--yes"], 2)
    assert "has no digest" in err


def test_rotating_keyrolls_own_qstash_token_updates_its_env_file(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 5: after the QStash token reset, the --env-file keyroll was started with holds the
    new token (atomically, mode 0600, journaled); a stale copy of it is refused before any write."""
    import os
    import shutil
    import stat

    env = tmp_path / "keyroll.env"
    shutil.copy(env_file(sandbox), env)
    stale = tmp_path / "stale.env"
    shutil.copy(env_file(sandbox), stale)
    before = env.read_text()
    doc = cli_json(capsys, ["inventory", "--env-file", str(env), "--json"], None)
    token = next(c for c in doc["credentials"] if c["kind"] == "qstash_token")
    path = tmp_path / "plan.json"
    cli(
        capsys,
        [
            "plan",
            "--env-file",
            str(env),
            "--credential",
            token["fingerprint"],
            "--out",
            str(path),
            "--build-seconds",
            str(BUILD),
        ],
    )
    _, _, err = cli(capsys, ["apply", str(path), "--env-file", str(env), "--yes", "--accept-downtime"], 0)
    assert "own QSTASH_TOKEN" in err, err
    after = env.read_text()
    assert after != before and stat.S_IMODE(os.stat(env).st_mode) == 0o600
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert [a.split("=", 1)[0] for a, _ in changed] == ["QSTASH_TOKEN"]  # every other line kept
    canary.register(changed[0][1].split("=", 1)[1].strip("\"'"))
    status = cli_json(capsys, ["status", "--env-file", str(env), "--json"])
    assert status["run"]["state"] == "done"
    doctor = cli_json(capsys, ["doctor", "--env-file", str(env), "--json"], None)
    assert next(c for c in doctor["checks"] if c["name"] == "QSTASH_TOKEN")["ok"] is True
    journal_key = next(c for c in doctor["checks"] if c["name"] == "KEYROLL_JOURNAL_KEY")
    assert journal_key["ok"] is True and "unlocks the journal" in journal_key["detail"]
    # the stale env file: its dead token is not proposed for rotation, it is an unknown
    doc = cli_json(capsys, ["inventory", "--env-file", str(stale), "--json"], None)
    assert token["fingerprint"] not in {c["fingerprint"] for c in doc["credentials"]}
    assert any("keyroll's own" in u["where"] for u in doc["unknowns"]), doc["unknowns"]
    # and a plan that calls QStash with it is refused before the first write
    signing = next(c for c in doc["credentials"] if c["kind"] == "signing_key_current")
    path2 = tmp_path / "plan2.json"
    cli(
        capsys,
        [
            "plan",
            "--env-file",
            str(stale),
            "--credential",
            signing["fingerprint"],
            "--out",
            str(path2),
            "--build-seconds",
            str(BUILD),
        ],
    )
    _, _, err = cli(capsys, ["apply", str(path2), "--env-file", str(stale), "--yes", "--accept-downtime"], 2)
    assert "QSTASH_TOKEN" in err and "rejected" in err, err


def test_apply_lists_every_missing_precondition_at_once(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Case 11: the README's path used to take three failed attempts (--accept-downtime, --yes,
    journal key), each re-reading the whole team; now one exit 2 names all three."""
    env = env_file(sandbox)
    doc = cli_json(capsys, ["inventory", "--env-file", env, "--json"], None)
    token = next(c for c in doc["credentials"] if c["kind"] == "qstash_token")
    path = tmp_path / "plan.json"
    cli(capsys, ["plan", "--env-file", env, "--credential", token["fingerprint"], "--out", str(path)])
    monkeypatch.delenv("KEYROLL_JOURNAL_KEY")
    # Vercel unreachable: the preconditions are found without reading the team
    offline = tmp_path / "offline.env"
    offline.write_text(
        "".join(
            "KEYROLL_VERCEL_API_URL=http://127.0.0.1:9\n"
            if line.startswith("KEYROLL_VERCEL_API_URL=")
            else line + "\n"
            for line in Path(env).read_text().splitlines()
        )
    )
    _, _, err = cli(capsys, ["apply", str(path), "--env-file", str(offline)], 2)
    flat = " ".join(err.split())
    assert "3 thing(s) missing" in flat, err
    assert "--accept-downtime" in flat and "--yes" in flat and "KEYROLL_JOURNAL_KEY" in flat
    assert "Traceback" not in err and not (tmp_path / "journal.db").exists()


def test_a_wrong_upstash_api_key_is_named(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 10: a wrong UPSTASH_API_KEY used to end in "choose another --strategy"."""
    text = Path(env_file(sandbox)).read_text()
    bad = tmp_path / "bad.env"
    bad.write_text(
        "".join(
            "UPSTASH_API_KEY=not-the-key-0000\n" if line.startswith("UPSTASH_API_KEY=") else line + "\n"
            for line in text.splitlines()
        )
    )
    for argv in (["plan", "--all-upstash"], ["apply", "--all-upstash", "--yes", "--accept-downtime"]):
        _, _, err = cli(capsys, [*argv, "--env-file", str(bad)], 2)
        flat = " ".join(err.split())
        assert "rejected UPSTASH_EMAIL / UPSTASH_API_KEY" in flat and "--strategy" not in flat, err
