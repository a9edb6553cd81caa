"""keyroll.verify: prove a rotation finished — new accepted, old rejected, fresh deployments, no stale copy."""

from keyroll.verify.result import (
    Check,
    CheckCategory,
    CheckStatus,
    Evidence,
    EvidenceSource,
    Verdict,
    VerifyResult,
)
from keyroll.verify.run import VerifyOptions, verify

__all__ = [
    "Check",
    "CheckCategory",
    "CheckStatus",
    "Evidence",
    "EvidenceSource",
    "Verdict",
    "VerifyOptions",
    "VerifyResult",
    "verify",
]
