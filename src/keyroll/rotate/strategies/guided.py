"""After a person's console reset of an integration-managed Redis database: the new values.

That Vercel updates the integration's vars after a reset in the Upstash console is not
confirmed. :func:`ask_and_write` covers the vars Vercel still shows with the old value: it asks
the person for each new value once (stdin or ``--value-file``, never argv — a URL var needs the
new password), checks a REST token with the database before using it, writes the vars itself
and journals what it wrote. The redeploys that follow are already in the plan.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.model import Step
from keyroll.core.secret import Fingerprint, Secret
from keyroll.core.steps import LocationSpec
from keyroll.rotate.distribute import write_locations
from keyroll.rotate.runtime import Probe, Runtime, WaitingForHuman, gid_of

__all__ = ["ask_and_write"]

_ASK = {
    "rest_token": ("rest_token", "new REST token"),
    "readonly_rest_token": ("readonly_rest_token", "new read-only REST token"),
    "password": ("password", "new password"),
    "url": ("password", "new password (for the redis:// URL vars)"),
}


async def ask_and_write(step: Step, rt: Runtime, pending: list[LocationSpec]) -> list[dict[str, Any]]:
    """Ask for the values of ``pending`` copies (still old in Vercel), write them; returns what was written.

    :raises WaitingForHuman: nobody can be asked (no stdin, no ``--value-file``).
    :raises RotationError: an empty or old value, or a REST token the database rejects.
    """
    gid = gid_of(step)
    spec = rt.spec(step)
    old = rt.fingerprints(gid, "old")
    name = spec.resource_name or spec.rest_url or gid
    values: dict[str, Secret] = {"username": Secret("default")}
    for role in sorted({loc.role for loc in pending}):
        value_role, what = _ASK.get(role, (role, f"new {role}"))
        if value_role in values:
            continue
        value = rt.get_value(gid, "guided", value_role)
        if value is None:
            if rt.secret_source is None:
                raise WaitingForHuman(
                    f"Vercel still shows the old value of {', '.join(sorted(loc.key for loc in pending))}: "
                    f"the {what} of {name} is needed",
                    hint="run `keyroll resume --value-file FP=PATH` (or pipe it on stdin); copy it from the Upstash console",
                )
            # asked under the old value's own fingerprint: --value-file OLD_FP=PATH per role
            ask = (
                dataclasses.replace(step, credential=Fingerprint(old[value_role]))
                if old.get(value_role)
                else step
            )
            value = await rt.secret_source.new_value(
                ask, f"{what} of Redis {name} (Vercel still shows the old one)"
            )
            if not value or value.fingerprint == old.get(value_role):
                raise RotationError(
                    f"the {what} given is empty or the old one", hint="copy it from the Upstash console"
                )
            if (
                value_role.endswith("rest_token")
                and spec.rest_url
                and (
                    await rt.probe_redis(spec.rest_url, value, readonly=value_role.startswith("readonly"))
                    is Probe.REJECTED
                )
            ):
                raise RotationError(
                    f"the {what} is rejected by the database", hint="copy it again, then `keyroll resume`"
                )
            rt.put_value(gid, "guided", value_role, value)  # journaled before it is written anywhere
        values[value_role] = value
    by_project: dict[str, list[LocationSpec]] = defaultdict(list)
    for loc in pending:
        by_project[loc.project_id].append(loc)
    written: list[dict[str, Any]] = []
    for specs in by_project.values():
        detail = await write_locations(rt, "vercel", specs, values, spec, gid=gid)
        written.extend(detail.get("written", []))
    return written
