"""Property tests: arbitrary bodies, paths, bytes and headers never crash the Upstash services.

Every answer is a well-formed, API-like JSON success or error — never a 500, never a
non-JSON body (the SDKs would retry and then fail to decode).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyroll.sandbox.server import Sandbox
from tests.sandbox_helpers import register_template_secrets

FLEET: dict[str, Any] = {
    "upstash": {
        "redis": [{"name": "fuzz"}],
        "vector": [{"name": "v", "dimension": 2}],
        "search": [{"name": "s"}],
        "qstash": {},
    },
    "projects": [],
}

FUZZ = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=not __import__("os").environ.get("FUZZ_EXAMPLES"),
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)
# Command names: mostly unknown words, plus a few real, non-blocking commands.
names = st.sampled_from(
    ["GET", "SET", "INCR", "ECHO", "HSET", "ACL", "CLIENT", "CONFIG", "LPUSH", "SELECT"]
) | st.text(max_size=8)
commands = st.tuples(
    names, st.lists(st.text(max_size=12) | st.integers() | st.floats(allow_nan=False), max_size=4)
).map(lambda t: [t[0], *t[1]])


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(tmp_path_factory.mktemp("fuzz"), fleet=FLEET, services=["upstash"]) as sandbox:
        register_template_secrets(sandbox)
        yield sandbox


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=20) as c:
        yield c


def well_formed(resp: httpx.Response, allowed: set[int]) -> Any:
    assert resp.status_code in allowed, (resp.status_code, resp.text[:200])
    body = resp.json()
    if resp.status_code >= 300:
        assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return body


def redis_headers(sb: Sandbox, b64: bool) -> dict[str, str]:
    h = {"Authorization": f"Bearer {sb.world.templates['redis:fuzz:rest_token']}"}
    if b64:
        h["Upstash-Encoding"] = "base64"
    return h


@FUZZ
@given(body=json_values, b64=st.booleans())
def test_redis_json_body(sb: Sandbox, client: httpx.Client, body: Any, b64: bool) -> None:
    base = sb.world.urls["redis-fuzz"]
    for path in ("", "/pipeline", "/multi-exec"):
        resp = client.post(base + path, content=json.dumps(body), headers=redis_headers(sb, b64))
        out = well_formed(resp, {200, 400})
        if resp.status_code == 200:
            assert isinstance(out, list) if path else "result" in out


@FUZZ
@given(cmd=commands, b64=st.booleans())
def test_redis_commands(sb: Sandbox, client: httpx.Client, cmd: list[Any], b64: bool) -> None:
    base = sb.world.urls["redis-fuzz"]
    resp = client.post(base, content=json.dumps(cmd), headers=redis_headers(sb, b64))
    out = well_formed(resp, {200, 400})
    if resp.status_code == 200:
        assert set(out) == {"result"}
    pipe = client.post(
        base + "/pipeline", content=json.dumps([cmd, ["PING"]]), headers=redis_headers(sb, b64)
    )
    items = well_formed(pipe, {200, 400})
    if pipe.status_code == 200:
        assert len(items) == 2 and all(set(i) <= {"result", "error"} and len(i) == 1 for i in items)


@FUZZ
@given(
    segments=st.lists(st.text(max_size=10), min_size=1, max_size=4),
    raw=st.binary(max_size=64),
    method=st.sampled_from(["GET", "POST", "PUT", "HEAD", "DELETE", "PATCH"]),
    token=st.sampled_from(["good", "bad", "none"]),
)
def test_redis_path_form(
    sb: Sandbox, client: httpx.Client, segments: list[str], raw: bytes, method: str, token: str
) -> None:
    base = sb.world.urls["redis-fuzz"]
    path = "/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)
    headers = (
        redis_headers(sb, False)
        if token == "good"
        else ({"Authorization": "Bearer xyz"} if token == "bad" else {})
    )
    resp = client.request(
        method, base + path, content=raw if method in ("POST", "PUT", "PATCH") else None, headers=headers
    )
    if method == "HEAD":
        assert resp.status_code in {200, 400, 401}
        return
    well_formed(resp, {200, 400, 401, 405})
    if token != "good" and method in ("GET", "POST", "PUT"):
        assert resp.status_code == 401


def test_redis_limits(sb: Sandbox, client: httpx.Client) -> None:
    base = sb.world.urls["redis-fuzz"]
    big = client.post(
        base + "/set/big", content=b"x" * (10 * 1024 * 1024 + 1), headers=redis_headers(sb, False)
    )
    assert well_formed(big, {400})["error"] == "ERR max request size exceeded"
    deep = "[" * 5000 + "]" * 5000
    well_formed(client.post(base, content=deep, headers=redis_headers(sb, False)), {400})
    bad_utf8 = client.post(base, content=b'["SET","k","\xff"]', headers=redis_headers(sb, False))
    well_formed(bad_utf8, {400})


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/v2/redis/databases",
            "/v2/redis/database/x",
            "/v2/redis/reset-password/x",
            "/v2/vector/index",
            "/v2/search/x",
            "/auditlogs",
            "/v2/qstash/users",
            "/nope",
        ]
    ),
    method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
    auth=st.sampled_from(["good", "bad", "garbage", "none"]),
    body=st.binary(max_size=40),
)
def test_developer_api(
    sb: Sandbox, client: httpx.Client, path: str, method: str, auth: str, body: bytes
) -> None:
    env = sb.env()
    headers = {
        "good": {"Authorization": httpx.BasicAuth(env["UPSTASH_EMAIL"], env["UPSTASH_API_KEY"])._auth_header},
        "bad": {"Authorization": httpx.BasicAuth(env["UPSTASH_EMAIL"], "nope")._auth_header},
        "garbage": {"Authorization": "Basic %%%not-base64"},
        "none": {},
    }[auth]
    resp = client.request(method, env["KEYROLL_UPSTASH_API_URL"] + path, content=body, headers=headers)
    well_formed(resp, {200, 401, 404, 405})
    if auth != "good":
        assert resp.status_code == 401


@FUZZ
@given(destination=st.text(max_size=40), body=st.binary(max_size=64), delay=st.text(max_size=5))
def test_qstash_publish(sb: Sandbox, client: httpx.Client, destination: str, body: bytes, delay: str) -> None:
    base = sb.world.urls["qstash"]
    headers = {"Authorization": f"Bearer {sb.world.templates['qstash:token']}", "Upstash-Retries": "0"}
    if delay.isascii() and delay.isprintable() and delay.strip() == delay:
        headers["Upstash-Delay"] = delay
    resp = client.post(
        f"{base}/v2/publish/{urllib.parse.quote(destination, safe=':/')}", content=body, headers=headers
    )
    out = well_formed(resp, {200, 400, 404})
    if resp.status_code == 200:
        assert out["messageId"].startswith("msg_")


@FUZZ
@given(
    service=st.sampled_from(["vector-v", "search-s"]),
    op=st.sampled_from(
        ["info", "upsert", "query", "fetch", "range", "delete", "reset", "search/i", "upsert-data/i", "x"]
    ),
    body=json_values,
    token=st.sampled_from(["token", "readonly_token", "bad"]),
)
def test_index_apis(sb: Sandbox, client: httpx.Client, service: str, op: str, body: Any, token: str) -> None:
    kind, name = service.split("-")
    value = sb.world.templates.get(f"{kind}:{name}:{token}", "bad-token")
    resp = client.post(
        f"{sb.world.urls[service]}/{op}",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {value}"},
    )
    out = well_formed(resp, {200, 400, 401, 403, 404})
    if resp.status_code == 200:
        assert set(out) == {"result"}
    if token == "bad":
        assert resp.status_code in (401, 404)
