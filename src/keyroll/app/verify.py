"""The verify workflow: prove a rotation finished, from the journal and fresh evidence.

Verify needs the journaled values (old ones must be rejected, new ones accepted), so the journal
is opened with its key and a wrong key is an error — unlike the report, which reads what it can.
The scope of the stale-copy search is the inventory's (config and flags), checked before any
request. Notes about the journal (no key …) come first in the result's notes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from keyroll.app.journal import OpenedJournal, open_journal
from keyroll.app.session import providers_session
from keyroll.config import Config
from keyroll.core.errors import UsageError
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.inventory import options_from_config, validate_options
from keyroll.journal.read import JournalReader
from keyroll.journal.runlog import RunLog
from keyroll.providers.factory import Providers
from keyroll.verify.result import VerifyResult
from keyroll.verify.run import VerifyOptions, verify

__all__ = ["open_journal_to_verify", "run_verify", "verify_journal", "verify_scope"]


def verify_scope(
    cfg: Config,
    *,
    credentials: Sequence[str] = (),
    run_id: str | None = None,
    paths: Sequence[Path] = (),
    git_repos: Sequence[Path] = (),
    github_repos: Sequence[str] = (),
    github_orgs: Sequence[str] = (),
    health_path: str = "/",
    probe_deployments: bool = True,
) -> VerifyOptions:
    """What to verify: the run's credentials (all, or these fingerprint prefixes) and where
    stale copies are looked for (``keyroll.toml`` ``[scope]`` and ``GITHUB_REPOS``, flags winning).

    :raises UsageError: a path or git work tree that does not exist, a malformed ``owner/repo``.
    """
    inv_options = options_from_config(
        cfg,
        paths=tuple(paths),
        git_repos=tuple(git_repos),
        github_repos=tuple(github_repos),
        github_orgs=tuple(github_orgs),
    )
    validate_options(inv_options)
    return VerifyOptions(
        credentials=tuple(credentials),
        run_id=run_id,
        paths=inv_options.paths,
        git_repos=inv_options.git_repos,
        health_path=health_path,
        probe_deployments=probe_deployments,
        inventory_options=inv_options,
    )


def _unreadable(opened: OpenedJournal) -> UsageError:
    return UsageError(
        f"the journal cannot be read: {opened.error}", hint="keyroll report shows what is known"
    )


def open_journal_to_verify(cfg: Config) -> OpenedJournal:
    """The journal with its key (the caller closes it).

    :raises UsageError: no journal, or it cannot be read.
    :raises JournalError: the key is wrong.
    """
    opened = open_journal(cfg, wrong_key_ok=False)
    if opened.journal is None:
        raise _unreadable(opened)
    return opened


async def run_verify(
    cfg: Config,
    source: JournalReader | RunLog,
    options: VerifyOptions,
    progress: Progress = NULL_PROGRESS,
    *,
    notes: Sequence[str] = (),
    providers: Providers | None = None,
) -> VerifyResult:
    """Run every check for the selected credentials of the run.

    :param source: the open journal (values can be probed when it has its key), or a run read
        from it without values.
    :param notes: notes about the journal (e.g. :attr:`OpenedJournal.notes`), put first.
    :param providers: an open session to use (default: one opened from ``cfg``).
    """
    async with providers_session(cfg, providers) as session:
        result = await verify(session, source, options, progress)
    if notes:
        result = dataclasses.replace(result, notes=(*notes, *result.notes))
    return result


async def verify_journal(
    cfg: Config,
    opened: OpenedJournal,
    options: VerifyOptions,
    progress: Progress = NULL_PROGRESS,
    *,
    providers: Providers | None = None,
) -> VerifyResult:
    """:func:`run_verify` on a journal from :func:`open_journal_to_verify`, its notes first.

    :raises UsageError: the journal was not opened.
    """
    if opened.journal is None:
        raise _unreadable(opened)
    return await run_verify(cfg, opened.journal, options, progress, notes=opened.notes, providers=providers)
