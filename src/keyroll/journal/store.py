"""The rotation journal: a write-ahead record of every step's intent and outcome.

One SQLite file (WAL mode, mode 0600) holds:

* ``runs`` — one row per ``apply`` run with its plan and (value-free) inventory;
* ``entries`` — the append-only log (:class:`~keyroll.journal.events.JournalEntry`), hash-chained:
  each entry stores ``sha256(prev_hash + entry)``, and, when the journal key is known, an HMAC of
  that hash — so edits, deletions and reordering are detected (:meth:`Journal.check_integrity`);
* ``secrets`` — credential values (old ones, and new ones *before* they are used anywhere),
  encrypted with AES-256-GCM; the run id, name and fingerprint are bound as associated data
  (:mod:`keyroll.journal.crypto`).

Runs and entries never contain values and are readable without the key (``verify`` and
``report`` read them). The schema is versioned with ``PRAGMA user_version`` and upgraded by the
ordered functions in :data:`keyroll.journal.schema.MIGRATIONS`.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import secrets as pysecrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag

from keyroll.core.errors import JournalError
from keyroll.core.model import Inventory, Plan, RunRecord, RunState, StepKind, StepState
from keyroll.core.secret import Secret
from keyroll.core.serde import from_dict, to_jsonable
from keyroll.journal.crypto import Sealer
from keyroll.journal.events import (
    GENESIS,
    RUN_STEP,
    JournalEntry,
    Phase,
    RunNote,
    StepRecord,
    canonical,
    chain_hash,
    fold_steps,
)
from keyroll.journal.keys import JournalKey
from keyroll.journal.schema import FORMAT, MIGRATIONS, migrate

__all__ = ["Journal"]

_ENTRY_COLUMNS = "seq, ts, run_id, step_id, phase, state, kind, credential, project_id, detail"


class Journal:
    """An open journal file. Use :meth:`open`; close with :meth:`close` (or ``with``).

    :raises JournalError: missing, locked, corrupted or wrong-key journals (from every method).
    """

    def __init__(self, path: Path, conn: sqlite3.Connection, key: JournalKey | None) -> None:
        self.path = path
        self._conn = conn
        self._key = key
        self._sealer: Sealer | None = None
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
                migrate(conn, 0)
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
                migrate(conn, version)
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

    def _meta(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def _unlock(self, key: JournalKey) -> None:
        sealer = Sealer(key, base64.b64decode(self._meta("salt") or ""))
        check = self._meta("key_check")
        if check is None:
            self._write("INSERT OR REPLACE INTO meta VALUES ('key_check', ?)", (sealer.key_check(),))
            self._write("INSERT OR REPLACE INTO meta VALUES ('key_source', ?)", (key.source,))
        elif not sealer.matches(check):
            raise JournalError(
                f"wrong key for journal {self.path}",
                hint="use the KEYROLL_JOURNAL_KEY (or keyring entry) the journal was created with",
            )
        self._key, self._sealer = key, sealer

    @property
    def has_key(self) -> bool:
        """True when secrets can be read and written."""
        return self._sealer is not None

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
                canonical(options),
                plan_text,
                plan_sha,
                inv_text,
            ),
        )
        self.append(
            run_id,
            RUN_STEP,
            Phase.NOTE,
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
            run_id, RUN_STEP, Phase.NOTE, StepState.DONE, detail={"run_state": state.value, **(detail or {})}
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
        phase: Phase | str,
        state: StepState,
        *,
        kind: StepKind | None = None,
        credential: str = "",
        project_id: str = "",
        detail: dict[str, Any] | None = None,
    ) -> JournalEntry:
        """Append one entry (committed before returning). ``detail`` must hold no values.

        :param phase: a :class:`~keyroll.journal.events.Phase` (or its value).
        """
        ts = time.time()
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT hash, seq FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
                prev = str(row[0]) if row else GENESIS
                entry = JournalEntry(
                    (int(row[1]) if row else 0) + 1,
                    ts,
                    run_id,
                    step_id,
                    Phase(phase),
                    state,
                    kind,
                    credential,
                    project_id,
                    to_jsonable(detail or {}),
                )
                digest = chain_hash(prev, entry.chain_fields())
                mac = self._sealer.mac(digest) if self._sealer else ""
                self._conn.execute(
                    f"INSERT INTO entries ({_ENTRY_COLUMNS}, prev_hash, hash, mac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*entry.row(), prev, digest, mac),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise self._db_error(self.path, exc) from None
        return entry

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql, args).fetchall())
        except sqlite3.DatabaseError as exc:
            raise self._db_error(self.path, exc) from None

    def entries(self, run_id: str | None = None) -> list[JournalEntry]:
        """Entries in order (of one run, or all)."""
        sql = f"SELECT {_ENTRY_COLUMNS} FROM entries"
        rows = self._query(
            sql + (" WHERE run_id=?" if run_id else "") + " ORDER BY seq", (run_id,) if run_id else ()
        )
        return [JournalEntry.from_row(row) for row in rows]

    def step_records(self, run_id: str) -> dict[str, StepRecord]:
        """The latest state of every step of a run (``run`` and notes excluded)."""
        return fold_steps(self.entries(run_id))

    # -- secrets -------------------------------------------------------------------------
    def put_secret(self, run_id: str, name: str, value: Secret) -> None:
        """Store ``value`` encrypted under ``name`` for ``run_id`` (replacing an earlier one).

        :raises JournalError: the journal was opened without its key.
        """
        if self._sealer is None:
            raise JournalError(
                "the journal key is needed to store credentials",
                hint="set KEYROLL_JOURNAL_KEY (32+ characters) or use an OS keyring",
            )
        nonce, ct = self._sealer.seal(run_id, name, value.fingerprint, value.reveal().encode())
        self._write(
            "INSERT OR REPLACE INTO secrets (run_id, name, fingerprint, nonce, ciphertext, created_at)"
            " VALUES (?,?,?,?,?,?)",
            (run_id, name, value.fingerprint, nonce, ct, time.time()),
        )

    def get_secret(self, run_id: str, name: str) -> Secret:
        """Decrypt one stored secret.

        :raises JournalError: unknown name, no key, wrong key or a tampered ciphertext.
        """
        if self._sealer is None:
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
            plain = self._sealer.open(run_id, name, fp, bytes(nonce), bytes(ct))
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
        prev = GENESIS
        expected_seq = 1
        run_notes: dict[str, RunNote] = {}
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
            if chain_hash(prev_hash, fields) != digest:
                problems.append(f"entry {seq}: content does not match its hash (edited)")
            if self._sealer is not None:
                if not mac:
                    problems.append(f"entry {seq}: no MAC")
                elif not self._sealer.mac_ok(str(digest), str(mac)):
                    problems.append(f"entry {seq}: MAC mismatch (rewritten without the key)")
            if sid == RUN_STEP and isinstance(d, dict):
                said, known = RunNote.from_detail(d), run_notes.get(rid, RunNote())
                run_notes[rid] = RunNote(
                    said.run_state or known.run_state, said.plan_sha256 or known.plan_sha256
                )
            prev = digest
        for rid, plan_text, plan_sha, state in self._conn.execute(
            "SELECT id, plan, plan_sha256, state FROM runs"
        ).fetchall():
            seen = run_notes.get(rid)
            if seen is None:
                problems.append(f"run {rid}: no journal entries (added outside keyroll)")
                continue
            actual = hashlib.sha256(str(plan_text).encode()).hexdigest()
            if actual != plan_sha or seen.plan_sha256 != plan_sha:
                problems.append(f"run {rid}: plan was modified after the run started")
            if seen.run_state and seen.run_state != state:
                problems.append(f"run {rid}: state {state!r} disagrees with the journal ({seen.run_state!r})")
        if self._sealer is not None:
            try:
                rows = self._conn.execute(
                    "SELECT run_id, name, fingerprint, nonce, ciphertext FROM secrets"
                ).fetchall()
            except sqlite3.Error as exc:
                return [*problems, f"secrets: unreadable ({exc})"]
            for rid, name, fp, nonce, ct in rows:
                try:
                    plain = self._sealer.open(rid, name, fp, bytes(nonce), bytes(ct))
                except (InvalidTag, TypeError, ValueError):
                    problems.append(f"secret {name!r} of run {rid}: does not decrypt (tampered)")
                    continue
                if Secret(plain.decode("utf-8", "replace")).fingerprint != fp:
                    problems.append(f"secret {name!r} of run {rid}: fingerprint mismatch")
        return problems
