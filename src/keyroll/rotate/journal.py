"""The rotation journal: a write-ahead record of every step's intent and outcome.

One SQLite file (WAL mode, mode 0600) holds:

* ``runs`` — one row per ``apply`` run with its plan and (value-free) inventory;
* ``entries`` — the append-only log (:class:`~keyroll.core.model.JournalEntry`), hash-chained:
  each entry stores ``sha256(prev_hash + entry)``, and, when the journal key is known, an HMAC of
  that hash — so edits, deletions and reordering are detected (:meth:`Journal.check_integrity`);
* ``secrets`` — credential values (old ones, and new ones *before* they are used anywhere),
  encrypted with AES-256-GCM; the run id, name and fingerprint are bound as associated data.

Runs and entries never contain values and are readable without the key (``verify`` and
``report`` read them). The schema is versioned with ``PRAGMA user_version`` and upgraded by the
ordered functions in :data:`MIGRATIONS`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import hmac
import json
import os
import secrets as pysecrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from keyroll.core.errors import JournalError
from keyroll.core.model import (
    Inventory,
    JournalEntry,
    Plan,
    RunRecord,
    RunState,
    StepKind,
    StepState,
)
from keyroll.core.secret import Secret
from keyroll.core.serde import from_dict, to_jsonable
from keyroll.rotate.keys import JournalKey

__all__ = ["MIGRATIONS", "Journal", "StepRecord"]

FORMAT = "keyroll-journal"
_GENESIS = "0" * 64
_KEY_CHECK = b"keyroll-journal-key-check"


def _m1_initial(conn: sqlite3.Connection) -> None:
    _script(
        conn,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            plan_id TEXT NOT NULL,
            started_at REAL NOT NULL,
            state TEXT NOT NULL,
            finished_at REAL,
            options TEXT NOT NULL,
            plan TEXT NOT NULL,
            plan_sha256 TEXT NOT NULL,
            inventory TEXT
        );
        CREATE TABLE entries (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            ts REAL NOT NULL,
            run_id TEXT NOT NULL,
            step_id TEXT NOT NULL,
            phase TEXT NOT NULL,
            state TEXT NOT NULL,
            kind TEXT,
            credential TEXT NOT NULL DEFAULT '',
            project_id TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}',
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL,
            mac TEXT NOT NULL DEFAULT ''
        );
        CREATE TABLE secrets (
            run_id TEXT NOT NULL,
            name TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            nonce BLOB NOT NULL,
            ciphertext BLOB NOT NULL,
            created_at REAL NOT NULL,
            PRIMARY KEY (run_id, name)
        );
        """,
    )


def _script(conn: sqlite3.Connection, sql: str) -> None:
    # not executescript(): it commits, and a migration must be one transaction
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def _m2_indexes(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE INDEX IF NOT EXISTS entries_run_step ON entries (run_id, step_id)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_m1_initial, _m2_indexes)
"""Schema upgrades in order; ``PRAGMA user_version`` is the number applied."""


@dataclass(frozen=True)
class StepRecord:
    """The latest known state of one step in a run, folded from its entries."""

    step_id: str
    state: StepState
    detail: dict[str, Any]
    """detail of the latest outcome (or intent when no outcome was written)"""
    intent_detail: dict[str, Any]
    ts: float


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def _entry_hash(prev: str, fields: list[Any]) -> str:
    return hashlib.sha256((prev + _canonical(fields)).encode()).hexdigest()


