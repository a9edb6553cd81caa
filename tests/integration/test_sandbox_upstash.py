"""The Upstash emulation over real HTTP and a real redis-server: Developer API, Redis REST,
Upstash ACL extensions, resets, restarts, Vector/Search — through keyroll's own clients and raw HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis as redispy
from redis.backoff import NoBackoff
from redis.retry import Retry

from keyroll.config import load_config
from keyroll.core.errors import AuthError, NotFoundError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.factory import developer_client
from keyroll.providers.http import RetryPolicy
from keyroll.providers.upstash.developer import DeveloperClient
from keyroll.providers.upstash.probe import ProbeResult
from keyroll.providers.upstash.redis import RedisRESTClient
from keyroll.providers.upstash.search import SearchClient
from keyroll.providers.upstash.vector import VectorClient
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.upstash.state import RedisDB, UpstashState
from tests import canary
from tests.sandbox_helpers import register_template_secrets

FLEET: dict[str, Any] = {
    "team": {"id": "team_t", "slug": "acme"},
    "upstash": {
        "redis": [
            {"name": "cache", "acl_users": [{"name": "worker", "rules": "~jobs:* +@all"}]},
            {"name": "other", "prod_pack": True},
            {"name": "freebie", "free": True},
            {"name": "world", "read_regions": ["eu-west-1"], "replica_lag_ms": 3000},
            {"name": "strict", "reset_drops_acl_users": True},
            {"name": "kv", "managed_by": "vercel-integration", "configuration_id": "icfg_x"},
        ],
        "vector": [{"name": "emb", "dimension": 3}],
        "search": [{"name": "docs"}],
        "qstash": [{"region": "eu-central-1"}, {"region": "us-east-1"}],
    },
    "projects": [],
}


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("upstash"), fleet=FLEET, services=["upstash"]) as sandbox:
        register_template_secrets(sandbox)
        yield sandbox


def state(sb: Sandbox) -> UpstashState:
    st: UpstashState = sb.world.hooks["upstash.state"]()
    return st


def db(sb: Sandbox, name: str = "cache") -> RedisDB:
    """The database's current credentials (registered with the canary: resets mint new ones)."""
    d = state(sb).redis[name]
    canary.register(d.password)
    canary.register(d.rest_token)
    canary.register(d.readonly_token)
    return d


def url(sb: Sandbox, name: str = "cache") -> str:
    return sb.world.urls[f"redis-{name}"]


@pytest.fixture
async def dev(sb: Sandbox) -> AsyncIterator[DeveloperClient]:
    client = developer_client(load_config(None, environ=sb.env()))
    yield client
    await client.aclose()


@pytest.fixture
async def rc() -> AsyncIterator[RedisRESTClient]:
    client = RedisRESTClient(httpx.AsyncClient(timeout=10))
    yield client
    await client.aclose()


@contextlib.contextmanager
def quiet_httpx() -> Iterator[None]:
    logger = logging.getLogger("httpx")
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = False


def raw(sb: Sandbox, token: str, *cmd: Any, name: str = "cache", **kw: Any) -> httpx.Response:
    return httpx.post(
        url(sb, name), json=list(cmd), headers={"Authorization": f"Bearer {token}", **kw}, timeout=10
    )


# -- Developer API ------------------------------------------------------------------------


async def test_developer_api_lists_native_resources_only(sb: Sandbox, dev: DeveloperClient) -> None:
    dbs = await dev.list_redis()
    assert sorted(d.database_name for d in dbs) == ["cache", "freebie", "other", "strict", "world"]
    cache = next(d for d in dbs if d.database_name == "cache")
    assert cache.db_acl_enabled == "true" and isinstance(cache.port, int)
    assert cache.rest_url == url(sb)  # https://<endpoint> through KEYROLL_UPSTASH_HOSTS
    assert cache.rest_token == Secret(db(sb).rest_token)
    with pytest.raises(NotFoundError, match="not found") as info:
        await dev.get_redis(db(sb, "kv").id)
    assert "integration" in (info.value.hint or "")  # one possibility among others, not a verdict
    assert [v.name for v in await dev.list_vector()] == ["emb"]
    assert [s.name for s in await dev.list_search()] == ["docs"]
    eu, us = await dev.list_qstash_users()
    assert eu.token is not None and eu.region == "eu-central-1" and us.region == "us-east-1"
    assert eu.url == sb.world.urls["qstash"] and us.url == sb.world.urls["qstash-us-east-1"]


