"""The emulated Upstash's fleet section: validated, then minted into an :class:`UpstashState`.

:func:`seed_fleet` checks the fleet's ``upstash`` section (every message names the field) and
mints the credentials of every Vector and Search index and QStash region; a Redis database is
minted by :func:`add_redis` once its server runs on its final TCP port (its tokens embed the
port). :func:`templates_of` names every credential for the fleet's templates and
:func:`resources_of` summarises the resources for ``sandbox.json`` (no credentials).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from keyroll.sandbox.upstash import tokens
from keyroll.sandbox.upstash.redis_server import RedisServer
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

__all__ = ["QSTASH_REGIONS", "RedisSpec", "add_redis", "resources_of", "seed_fleet", "templates_of"]

QSTASH_REGIONS = ("eu-central-1", "us-east-1")
"""QStash regions (``qstash/howto/multi-region``); each has its own token and signing keys"""

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass
class RedisSpec:
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


def seed_fleet(fleet: dict[str, Any]) -> tuple[UpstashState, list[RedisSpec]]:
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
    redis: list[RedisSpec] = []
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
        entry = RedisSpec(
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


def add_redis(state: UpstashState, spec: RedisSpec, server: RedisServer) -> None:
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


def templates_of(state: UpstashState, urls: dict[str, str]) -> dict[str, str]:
    """The fleet's templates (``redis:<name>:rest_token`` …: the names of ``docs/sandbox.md``)."""
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


def resources_of(state: UpstashState, urls: dict[str, str]) -> dict[str, Any]:
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
