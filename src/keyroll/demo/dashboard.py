"""The person at the dashboard: the one demo step only a person can do, done on their behalf.

An integration-managed Upstash database's credentials can only be reset from the dashboard
("Reset Credentials"); a real run stops there and waits for a person. In the demo
:class:`SandboxDashboard` presses the sandbox's admin button for that resource instead.
"""

from __future__ import annotations

from typing import Any

import httpx

from keyroll.core.errors import RotationError
from keyroll.core.model import Plan, Step
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.steps import GroupSpec, group_spec_of

__all__ = ["SandboxDashboard", "step_label"]


class SandboxDashboard:
    """:class:`~keyroll.rotate.options.HumanActions` for the sandbox: presses the admin
    "Reset Credentials" button of the resource a human step names.

    The resource is found from the step's credential group (its REST URL, else its name, else
    the only integration-managed resource of that product).
    """

    def __init__(self, admin_url: str, plan: Plan, progress: Progress = NULL_PROGRESS) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.plan = plan
        self.progress = progress
        self.clicks: list[dict[str, Any]] = []
        """what was pressed: ``{kind, name, step, resynced}`` (value-free)"""

    def _spec(self, step: Step) -> GroupSpec:
        gid = step.id.split("/", 1)[0]
        for cp in self.plan.credentials:
            if cp.steps and cp.steps[0].id.split("/", 1)[0] == gid:
                for s in cp.steps:
                    if (g := group_spec_of(s)) is not None:
                        return g
        return GroupSpec()

    async def _resource(self, client: httpx.AsyncClient, spec: GroupSpec) -> tuple[str, str]:
        kind = spec.product or "redis"
        resp = await client.get(f"{self.admin_url}/_sandbox/upstash/resources")
        resp.raise_for_status()
        listing = resp.json().get(kind, []) if kind != "qstash" else []
        if kind == "qstash":
            return kind, "qstash"
        rest_url = spec.rest_url.rstrip("/")
        name = spec.resource_name
        for r in listing:
            if rest_url and str(r.get("rest_url", "")).rstrip("/") == rest_url:
                return kind, str(r["name"])
        for r in listing:
            if name and r.get("name") == name:
                return kind, name
        managed = [r for r in listing if r.get("managed_by") == spec.management]
        if len(managed) == 1:
            return kind, str(managed[0]["name"])
        raise RotationError(
            f"the sandbox dashboard has no {kind} resource for {step_label(spec)}",
            hint="reset it with POST /_sandbox/upstash/<kind>/<name>/reset, then `keyroll resume`",
        )

    async def perform(self, step: Step, instructions: str) -> None:
        """Press "Reset Credentials" for the step's resource.

        :raises RotationError: no matching resource, or the sandbox refused the reset.
        """
        spec = self._spec(step)
        async with httpx.AsyncClient(timeout=30.0) as client:
            kind, name = await self._resource(client, spec)
            resp = await client.post(f"{self.admin_url}/_sandbox/upstash/{kind}/{name}/reset")
            if resp.status_code != 200:
                raise RotationError(
                    f"the sandbox dashboard refused to reset {kind} {name} (HTTP {resp.status_code})",
                    hint="run `keyroll resume` to try again",
                )
            body = resp.json()
        click = {"kind": kind, "name": name, "step": step.id, "resynced": int(body.get("resynced", 0))}
        self.clicks.append(click)
        self.progress.note(
            f'demo: pressed "Reset Credentials" for Upstash {kind} {name!r} in the (sandbox) dashboard '
            f"on your behalf; Vercel resynced {click['resynced']} var(s)"
        )


def step_label(spec: GroupSpec) -> str:
    """A value-free name for a credential group: ``redis cache`` or the fingerprint."""
    name = spec.resource_name or spec.resource_id
    return f"{spec.product} {name}".strip() or spec.gid or "?"
