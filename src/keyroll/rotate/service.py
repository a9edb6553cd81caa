"""Redeploy-and-wait as a service of the rotation package, for workflows outside a rotation run.

A rotation redeploys inside its plan (``redeploy`` / ``await_ready`` steps, build slots shared by
every credential, adoption of builds after a crash). Other workflows — ``keyroll harden --fix``
moving an app to a least-privilege credential — only need the same effect for a few deployments:
redeploy them, wait until every new build is READY, and know what replaced what.
:func:`redeploy_and_wait` does that with the engine's own pieces
(:func:`keyroll.rotate.redeploy.start_build`, :func:`keyroll.rotate.redeploy.wait_ready` through
a :class:`~keyroll.rotate.ready.ReadyWatcher`), without a plan, a run or a journal. The old
deployments keep serving until the new ones are READY.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

from keyroll.core.model import DeploymentRef
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.providers.vercel.protocol import VercelAPI
from keyroll.rotate.buildstats import BuildStats
from keyroll.rotate.ready import ReadyWatcher
from keyroll.rotate.redeploy import start_build, wait_ready

__all__ = ["Redeployment", "redeploy_and_wait"]


@dataclass(frozen=True)
class Redeployment:
    """One deployment replaced by a new build that is READY."""

    old_id: str
    new_id: str
    url: str
    target: str
    seconds: float
    """how long the new build took (from its start to READY)"""


async def redeploy_and_wait(
    vercel: VercelAPI,
    deployments: Sequence[DeploymentRef],
    *,
    project_id: str,
    project_name: str = "",
    timeout_s: float = 900.0,
    poll_s: float = 0.5,
    progress: Progress = NULL_PROGRESS,
) -> list[Redeployment]:
    """Redeploy ``deployments`` (of one project) and wait until every new build is READY.

    :param timeout_s: a build not ended this long after it started building fails.
    :returns: one :class:`Redeployment` per deployment, ordered by the replaced deployment's id.
    :raises BuildFailed: a build ended ERROR/CANCELED or timed out (the old deployments still serve).
    :raises QuotaPaused: Vercel's daily deployment quota is spent.
    """
    if not deployments:
        return []
    t0 = time.monotonic()
    name = project_name or project_id
    started = sorted(
        await asyncio.gather(*(start_build(vercel, ref, project_name) for ref in deployments)),
        key=lambda r: r["old"],
    )
    for r in started:
        progress.note(f"{name}: redeploying {r['old']} → {r['new']}")
    watcher = ReadyWatcher(vercel, BuildStats(60.0), poll_interval_s=poll_s, timeout_s=timeout_s)
    try:
        ready = await wait_ready(vercel, watcher, started, project_id)
    finally:
        await watcher.close()
    for r in ready:
        progress.note(f"{name}: READY {r['new']}")
    by_old = {r["old"]: r for r in started}
    return [
        Redeployment(
            r["old"],
            r["new"],
            str(r.get("url") or by_old.get(r["old"], {}).get("url", "")),
            str(by_old.get(r["old"], {}).get("target", "")),
            float(r.get("build_s") or (time.monotonic() - t0)),
        )
        for r in ready
    ]
