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
from keyroll.verify.runlog import RunLog, load_runlog

__all__ = [
    "Check",
    "CheckCategory",
    "CheckStatus",
    "Evidence",
    "EvidenceSource",
    "RunLog",
    "Verdict",
    "VerifyOptions",
    "VerifyResult",
    "load_runlog",
    "verify",
]
