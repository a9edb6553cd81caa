"""The rotation journal: encryption, integrity (hash chain + MAC), migrations, locking, errors."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from keyroll.core.errors import ConfigError, JournalError
from keyroll.core.model import Plan, RunState, StepKind, StepState
from keyroll.core.secret import Secret
from keyroll.journal.keys import JournalKey, resolve_journal_key
from keyroll.journal.schema import MIGRATIONS
from keyroll.journal.store import Journal

PASS = "correct horse battery staple, long enough!"


def _key() -> JournalKey:
    return JournalKey.from_passphrase(Secret(PASS))


def _plan() -> Plan:
    return Plan("plan-1", "2026-01-01", "sha256:x")


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "j.db", _key(), create=True)
    yield j
    j.close()


def test_create_is_private_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "j.db"
    with Journal.open(path, _key(), create=True):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_runs_entries_and_secrets_round_trip(journal: Journal, canary) -> None:
    canary.watch(journal.path)
    run = journal.start_run(_plan(), {"yes": True})
    secret = Secret("AXnewtokenvalue-0123456789abcdef")
    journal.put_secret(run.id, "g:new:rest_token", secret)
    journal.append(run.id, "g/mint", "intent", StepState.RUNNING, kind=StepKind.MINT, credential="sha256:1")
    journal.append(
        run.id, "g/mint", "outcome", StepState.DONE, kind=StepKind.MINT, detail={"user": "keyroll-a"}
    )
    journal.set_run_state(run.id, RunState.DONE)
    assert journal.get_secret(run.id, "g:new:rest_token") == secret
    assert journal.secret_fingerprints(run.id) == {"g:new:rest_token": secret.fingerprint}
    assert journal.latest_run().state is RunState.DONE
    assert journal.plan(run.id) == _plan()
    records = journal.step_records(run.id)
    assert records["g/mint"].state is StepState.DONE and records["g/mint"].detail == {"user": "keyroll-a"}
    assert journal.check_integrity() == []
    # the value is nowhere in the file (the canary also scans it after the test)
    journal.close()
    raw = b"".join(p.read_bytes() for p in journal.path.parent.iterdir() if p.name.startswith("j.db"))
    assert secret.reveal().encode() not in raw


def test_readers_need_no_key_but_secrets_do(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, _key(), create=True) as j:
        run = j.start_run(_plan(), {})
        j.put_secret(run.id, "a", Secret("some-secret-value-1234"))
    with Journal.open(path) as reader:
        assert [r.id for r in reader.runs()] == [run.id]
        assert reader.entries(run.id)
        with pytest.raises(JournalError, match="key is needed"):
            reader.get_secret(run.id, "a")


def test_wrong_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(path, _key(), create=True).close()
    with pytest.raises(JournalError, match="wrong key"):
        Journal.open(path, JournalKey.from_passphrase(Secret("x" * 40)))


def test_missing_and_corrupted_journals(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal"):
        Journal.open(tmp_path / "absent.db")
    bad = tmp_path / "bad.db"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(JournalError, match=r"corrupted|not a keyroll journal"):
        Journal.open(bad)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="not a keyroll journal"):
        Journal.open(other)


def test_edited_entry_is_detected(journal: Journal) -> None:
    run = journal.start_run(_plan(), {})
    journal.append(run.id, "g/revoke", "outcome", StepState.DONE, detail={"force_revoke": False})
    journal.append(run.id, "g/rescan", "outcome", StepState.DONE)
    conn = sqlite3.connect(journal.path)
    conn.execute("UPDATE entries SET detail=? WHERE step_id='g/revoke'", ('{"force_revoke":true}',))
    conn.commit()
    conn.close()
    problems = journal.check_integrity()
    assert any("edited" in p for p in problems)


def test_deleted_entry_and_modified_plan_are_detected(journal: Journal) -> None:
    run = journal.start_run(_plan(), {})
    for i in range(3):
        journal.append(run.id, f"g/s{i}", "outcome", StepState.DONE)
    conn = sqlite3.connect(journal.path)
    conn.execute("DELETE FROM entries WHERE step_id='g/s1'")
    conn.execute("UPDATE runs SET plan=replace(plan, 'plan-1', 'plan-2')")
    conn.commit()
    conn.close()
    problems = journal.check_integrity()
    assert any("missing" in p or "chain" in p for p in problems)
    assert any("plan was modified" in p for p in problems)


def test_rechained_forgery_fails_the_mac(tmp_path: Path) -> None:
    """Someone who rewrites an entry and recomputes the whole hash chain (no key) is caught by the MAC."""
    import hashlib
    import json

    path = tmp_path / "j.db"
    with Journal.open(path, _key(), create=True) as j:
        run = j.start_run(_plan(), {})
        j.append(run.id, "g/revoke", "outcome", StepState.DONE, detail={"gate": "passed"})
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT seq, ts, run_id, step_id, phase, state, kind, credential, project_id, detail FROM entries ORDER BY seq"
    ).fetchall()
    prev = "0" * 64
    for seq, ts, rid, sid, phase, state, kind, cred, pid, detail in rows:
        d = json.loads(detail)
        if sid == "g/revoke":
            d = {"gate": "forced"}
        fields = [seq, repr(ts), rid, sid, phase, state, kind, cred, pid, d]
        digest = hashlib.sha256(
            (prev + json.dumps(fields, sort_keys=True, separators=(",", ":"))).encode()
        ).hexdigest()
        conn.execute(
            "UPDATE entries SET detail=?, prev_hash=?, hash=? WHERE seq=?",
            (json.dumps(d, sort_keys=True, separators=(",", ":")), prev, digest, seq),
        )
        prev = digest
    conn.commit()
    conn.close()
    with Journal.open(path) as reader:
        assert not any("edited" in p for p in reader.check_integrity())  # the chain alone is fooled
    with Journal.open(path, _key()) as keyed:
        assert any("MAC mismatch" in p for p in keyed.check_integrity())


def test_tampered_secret_is_detected(journal: Journal) -> None:
    run = journal.start_run(_plan(), {})
    journal.put_secret(run.id, "x", Secret("value-of-a-credential-xyz"))
    conn = sqlite3.connect(journal.path)
    (ct,) = conn.execute("SELECT ciphertext FROM secrets").fetchone()
    conn.execute("UPDATE secrets SET ciphertext=?", (bytes([ct[0] ^ 1]) + ct[1:],))
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="tampered"):
        journal.get_secret(run.id, "x")
    assert any("does not decrypt" in p for p in journal.check_integrity())


def test_migration_from_v1_and_refusal_of_newer(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, _key(), create=True):
        pass
    conn = sqlite3.connect(path)
    conn.execute("DROP INDEX entries_run_step")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Journal.open(path):
        pass
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='entries_run_step'").fetchone()
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="newer"):
        Journal.open(path)


def test_run_lock_is_exclusive(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path, _key(), create=True) as a:
        a.lock()
        with Journal.open(path) as b:
            assert b.is_locked_by_other()
            with pytest.raises(JournalError, match="in use"):
                b.lock()
    with Journal.open(path) as c:
        assert not c.is_locked_by_other()
        c.lock()


def test_short_passphrase_is_refused() -> None:
    with pytest.raises(ConfigError, match="too short"):
        JournalKey.from_passphrase(Secret("short"))


def test_key_resolution_order(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    assert resolve_journal_key(None, path, use_keyring=False) is None
    env = resolve_journal_key(Secret(PASS), path, prompt=lambda: Secret("p" * 40))
    assert env is not None and env.source == "env"
    prompted = resolve_journal_key(None, path, use_keyring=False, prompt=lambda: Secret("p" * 40))
    assert prompted is not None and prompted.source == "prompt"
    assert "p" * 10 not in repr(prompted)


def test_keyring_key_is_created_with_the_journal(tmp_path: Path) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            self.store: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.store.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.store[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.store.pop((service, username), None)

    previous = keyring.get_keyring()
    backend = Memory()
    keyring.set_keyring(backend)
    try:
        path = tmp_path / "j.db"
        key = resolve_journal_key(None, path, create=True)
        assert key is not None and key.source == "keyring"
        with Journal.open(path, key, create=True) as j:
            run = j.start_run(_plan(), {})
            j.put_secret(run.id, "s", Secret("keyring-protected-value"))
        again = resolve_journal_key(None, path)
        assert again is not None
        with Journal.open(path, again) as j:
            assert j.get_secret(run.id, "s").reveal() == "keyring-protected-value"
    finally:
        keyring.set_keyring(previous)
