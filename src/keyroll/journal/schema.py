"""The journal's SQLite schema and its versions.

``PRAGMA user_version`` is the number of :data:`MIGRATIONS` applied. A journal written by an
older keyroll is upgraded in place when it is opened, one migration per transaction; one written
by a newer keyroll is refused (:class:`~keyroll.journal.store.Journal` says so). A migration
never rewrites entries: the hash chain covers them.

Tables:

* ``meta`` — ``format`` (:data:`FORMAT`), the key-derivation ``salt``, ``created_at``, and once
  a key is known ``key_check`` / ``key_source``;
* ``runs`` — one row per ``apply`` run with its plan and (value-free) inventory;
* ``entries`` — the append-only, hash-chained log (:class:`~keyroll.journal.events.JournalEntry`);
* ``secrets`` — credential values, encrypted (:mod:`keyroll.journal.crypto`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["FORMAT", "MIGRATIONS", "migrate"]

FORMAT = "keyroll-journal"
"""``meta.format`` of every keyroll journal."""


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


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """Apply the migrations after ``version``, each in its own transaction.

    :raises sqlite3.DatabaseError: a migration failed (that migration is rolled back).
    """
    for index in range(version, len(MIGRATIONS)):
        conn.execute("BEGIN IMMEDIATE")
        try:
            MIGRATIONS[index](conn)
            conn.execute(f"PRAGMA user_version = {index + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
