"""The rotation engine: runs a plan's DAG against the providers with a write-ahead journal.

:mod:`.api` (:class:`Engine`: apply, resume, rollback), :mod:`.preflight` (checks before anything
changes, consent), :mod:`.scheduler` (steps in dependency order, journaled), :mod:`.rollback`
(undoing a credential before its revoke), :mod:`.state` (milestones and results from the journal).
"""

from keyroll.rotate.engine.api import Engine
from keyroll.rotate.engine.preflight import MissingConsent, PlanDriftError, missing_consent
from keyroll.rotate.engine.scheduler import ACTIONS
from keyroll.rotate.engine.state import TERMINAL, group_state

__all__ = [
    "ACTIONS",
    "TERMINAL",
    "Engine",
    "MissingConsent",
    "PlanDriftError",
    "group_state",
    "missing_consent",
]
