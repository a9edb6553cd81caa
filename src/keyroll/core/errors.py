"""One exception root for keyroll, with user-facing messages and exit codes.

::

    KeyrollError                      exit 2 unless stated
    ├── ConfigError                   bad/missing configuration, malformed env file, unknown key
    ├── UsageError                    bad command-line input (unknown fingerprint, bad plan file)
    ├── ProviderError                 a service answered badly; carries ``service`` and ``status``
    │   ├── AuthError                 401/403: token missing, invalid or lacking a scope
    │   ├── NotFoundError             404: project, variable, database … does not exist
    │   ├── RateLimitError            429 after retries were exhausted
    │   │   └── QuotaExceededError    a daily quota is spent (Vercel 402/429): retrying today is pointless
    │   ├── UnavailableError          5xx / timeouts / connection errors after retries
    │   └── ManagedByIntegrationError the resource belongs to a Vercel-integration account
    ├── RotationError                 a rotation cannot proceed (drift, failed gate, consent missing)
    │   └── ConsentRequired           a destructive step needs --yes / --accept-downtime
    ├── JournalError                  journal missing, locked, corrupted, wrong key
    └── ScanError                     a scan could not run (e.g. --git on a non-git directory)

Messages never contain secret values: they name keys, projects, fingerprints.
"""

from __future__ import annotations

import enum

__all__ = [
    "AuthError",
    "ConfigError",
    "ConsentRequired",
    "ExitCode",
    "JournalError",
    "KeyrollError",
    "ManagedByIntegrationError",
    "NotFoundError",
    "ProviderError",
    "QuotaExceededError",
    "RateLimitError",
    "RotationError",
    "ScanError",
    "UnavailableError",
    "UsageError",
]


class ExitCode(enum.IntEnum):
    """Process exit codes shared by every command."""

    OK = 0
    FINDINGS = 1
    """Work finished, but something needs attention (findings, unverified locations, failed checks)."""
    USAGE = 2
    """Bad input or configuration; nothing was changed."""
    FAILED = 3
    """An operation failed part-way; state is journaled and can be resumed or rolled back."""
    WAITING = 4
    """A run waits for a person (a dashboard step); do it, then ``keyroll resume``."""
    INTERRUPTED = 130


class KeyrollError(Exception):
    """Base of every error keyroll raises on purpose. ``str(err)`` is a one-line user message."""

    exit_code: ExitCode = ExitCode.USAGE
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def format_message(self) -> str:
        """The line the CLI prints: the message plus, when known, what to do about it."""
        if self.hint:
            return f"{self.message} — {self.hint}"
        return self.message


class ConfigError(KeyrollError):
    """Configuration is missing or malformed."""


class UsageError(KeyrollError):
    """The command-line input is wrong."""


class ProviderError(KeyrollError):
    """A remote service failed; ``service`` names it (``vercel``, ``github``, ``upstash``, ``qstash`` …)."""

    exit_code = ExitCode.FAILED

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        status: int | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.service = service
        self.status = status
        self.code = code


class AuthError(ProviderError):
    """The token was rejected or lacks a scope."""

    exit_code = ExitCode.USAGE


class NotFoundError(ProviderError):
    """The addressed resource does not exist (or is invisible to this token)."""

    exit_code = ExitCode.USAGE


class RateLimitError(ProviderError):
    """Still rate-limited after all retries."""


class QuotaExceededError(RateLimitError):
    """A daily quota is spent: Vercel's 402 ``api-deployments-free-per-day`` or 429 ``builds_rate_limited``.

    Not retried (the Vercel CLI gives up on ``builds_rate_limited`` too): a run pauses, journaled, and
    ``keyroll resume`` continues once the quota resets.
    """


class UnavailableError(ProviderError):
    """5xx, timeout or connection failure after all retries."""


class ManagedByIntegrationError(ProviderError):
    """The resource belongs to an Upstash account created through the Vercel integration."""

    exit_code = ExitCode.USAGE


class RotationError(KeyrollError):
    """A rotation cannot proceed safely."""

    exit_code = ExitCode.FAILED


class ConsentRequired(RotationError):
    """A destructive or downtime-causing step needs explicit consent."""

    exit_code = ExitCode.USAGE


class JournalError(KeyrollError):
    """The journal cannot be opened, decrypted or trusted."""


class ScanError(KeyrollError):
    """A scan could not run."""
