"""The harden journal: what ``--fix`` wrote, and the credentials it minted (encrypted).

It uses the rotation journal's format (:class:`keyroll.journal.store.Journal`: SQLite WAL,
hash-chained entries, AES-GCM secrets, file mode 0600) in a file of its own —
``harden.db`` next to the rotation journal — so ``keyroll resume`` never mistakes a harden run
for a rotation. Entries hold no values, only env var ids, keys and fingerprints; a later
``keyroll harden`` reads them to know what a *sensitive* (unreadable) variable now holds.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keyroll.config import Config
from keyroll.core.errors import ConfigError, JournalError
from keyroll.core.model import Plan, RunState, StepState
from keyroll.core.secret import Secret
from keyroll.journal.events import Phase

if TYPE_CHECKING:
    from keyroll.journal.store import Journal

__all__ = ["HardenJournal", "journal_path", "written_values"]


def journal_path(cfg: Config, override: str = "") -> Path:
    """``override`` or ``harden.db`` next to the rotation journal."""
    return Path(override) if override else cfg.journal_path.with_name("harden.db")


class HardenJournal:
    """One ``--fix`` run in the harden journal."""

    def __init__(self, journal: Journal, run_id: str) -> None:
        self._journal = journal
        self.run_id = run_id

    @classmethod
    def open(cls, cfg: Config, override: str = "") -> HardenJournal:
        """Open (create) the journal and start a run; the key is optional (needed only to mint).

        :raises JournalError: the file exists but is not a keyroll journal, is locked or corrupted.
        """
        from keyroll.journal.keys import resolve_journal_key
        from keyroll.journal.store import Journal

        path = journal_path(cfg, override)
        path.parent.mkdir(parents=True, exist_ok=True)
        key = resolve_journal_key(cfg.journal_key, path, create=True, use_keyring=cfg.journal_key is None)
        journal = Journal.open(path, key, create=True)
        # a harden run rotates nothing: its plan (the runs table holds one) is empty
        plan = Plan(
            id="harden-" + secrets.token_hex(4),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            inventory_digest="",
            credentials=(),
        )
        run = journal.start_run(plan, {"tool": "keyroll harden --fix"})
        return cls(journal, run.id)

    @property
    def journal(self) -> Journal:
        """The underlying :class:`keyroll.journal.store.Journal`."""
        return self._journal

    @property
    def has_key(self) -> bool:
        """True when secrets can be stored."""
        return self._journal.has_key

    def note(
        self,
        step_id: str,
        state: StepState,
        detail: dict[str, Any],
        *,
        project_id: str = "",
        credential: str = "",
    ) -> None:
        """Append a value-free entry."""
        self._journal.append(
            self.run_id,
            step_id,
            Phase.NOTE,
            state,
            project_id=project_id,
            credential=credential,
            detail=detail,
        )

    def written(self, step_id: str, project_id: str, env_id: str, key: str, fingerprint: str) -> None:
        """Record that an env var now holds the value with ``fingerprint``."""
        self.note(
            step_id,
            StepState.DONE,
            {
                "env_written": [
                    {"env_id": env_id, "project_id": project_id, "key": key, "fingerprint": fingerprint}
                ]
            },
            project_id=project_id,
        )

    def put_secret(self, name: str, value: Secret) -> None:
        """Store minted material, encrypted, before it is used anywhere.

        :raises ConfigError: no key is available.
        """
        if not self.has_key:
            raise ConfigError(
                "no key to encrypt minted credentials in the harden journal",
                hint="set KEYROLL_JOURNAL_KEY (≥ 32 characters) or make an OS keyring available",
            )
        self._journal.put_secret(self.run_id, name, value)

    def finish(self, ok: bool) -> None:
        """Mark the run done/failed and close the file."""
        try:
            self._journal.set_run_state(self.run_id, RunState.DONE if ok else RunState.FAILED)
        finally:
            self._journal.close()


def written_values(cfg: Config, override: str = "") -> tuple[dict[str, dict[str, str]], set[str]]:
    """From every harden run: env var id → latest ``{fingerprint, project_id, key}``, and the
    fingerprints of credentials harden minted. Empty when there is no journal."""
    path = journal_path(cfg, override)
    if not path.exists():
        return {}, set()
    from keyroll.journal.store import Journal

    try:
        journal = Journal.open(path)
    except JournalError:
        return {}, set()
    try:
        writes: dict[str, dict[str, str]] = {}
        minted: set[str] = set()
        for entry in journal.entries():
            for item in entry.detail.get("env_written", []) or []:
                if isinstance(item, dict) and item.get("env_id"):
                    writes[str(item["env_id"])] = {k: str(v) for k, v in item.items()}
            for k in ("rest_token_fingerprint", "password_fingerprint"):
                if entry.detail.get(k):
                    minted.add(str(entry.detail[k]))
        return writes, minted
    finally:
        journal.close()
