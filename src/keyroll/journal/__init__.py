"""The rotation journal: a write-ahead, hash-chained, encrypted record of every run.

* :mod:`~keyroll.journal.store` — :class:`~keyroll.journal.store.Journal`: opening (with its
  schema versions in :mod:`~keyroll.journal.schema`), the run lock, runs, entries, secrets and the
  integrity check;
* :mod:`~keyroll.journal.events` — the one event type (:class:`~keyroll.journal.events.JournalEntry`,
  its :class:`~keyroll.journal.events.Phase`) the writer appends and every reader gets back;
* :mod:`~keyroll.journal.keys` and :mod:`~keyroll.journal.crypto` — where the journal key comes
  from, and how values and the chain are sealed with it;
* :mod:`~keyroll.journal.runlog` and :mod:`~keyroll.journal.read` — the read model: one run,
  read once, queried by verify, audit and report.

It sits below ``rotate`` and imports only ``core`` (and ``config``); the application layer
(:mod:`keyroll.app.journal`) is the one way the workflows open it.
"""
