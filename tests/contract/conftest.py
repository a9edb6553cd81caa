"""Two backends for one set of assertions: the in-memory fakes and the sandbox over real HTTP.

Each contract test takes ``backend`` and runs twice: against ``tests.fakes`` (the fake APIs,
called directly as the provider Protocols) and against the sandbox (keyroll's real clients from
``keyroll.providers`` talking HTTP to 127.0.0.1). Both start from the same team, :data:`FLEET`
for the sandbox and :func:`fake_world` built to match it. The sandbox is built to the real
services' docs and is the reference: where the two disagree, the fake is wrong.

The sandbox is started once for the session and shared, so a test never relies on state another
test may change: it creates what it edits (keys named after the backend and test) or reads the
current credentials through the Developer API before using them.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keyroll.config import Config, load_config
from keyroll.core.model import Management
from keyroll.core.secret import Secret
from keyroll.providers.factory import Providers, developer_client, github_client, vercel_client
from keyroll.providers.github import GitHubAPI
from keyroll.providers.upstash.developer import DeveloperAPI
from keyroll.providers.upstash.qstash import QStashAPI, QStashClient
from keyroll.providers.upstash.redis import RedisREST, RedisRESTClient
from keyroll.providers.upstash.search import SearchClient
from keyroll.providers.upstash.vector import IndexAPI, VectorClient
from keyroll.providers.vercel.models import IntegrationConfiguration
from keyroll.providers.vercel.protocol import VercelAPI
from keyroll.sandbox.server import Sandbox
from tests import canary
from tests.fakes.world import FakeWorld
from tests.sandbox_helpers import register_api_tokens, register_template_secrets

BUILD_S = 0.3
"""how long a new deployment builds, in both backends"""

PLAIN_VALUE = "Acme Web"
ALL_TARGETS = ["production", "preview", "development"]

FLEET: dict[str, Any] = {
    "team": {"id": "team_contract", "slug": "acme"},
    "upstash": {
        "redis": [
            {"name": "cache", "acl_users": [{"name": "worker", "rules": "~jobs:* +@all"}]},
            {"name": "kv", "managed_by": "vercel-integration", "configuration_id": "icfg_upstash"},
        ],
        "vector": [{"name": "embeddings", "dimension": 3}],
        "search": [{"name": "docs"}],
        "qstash": {"region": "eu-central-1"},
    },
    "integrations": [{"id": "icfg_upstash", "slug": "upstash", "integration_id": "oac_upstash"}],
    "projects": [
        {
            "name": "web",
            "repo": "acme/web",
            "custom_environments": [{"slug": "staging"}],
            "env": [
                {"key": "SITE_NAME", "value": PLAIN_VALUE, "target": ALL_TARGETS, "type": "plain"},
                {
                    "key": "UPSTASH_REDIS_REST_TOKEN",
                    "value": "${redis:cache:rest_token}",
                    "target": ["production", "preview"],
                },
                {
                    "key": "UPSTASH_REDIS_REST_READ_ONLY_TOKEN",
                    "value": "${redis:cache:readonly_rest_token}",
                    "target": ["production"],
                    "type": "sensitive",
                },
                {
                    "key": "BRANCH_TOKEN",
                    "value": "${redis:cache:rest_token}",
                    "target": ["preview"],
                    "git_branch": "feat-x",
                },
                {
                    "key": "STAGING_TOKEN",
                    "value": "${redis:cache:rest_token}",
                    "custom_environments": ["staging"],
                },
            ],
            "deployments": [{"target": "production"}],
        },
        {"name": "api", "repo": "acme/api", "deployments": [{"target": "production"}]},
    ],
    "shared_env": [
        {
            "key": "QSTASH_TOKEN",
            "value": "${qstash:token}",
            "target": ["production", "preview"],
            "projects": ["web"],
        }
    ],
    "github": {
        "repos": [
            {
                "name": "acme/web",
                "secrets": [{"name": "UPSTASH_REDIS_REST_TOKEN", "value": "${redis:cache:rest_token}"}],
                "environments": {"production": [{"name": "QSTASH_TOKEN", "value": "${qstash:token}"}]},
            }
        ]
    },
}


def fake_world() -> FakeWorld:
    """The fakes' copy of :data:`FLEET`."""
    w = FakeWorld(build_s=BUILD_S)
    cache = w.add_db("cache")
    cache.add_user("worker")
    w.add_db("kv", Management.VERCEL_INTEGRATION)
    w.add_index("embeddings", "vector")
    w.add_index("docs", "search")
    q = w.add_qstash()
    w.configs.append(
        IntegrationConfiguration.model_validate(
            {"id": "icfg_upstash", "slug": "upstash", "integrationId": "oac_upstash", "status": "ready"}
        )
    )
    web = w.add_project("web", custom_envs={"env_staging": "staging"}, link_repo="acme/web")
    api = w.add_project("api", link_repo="acme/api")
    w.add_env(web, "SITE_NAME", PLAIN_VALUE, ALL_TARGETS, type="plain")
    w.add_env(web, "UPSTASH_REDIS_REST_TOKEN", cache.rest_token, ["production", "preview"])
    w.add_env(web, "UPSTASH_REDIS_REST_READ_ONLY_TOKEN", cache.ro_token, ["production"], type="sensitive")
    w.add_env(web, "BRANCH_TOKEN", cache.rest_token, ["preview"], git_branch="feat-x")
    w.add_env(web, "STAGING_TOKEN", cache.rest_token, [], custom_environment_ids=["env_staging"])
    w.add_shared("QSTASH_TOKEN", q["token"], [web.id], ["production", "preview"])
    w.github[("acme/web", "UPSTASH_REDIS_REST_TOKEN")] = cache.rest_token
    w.github[("acme/web env:production", "QSTASH_TOKEN")] = q["token"]
    w.deploy(web.id, target="production", ready=True)
    w.deploy(api.id, target="production", ready=True)
    for value in [cache.password, cache.rest_token, cache.ro_token, q["token"], q["current"], q["next"]]:
        canary.register(value)
    return w