class Journal:
    """An open journal file. Use :meth:`open`; close with :meth:`close` (or ``with``).

    :raises JournalError: missing, locked, corrupted or wrong-key journals (from every method).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, key: JournalKey | None) -> None:
        self.path = path
        self._conn = conn
        self._key = key
        self._enc: AESGCM | None = None
        self._mac_key: bytes | None = None
        self._lock_fd: int | None = None
        if key is not None:
            self._unlock(key)

    # -- opening --------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, key: JournalKey | None = None, *, create: bool = False) -> Journal:
        """Open (or with ``create`` make) the journal at ``path``.

        Without ``key`` runs and entries are readable; secrets are not.

        :raises JournalError: the file is missing (and ``create`` is false), is not a keyroll
            journal, is corrupted, was written by a newer keyroll, is locked, or the key is wrong.
        """
        path = Path(path)
        exists = path.exists()
        if not exists and not create:
            raise JournalError(
                f"no journal at {path}",
                hint="run `keyroll apply` first, or point KEYROLL_JOURNAL at the right file",
            )
        if not exists:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise JournalError(f"cannot create journal {path}: {exc.strerror}") from None
        try:
            conn = sqlite3.connect(str(path), timeout=5.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 5000")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
            if not mode or str(mode[0]).lower() != "wal":
                raise JournalError(f"journal {path}: cannot enable WAL mode")
            conn.execute("PRAGMA synchronous = FULL")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise cls._db_error(path, exc) from None
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
        if version > len(MIGRATIONS):
            conn.close()
            raise JournalError(
                f"journal {path} has schema version {version}, newer than this keyroll understands",
                hint="upgrade keyroll",
            )
        try:
            if version == 0 and not exists:
                cls._migrate(conn, 0)
                salt = base64.b64encode(os.urandom(16)).decode()
                conn.execute("INSERT INTO meta VALUES ('format', ?), ('salt', ?)", (FORMAT, salt))
                conn.execute("INSERT INTO meta VALUES ('created_at', ?)", (repr(time.time()),))
            elif version == 0:
                conn.close()
                raise JournalError(
                    f"{path} is not a keyroll journal (or it is empty/corrupted)",
                    hint="check the path; a damaged journal can be inspected with `sqlite3`",
                )
            else:
                cls._migrate(conn, version)
            fmt = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise cls._db_error(path, exc) from None
        if not fmt or fmt[0] != FORMAT:
            conn.close()
            raise JournalError(f"{path} is not a keyroll journal")
        journal = cls(path, conn, None)
        if key is not None:
            try:
                journal._unlock(key)
            except JournalError:
                conn.close()
                raise
        return journal

    @staticmethod
    def _db_error(path: Path, exc: sqlite3.DatabaseError) -> JournalError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return JournalError(
                f"journal {path} is locked by another process", hint="wait for the other keyroll to finish"
            )
        return JournalError(
            f"journal {path} is corrupted or not a keyroll journal ({text})",
            hint="restore it from a backup; `keyroll status` shows what can still be read",
        )

    @staticmethod
    def _migrate(conn: sqlite3.Connection, version: int) -> None:
        for index in range(version, len(MIGRATIONS)):
            conn.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[index](conn)
                conn.execute(f"PRAGMA user_version = {index + 1}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _unlock(self, key: JournalKey) -> None:
        salt = base64.b64decode(self._meta("salt") or "")
        root = key.derive(salt)
        enc = AESGCM(HKDF(hashes.SHA256(), 32, salt, b"enc").derive(root))
        mac_key = HKDF(hashes.SHA256(), 32, salt, b"mac").derive(root)
        check = self._meta("key_check")
        if check is None:
            nonce = os.urandom(12)
            blob = base64.b64encode(nonce + enc.encrypt(nonce, _KEY_CHECK, b"key-check")).decode()
            self._write("INSERT OR REPLACE INTO meta VALUES ('key_check', ?)", (blob,))
            self._write("INSERT OR REPLACE INTO meta VALUES ('key_source', ?)", (key.source,))
        else:
            raw = base64.b64decode(check)
            try:
                enc.decrypt(raw[:12], raw[12:], b"key-check")
            except InvalidTag:
                raise JournalError(
                    f"wrong key for journal {self.path}",
                    hint="use the KEYROLL_JOURNAL_KEY (or keyring entry) the journal was created with",
                ) from None
        self._key, self._enc, self._mac_key = key, enc, mac_key

    @property
    def has_key(self) -> bool:
        """True when secrets can be read and written."""
        return self._enc is not None

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        try:
            self._conn.execute(sql, args)
        except sqlite3.DatabaseError as exc:
            raise self._db_error(self.path, exc) from None

    # -- process lock ---------------------------------------------------------------------
    def lock(self) -> None:
        """Take the exclusive run lock (one apply/resume/rollback per journal).

        :raises JournalError: another process holds it.
        """
        if self._lock_fd is not None:
            return
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = ""
            with contextlib.suppress(OSError, ValueError):
                holder = os.pread(fd, 32, 0).decode().strip()
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise JournalError(
                    f"journal {self.path} is in use by another keyroll process"
                    + (f" (pid {holder})" if holder else ""),
                    hint="wait for it to finish, or check `keyroll status`",
                ) from None
            raise JournalError(f"cannot lock journal {self.path}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def is_locked_by_other(self) -> bool:
        """True when another process holds the run lock (a run is live)."""
        if self._lock_fd is not None:
            return False
        lock_path = self.path.with_name(self.path.name + ".lock")
        if not lock_path.exists():
            return False
        fd = os.open(lock_path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        return False

    def close(self) -> None:
        """Release the lock and close the database."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
            self._lock_fd = None
        with contextlib.suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------------
    def start_run(
        self, plan: Plan, options: dict[str, Any], inventory: Inventory | None = None, *, run_id: str = ""
    ) -> RunRecord:
        """Record a new run (plan and value-free inventory) and its first entry."""
        run_id = run_id or time.strftime("run-%Y%m%d-%H%M%S-", time.gmtime()) + pysecrets.token_hex(3)
        plan_text = json.dumps(to_jsonable(plan), sort_keys=True)
        plan_sha = hashlib.sha256(plan_text.encode()).hexdigest()
        inv_text = json.dumps(to_jsonable(inventory), sort_keys=True) if inventory is not None else None
        now = time.time()
        self._write(
            "INSERT INTO runs (id, plan_id, started_at, state, finished_at, options, plan, plan_sha256, inventory)"
            " VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?)",
            (
                run_id,
                plan.id,
                now,
                RunState.RUNNING.value,
                _canonical(options),
                plan_text,
                plan_sha,
                inv_text,
            ),
        )
        self.append(
            run_id,
            "run",
            "note",
            StepState.RUNNING,
            detail={
                "run_state": RunState.RUNNING.value,
                "plan_id": plan.id,
                "plan_sha256": plan_sha,
                "inventory_sha256": hashlib.sha256(inv_text.encode()).hexdigest() if inv_text else "",
                "options": options,
            },
        )
        return RunRecord(run_id, plan.id, now, RunState.RUNNING, None, dict(options))

    def set_run_state(self, run_id: str, state: RunState, *, detail: dict[str, Any] | None = None) -> None:
        """Change a run's state (journaled as a ``run`` note, so the hash chain covers it)."""
        finished = (
            time.time()
            if state in (RunState.DONE, RunState.ROLLED_BACK, RunState.FAILED, RunState.CLOSED)
            else None
        )
        self._write("UPDATE runs SET state=?, finished_at=? WHERE id=?", (state.value, finished, run_id))
        self.append(
            run_id, "run", "note", StepState.DONE, detail={"run_state": state.value, **(detail or {})}
        )

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        rows = self._query("SELECT id, plan_id, started_at, state, finished_at, options FROM runs")
        out = []
        for rid, pid, started, state, finished, options in sorted(rows, key=lambda r: (r[2], r[0])):
            try:
                st = RunState(state)
            except ValueError:
                st = RunState.FAILED
            out.append(RunRecord(rid, pid, float(started), st, finished, json.loads(options or "{}")))
        return out

    def latest_run(self) -> RunRecord | None:
        """The most recent run, if any."""
        runs = self.runs()
        return runs[-1] if runs else None

    def run(self, run_id: str | None = None) -> RunRecord:
        """One run (the latest when ``run_id`` is None).

        :raises JournalError: no such run.
        """
        runs = self.runs()
        if run_id is None:
            if not runs:
                raise JournalError(f"journal {self.path} has no runs", hint="run `keyroll apply` first")
            return runs[-1]
        for r in runs:
            if r.id == run_id or r.id.startswith(run_id):
                return r
        raise JournalError(f"no run {run_id} in journal {self.path}", hint="see `keyroll status`")

    def plan(self, run_id: str) -> Plan:
        """The plan a run executes."""
        row = self._query("SELECT plan FROM runs WHERE id=?", (run_id,))
        if not row:
            raise JournalError(f"no run {run_id} in journal {self.path}")
        try:
            return from_dict(Plan, json.loads(row[0][0]))
        except (ValueError, TypeError, KeyError) as exc:
            raise JournalError(f"the plan of run {run_id} cannot be read ({type(exc).__name__})") from None

    def inventory(self, run_id: str) -> Inventory | None:
        """The (value-free) inventory a run started from, if recorded."""
        row = self._query("SELECT inventory FROM runs WHERE id=?", (run_id,))
        if not row or row[0][0] is None:
            return None
        try:
            return from_dict(Inventory, json.loads(row[0][0]))
        except (ValueError, TypeError, KeyError):
            return None

    # -- entries -------------------------------------------------------------------------
    def append(
        self,
        run_id: str,
        step_id: str,
        phase: str,
        state: StepState,
        *,
        kind: StepKind | None = None,
        credential: str = "",
        project_id: str = "",
        detail: dict[str, Any] | None = None,
    ) -> JournalEntry:
        """Append one entry (committed before returning). ``detail`` must hold no values."""
        detail = to_jsonable(detail or {})
        ts = time.time()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT hash, seq FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
                prev = str(row[0]) if row else _GENESIS
                seq = (int(row[1]) if row else 0) + 1
                fields = [
                    seq,
                    repr(ts),
                    run_id,
                    step_id,
                    phase,
                    state.value,
                    kind.value if kind else None,
                    credential,
                    project_id,
                    detail,
                ]
                digest = _entry_hash(prev, fields)
                mac = hmac.new(self._mac_key, digest.encode(), "sha256").hexdigest() if self._mac_key else ""
                self._conn.execute(
                    "INSERT INTO entries (seq, ts, run_id, step_id, phase, state, kind, credential, project_id,"
                    " detail, prev_hash, hash, mac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        seq,
                        ts,
                        run_id,
                        step_id,
                        phase,
                        state.value,
                        kind.value if kind else None,
                        credential,
                        project_id,
                        _canonical(detail),
                        prev,
                        digest,
                        mac,
                    ),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise self._db_error(self.path, exc) from None
        return JournalEntry(seq, ts, run_id, step_id, phase, state, kind, credential, project_id, detail)

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql, args).fetchall())
        except sqlite3.DatabaseError as exc:
            raise self._db_error(self.path, exc) from None

    def entries(self, run_id: str | None = None) -> list[JournalEntry]:
        """Entries in order (of one run, or all)."""
        sql = (
            "SELECT seq, ts, run_id, step_id, phase, state, kind, credential, project_id, detail FROM entries"
        )
        rows = self._query(
            sql + (" WHERE run_id=?" if run_id else "") + " ORDER BY seq", (run_id,) if run_id else ()
        )
        out = []
        for seq, ts, rid, sid, phase, state, kind, cred, pid, detail in rows:
            try:
                st = StepState(state)
            except ValueError:
                st = StepState.FAILED
            try:
                k = StepKind(kind) if kind else None
            except ValueError:
                k = None
            try:
                d = json.loads(detail or "{}")
            except ValueError:
                d = {"unreadable": True}
            out.append(JournalEntry(int(seq), float(ts), rid, sid, phase, st, k, cred, pid, d))
        return out

    def step_records(self, run_id: str) -> dict[str, StepRecord]:
        """The latest state of every step of a run (``run`` and notes excluded)."""
        out: dict[str, StepRecord] = {}
        intents: dict[str, dict[str, Any]] = {}
        for e in self.entries(run_id):
            if e.phase == "intent":
                intents[e.step_id] = e.detail
                out[e.step_id] = StepRecord(e.step_id, StepState.RUNNING, e.detail, e.detail, e.ts)
            elif e.phase == "outcome":
                out[e.step_id] = StepRecord(e.step_id, e.state, e.detail, intents.get(e.step_id, {}), e.ts)
        return out

    # -- secrets -------------------------------------------------------------------------
    def _aad(self, run_id: str, name: str, fingerprint: str) -> bytes:
        return f"{run_id}\0{name}\0{fingerprint}".encode()

    def put_secret(self, run_id: str, name: str, value: Secret) -> None:
        """Store ``value`` encrypted under ``name`` for ``run_id`` (replacing an earlier one).

        :raises JournalError: the journal was opened without its key.
        """
        if self._enc is None:
            raise JournalError(
                "the journal key is needed to store credentials",
                hint="set KEYROLL_JOURNAL_KEY (32+ characters) or use an OS keyring",
            )
        nonce = os.urandom(12)
        ct = self._enc.encrypt(nonce, value.reveal().encode(), self._aad(run_id, name, value.fingerprint))
        self._write(
            "INSERT OR REPLACE INTO secrets (run_id, name, fingerprint, nonce, ciphertext, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (run_id, name, value.fingerprint, nonce, ct, time.time()),
        )

    def get_secret(self, run_id: str, name: str) -> Secret:
        """Decrypt one stored secret.

        :raises JournalError: unknown name, no key, wrong key or a tampered ciphertext.
        """
        if self._enc is None:
            raise JournalError(
                "the journal key is needed to read credentials",
                hint="set KEYROLL_JOURNAL_KEY to the passphrase the journal was created with",
            )
        rows = self._query(
            "SELECT fingerprint, nonce, ciphertext FROM secrets WHERE run_id=? AND name=?", (run_id, name)
        )
        if not rows:
            raise JournalError(f"the journal holds no secret {name!r} for run {run_id}")
        fp, nonce, ct = rows[0]
        try:
            plain = self._enc.decrypt(bytes(nonce), bytes(ct), self._aad(run_id, name, fp))
        except InvalidTag:
            raise JournalError(
                f"secret {name!r} of run {run_id} cannot be decrypted (wrong key or tampered)"
            ) from None
        return Secret(plain.decode())

    def has_secret(self, run_id: str, name: str) -> bool:
        """True when ``name`` is stored for ``run_id``."""
        return bool(self._query("SELECT 1 FROM secrets WHERE run_id=? AND name=?", (run_id, name)))

    def secret_fingerprints(self, run_id: str) -> dict[str, str]:
        """``name → fingerprint`` of the stored secrets of a run (no key needed)."""
        return {
            str(n): str(f)
            for n, f in self._query("SELECT name, fingerprint FROM secrets WHERE run_id=?", (run_id,))
        }

    # -- integrity -----------------------------------------------------------------------
    def check_integrity(self) -> list[str]:
        """Problems found: SQLite corruption, a broken hash chain (edited, deleted or reordered
        entries), bad MACs (with the key), a plan or run state that disagrees with the chain,
        secrets that do not decrypt (with the key). Empty when all is well."""
        problems: list[str] = []
        try:
            res = [r[0] for r in self._conn.execute("PRAGMA integrity_check").fetchall()]
        except sqlite3.DatabaseError as exc:
            return [f"database: {exc}"]
        if res != ["ok"]:
            problems.extend(f"database: {r}" for r in res[:5])
        try:
            rows = self._conn.execute(
                "SELECT seq, ts, run_id, step_id, phase, state, kind, credential, project_id, detail,"
                " prev_hash, hash, mac FROM entries ORDER BY seq"
            ).fetchall()
        except sqlite3.DatabaseError as exc:
            return [*problems, f"entries: {exc}"]
        prev = _GENESIS
        expected_seq = 1
        run_notes: dict[str, dict[str, Any]] = {}
        for seq, ts, rid, sid, phase, state, kind, cred, pid, detail, prev_hash, digest, mac in rows:
            if seq != expected_seq:
                problems.append(f"entry {expected_seq}: missing (next is {seq})")
                expected_seq = seq
            expected_seq += 1
            try:
                d = json.loads(detail)
            except ValueError:
                problems.append(f"entry {seq}: detail is not JSON")
                prev = digest
                continue
            fields = [seq, repr(float(ts)), rid, sid, phase, state, kind, cred, pid, d]
            if prev_hash != prev:
                problems.append(f"entry {seq}: hash chain broken (entries removed or reordered before it)")
            if _entry_hash(prev_hash, fields) != digest:
                problems.append(f"entry {seq}: content does not match its hash (edited)")
            if self._mac_key is not None:
                want = hmac.new(self._mac_key, str(digest).encode(), "sha256").hexdigest()
                if not mac:
                    problems.append(f"entry {seq}: no MAC")
                elif not hmac.compare_digest(want, str(mac)):
                    problems.append(f"entry {seq}: MAC mismatch (rewritten without the key)")
            if sid == "run" and isinstance(d, dict):
                note = run_notes.setdefault(rid, {})
                if "plan_sha256" in d:
                    note["plan_sha256"] = d["plan_sha256"]
                if "run_state" in d:
                    note["state"] = d["run_state"]
            prev = digest
        for rid, plan_text, plan_sha, state in self._conn.execute(
            "SELECT id, plan, plan_sha256, state FROM runs"
        ).fetchall():
            seen = run_notes.get(rid)
            if seen is None:
                problems.append(f"run {rid}: no journal entries (added outside keyroll)")
                continue
            actual = hashlib.sha256(str(plan_text).encode()).hexdigest()
            if actual != plan_sha or seen.get("plan_sha256") != plan_sha:
                problems.append(f"run {rid}: plan was modified after the run started")
            if seen.get("state") and seen["state"] != state:
                problems.append(f"run {rid}: state {state!r} disagrees with the journal ({seen['state']!r})")
        if self._enc is not None:
            try:
                rows = self._conn.execute(
                    "SELECT run_id, name, fingerprint, nonce, ciphertext FROM secrets"
                ).fetchall()
            except sqlite3.Error as exc:
                return [*problems, f"secrets: unreadable ({exc})"]
            for rid, name, fp, nonce, ct in rows:
                try:
                    plain = self._enc.decrypt(bytes(nonce), bytes(ct), self._aad(rid, name, fp))
                except (InvalidTag, TypeError, ValueError):
                    problems.append(f"secret {name!r} of run {rid}: does not decrypt (tampered)")
                    continue
                if Secret(plain.decode("utf-8", "replace")).fingerprint != fp:
                    problems.append(f"secret {name!r} of run {rid}: fingerprint mismatch")
        return problems
