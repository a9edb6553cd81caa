"""The one way to open the journal: for reading (verify, report, audit) or for writing (apply, resume, rollback).

For reading: its key when there is one, and what failed.

Entries and runs are readable without the key; values (needed to probe old and new
credentials) are not. A journal that cannot be opened at all is not an exception here: the
caller gets the reason, so that a report can say the journal is damaged instead of crashing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from keyroll.config import Config
from keyroll.core.errors import JournalError, UsageError
from keyroll.core.secret import Secret

if TYPE_CHECKING:
    from keyroll.journal.store import Journal

__all__ = [
    "OpenedJournal",
    "dry_journal",
    "open_journal",
    "open_journal_for_writing",
    "open_journal_records",
    "refuse_unfinished_run",
]


@dataclass
class OpenedJournal:
    """The outcome of opening the journal."""

    path: Path
    journal: Journal | None = None
    error: str = ""
    """why the journal could not be opened ('' when it was)"""
    notes: tuple[str, ...] = ()
    """e.g. that no key was found, so journaled values cannot be probed"""

    @property
    def keyed(self) -> bool:
        """True when journaled values can be decrypted."""
        return self.journal is not None and self.journal.has_key

    def close(self) -> None:
        """Close the journal if it was opened."""
        if self.journal is not None:
            self.journal.close()


def open_journal(
    cfg: Config,
    *,
    path: Path | None = None,
    wrong_key_ok: bool = True,
    prompt: Callable[[], Secret] | None = None,
) -> OpenedJournal:
    """Open ``cfg.journal_path`` (or ``path``) with its key when one is available.

    :param wrong_key_ok: a wrong key falls back to reading without it (report); False makes it
        an error (verify needs the values).
    :raises UsageError: there is no journal file at all.
    :raises ConfigError: ``KEYROLL_JOURNAL_KEY`` is shorter than 32 characters.
    :raises JournalError: the key is wrong and ``wrong_key_ok`` is false.
    """
    from keyroll.journal.keys import resolve_journal_key
    from keyroll.journal.store import Journal

    where = Path(path or cfg.journal_path)
    if not where.exists():
        raise UsageError(
            f"no journal at {where}",
            hint="run `keyroll apply` first, or point KEYROLL_JOURNAL at the journal file",
        )
    key = resolve_journal_key(cfg.journal_key, where, prompt=prompt)
    notes: list[str] = []
    if key is None:
        notes.append("no journal key (KEYROLL_JOURNAL_KEY or OS keyring): journaled values cannot be probed")
    try:
        return OpenedJournal(where, Journal.open(where, key), notes=tuple(notes))
    except JournalError as exc:
        if key is not None and "wrong key" in exc.message:
            if not wrong_key_ok:
                raise
            notes.append(f"{exc.message}: read without it, journaled values cannot be probed")
            try:
                return OpenedJournal(where, Journal.open(where, None), notes=tuple(notes))
            except JournalError as again:
                return OpenedJournal(where, error=again.format_message(), notes=tuple(notes))
        return OpenedJournal(where, error=exc.format_message(), notes=tuple(notes))


def open_journal_records(cfg: Config) -> Journal:
    """Open ``cfg.journal_path`` without its key: runs, plans, entries and step states need none
    (status, abandon, the consent a resume needs); values stay sealed."""
    from keyroll.journal.store import Journal

    return Journal.open(cfg.journal_path)


def refuse_unfinished_run(cfg: Config) -> None:
    """What a new run checks first, for a dry run (which journals nothing in the real journal):
    the latest run in ``cfg.journal_path``, if there is a journal, must have ended.

    :raises UsageError: it is unfinished (the message says how to end it).
    """
    from keyroll.rotate.engine.preflight import refuse_unfinished

    if not Path(cfg.journal_path).exists():
        return
    journal = open_journal_records(cfg)
    try:
        refuse_unfinished(journal)
    finally:
        journal.close()


def open_journal_for_writing(
    cfg: Config, *, create: bool, prompt: Callable[[], Secret] | None = None
) -> Journal:
    """Open ``cfg.journal_path`` with its key for a run that writes (apply, resume, rollback, abandon).

    Credentials are journaled encrypted before they are used, so a key is required.

    :param create: create the journal (and a new key in the OS keyring when none is set).
    :param prompt: asks for a passphrase when no key is configured (a terminal only).
    :raises JournalError: no key could be found or made, or the key is wrong.
    """
    from keyroll.journal.keys import resolve_journal_key
    from keyroll.journal.store import Journal

    key = resolve_journal_key(cfg.journal_key, cfg.journal_path, create=create, prompt=prompt)
    if key is None:
        raise JournalError(
            "no journal key: credentials must be journaled encrypted before they are used",
            hint="set KEYROLL_JOURNAL_KEY (32+ characters), use an OS keyring, or run on a terminal",
        )
    return Journal.open(cfg.journal_path, key, create=create)


@contextlib.contextmanager
def dry_journal() -> Iterator[Journal]:
    """A throw-away journal for ``--dry-run`` (nothing is journaled in the real one), in a
    private temporary directory that is removed with it."""
    import tempfile

    from keyroll.journal.keys import JournalKey
    from keyroll.journal.store import Journal

    with tempfile.TemporaryDirectory(prefix="keyroll-dry-") as where:
        journal = Journal.open(Path(where) / "journal.db", JournalKey.generate(), create=True)
        try:
            yield journal
        finally:
            journal.close()
