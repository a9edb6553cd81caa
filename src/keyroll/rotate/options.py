"""What the rotation engine is told (``ApplyOptions``), what it reports (``RunResult``), and the
two seams a caller implements: :class:`HumanActions` (dashboard clicks, manual revokes) and
:class:`SecretSource` (new values for the ``manual`` strategy, from stdin or a file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from keyroll.core.model import Milestone, RunState, Step, Strategy
from keyroll.core.secret import Secret

__all__ = [
    "ApplyOptions",
    "CredentialOutcome",
    "HumanActions",
    "RunResult",
    "SecretSource",
]


@dataclass(frozen=True)
class ApplyOptions:
    """Behaviour switches of one ``apply`` / ``resume`` / ``rollback`` (recorded in the journal)."""

    accept_downtime: bool = False
    """allow cutover strategies (QStash token, Vector/Search reset): a short outage is accepted"""
    yes: bool = False
    """consent to destructive steps (revoke, cutover reset) without asking"""
    dry_run: bool = False
    """run every pre-flight check, change nothing, journal nothing"""
    rewrite_files: bool = False
    """rewrite local files that hold a credential (a 0600 backup is kept until verify passes)"""
    force_revoke: bool = False
    """revoke even when a gate fails (journaled and reported)"""
    max_parallel_builds: int = 100
    """redeploys in flight at once (all projects' pipelines share it)"""
    build_timeout_s: float = 1800.0
    """a redeploy not READY after this long counts as failed"""
    poll_interval_s: float = 0.5
    """shortest interval between two status reads of one deployment (polling backs off towards a
    tenth of the observed build time)"""
    file_paths: tuple[Path, ...] = ()
    """only rewrite files under these paths (empty: every file location of the plan)"""
    health_path: str | None = None
    """when set, each new deployment must answer 2xx on this path before revocation"""
    confirm_unverified: bool = False
    """the person has updated, by hand, the unreadable copies a ``manual`` plan could not write
    ("probably the same value — unverified"): its revoke gate refuses until this is given"""
    confirm_revoked: tuple[str, ...] = ()
    """fingerprints (or prefixes) whose old value the person has revoked at its issuer: their
    ``manual`` revoke step is confirmed without a prompt (``--confirm-revoked FP``; recorded)"""
    bypass_ignored_build_step: bool = False
    """clear projects' Ignored Build Step for the run and restore the exact value after (journaled)"""
    write_retries: int = 3
    """times a ``failed[]`` env write item is retried before the credential is rolled back"""
    sources: dict[str, str] = field(default_factory=dict, hash=False)
    """where each explicitly set option came from (``accept_downtime`` → ``--accept-downtime`` or
    ``keyroll.toml [policy]``); journaled with the run's options, so consent has a provenance"""


class HumanActions(Protocol):
    """Carries out a step only a person can do (a dashboard click, a manual revoke)."""

    async def perform(self, step: Step, instructions: str) -> None:
        """Do what ``instructions`` say and return when done; raise to abort the step."""
        ...


class SecretSource(Protocol):
    """Supplies new values for the ``manual`` strategy (never from argv)."""

    async def new_value(self, step: Step, description: str) -> Secret:
        """The new value of the credential ``step.credential``."""
        ...


@dataclass(frozen=True)
class CredentialOutcome:
    """What happened to one credential (group) in a run."""

    credential: str
    strategy: Strategy
    state: Milestone
    """``pending`` … ``done`` (the rotation state machine), ``rolled_back``, ``failed``, ``waiting``"""
    error: str = ""
    window_s: float | None = None
    """measured outage window of a cutover (reset → last READY); ``None`` for overlap strategies"""
    deployments: tuple[tuple[str, str], ...] = ()
    """(old deployment id, new deployment id) pairs redeployed"""
    forced: bool = False
    """revoked with ``--force-revoke`` despite a failed gate"""


@dataclass(frozen=True)
class RunResult:
    """The outcome of ``apply`` / ``resume`` / ``rollback``."""

    run_id: str
    state: RunState
    credentials: tuple[CredentialOutcome, ...] = ()
    started_at: float = 0.0
    finished_at: float = 0.0
    dry_run: bool = False
    waiting: str = ""
    """non-empty when the run stopped to wait for a person (resume continues)"""
    api_calls: dict[str, int] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    """seconds per phase: ``total``, ``critical_path`` …"""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every credential reached ``done``."""
        return self.state is RunState.DONE