@dataclass
class Backend:
    """One backend's clients, typed as the provider Protocols keyroll programs against.

    The sandbox's clients are built on first use (each ``httpx`` client costs a TLS context;
    a test needs one or two of the seven).
    """

    kind: str
    """``fake`` or ``sandbox``"""
    providers: Providers

    def _client(self, name: str) -> Any:
        client = getattr(self.providers, name)
        if client is None and self.kind == "sandbox":
            client = _CLIENTS[name](self.providers.config)
            setattr(self.providers, name, client)
            self.providers._closers.append(client)
        assert client is not None, f"{name} is not configured"
        return client

    @property
    def vercel(self) -> VercelAPI:
        return self._client("vercel")  # type: ignore[no-any-return]

    @property
    def upstash(self) -> DeveloperAPI:
        return self._client("upstash")  # type: ignore[no-any-return]

    @property
    def redis(self) -> RedisREST:
        return self._client("redis")  # type: ignore[no-any-return]

    @property
    def qstash(self) -> QStashAPI:
        return self._client("qstash")  # type: ignore[no-any-return]

    @property
    def vector(self) -> IndexAPI:
        return self._client("vector")  # type: ignore[no-any-return]

    @property
    def search(self) -> IndexAPI:
        return self._client("search")  # type: ignore[no-any-return]

    @property
    def github(self) -> GitHubAPI:
        return self._client("github")  # type: ignore[no-any-return]

    def name(self, stem: str) -> str:
        """A key no other test uses (the sandbox is shared by the session)."""
        return f"{stem}_{self.kind.upper()}_{next(_serial)}"


_CLIENTS: dict[str, Callable[[Config], Any]] = {
    "vercel": vercel_client,
    "github": github_client,
    "upstash": developer_client,
    "qstash": lambda cfg: QStashClient.create(cfg.qstash_url),
    "redis": lambda cfg: RedisRESTClient.create(),
    "vector": lambda cfg: VectorClient.create(),
    "search": lambda cfg: SearchClient.create(),
}
"""the real client of each service, built from ``Config`` as ``keyroll.providers.factory.open_providers`` does"""
_serial = itertools.count(1)


@pytest.fixture(scope="session")
def contract_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox (Upstash, Vercel, GitHub) serving :data:`FLEET` for the whole session."""
    path: Path = tmp_path_factory.mktemp("contract")
    with Sandbox(path, fleet=FLEET, build_seconds=BUILD_S, services=("upstash", "vercel", "github")) as sb:
        register_template_secrets(sb)
        register_api_tokens(sb)
        yield sb


@pytest.fixture(params=["fake", "sandbox"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The clients of one backend (the test runs once per backend)."""
    if request.param == "fake":
        world = fake_world()
        yield Backend("fake", world.providers(github_token=Secret("gh-token-0123456789abcdef")))
        return
    sb: Sandbox = request.getfixturevalue("contract_sandbox")
    providers = Providers(config=load_config(None, environ=sb.env()))
    try:
        yield Backend("sandbox", providers)
    finally:
        await providers.aclose()
