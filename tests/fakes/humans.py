"""The human seams of a rotation, played by tests: the dashboard button and typed-in values."""

from __future__ import annotations

import asyncio

from keyroll.core.model import Step
from keyroll.core.secret import Secret
from tests.fakes.common import now_ms
from tests.fakes.redis import FakeDB
from tests.fakes.world import FakeWorld


class HumanClicker:
    """Plays the dashboard "Reset Credentials" button for integration-managed databases:
    resets the database and resyncs the vars carrying ``configuration_id`` (like Vercel does)."""

    def __init__(self, world: FakeWorld, db: FakeDB, configuration_id: str) -> None:
        self.world, self.db, self.configuration_id = world, db, configuration_id
        self.calls: list[str] = []

    async def perform(self, step: Step, instructions: str) -> None:
        self.calls.append(step.id)
        self.db.reset()
        mapping = {
            "KV_REST_API_TOKEN": self.db.rest_token,
            "UPSTASH_REDIS_REST_TOKEN": self.db.rest_token,
            "KV_REST_API_READ_ONLY_TOKEN": self.db.ro_token,
            "KV_URL": f"rediss://default:{self.db.password}@{self.db.host}:6379",
        }
        await asyncio.sleep(0.02)
        for p in self.world.projects.values():
            for e in p.env.values():
                if e.configuration_id == self.configuration_id and e.key in mapping:
                    e.value, e.updated_at = mapping[e.key], now_ms()


class StaticSecretSource:
    """A :class:`SecretSource` handing out fixed values (the CLI reads stdin or files)."""

    def __init__(self, value: str) -> None:
        self.value = Secret(value)

    async def new_value(self, step: Step, description: str) -> Secret:
        return self.value
