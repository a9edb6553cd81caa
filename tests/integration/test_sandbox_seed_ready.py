"""A fleet's deployments answer from the first request: READY the moment the sandbox is up.

Creation stamps are strictly increasing (one ms apart while a fleet is seeded), so they run ahead
of the clock; a seeded deployment that became READY only at its stamp answered 404 for the first
~0.1-0.3 s, which the demo's load generator counted as unattributed failures."""

from __future__ import annotations

from pathlib import Path

import httpx

from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.vercel.state import VercelState


def test_every_seeded_deployment_is_ready_and_answers_at_once(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "sb", fleet="incident", build_seconds=0.3) as sb:
        state: VercelState = sb.world.hooks["vercel.state"]()
        now = state.now()
        deployments = list(state.deployments.values())
        assert deployments and sb.world._last_stamp > now - 1_000  # stamps were handed out just now
        assert [d.id for d in deployments if d.state(now) != "READY"] == []
        ready = [d for d in deployments if d.id == state.projects[d.project_id].production_id][:5]
        with httpx.Client(timeout=10) as client:
            for dep in ready:
                answer = client.get(f"{sb.world.urls['vercel']}/_d/{dep.id}/")
                assert answer.status_code != 404, (dep.id, answer.text[:200])