def test_developer_api_wire_format(sb: Sandbox) -> None:
    env = sb.env()
    base = env["KEYROLL_UPSTASH_API_URL"]
    auth = (env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"])
    r = httpx.get(f"{base}/v2/redis/databases", auth=(env["UPSTASH_EMAIL"], "wrong-key"))
    assert r.status_code == 401 and "error" in r.json()
    d = db(sb)
    r = httpx.get(f"{base}/v2/redis/database/{d.id}", params={"credentials": "hide"}, auth=auth)
    body = r.json()
    assert r.status_code == 200 and body["db_acl_enabled"] in ("true", "false")
    assert "rest_token" not in body and "password" not in body
    assert httpx.get(f"{base}/v2/redis/database/nope", auth=auth).status_code == 404
    vec = state(sb).vector["emb"]
    r = httpx.post(f"{base}/v2/vector/index/{vec.id}/reset-password", auth=auth)
    canary.register(vec.token)
    canary.register(vec.readonly_token)
    assert r.status_code == 200 and r.json() == "OK"
    assert httpx.get(f"{base}/v2/teams", auth=auth).json()[0]["team_name"] == "acme"
    logs = httpx.get(f"{base}/auditlogs", auth=auth).json()
    assert logs[0]["action_string"] == "Reset Vector Index Password" and logs[0]["entity"] == "emb"


async def test_reset_password_kills_old_credentials_everywhere(
    sb: Sandbox, dev: DeveloperClient, rc: RedisRESTClient
) -> None:
    d = db(sb, "other")
    old_rest, old_ro, old_pw = Secret(d.rest_token), Secret(d.readonly_token), d.password
    tcp = redispy.Redis(port=d.tcp_port, password=old_pw, socket_timeout=5, retry=Retry(NoBackoff(), 0))
    assert tcp.ping()
    assert await rc.probe(url(sb, "other"), old_rest) is ProbeResult.ACCEPTED
    fresh = await dev.reset_redis_password(d.id)
    assert fresh.rest_token is not None and fresh.password is not None
    assert fresh.rest_token != old_rest
    assert await rc.probe(url(sb, "other"), old_rest) is ProbeResult.REJECTED
    assert await rc.probe(url(sb, "other"), old_ro) is ProbeResult.REJECTED
    assert await rc.probe(url(sb, "other"), fresh.rest_token) is ProbeResult.ACCEPTED
    with pytest.raises(redispy.exceptions.RedisError):
        tcp.ping()  # the live connection was killed and cannot log in again
    with pytest.raises(redispy.exceptions.AuthenticationError):
        redispy.Redis(port=d.tcp_port, password=old_pw, retry=Retry(NoBackoff(), 0)).ping()
    assert redispy.Redis(port=d.tcp_port, password=fresh.password.reveal()).ping()
    tcp.close()


async def test_credential_protection_has_no_endpoint(sb: Sandbox) -> None:
    env = sb.env()
    auth = (env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"])
    for action in ("enable", "disable"):
        r = httpx.post(
            f"{env['KEYROLL_UPSTASH_API_URL']}/v2/redis/{action}-credential-protection/{db(sb, 'other').id}",
            auth=auth,
        )
        assert r.status_code == 404 and "error" in r.json()


def test_developer_api_endpoint_shapes(sb: Sandbox) -> None:
    """Redis: a bare host (REST https://<endpoint>, TCP <endpoint>:port); Vector/Search: a slug whose
    data plane is <slug>-vector/-search.upstash.io; sandbox.env maps each host to its loopback port."""
    env = sb.env()
    base, auth = env["KEYROLL_UPSTASH_API_URL"], (env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"])
    hosts = dict(pair.split("=", 1) for pair in env["KEYROLL_UPSTASH_HOSTS"].split(","))
    for d in httpx.get(f"{base}/v2/redis/databases", auth=auth).json():
        ep = d["endpoint"]
        assert "://" not in ep and ":" not in ep and ep.endswith(".upstash.io"), ep
        assert hosts[ep] == url(sb, d["database_name"])
        assert d["port"] == state(sb).redis[d["database_name"]].tcp_port
    for kind, path in (("vector", "/v2/vector/index"), ("search", "/v2/search")):
        for index in httpx.get(f"{base}{path}", auth=auth).json():
            slug = index["endpoint"]
            assert "." not in slug and "://" not in slug, slug
            assert hosts[f"{slug}-{kind}.upstash.io"] == sb.world.urls[f"{kind}-{index['name']}"]
    assert hosts["qstash.upstash.io"] == hosts["qstash-eu-central-1.upstash.io"] == sb.world.urls["qstash"]
    assert hosts["qstash-us-east-1.upstash.io"] == sb.world.urls["qstash-us-east-1"]


def test_qstash_regions_have_their_own_tokens_and_keys(sb: Sandbox) -> None:
    """Each region has its own token and signing keys; a token works in its own region only."""
    eu, us = state(sb).qstash_regions["eu-central-1"], state(sb).qstash_regions["us-east-1"]
    for user in (eu, us):
        for value in (user.token, user.readonly_token, user.current_signing_key, user.next_signing_key):
            canary.register(value)
    eu_url, us_url = sb.world.urls["qstash"], sb.world.urls["qstash-us-east-1"]

    def keys(base: str, token: str) -> httpx.Response:
        return httpx.get(f"{base}/v2/keys", headers={"Authorization": f"Bearer {token}"})

    assert keys(eu_url, eu.token).json()["current"] == eu.current_signing_key
    assert keys(us_url, us.token).json()["current"] == us.current_signing_key
    assert eu.current_signing_key != us.current_signing_key and eu.token != us.token
    assert keys(eu_url, us.token).status_code == 401 and keys(us_url, eu.token).status_code == 401
    before = eu.current_signing_key
    rolled = httpx.post(f"{us_url}/v2/keys/rotate", headers={"Authorization": f"Bearer {us.token}"}).json()
    canary.register(rolled["next"])
    assert eu.current_signing_key == before  # a roll in one region leaves the other alone
    assert sb.world.templates["qstash:us-east-1:url"] == us_url
    assert sb.world.templates["qstash:token"] == sb.world.templates["qstash:eu-central-1:token"]


async def test_index_urls_follow_the_documented_mapping(sb: Sandbox, dev: DeveloperClient) -> None:
    (v,) = await dev.list_vector()
    (s,) = await dev.list_search()
    assert v.rest_url == sb.world.urls["vector-emb"] and s.rest_url == sb.world.urls["search-docs"]
    bare = DeveloperClient(httpx.AsyncClient(base_url=sb.env()["KEYROLL_UPSTASH_API_URL"]))
    assert bare.hosts.hosts == {}  # without the host map: the documented public hosts
    v.with_hosts(bare.hosts)
    assert v.rest_url == f"https://{v.endpoint}-vector.upstash.io"
    await bare.aclose()


def test_free_database_has_no_acl(sb: Sandbox) -> None:
    env = sb.env()
    auth = (env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"])
    d = db(sb, "freebie")
    row = httpx.get(f"{env['KEYROLL_UPSTASH_API_URL']}/v2/redis/database/{d.id}", auth=auth).json()
    assert (row["type"], row["db_acl_enabled"]) == ("free", "false")
    assert raw(sb, d.rest_token, "SET", "k", "v", name="freebie").json() == {"result": "OK"}
    for cmd in (
        ["ACL", "GENTOKEN", "app"],
        ["ACL", "SETUSER", "app", "on", ">" + "x" * 40, "~*", "+@all"],
        ["ACL", "RESTTOKEN", "app", "x" * 40],
        ["ACL", "DELUSER", "app"],
    ):
        r = raw(sb, d.rest_token, *cmd, name="freebie")
        assert r.status_code == 400 and "free" in r.json()["error"], cmd
    # the same commands work on a paid database
    assert raw(sb, db(sb).rest_token, "ACL", "GENTOKEN", "app").status_code == 200


async def test_global_database_acl_change_needs_the_sync_token(sb: Sandbox, rc: RedisRESTClient) -> None:
    """A global database's replicas see an ACL change late: a read right after the write needs
    the write's sync token (read-your-writes) — keyroll's client sends it, a fresh one does not."""
    base, admin = url(sb, "world"), Secret(db(sb, "world").rest_token)
    token = await rc.acl_gentoken(base, admin, "fresh")
    r = httpx.post(
        base,
        json=["ACL", "SETUSER", "fresh", "on", ">" + token.reveal(), "~*", "+@all"],
        headers={"Authorization": f"Bearer {admin.reveal()}"},
    )
    assert r.status_code == 200
    sync = r.headers["upstash-sync-token"]
    bearer = {"Authorization": f"Bearer {token.reveal()}"}
    assert httpx.post(base, json=["PING"], headers=bearer).status_code == 401  # the replica lags
    lagged = httpx.post(base, json=["PING"], headers={**bearer, "Upstash-Sync-Token": sync})
    assert lagged.json() == {"result": "PONG"}

    # keyroll's client: the sync token of its own write travels with its next request
    second = await rc.acl_gentoken(base, admin, "fresh2")
    await rc.acl_setuser(base, admin, "fresh2", "on", "~*", "+@all", add_passwords=[second])
    assert await rc.command(base, second, "PING") == "PONG"
    other = RedisRESTClient(httpx.AsyncClient(timeout=10), retry=RetryPolicy(attempts=1))
    with pytest.raises(AuthError):
        await other.command(base, second, "PING")  # no sync token: the replica has not seen it
    await other.aclose()


# -- Redis REST protocol -------------------------------------------------------------------


def test_rest_forms_and_encodings(sb: Sandbox) -> None:
    tok = db(sb).rest_token
    h = {"Authorization": f"Bearer {tok}"}
    base = url(sb)
    assert httpx.get(f"{base}/set/path%2Fkey/v1/EX/100", headers=h).json() == {"result": "OK"}
    assert httpx.get(f"{base}/get/path%2Fkey", headers=h).json() == {"result": "v1"}
    assert httpx.post(f"{base}/set/bodykey?EX=100", content=b"\xff\x00raw", headers=h).json() == {
        "result": "OK"
    }
    r = httpx.get(f"{base}/get/bodykey", headers={**h, "Upstash-Encoding": "base64"})
    assert base64.b64decode(r.json()["result"]) == b"\xff\x00raw"
    assert httpx.get(f"{base}/get/bodykey", headers=h).json()["result"] == "\ufffd\x00raw"
    assert raw(sb, tok, "PING", **{"Upstash-Encoding": "base64"}).json() == {
        "result": base64.b64encode(b"PONG").decode()
    }
    assert raw(sb, tok, "SET", "n", 1.0, **{"Upstash-Encoding": "base64"}).json() == {"result": "OK"}
    assert raw(sb, tok, "INCR", "n").json() == {"result": 2}
    with quiet_httpx():  # the token is in the query string, which httpx logs
        assert httpx.get(f"{base}/get/n", params={"_token": tok}).json() == {"result": "2"}
    assert httpx.delete(f"{base}/get/n", headers=h).status_code == 405
    r = raw(sb, tok, "GET", "n", **{"Upstash-Response-Format": "resp2"})
    assert r.content == b"$1\r\n2\r\n" and r.headers["content-type"] == "application/octet-stream"
    assert raw(sb, tok, "GET", "n", **{"Upstash-Response-Format": "xml"}).status_code == 400
    r = raw(sb, tok, "LPUSH", "n", "x")
    assert r.status_code == 400 and r.json()["error"].startswith("WRONGTYPE")
    r = httpx.post(
        f"{base}/pipeline", json=[["SET", "p", "1"], ["INCR", "p"], ["LPUSH", "p", "x"]], headers=h
    )
    assert r.json() == [{"result": "OK"}, {"result": 2}, {"error": r.json()[2]["error"]}]
    r = httpx.post(f"{base}/multi-exec", json=[["SET", "m", "1"], ["INCR", "m"]], headers=h)
    assert r.json() == [{"result": "OK"}, {"result": 2}]
    r = httpx.post(f"{base}/multi-exec", json=[["SET", "m"], ["INCR", "m"]], headers=h)
    assert r.status_code == 400 and "error" in r.json()
    for blocked in (["SELECT", "1"], ["SUBSCRIBE", "c"], ["CONFIG", "SET", "port", "1"], ["SHUTDOWN"]):
        r = raw(sb, tok, *blocked)
        assert r.status_code == 400 and "not available" in r.json()["error"]
    assert raw(sb, "not-a-token", "PING").json() == {"error": "WRONGPASS invalid or missing auth token"}
    assert raw(sb, "not-a-token", "PING").status_code == 401
    ro = db(sb).readonly_token
    r = raw(sb, ro, "SET", "a", "b")
    assert r.status_code == 400 and r.json()["error"].startswith("NOPERM")
    assert raw(sb, ro, "GET", "p").json() == {"result": "2"}
    assert raw(sb, ro, "KEYS", "*").json()["error"].startswith("NOPERM")


async def test_acl_user_survives_default_reset(
    sb: Sandbox, dev: DeveloperClient, rc: RedisRESTClient
) -> None:
    base, admin = url(sb), Secret(db(sb).rest_token)
    password = await rc.acl_gentoken(base, admin, "keyroll-a")
    await rc.acl_setuser(
        base, admin, "keyroll-a", "reset", "on", "~*", "&*", "+@all", add_passwords=[password]
    )
    rest = await rc.acl_resttoken(base, admin, "keyroll-a", password)
    assert await rc.acl_whoami(base, rest) == "keyroll-a"
    assert await rc.acl_whoami(base, password) == "keyroll-a"  # a GENTOKEN token is a REST token too
    assert redispy.Redis(port=db(sb).tcp_port, username="keyroll-a", password=password.reveal()).ping()
    assert not any("_sandbox_admin" in line for line in await rc.acl_list(base, admin))
    assert "_sandbox_admin" not in await rc.acl_users(base, admin)
    await dev.reset_redis_password(db(sb).id)
    admin = Secret(db(sb).rest_token)
    assert await rc.probe(base, rest) is ProbeResult.ACCEPTED
    assert await rc.command(base, rest, "SET", "k", "v") == "OK"
    # remove the password: the REST token bound to it dies with it
    await rc.acl_setuser(base, admin, "keyroll-a", remove_passwords=[password])
    assert await rc.probe(base, rest) is ProbeResult.REJECTED
    assert await rc.acl_deluser(base, admin, "keyroll-a") == 1


async def test_reset_can_take_acl_users_with_it(
    sb: Sandbox, dev: DeveloperClient, rc: RedisRESTClient
) -> None:
    """The undocumented other outcome, on demand: a reset that kills every ACL user's passwords."""
    base, admin = url(sb, "strict"), Secret(db(sb, "strict").rest_token)
    password = await rc.acl_gentoken(base, admin, "keyroll-a")
    await rc.acl_setuser(base, admin, "keyroll-a", "on", "~*", "+@all", add_passwords=[password])
    rest = await rc.acl_resttoken(base, admin, "keyroll-a", password)
    assert await rc.probe(base, rest) is ProbeResult.ACCEPTED
    await dev.reset_redis_password(db(sb, "strict").id)
    assert await rc.probe(base, rest) is ProbeResult.REJECTED
    assert await rc.probe(base, password) is ProbeResult.REJECTED  # the GENTOKEN token too
    assert await rc.probe(base, Secret(db(sb, "strict").rest_token)) is ProbeResult.ACCEPTED


async def test_acl_rules_like_upstash(sb: Sandbox, rc: RedisRESTClient) -> None:
    base, admin = url(sb), Secret(db(sb).rest_token)
    for rules, match in (
        (("default", "on"), "default user"),
        (("app", "nopass"), "nopass"),
        (("app", "#" + "a" * 64), "hashed"),
        (("app", "+client|list"), "subcommand"),
    ):
        with pytest.raises(ProviderError, match=match):
            await rc.command(base, admin, "ACL", "SETUSER", *rules)
    with pytest.raises(ProviderError, match="default"):
        await rc.acl_deluser(base, admin, "default")
    other = await rc.acl_gentoken(base, admin, "someone-else")
    with pytest.raises(ProviderError, match="another user"):
        await rc.acl_setuser(base, admin, "app", "on", add_passwords=[other])
    with pytest.raises(ProviderError, match="too weak"):
        await rc.acl_gentoken(base, admin, "app", Secret("short"))
    wrapped = Secret("a-strong-password-for-app-42")
    token = await rc.acl_gentoken(base, admin, "app", wrapped)
    await rc.acl_setuser(base, admin, "app", "on", "~app:*", "+@all", add_passwords=[token])
    via_wrapped = await rc.acl_resttoken(base, admin, "app", wrapped)
    assert await rc.acl_whoami(base, via_wrapped) == "app"
    with pytest.raises(ProviderError, match="Wrong password"):
        await rc.acl_resttoken(base, admin, "app", Secret("wrong-password-for-app-000"))
    # plain passwords (older docs) and undocumented rules are refused, as Upstash's page says
    for rules, match in (
        (("legacy", "on", ">plain-legacy-password-1"), "plain-text"),
        (("app", "%R~cache:*"), "not supported"),
        (("app", "(+get ~x)"), "not supported"),
        (("app", "clearselectors"), "not supported"),
        (("app", "!" + "Z" * 64), "SHA-256"),
    ):
        with pytest.raises(ProviderError, match=match):
            await rc.command(base, admin, "ACL", "SETUSER", *rules)
    # every documented form works
    await rc.command(
        base, admin, "ACL", "SETUSER", "app", "off", "on", "allkeys", "resetkeys", "~app:*", "allchannels",
        "resetchannels", "&app:*", "nocommands", "allcommands", "-@dangerous", "+ping", "-flushall",
    )  # fmt: skip
    # a read-only credential cannot run ACL at all
    with pytest.raises(ProviderError, match="NOPERM"):
        await rc.acl_gentoken(base, Secret(db(sb).readonly_token), "x")
    worker = Secret(sb.world.templates["redis:cache:acl:worker:rest_token"])
    with pytest.raises(ProviderError, match="NOPERM"):
        await rc.command(base, worker, "SET", "not-jobs", "1")
    assert await rc.command(base, worker, "SET", "jobs:1", "1") == "OK"


async def test_restart_keeps_data_and_acls(sb: Sandbox, rc: RedisRESTClient) -> None:
    base, admin = url(sb), Secret(db(sb).rest_token)
    token = await rc.acl_gentoken(base, admin, "survivor")
    await rc.acl_setuser(base, admin, "survivor", "on", "~*", "+@all", add_passwords=[token])
    await rc.command(base, admin, "SET", "durable", "yes")
    before = {n: d.server.restarts for n, d in state(sb).redis.items() if d.server}
    r = httpx.post(sb.env()["KEYROLL_SANDBOX_ADMIN_URL"] + "/_sandbox/redis/restart", timeout=30)
    assert r.status_code == 200
    assert all(d.server.restarts == before[n] + 1 for n, d in state(sb).redis.items() if d.server)
    assert await rc.command(base, token, "GET", "durable") == "yes"
    assert await rc.probe(base, admin) is ProbeResult.ACCEPTED
    assert redispy.Redis(port=db(sb).tcp_port, password=db(sb).password).ping()


async def test_concurrent_requests_during_restart(sb: Sandbox, rc: RedisRESTClient) -> None:
    base, admin = url(sb), Secret(db(sb).rest_token)
    restart = sb.world.hooks["redis.restart"]
    task = asyncio.get_running_loop().run_in_executor(None, lambda: sb.call(restart()))
    results = await asyncio.gather(*(rc.command(base, admin, "INCR", "during") for _ in range(20)))
    await task
    assert sorted(results) == list(range(min(results), min(results) + 20))


async def test_a_restart_fails_no_request_sent_around_it(sb: Sandbox) -> None:
    """A restart drains commands in flight and holds new ones until the server is back, like a
    managed service's failover: a client hammering the database sees no 5xx."""
    base, token = url(sb), db(sb).rest_token
    restart = sb.world.hooks["redis.restart"]
    statuses: list[int] = []
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=30) as client:

        async def hammer(cmd: list[str]) -> None:
            while not stop.is_set():
                r = await client.post(base, json=cmd, headers={"Authorization": f"Bearer {token}"})
                statuses.append(r.status_code)

        slow = ["EVAL", "local i = 0 while i < 2000000 do i = i + 1 end return i", "0"]  # ~50 ms
        workers = [asyncio.create_task(hammer(["INCR", "drain"])) for _ in range(6)]
        workers += [asyncio.create_task(hammer(slow)) for _ in range(2)]
        await asyncio.sleep(0.2)
        before = len(statuses)
        await asyncio.get_running_loop().run_in_executor(None, lambda: sb.call(restart()))
        await asyncio.sleep(0.2)
        stop.set()
        await asyncio.gather(*workers)
    assert before > 0 and len(statuses) > before
    assert set(statuses) == {200}, sorted(set(statuses))


# -- Vector / Search ---------------------------------------------------------------------


async def test_vector_and_search_tokens(sb: Sandbox, dev: DeveloperClient) -> None:
    vec, docs = state(sb).vector["emb"], state(sb).search["docs"]
    vurl, surl = sb.world.urls["vector-emb"], sb.world.urls["search-docs"]
    v = VectorClient(httpx.AsyncClient(timeout=10))
    s = SearchClient(httpx.AsyncClient(timeout=10))
    canary.register(vec.token)
    canary.register(docs.token)
    try:
        assert await v.check_write(vurl, Secret(vec.token)) is True
        assert await v.check_write(vurl, Secret(vec.readonly_token)) is False
        assert await s.check_write(surl, Secret(docs.readonly_token)) is False
        old = Secret(docs.token)
        fresh = await dev.reset_search(docs.id)
        assert fresh.token is not None and fresh.token != old
        canary.register(fresh.token.reveal())
        assert await s.probe(surl, old) is ProbeResult.REJECTED
        assert await s.probe(surl, fresh.token) is ProbeResult.ACCEPTED
        with pytest.raises(AuthError):
            await s.info(surl, old)
        r = httpx.post(f"{surl}/info", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json() == {
            "error": "Unauthorized: Invalid auth token",
            "status": 401,
        }
    finally:
        await v.aclose()
        await s.aclose()


async def test_developer_api_faults_are_retried(tmp_path: Any) -> None:
    with Sandbox(tmp_path, fleet=FLEET, services=["upstash"], faults="error_rate=0.5,seed=7") as faulty:
        register_template_secrets(faulty)
        client = developer_client(load_config(None, environ=faulty.env()))
        client.api.retry = RetryPolicy(attempts=12, base_delay=0.01, max_delay=0.05)
        try:
            names = sorted(d.database_name for d in await client.list_redis())
            for _ in range(5):
                assert len(await client.list_vector()) == 1
        finally:
            await client.aclose()
        assert names == ["cache", "freebie", "other", "strict", "world"]
        assert client.api.total_calls > 6  # some answers were 503 and were retried
        env = faulty.env()
        codes = {
            httpx.get(
                f"{env['KEYROLL_UPSTASH_API_URL']}/v2/teams",
                auth=(env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"]),
            ).status_code
            for _ in range(20)
        }
        assert codes == {200, 503}
        # data planes get no faults
        assert all(raw(faulty, db(faulty).rest_token, "PING").status_code == 200 for _ in range(10))
