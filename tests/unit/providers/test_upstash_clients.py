"""Upstash provider clients against httpx.MockTransport: parsing, errors, probes, scrubbing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from keyroll.core.errors import AuthError, NotFoundError, ProviderError, UnavailableError
from keyroll.core.secret import Secret
from keyroll.providers.http import RetryPolicy
from keyroll.providers.upstash.developer import (
    NOT_FOUND_HINT,
    PERMISSION_HINT,
    DeveloperClient,
    RedisDatabase,
)
from keyroll.providers.upstash.endpoints import HostMap
from keyroll.providers.upstash.probe import ProbeResult
from keyroll.providers.upstash.qstash import QStashClient
from keyroll.providers.upstash.redis import CommandError, RedisRESTClient
from keyroll.providers.upstash.search import SearchClient
from keyroll.providers.upstash.vector import VectorClient

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)
TOKEN = Secret("AX1234token-for-unit-tests-0000000000")
URL = "https://eu2-test-db.upstash.io"

Handler = Callable[[httpx.Request], httpx.Response]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def dev_client(handler: Handler) -> DeveloperClient:
    client = DeveloperClient.create(
        "https://api.upstash.com", "me@example.com", Secret("dev-api-key-0123456789")
    )
    client.http._transport = httpx.MockTransport(handler)
    client.api.retry = FAST
    return client


def redis_client(handler: Handler) -> RedisRESTClient:
    return RedisRESTClient(httpx.AsyncClient(transport=httpx.MockTransport(handler)), retry=FAST)


DB = {
    "database_id": "db-1",
    "database_name": "cache",
    "endpoint": "eu2-test-db",
    "port": 6379,
    "tls": True,
    "db_acl_enabled": "true",
    "password": "0123456789abcdef0123456789abcdef",
    "rest_token": "AXrest-token-value-0000000000000000",
    "read_only_rest_token": "AnRO-token-value-00000000000000000",
}


async def test_developer_basic_auth_and_secret_fields() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[DB])

    client = dev_client(handler)
    (db,) = await client.list_redis()
    await client.aclose()
    auth = seen[0].headers["authorization"]
    assert auth == "Basic " + base64.b64encode(b"me@example.com:dev-api-key-0123456789").decode()
    assert seen[0].url.path == "/v2/redis/databases"
    assert isinstance(db.rest_token, Secret) and db.rest_token.reveal() == DB["rest_token"]
    assert db.password is not None and db.read_only_rest_token is not None
    dumped = json.dumps(db.model_dump())
    assert DB["rest_token"] not in dumped and DB["password"] not in dumped
    assert DB["rest_token"] not in repr(db)
    assert db.rest_url == "https://eu2-test-db.upstash.io"
    assert db.db_acl_enabled == "true"


async def test_developer_hidden_credentials() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["credentials"] == "hide"
        body = {k: v for k, v in DB.items() if k not in ("password", "rest_token", "read_only_rest_token")}
        return httpx.Response(200, json=body)

    client = dev_client(handler)
    db = await client.get_redis("db-1", hide_credentials=True)
    await client.aclose()
    assert db.credentials_hidden and db.rest_token is None


async def test_developer_404_is_not_found() -> None:
    client = dev_client(lambda r: httpx.Response(404, json={"error": "database not found"}))
    with pytest.raises(NotFoundError) as info:
        await client.reset_redis_password("db-x")
    await client.aclose()
    assert info.value.status == 404 and info.value.hint == NOT_FOUND_HINT
    assert "not found" in info.value.message and "db-x" in info.value.message
    assert "managed through" not in info.value.format_message()


async def test_developer_403_is_a_permission_error() -> None:
    client = dev_client(lambda r: httpx.Response(403, json={"error": "forbidden"}))
    with pytest.raises(AuthError) as info:
        await client.get_vector("ix")
    await client.aclose()
    assert info.value.status == 403 and info.value.hint == PERMISSION_HINT
    assert "permission" in info.value.message and "integration" not in info.value.format_message()


async def test_developer_bad_key_is_auth_error_with_hint() -> None:
    client = dev_client(lambda r: httpx.Response(401, json={"error": "Unauthorized"}))
    with pytest.raises(AuthError) as info:
        await client.list_vector()
    await client.aclose()
    assert "UPSTASH_API_KEY" in (info.value.hint or "")


async def test_developer_index_reset_reads_back() -> None:
    calls: list[str] = []
    index = {
        "id": "ix",
        "name": "emb",
        "endpoint": "glowing-x-us1",
        "token": "tok-new-0000000000",
        "read_only_token": "ro-new-000000000000",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        if request.method == "POST":
            return httpx.Response(200, json="OK")
        return httpx.Response(200, json=index)

    client = dev_client(handler)
    out = await client.reset_vector("ix")
    await client.aclose()
    assert calls == ["POST /v2/vector/index/ix/reset-password", "GET /v2/vector/index/ix"]
    assert out.token is not None and out.token.reveal() == "tok-new-0000000000"
    assert out.rest_url == "https://glowing-x-us1-vector.upstash.io"


async def test_developer_audit_logs_and_qstash() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auditlogs":
            return httpx.Response(
                200,
                json=[
                    {
                        "log_id": "l1",
                        "actor": "me",
                        "timestamp": 5,
                        "action": 21,
                        "action_string": "Reset Password",
                        "entity": "cache",
                    }
                ],
            )
        if request.url.path == "/v2/qstash/rotate-token/u1":
            return httpx.Response(
                200, json={"id": "u1", "token": "eyJVc2VySUQiOiJ1MSJ9-new", "region": "eu-central-1"}
            )
        return httpx.Response(404, json={"error": "not found"})

    client = dev_client(handler)
    (log,) = await client.list_audit_logs()
    user = await client.rotate_qstash_token("u1")
    await client.aclose()
    assert log.action_string == "Reset Password" and log.entity == "cache"
    assert user.token is not None and user.token.reveal().endswith("-new")


async def test_redis_command_decodes_base64_and_sends_bearer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN.reveal()}"
        assert request.headers["upstash-encoding"] == "base64"
        cmd = json.loads(request.content)
        if cmd[0] == "GET":
            return httpx.Response(200, json={"result": _b64("héllo")})
        if cmd[0] == "SET":
            return httpx.Response(200, json={"result": "OK"})
        return httpx.Response(200, json={"result": [_b64("a"), 3, None, [_b64("b")]]})

    client = redis_client(handler)
    assert await client.command(URL, TOKEN, "GET", "k") == "héllo"
    assert await client.command(URL, TOKEN, "SET", "k", "v") == "OK"
    assert await client.command(URL, TOKEN, "MGET", "a") == ["a", 3, None, ["b"]]
    await client.aclose()


async def test_redis_errors_and_probe_tri_state() -> None:
    answers = {
        "ok": httpx.Response(200, json={"result": _b64("PONG")}),
        "gone": httpx.Response(401, json={"error": "WRONGPASS invalid or missing auth token"}),
        "ro": httpx.Response(
            400, json={"error": "NOPERM this user has no permissions to run the 'ping' command"}
        ),
        "down": httpx.Response(503, json={"error": "unavailable"}),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return answers[request.url.host.split(".")[0]]

    client = redis_client(handler)
    assert await client.probe("https://ok.upstash.io", TOKEN) is ProbeResult.ACCEPTED
    assert await client.probe("https://gone.upstash.io", TOKEN) is ProbeResult.REJECTED
    assert await client.probe("https://ro.upstash.io", TOKEN) is ProbeResult.ACCEPTED
    assert await client.probe("https://down.upstash.io", TOKEN) is ProbeResult.UNKNOWN
    with pytest.raises(AuthError):
        await client.command("https://gone.upstash.io", TOKEN, "PING")
    with pytest.raises(ProviderError, match="NOPERM"):
        await client.command("https://ro.upstash.io", TOKEN, "SET", "a", "b")
    with pytest.raises(UnavailableError):
        await client.command("https://down.upstash.io", TOKEN, "PING")
    await client.aclose()


async def test_redis_acl_helpers_and_error_scrubbing() -> None:
    password = Secret("gentoken-0123456789abcdefghij")
    sent: list[list[Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cmd = json.loads(request.content)
        sent.append(cmd)
        sub = cmd[1]
        if sub == "GENTOKEN":
            return httpx.Response(200, json={"result": _b64(password.reveal())})
        if sub == "SETUSER" and cmd[2] == "bad":
            # Redis echoes the offending rule — here, the password.
            return httpx.Response(
                400, json={"error": f"ERR Error in ACL SETUSER modifier '{cmd[-1]}': Syntax error"}
            )
        if sub == "SETUSER":
            return httpx.Response(200, json={"result": "OK"})
        if sub == "RESTTOKEN":
            return httpx.Response(200, json={"result": _b64("resttoken-for-app-000000")})
        if sub == "GETUSER":
            return httpx.Response(
                200, json={"result": [_b64("flags"), [_b64("on")], _b64("keys"), [_b64("*")]]}
            )
        if sub == "DELUSER":
            return httpx.Response(200, json={"result": 1})
        return httpx.Response(200, json={"result": _b64("app")})

    client = redis_client(handler)
    token = await client.acl_gentoken(URL, TOKEN, "app")
    assert isinstance(token, Secret) and token == password
    await client.acl_setuser(URL, TOKEN, "app", "on", "~*", "+@all", add_passwords=[token])
    assert sent[-1] == ["ACL", "SETUSER", "app", "on", "~*", "+@all", ">" + password.reveal()]
    rest = await client.acl_resttoken(URL, TOKEN, "app", token)
    assert rest.reveal() == "resttoken-for-app-000000"
    assert await client.acl_getuser(URL, TOKEN, "app") == {"flags": ["on"], "keys": ["*"]}
    assert await client.acl_deluser(URL, TOKEN, "app") == 1
    assert await client.acl_whoami(URL, TOKEN) == "app"
    with pytest.raises(ProviderError) as info:
        await client.acl_setuser(URL, TOKEN, "bad", "on", remove_passwords=[password])
    await client.aclose()
    assert password.reveal() not in str(info.value)
    assert "modifier '<sha256:" in str(info.value)


async def test_redis_pipeline_marks_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/pipeline"
        return httpx.Response(200, json=[{"result": "OK"}, {"error": "WRONGTYPE Operation against a key"}])

    client = redis_client(handler)
    out = await client.pipeline(URL, TOKEN, [["SET", "a", "1"], ["LPUSH", "a", "x"]])
    await client.aclose()
    assert out[0] == "OK" and not isinstance(out[0], CommandError)
    assert isinstance(out[1], CommandError) and out[1].startswith("WRONGTYPE")


async def test_qstash_rotate_never_rolls_twice() -> None:
    keys = {"current": "sig_current_000000000000000000", "next": "sig_next_0000000000000000000000"}
    rolls = {"n": 0, "posts": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=keys)
        rolls["posts"] += 1
        rolls["n"] += 1
        keys["current"], keys["next"] = keys["next"], f"sig_fresh_{rolls['n']:020d}"
        # The roll happened, but the answer is lost.
        return httpx.Response(504, json={"error": "gateway timeout"})

    client = QStashClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)), base_url="https://qstash.test", retry=FAST
    )
    out = await client.rotate_keys(TOKEN)
    await client.aclose()
    assert rolls["posts"] == 1
    assert out.current.reveal() == "sig_next_0000000000000000000000"


async def test_qstash_check_token_and_probe() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].split()[1]
        if token == "good-token-000000000000":
            return httpx.Response(200, json={"current": "sig_a_0000000000000", "next": "sig_b_0000000000000"})
        if token == "down-token-000000000000":
            return httpx.Response(500, json={"error": "boom"})
        return httpx.Response(401, json={"error": "Unauthorized"})

    client = QStashClient(
        httpx.AsyncClient(transport=httpx.MockTransport(handler)), base_url="https://qstash.test", retry=FAST
    )
    assert await client.check_token(Secret("good-token-000000000000")) is True
    assert await client.check_token(Secret("dead-token-000000000000")) is False
    assert await client.probe(None, Secret("dead-token-000000000000")) is ProbeResult.REJECTED
    assert await client.probe(None, Secret("down-token-000000000000")) is ProbeResult.UNKNOWN
    with pytest.raises(ProviderError):
        await client.check_token(Secret("down-token-000000000000"))
    await client.aclose()


@pytest.mark.parametrize("cls", [VectorClient, SearchClient])
async def test_index_clients(cls: type[VectorClient] | type[SearchClient]) -> None:
    rw, ro = Secret("index-rw-token-000000000"), Secret("index-ro-token-000000000")

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.headers["authorization"].split()[1]
        if token not in (rw.reveal(), ro.reveal()):
            return httpx.Response(401, json={"error": "Unauthorized: Invalid auth token", "status": 401})
        if request.url.path.startswith("/delete"):
            if token == ro.reveal():
                return httpx.Response(403, json={"error": "read-only", "status": 403})
            return httpx.Response(200, json={"result": {"deleted": 0}})
        return httpx.Response(200, json={"result": {"vectorCount": 3, "namespaces": {}}})

    client = cls(httpx.AsyncClient(transport=httpx.MockTransport(handler)), retry=FAST)
    assert (await client.info(URL, rw))["vectorCount"] == 3
    assert await client.check_write(URL, rw) is True
    assert await client.check_write(URL, ro) is False
    assert await client.probe(URL, ro) is ProbeResult.ACCEPTED
    assert await client.probe(URL, Secret("index-dead-token-0000000")) is ProbeResult.REJECTED
    await client.aclose()


def test_model_helpers() -> None:
    db = RedisDatabase.model_validate({"database_id": "x", "endpoint": "eu2-a-1.upstash.io", "password": ""})
    assert db.rest_url == "https://eu2-a-1.upstash.io" and db.host == "eu2-a-1.upstash.io" and db.tcp_tls
    db.with_hosts(HostMap({"eu2-a-1.upstash.io": "http://127.0.0.1:4000"}))
    assert db.rest_url == "http://127.0.0.1:4000" and db.host == "127.0.0.1" and not db.tcp_tls
    assert db.documented_rest_url == "https://eu2-a-1.upstash.io"
    assert db.password is None
