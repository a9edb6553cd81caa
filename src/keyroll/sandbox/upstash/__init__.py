"""The emulated Upstash: Developer API, Redis (REST + TCP on real redis-servers), QStash,
Vector, Search, the deployment behaviour and the sandbox dashboard.

:func:`install` mints every credential of the fleet's ``upstash`` section, fills
``World.templates`` (the names of ``docs/sandbox.md``), registers the services
(``upstash``, ``qstash``, ``admin``, one ``redis-<name>``/``vector-<name>``/``search-<name>``
per resource), the hooks, ``World.behaviour``, and startup/shutdown hooks for the
redis-servers. The redis-servers themselves (one per database) are started by :func:`install`,
before any token or URL is derived from their TCP ports: see :mod:`.ports` for why this makes
the ports race-free.

Modules: ``state`` (resources), ``tokens`` (credential formats), ``redis_server`` (processes),
``ports`` (their TCP ports),
``redis_rest`` + ``acl`` (REST data plane), ``developer`` (Developer API), ``qstash``,
``vector``, ``search`` + ``indexes``, ``resets`` (shared reset operations), ``behaviour``
(deployments), ``admin`` (dashboard), ``chaos`` (latency/faults), ``transport`` (in-process
HTTP between services).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from keyroll.sandbox.upstash import hosts, tokens
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
from keyroll.sandbox.upstash.state import (
    INTEGRATION,
    NATIVE,
    QStashUser,
    RedisDB,
    SearchIndex,
    TokenBinding,
    UpstashState,
    VectorIndex,
)
from keyroll.sandbox.upstash.transport import LocalTransport
from keyroll.sandbox.upstash.vector import create_app as vector_app
from keyroll.sandbox.world import World

__all__ = ["SandboxError", "install"]

QSTASH_REGIONS = ("eu-central-1", "us-east-1")
"""QStash regions (``qstash/howto/multi-region``); each has its own token and signing keys"""

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass
class _RedisSpec:
    """A validated ``upstash.redis[]`` entry, before its server has a port."""

    name: str
    managed_by: str
    configuration_id: str | None
    credential_protection: bool
    prod_pack: bool
    region: str
    free: bool = False
    read_regions: list[str] = field(default_factory=list)
    reset_drops_acl_users: bool = False
    resync: bool = True
    env_prefix: str = ""
    replica_lag_s: float = 0.3
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    password: str = field(default_factory=tokens.new_password)
    acl_users: list[tuple[str, list[str]]] = field(default_factory=list)


def _items(section: Any, where: str) -> list[dict[str, Any]]:
    if section is None:
        return []
    if not isinstance(section, list) or not all(isinstance(x, dict) for x in section):
        raise ValueError(f"fleet: {where} must be a list of mappings")
    names = [str(x.get("name", "")) for x in section]
    for i, name in enumerate(names):
        if not name or set(name) - _NAME_CHARS:
            raise ValueError(f"fleet: {where}[{i}].name must be letters, digits, - or _")
    if len(set(names)) != len(names):
        raise ValueError(f"fleet: {where} has duplicate names")
    return section


def _managed(spec: dict[str, Any], where: str) -> tuple[str, str | None]:
    managed = str(spec.get("managed_by", NATIVE))
    if managed not in (NATIVE, INTEGRATION):
        raise ValueError(f"fleet: {where}.managed_by must be {NATIVE} or {INTEGRATION}")
    cfg = spec.get("configuration_id")
    if managed == INTEGRATION and not cfg:
        raise ValueError(f"fleet: {where} is managed by the Vercel integration but has no configuration_id")
    return managed, (str(cfg) if cfg else None)


def _flag(spec: dict[str, Any], key: str, where: str) -> bool:
    value = spec.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"fleet: {where}.{key} must be true or false")
    return value


def _resync(spec: dict[str, Any], where: str) -> bool:
    value = spec.get("resync", True)
    if not isinstance(value, bool):
        raise ValueError(f"fleet: {where}.resync must be true or false")
    return value


def _seed(fleet: dict[str, Any]) -> tuple[UpstashState, list[_RedisSpec]]:
    """Validate the fleet's ``upstash`` section and mint everything but the Redis databases,
    which need their TCP port first (:func:`_add_redis`)."""
    section = fleet.get("upstash") or {}
    if not isinstance(section, dict):
        raise ValueError("fleet: upstash must be a mapping")
    team = fleet.get("team") if isinstance(fleet.get("team"), dict) else {}
    state = UpstashState(
        email=str(section.get("email", "sandbox@keyroll.test")),
        api_key=secrets.token_hex(18),
        team_name=str(section.get("team", team.get("slug", "")) if team else section.get("team", "")),
    )
    redis: list[_RedisSpec] = []
    for i, spec in enumerate(_items(section.get("redis"), "upstash.redis")):
        where = f"upstash.redis[{i}]"
        managed, cfg = _managed(spec, where)
        protection, prod_pack = _flag(spec, "credential_protection", where), _flag(spec, "prod_pack", where)
        free = _flag(spec, "free", where)
        if free and (protection or prod_pack or spec.get("acl_users")):
            # "ACL is available on all paid databases"; Prod Pack is a paid add-on
            raise ValueError(
                f"fleet: {where} is free: it can have no acl_users, prod_pack or credential_protection"
            )
        regions = spec.get("read_regions", [])
        if not isinstance(regions, list) or not all(isinstance(r, str) and r for r in regions):
            raise ValueError(f"fleet: {where}.read_regions must be a list of region names")
        entry = _RedisSpec(
            name=str(spec["name"]),
            managed_by=managed,
            configuration_id=cfg,
            credential_protection=protection,
            prod_pack=prod_pack or protection,  # protection is a Prod Pack feature
            region=str(spec.get("region", "us-east-1")),
            free=free,
            read_regions=list(regions),
            reset_drops_acl_users=_flag(spec, "reset_drops_acl_users", where),
            resync=_resync(spec, where),
            env_prefix=str(spec.get("env_prefix", "") or ""),
        )
        lag = spec.get("replica_lag_ms", 300)
        if not isinstance(lag, int) or not 0 <= lag <= 60000:
            raise ValueError(f"fleet: {where}.replica_lag_ms must be an integer 0..60000")
        entry.replica_lag_s = lag / 1000
        if entry.env_prefix and not entry.env_prefix.replace("_", "").isalnum():
            raise ValueError(f"fleet: {where}.env_prefix must be letters, digits or _")
        for j, user in enumerate(_items(spec.get("acl_users"), f"{where}.acl_users")):
            name = str(user["name"])
            if name in ("default", "default_ro"):
                raise ValueError(f"fleet: {where}.acl_users[{j}] may not redefine {name}")
            entry.acl_users.append((name, str(user.get("rules", "~* &* +@all")).split()))
        redis.append(entry)
    for i, spec in enumerate(_items(section.get("vector"), "upstash.vector")):
        managed, cfg = _managed(spec, f"upstash.vector[{i}]")
        index_id = str(uuid.uuid4())
        dim = spec.get("dimension", 8)
        if not isinstance(dim, int) or not 1 <= dim <= 4096:
            raise ValueError(f"fleet: upstash.vector[{i}].dimension must be an integer 1..4096")
        state.vector[str(spec["name"])] = VectorIndex(
            id=index_id,
            name=str(spec["name"]),
            token=tokens.index_token(1, index_id),
            readonly_token=tokens.index_token(2, index_id),
            dimension=dim,
            similarity_function=str(spec.get("similarity", "COSINE")).upper(),
            managed_by=managed,
            configuration_id=cfg,
            resync=_resync(spec, f"upstash.vector[{i}]"),
        )
    for i, spec in enumerate(_items(section.get("search"), "upstash.search")):
        managed, cfg = _managed(spec, f"upstash.search[{i}]")
        index_id = str(uuid.uuid4())
        state.search[str(spec["name"])] = SearchIndex(
            id=index_id,
            name=str(spec["name"]),
            token=tokens.index_token(1, index_id),
            readonly_token=tokens.index_token(2, index_id),
            managed_by=managed,
            configuration_id=cfg,
            resync=_resync(spec, f"upstash.search[{i}]"),
        )
    q = section.get("qstash", {})
    qstash_specs: list[Any] = q if isinstance(q, list) else ([] if q is None else [q])
    seen: set[str] = set()
    for i, spec in enumerate(qstash_specs):
        where = "upstash.qstash" if not isinstance(q, list) else f"upstash.qstash[{i}]"
        if not isinstance(spec, dict):
            raise ValueError(f"fleet: {where} must be a mapping")
        managed, cfg = _managed(spec, where)
        region = str(spec.get("region", "eu-central-1"))
        if region not in QSTASH_REGIONS:
            raise ValueError(f"fleet: {where}.region must be one of {', '.join(QSTASH_REGIONS)}")
        if region in seen:
            raise ValueError(f"fleet: {where}: region {region} is declared twice")
        seen.add(region)
        user_id = str(uuid.uuid4())
        qstash_user = QStashUser(
            id=user_id,
            token=tokens.qstash_token(user_id),
            readonly_token=tokens.qstash_token(user_id),
            current_signing_key=tokens.signing_key(),
            next_signing_key=tokens.signing_key(),
            region=region,
            managed_by=managed,
            configuration_id=cfg,
            resync=_resync(spec, where),
            service="qstash" if i == 0 else f"qstash-{region}",
        )
        state.qstash_regions[region] = qstash_user
        if i == 0:
            state.qstash = qstash_user
    return state, redis


def _add_redis(state: UpstashState, spec: _RedisSpec, server: RedisServer) -> None:
    """Mint the credentials of a database whose server runs on its final port."""
    port = server.port
    db = RedisDB(
        id=spec.id,
        name=spec.name,
        tcp_port=port,
        password=spec.password,
        rest_token=tokens.redis_rest_token(port, spec.id, spec.password),
        readonly_token=tokens.redis_readonly_token(port, spec.id),
        managed_by=spec.managed_by,
        configuration_id=spec.configuration_id,
        credential_protection=spec.credential_protection,
        prod_pack=spec.prod_pack,
        region=spec.region,
        free=spec.free,
        read_regions=list(spec.read_regions),
        reset_drops_acl_users=spec.reset_drops_acl_users,
        resync=spec.resync,
        env_prefix=spec.env_prefix,
        replica_lag_s=spec.replica_lag_s,
        server=server,
    )
    db.tokens[db.rest_token] = TokenBinding("default", db.password, "rest")
    db.tokens[db.readonly_token] = TokenBinding("default_ro", db.readonly_token, "readonly")
    for name, rules in spec.acl_users:
        acl_password = tokens.redis_gentoken(port, name, tokens.new_password())
        rest = tokens.redis_resttoken(port)
        db.tokens[rest] = TokenBinding(name, acl_password, "acl")
        db.acl_users.append({"name": name, "rules": rules, "password": acl_password, "rest_token": rest})
    state.redis[db.name] = db


def _templates(state: UpstashState, urls: dict[str, str]) -> dict[str, str]:
    t: dict[str, str] = {}
    for db in state.redis.values():
        p = f"redis:{db.name}"
        t.update(
            {
                f"{p}:rest_url": urls[db.service],
                f"{p}:rest_token": db.rest_token,
                f"{p}:readonly_rest_token": db.readonly_token,
                f"{p}:password": db.password,
                f"{p}:readonly_password": db.readonly_password,
                f"{p}:redis_url": f"redis://default:{db.password}@127.0.0.1:{db.tcp_port}",
                f"{p}:host": "127.0.0.1",
                f"{p}:port": str(db.tcp_port),
            }
        )
        for user in db.acl_users:
            t[f"{p}:acl:{user['name']}:password"] = user["password"]
            t[f"{p}:acl:{user['name']}:rest_token"] = user["rest_token"]
    for q in state.qstash_regions.values():
        values = {
            "url": urls[q.service],
            "token": q.token,
            "readonly_token": q.readonly_token,
            "current_signing_key": q.current_signing_key,
            "next_signing_key": q.next_signing_key,
            # alias used in world.py's docstring
            "signing_key_current": q.current_signing_key,
            "signing_key_next": q.next_signing_key,
        }
        t.update({f"qstash:{q.region}:{k}": v for k, v in values.items()})
        if q is state.qstash:
            t.update({f"qstash:{k}": v for k, v in values.items()})
    for kind, group in (("vector", state.vector), ("search", state.search)):
        for index in group.values():
            t.update(
                {
                    f"{kind}:{index.name}:url": urls[index.service],
                    f"{kind}:{index.name}:token": index.token,
                    f"{kind}:{index.name}:readonly_token": index.readonly_token,
                }
            )
    return t


def _resources(state: UpstashState, urls: dict[str, str]) -> dict[str, Any]:
    """``sandbox.json`` summary: ids, names, URLs — no credentials."""
    return {
        "redis": [
            {
                "id": d.id,
                "name": d.name,
                "rest_url": urls[d.service],
                "tcp": f"127.0.0.1:{d.tcp_port}",
                "endpoint": d.endpoint,
                "free": d.free,
                "managed_by": d.managed_by,
                "configuration_id": d.configuration_id,
                "acl_users": [u["name"] for u in d.acl_users],
            }
            for d in state.redis.values()
        ],
        "vector": [
            {
                "id": v.id,
                "name": v.name,
                "url": urls[v.service],
                "endpoint": v.endpoint,
                "managed_by": v.managed_by,
            }
            for v in state.vector.values()
        ],
        "search": [
            {
                "id": s.id,
                "name": s.name,
                "url": urls[s.service],
                "endpoint": s.endpoint,
                "managed_by": s.managed_by,
            }
            for s in state.search.values()
        ],
        "qstash": (
            {
                "id": state.qstash.id,
                "region": state.qstash.region,
                "url": urls["qstash"],
                "managed_by": state.qstash.managed_by,
            }
            if state.qstash
            else None
        ),
        "qstash_regions": [
            {"id": q.id, "region": q.region, "url": urls[q.service], "managed_by": q.managed_by}
            for q in state.qstash_regions.values()
        ],
    }


def install(world: World, fleet: dict[str, Any]) -> None:
    """Install the Upstash emulation into ``world`` from the fleet's ``upstash`` section.

    Starts one redis-server per database now (each on a port it keeps for the sandbox's life);
    the world's shutdown hook stops them, and an install that fails half-way stops them itself.

    :raises ValueError: a malformed ``upstash`` section (message names the field).
    :raises RuntimeError: no redis-server binary can be found.
    :raises SandboxError: a redis-server could not be started (names the database).
    """
    state, redis = _seed(fleet)
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
            _add_redis(state, spec, server)
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

    templates = _templates(state, urls)
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
    world.info["resources"] = _resources(state, urls)

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
