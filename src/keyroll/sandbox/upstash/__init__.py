"""The emulated Upstash: Developer API, Redis (REST + TCP on real redis-servers), QStash,
Vector, Search, the deployment behaviour and the sandbox dashboard.

:func:`install` mints every credential of the fleet's ``upstash`` section, fills
``World.templates`` (the names of ``docs/sandbox.md``), registers the services
(``upstash``, ``qstash``, ``admin``, one ``redis-<name>``/``vector-<name>``/``search-<name>``
per resource), the hooks, ``World.behaviour``, and startup/shutdown hooks for the
redis-servers. The redis-servers themselves (one per database) are started by :func:`install`,
before any token or URL is derived from their TCP ports: see :mod:`.ports` for why this makes
the ports race-free.

Modules: ``state`` (resources), ``seed`` (the fleet section → state, templates), ``tokens``
(credential formats), ``redis_server`` (processes), ``ports`` (their TCP ports),
``redis_rest`` + ``acl`` (REST data plane), ``developer`` (Developer API), ``qstash``,
``vector``, ``search`` + ``indexes``, ``resets`` (shared reset operations), ``behaviour``
(deployments), ``admin`` (dashboard), ``chaos`` (latency/faults), ``transport`` (in-process
HTTP between services).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from keyroll.sandbox.upstash import hosts
from keyroll.sandbox.upstash.admin import create_app as admin_app
from keyroll.sandbox.upstash.behaviour import DeploymentBehaviour
from keyroll.sandbox.upstash.developer import create_app as developer_app
from keyroll.sandbox.upstash.qstash import QStashService
from keyroll.sandbox.upstash.redis_rest import create_app as redis_app
from keyroll.sandbox.upstash.redis_server import (
    READONLY_RULES,
    RedisServer,
    SandboxError,
    find_redis_server,
    launch,
)
from keyroll.sandbox.upstash.search import create_app as search_app
from keyroll.sandbox.upstash.seed import add_redis, resources_of, seed_fleet, templates_of
from keyroll.sandbox.upstash.state import NATIVE, UpstashState
from keyroll.sandbox.upstash.transport import LocalTransport
from keyroll.sandbox.upstash.vector import create_app as vector_app
from keyroll.sandbox.world import World

__all__ = ["SandboxError", "install"]


def install(world: World, fleet: dict[str, Any]) -> None:
    """Install the Upstash emulation into ``world`` from the fleet's ``upstash`` section.

    Starts one redis-server per database now (each on a port it keeps for the sandbox's life);
    the world's shutdown hook stops them, and an install that fails half-way stops them itself.

    :raises ValueError: a malformed ``upstash`` section (message names the field).
    :raises RuntimeError: no redis-server binary can be found.
    :raises SandboxError: a redis-server could not be started (names the database).
    """
    state, redis = seed_fleet(fleet)
    binary = find_redis_server() if redis else ""
    workdir = Path(tempfile.mkdtemp(prefix="keyroll-upstash-"))
    servers = [
        RedisServer(
            name=spec.name,
            workdir=workdir / spec.name,
            admin_password=state.admin_password,
            default_password=spec.password,
            binary=binary,
        )
        for spec in redis
    ]
    try:
        launch(servers)
        for spec, server in zip(redis, servers, strict=True):
            add_redis(state, spec, server)
        _install_services(world, state, workdir)
    except BaseException:
        for server in servers:
            server.kill()
            server.release_port()
        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _listen_all(services: list[QStashService], callback: Any) -> Any:
    """Subscribe to every region's deliveries; one function unsubscribes from all."""
    stops = [s.listen(callback) for s in dict.fromkeys(services)]

    def unsubscribe() -> None:
        for stop in stops:
            stop()

    return unsubscribe


def _install_services(world: World, state: UpstashState, workdir: Path) -> None:
    """Register the services, templates, hooks and start-up/shutdown hooks (servers running)."""
    from keyroll.sandbox.loadgen import LoadgenRegistry

    started = {"t": time.monotonic()}

    def started_at() -> float:
        return started["t"]

    # Ports are bound now (World.reserve_url) so that templates (URLs) exist before the
    # Vercel seeding runs and no other process can take a port before the harness serves it.
    urls: dict[str, str] = {}
    for name in ("upstash", "qstash", "admin"):
        urls[name] = world.reserve_url(name)
    for q in state.qstash_regions.values():
        if q.service not in urls:
            urls[q.service] = world.reserve_url(q.service)
    for db in state.redis.values():
        urls[db.service] = world.reserve_url(db.service)
    for service in [v.service for v in state.vector.values()] + [s.service for s in state.search.values()]:
        urls[service] = world.reserve_url(service)
    world.urls.update(urls)
    resolve: dict[str, str] = {}
    for db in state.redis.values():
        db.endpoint = hosts.redis_host(db.name, db.region, urls[db.service])
        resolve[db.endpoint] = urls[db.service]
    for kind, group in (("vector", state.vector), ("search", state.search)):
        for index in group.values():
            index.endpoint = hosts.index_slug(index.name, index.region, urls[index.service])
            resolve[f"{index.endpoint}-{kind}.upstash.io"] = urls[index.service]
    for q in state.qstash_regions.values():
        for host in hosts.qstash_hosts(q.region, default=q.region == "eu-central-1"):
            resolve[host] = urls[q.service]

    client = httpx.AsyncClient(transport=LocalTransport(world), timeout=15)
    regional = {
        q.region: QStashService(world, state, started_at, region=q.region)
        for q in state.qstash_regions.values()
    }
    for regional_service in regional.values():
        regional_service.client = client
    qstash = regional.get(state.qstash.region) if state.qstash is not None else None
    if qstash is None:  # no QStash in the fleet: the service still answers (401 to every token)
        qstash = QStashService(world, state, started_at, region="")
        qstash.client = client
    behaviour = DeploymentBehaviour(world, client)
    registry = LoadgenRegistry(world)

    async def restart_redis() -> None:
        await asyncio.gather(*(db.server.restart() for db in state.redis.values() if db.server is not None))

    world.add_service("upstash", developer_app(world, state, started_at))
    world.add_service("qstash", qstash.app)
    for q in state.qstash_regions.values():
        if q.service != "qstash":
            world.add_service(q.service, regional[q.region].app)
    world.add_service(
        "admin",
        admin_app(
            world,
            state,
            restart=restart_redis,
            loadgen={"stats": registry.stats, "start": registry.start, "stop": registry.stop},
        ),
    )
    for db in state.redis.values():
        world.add_service(db.service, redis_app(world, db))
    for v in state.vector.values():
        world.add_service(v.service, vector_app(world, v))
    for s in state.search.values():
        world.add_service(s.service, search_app(world, s))

    templates = templates_of(state, urls)
    world.templates.update(templates)
    world.behaviour = behaviour
    world.hooks["upstash.seed"] = lambda: dict(templates)
    world.hooks["redis.restart"] = restart_redis
    world.hooks["loadgen.stats"] = registry.stats
    world.hooks["loadgen.register"] = registry.register
    world.hooks["upstash.loop"] = lambda: state.loop
    world.hooks["upstash.state"] = lambda: state

    def publish(url: str, body: bytes = b"", tag: str = "", via: str = "") -> str:
        """Publish through the region whose QStash URL is ``via`` (the app's QSTASH_URL), so the
        delivery is signed with that region's keys; the first region otherwise."""
        origin = via.rstrip("/")
        service = next(
            (r for r in regional.values() if origin and r.user and world.urls.get(r.user.service) == origin),
            qstash,
        )
        return service.publish(url, body, tag=tag).id

    world.hooks["qstash.publish"] = publish
    world.hooks["qstash.listen"] = lambda callback: _listen_all([qstash, *regional.values()], callback)
    env = world.info.setdefault("env", {})
    env["UPSTASH_EMAIL"] = state.email
    env["UPSTASH_API_KEY"] = state.api_key
    env["KEYROLL_UPSTASH_HOSTS"] = hosts.host_map(resolve)
    if state.qstash is not None and state.qstash.managed_by == NATIVE:
        env["QSTASH_TOKEN"] = state.qstash.token
    world.info["resources"] = resources_of(state, urls)

    async def startup() -> None:
        state.loop = asyncio.get_running_loop()
        started["t"] = time.monotonic()
        world.urls.update(urls)
        # the processes run since install(): connect the pools
        await asyncio.gather(*(db.server.start() for db in state.redis.values() if db.server is not None))
        for db in state.redis.values():
            assert db.server is not None
            # default_ro's password is its read-only token, which embeds the port: set now
            await db.server.admin(
                "ACL", "SETUSER", "default_ro", "reset", "on", ">" + db.readonly_password, *READONLY_RULES
            )
            for user in db.acl_users:
                await db.server.admin(
                    "ACL", "SETUSER", user["name"], "reset", "on", ">" + user["password"], *user["rules"]
                )
            await db.server.admin("ACL", "SAVE")
        if world.faults.redis_restart_after > 0:

            async def later() -> None:
                await asyncio.sleep(world.faults.redis_restart_after)
                await restart_redis()

            state.spawn(later())

    async def shutdown() -> None:
        registry.stop()
        for task in list(state.tasks):
            task.cancel()
        await asyncio.gather(
            *(db.server.stop() for db in state.redis.values() if db.server is not None),
            return_exceptions=True,
        )
        for db in state.redis.values():
            if db.server is not None:
                db.server.release_port()
        with contextlib.suppress(Exception):
            await behaviour.aclose()
        with contextlib.suppress(Exception):
            await client.aclose()
        shutil.rmtree(workdir, ignore_errors=True)

    world.startup.append(startup)
    world.shutdown.append(shutdown)
