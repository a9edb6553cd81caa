"""The tri-state answer of a credential probe (valid / invalid / unknown, never a bare bool).

Like detect-secrets' ``VerifiedResult``: a probe that could not decide (network trouble, a
5xx, an unexpected answer) says :attr:`ProbeResult.UNKNOWN` rather than guessing.
"""

from __future__ import annotations

import enum

__all__ = ["ProbeResult"]


class ProbeResult(enum.StrEnum):
    """Does the service accept a credential?"""

    ACCEPTED = "accepted"
    """the service authenticated it (even if the probe command itself was not permitted)"""
    REJECTED = "rejected"
    """the service refused it as unknown or revoked (401 / WRONGPASS)"""
    UNKNOWN = "unknown"
    """no verdict: unreachable, 5xx, or an answer that proves neither"""
