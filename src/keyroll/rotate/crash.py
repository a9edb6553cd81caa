"""Crash injection for the resilience suite (a test hook; inert unless ``KEYROLL_CRASH_AT`` is set).

Every step has two boundaries:

* ``before:<kind>:<step-id>`` — the intent is journaled, the action has not started;
* ``after:<kind>:<step-id>`` — the action finished, its outcome is *not* journaled yet
  (the case a resume must settle by reading provider state back).

``KEYROLL_CRASH_AT`` names one boundary, or ``boundary:<n>`` — the n-th (0-based) entry of
:func:`boundaries`. When the engine reaches it, it kills its own process with SIGKILL: no
cleanup, no ``finally``, exactly like a power cut.
"""

from __future__ import annotations

import os
import signal

from keyroll.core.model import Plan, Step

__all__ = ["ENV_VAR", "boundaries", "boundary_name", "maybe_crash"]

ENV_VAR = "KEYROLL_CRASH_AT"


def boundary_name(phase: str, step: Step) -> str:
    """``before:<kind>:<id>`` or ``after:<kind>:<id>``."""
    return f"{phase}:{step.kind.value}:{step.id}"


def boundaries(plan: Plan) -> list[str]:
    """Every boundary of ``plan`` in plan order (``boundary:<n>`` indexes this list)."""
    out: list[str] = []
    for step in plan.steps:
        out.append(boundary_name("before", step))
        out.append(boundary_name("after", step))
    return out


def _target(plan: Plan) -> str | None:
    spec = os.environ.get(ENV_VAR, "").strip()
    if not spec:
        return None
    if spec.startswith("boundary:"):
        try:
            index = int(spec.split(":", 1)[1])
        except ValueError:
            return None
        names = boundaries(plan)
        return names[index] if 0 <= index < len(names) else None
    return spec


def maybe_crash(plan: Plan, phase: str, step: Step) -> None:
    """SIGKILL this process if ``KEYROLL_CRASH_AT`` names this boundary."""
    target = _target(plan)
    if target is not None and target == boundary_name(phase, step):
        os.kill(os.getpid(), signal.SIGKILL)
