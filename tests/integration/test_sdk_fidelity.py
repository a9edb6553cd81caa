"""The official SDKs work against the sandbox with only the URL and token changed.

``upstash_redis`` (sync and asyncio, base64 encoding), ``qstash.QStash`` publishing with
``qstash.Receiver`` verifying the delivery, ``upstash_vector.Index``, ``upstash_search.Search``
and redis-py over TCP.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from typing import Any

import pytest
import redis as redispy
from qstash import QStash, Receiver
from redis.backoff import NoBackoff
from redis.retry import Retry
from upstash_redis import Redis
from upstash_redis.asyncio import Redis as AsyncRedis
from upstash_redis.errors import UpstashError
from upstash_search import Search
from upstash_vector import Index, Vector

from keyroll.sandbox.server import Sandbox
from tests import canary
from tests.sandbox_helpers import register_template_secrets, webhook_receiver

FLEET: dict[str, Any] = {
    "upstash": {
        "redis": [{"name": "cache", "acl_users": [{"name": "app", "rules": "~app:* +@all"}]}],
        "vector": [{"name": "emb", "dimension": 3}],
        "search": [{"name": "docs"}],
        "qstash": {},
    },
    "projects": [],
}


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("sdk"), fleet=FLEET, services=["upstash"]) as sandbox:
        register_template_secrets(sandbox)
        yield sandbox


def t(sb: Sandbox, name: str) -> str:
    return sb.world.templates[name]


def test_upstash_redis_sync(sb: Sandbox) -> None:
    r = Redis(url=t(sb, "redis:cache:rest_url"), token=t(sb, "redis:cache:rest_token"), allow_telemetry=False)
    assert r.ping() == "PONG"
    assert r.set("greeting", "héllo wörld ✓") is True
    assert r.get("greeting") == "héllo wörld ✓"
    assert r.incr("counter") == 1
    assert r.hset("h", values={"a": "1", "b": "2"}) == 2
    assert r.hgetall("h") == {"a": "1", "b": "2"}
    assert r.lpush("l", "x", "y") == 2 and r.lrange("l", 0, -1) == ["y", "x"]
    assert r.zadd("z", {"m1": 1.5, "m2": 2}) == 2
    assert r.zrange("z", 0, -1, withscores=True) == [("m1", 1.5), ("m2", 2.0)]
    assert r.set("ex", "v", ex=100) is True and 0 < r.ttl("ex") <= 100
    assert r.get("missing") is None
    pipe = r.pipeline()
    pipe.set("p", "1")
    pipe.incr("p")
    assert pipe.exec() == [True, 2]
    tx = r.multi()
    tx.set("t", "a")
    tx.get("t")
    assert tx.exec() == [True, "a"]
    with pytest.raises(UpstashError, match="WRONGTYPE"):
        r.lpush("greeting", "x")
    ro = Redis(
        url=t(sb, "redis:cache:rest_url"),
        token=t(sb, "redis:cache:readonly_rest_token"),
        allow_telemetry=False,
    )
    assert ro.get("greeting") == "héllo wörld ✓"
    with pytest.raises(UpstashError, match="NOPERM"):
        ro.set("x", "y")
    bad = Redis(
        url=t(sb, "redis:cache:rest_url"), token="not-a-valid-token", allow_telemetry=False, rest_retries=0
    )
    with pytest.raises(UpstashError, match="WRONGPASS"):
        bad.get("greeting")
    acl = Redis(
        url=t(sb, "redis:cache:rest_url"),
        token=t(sb, "redis:cache:acl:app:rest_token"),
        allow_telemetry=False,
    )
    assert acl.set("app:1", "v") is True
    with pytest.raises(UpstashError, match="NOPERM"):
        acl.set("other", "v")


async def test_upstash_redis_asyncio(sb: Sandbox) -> None:
    async with AsyncRedis(
        url=t(sb, "redis:cache:rest_url"), token=t(sb, "redis:cache:rest_token"), allow_telemetry=False
    ) as r:
        assert await r.set("async-key", "value") is True
        assert await r.get("async-key") == "value"
        assert await r.mget("async-key", "nope") == ["value", None]
        assert await r.sadd("s", "a", "b") == 2 and sorted(await r.smembers("s")) == ["a", "b"]
        assert await r.exists("async-key") == 1
        assert await r.delete("async-key") == 1


def test_redis_py_over_tcp(sb: Sandbox) -> None:
    no_retry = Retry(NoBackoff(), 0)
    default = redispy.Redis.from_url(t(sb, "redis:cache:redis_url"), retry=no_retry)
    assert default.set("tcp", "1") and default.get("tcp") == b"1"
    assert default.acl_whoami() == "default"
    port = int(t(sb, "redis:cache:port"))
    ro = redispy.Redis(
        port=port, username="default_ro", password=t(sb, "redis:cache:readonly_rest_token"), retry=no_retry
    )
    assert ro.get("tcp") == b"1"
    with pytest.raises(redispy.exceptions.NoPermissionError):
        ro.set("tcp", "2")
    app = redispy.Redis(
        port=port, username="app", password=t(sb, "redis:cache:acl:app:password"), retry=no_retry
    )
    assert app.set("app:tcp", "1")
    with pytest.raises(redispy.exceptions.AuthenticationError):
        redispy.Redis(port=port, password="wrong-password", retry=no_retry).ping()


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    with webhook_receiver() as endpoint:
        yield endpoint


def test_qstash_publish_and_receiver(sb: Sandbox, receiver: tuple[str, Any]) -> None:
    url, inbox = receiver
    client = QStash(t(sb, "qstash:token"), base_url=t(sb, "qstash:url"), retry=False)
    keys = client.signing_key.get()
    assert keys.current == t(sb, "qstash:current_signing_key")
    res = client.message.publish_json(url=url, body={"order": 42}, headers={"X-Trace": "abc"})
    assert res.message_id.startswith("msg_")
    headers, body = inbox.get(timeout=10)
    assert headers["upstash-message-id"] == res.message_id and headers["x-trace"] == "abc"
    Receiver(keys.current, keys.next).verify(
        signature=headers["upstash-signature"], body=body.decode(), url=url
    )
    rolled = client.signing_key.rotate()
    canary.register(rolled.next)
    assert rolled.current == keys.next
    client.message.publish(url=url, body="after one roll")
    headers, body = inbox.get(timeout=10)
    # an app deployed with the old pair verifies with its *next* key
    Receiver(keys.current, keys.next).verify(
        signature=headers["upstash-signature"], body=body.decode(), url=url
    )
    bad = QStash("bm90LWEtdG9rZW4=", base_url=t(sb, "qstash:url"), retry=False)
    with pytest.raises(Exception, match="401"):
        bad.signing_key.get()


def test_upstash_vector_index(sb: Sandbox) -> None:
    index = Index(url=t(sb, "vector:emb:url"), token=t(sb, "vector:emb:token"), allow_telemetry=False)
    index.upsert([Vector(id="a", vector=[1, 0, 0], metadata={"k": 1}), ("b", [0, 1, 0], {"k": 2})])
    top = index.query(vector=[0.9, 0.1, 0], top_k=1, include_metadata=True)
    assert top[0].id == "a" and top[0].metadata == {"k": 1} and 0.5 < top[0].score <= 1
    fetched = index.fetch(["a", "zzz"], include_vectors=True)
    assert fetched[0] is not None and fetched[0].vector == [1.0, 0.0, 0.0] and fetched[1] is None
    info = index.info()
    assert info.vector_count == 2 and info.dimension == 3
    assert index.delete(["b"]).deleted == 1
    ro = Index(url=t(sb, "vector:emb:url"), token=t(sb, "vector:emb:readonly_token"), allow_telemetry=False)
    assert ro.info().vector_count == 1
    with pytest.raises(Exception, match=r"[Rr]ead-only"):
        ro.upsert([("c", [0, 0, 1])])


def test_upstash_search(sb: Sandbox) -> None:
    search = Search(url=t(sb, "search:docs:url"), token=t(sb, "search:docs:token"), allow_telemetry=False)
    idx = search.index("articles")
    idx.upsert(
        [
            {"id": "1", "content": {"title": "Rotate Upstash tokens"}, "metadata": {"lang": "en"}},
            {"id": "2", "content": {"title": "Bake bread"}},
        ]
    )
    hits = idx.search("upstash tokens", limit=5)
    assert [h.id for h in hits] == ["1"] and hits[0].metadata == {"lang": "en"}
    docs = idx.fetch(ids=["2", "nope"])
    assert docs[0] is not None and docs[0].content == {"title": "Bake bread"} and docs[1] is None
    info = search.info()
    assert info.document_count == 2 and "articles" in info.indexes
    assert search.list_indexes() == ["articles"]
