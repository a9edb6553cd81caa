"""Deployment behaviour: what a deployed app does with the credentials in its env snapshot.

For every request (``World.behaviour(env, request)``) the app really uses each credential:

* Redis over REST — every ``*_TOKEN`` var of Redis (``UPSTASH_REDIS_REST_TOKEN``,
  ``KV_REST_API_TOKEN``, prefixed variants, read-only ones) with its URL var: ``INCR`` (a
  read-only token: ``GET``);
* Redis over TCP — every ``redis://``/``rediss://`` URL var (the sandbox has no TLS, so
  ``rediss`` is spoken as plain ``redis`` on loopback) with redis-py: ``INCR`` / ``GET``;
* PostgreSQL — every ``postgres://``/``postgresql://`` URL var, and ``PGPASSWORD`` with
  ``PGHOST``/``PGPORT``/``PGUSER``/``PGDATABASE`` (libpq's variables): a fresh login and
  ``UPDATE hits …`` per request (``postgres.check``, :mod:`keyroll.sandbox.postgres`);
* Vector / Search — ``POST <url>/info`` with each token var;
* QStash — publish with ``QSTASH_TOKEN`` (to the sandbox sink, as apps publish to their own
  endpoints); ``POST …/api/qstash`` deliveries are verified with the snapshotted
  ``QSTASH_CURRENT_SIGNING_KEY``/``QSTASH_NEXT_SIGNING_KEY`` through the official
  ``qstash.Receiver``.

The answer is 200 with the fingerprint of every credential used, or 500 naming each failing
key (never a value). ``NOPERM`` on a *key* counts as working (the app would use its own
keys); ``NOPERM`` on the *command* is a failure (e.g. a read-only credential where writes
are needed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

import httpx
import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.upstash.qstash import SINK_PATH
from keyroll.sandbox.world import World

__all__ = ["DeploymentBehaviour", "plan_checks"]

PROBE_KEY = "keyroll:sandbox:hits"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_TOKEN_SUFFIXES = ("_READ_ONLY_TOKEN", "_READONLY_TOKEN", "_TOKEN")


@dataclass(frozen=True)
class Check:
    """One credential use: ``kind`` ∈ redis-rest, redis-tcp, vector, search, qstash, postgres."""

    kind: str
    key: str
    value: str
    url: str = ""
    readonly: bool = False


def _product(key: str) -> str | None:
    k = key.upper()
    if "QSTASH" in k:
        return None
    if "VECTOR" in k:
        return "vector"
    if "SEARCH" in k:
        return "search"
    if "REDIS" in k or k.startswith("KV_") or "_KV_" in k:
        return "redis-rest"
    return None


_PREFERRED_URLS = {
    "redis-rest": ("UPSTASH_REDIS_REST_URL", "KV_REST_API_URL"),
    "vector": ("UPSTASH_VECTOR_REST_URL",),
    "search": ("UPSTASH_SEARCH_REST_URL",),
}
_MARKERS = {"redis-rest": ("REDIS", "KV_"), "vector": ("VECTOR",), "search": ("SEARCH",)}


def _http(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _url_for(key: str, env: dict[str, str], product: str) -> str:
    """The URL var an app would pair with a token var.

    ``X_TOKEN`` → ``X_URL``, then with leading name parts dropped (``MYAPP_UPSTASH_REDIS_REST_TOKEN``
    → ``UPSTASH_REDIS_REST_URL``), then the product's standard names, then any URL var of the product.
    """
    base = key
    for suffix in _TOKEN_SUFFIXES:
        if key.upper().endswith(suffix):
            base = key[: -len(suffix)]
            break
    parts = base.split("_")
    for i in range(len(parts)):
        candidate = "_".join(parts[i:]) + "_URL"
        if _http(env.get(candidate, "")):
            return env[candidate]
    for name in _PREFERRED_URLS[product]:
        if _http(env.get(name, "")):
            return env[name]
    for k in sorted(env):
        if k.upper().endswith("_URL") and _http(env[k]) and any(m in k.upper() for m in _MARKERS[product]):
            return env[k]
    return ""


def plan_checks(env: dict[str, str]) -> list[Check]:
    """The credential uses an app with this env performs on each request."""
    checks: list[Check] = []
    for key in sorted(env):
        value = env[key]
        if not value:
            continue
        if value.startswith(("redis://", "rediss://")):
            user = urllib.parse.urlsplit(value).username or "default"
            checks.append(Check("redis-tcp", key, value, readonly=user == "default_ro"))
            continue
        if value.startswith(("postgres://", "postgresql://")):
            checks.append(Check("postgres", key, value))
            continue
        if key == "PGPASSWORD" and env.get("PGHOST"):  # libpq's variables, as node-postgres reads them
            checks.append(Check("postgres", key, _libpq_url(env)))
            continue
        upper = key.upper()
        if not upper.endswith("_TOKEN"):
            continue
        if upper == "QSTASH_TOKEN":
            checks.append(Check("qstash", key, value, env.get("QSTASH_URL", "")))
            continue
        product = _product(key)
        if product is None:
            continue
        readonly = "READ_ONLY" in upper or "READONLY" in upper
        checks.append(Check(product, key, value, _url_for(key, env, product), readonly))
    return checks


def _libpq_url(env: dict[str, str]) -> str:
    """A connection URL from ``PGHOST``/``PGPORT``/``PGUSER``/``PGPASSWORD``/``PGDATABASE``
    (and ``PGHOSTADDR``, the address to connect to)."""
    q = urllib.parse.quote
    url = (
        f"postgresql://{q(env.get('PGUSER', ''), safe='')}:{q(env.get('PGPASSWORD', ''), safe='')}"
        f"@{env['PGHOST']}:{env.get('PGPORT') or 5432}/{q(env.get('PGDATABASE', ''), safe='')}"
    )
    return url + (f"?hostaddr={q(env['PGHOSTADDR'], safe='')}" if env.get("PGHOSTADDR") else "")


class DeploymentBehaviour:
    """``World.behaviour``: run every check of the env, answer 200 or 500 naming failures."""

    def __init__(self, world: World, client: httpx.AsyncClient) -> None:
        self.world = world
        self.client = client
        self._tcp: dict[str, aioredis.Redis] = {}

    async def __call__(self, env: dict[str, str], request: Request) -> Response:
        """Serve one request of a deployment whose env snapshot is ``env``."""
        if request.url.path.rstrip("/").endswith("/api/qstash") and request.method == "POST":
            return await self._qstash_delivery(env, request)
        checks = plan_checks(env)
        results = await asyncio.gather(*(self._run(c) for c in checks))
        used = {c.key: fingerprint_of(c.value) for c in checks}
        failed = [
            {"key": c.key, "fingerprint": fingerprint_of(c.value), "cause": cause}
            for c, cause in zip(checks, results, strict=True)
            if cause
        ]
        # every var's fingerprint, as a well-behaved health endpoint shows what it was built
        # with: a probe then sees an old value of any kind (Stripe, OpenAI …), not only Upstash's
        env_fps = {k: fingerprint_of(v) for k, v in sorted(env.items())}
        if failed:
            summary = "; ".join(f"{f['key']}: {f['cause']}" for f in failed)
            return JSONResponse(
                {"ok": False, "error": summary, "failed": failed, "used": used, "env": env_fps},
                status_code=500,
            )
        return JSONResponse({"ok": True, "used": used, "env": env_fps})

    async def _qstash_delivery(self, env: dict[str, str], request: Request) -> Response:
        from qstash import Receiver
        from qstash.errors import SignatureError

        current = env.get("QSTASH_CURRENT_SIGNING_KEY", "")
        nxt = env.get("QSTASH_NEXT_SIGNING_KEY", "")
        used = {
            k: fingerprint_of(env[k])
            for k in ("QSTASH_CURRENT_SIGNING_KEY", "QSTASH_NEXT_SIGNING_KEY")
            if env.get(k)
        }
        if not current or not nxt:
            missing = "QSTASH_CURRENT_SIGNING_KEY" if not current else "QSTASH_NEXT_SIGNING_KEY"
            return self._fail(missing, "not set", used)
        body = (await request.body()).decode("utf-8", "replace")
        signature = request.headers.get("upstash-signature", "")
        try:
            Receiver(current, nxt).verify(signature=signature, body=body)
        except SignatureError:
            return self._fail(
                "QSTASH_CURRENT_SIGNING_KEY/QSTASH_NEXT_SIGNING_KEY", "signature rejected by both keys", used
            )
        return JSONResponse({"ok": True, "used": used})

    @staticmethod
    def _fail(key: str, cause: str, used: Mapping[str, str]) -> Response:
        return JSONResponse(
            {
                "ok": False,
                "error": f"{key}: {cause}",
                "failed": [{"key": key, "cause": cause}],
                "used": dict(used),
            },
            status_code=500,
        )

    async def _run(self, check: Check) -> str:
        """Empty string when the credential works, else the cause."""
        try:
            if check.kind == "redis-rest":
                return await self._redis_rest(check)
            if check.kind == "redis-tcp":
                return await self._redis_tcp(check)
            if check.kind in ("vector", "search"):
                return await self._index(check)
            if check.kind == "qstash":
                return await self._qstash(check)
            if check.kind == "postgres":
                run = self.world.hooks.get("postgres.check")
                return await run(check.value) if run is not None else "no PostgreSQL server in this sandbox"
        except httpx.HTTPError as exc:
            return f"request failed ({type(exc).__name__})"
        return ""

    async def _redis_rest(self, check: Check) -> str:
        if not check.url:
            return "no REST URL for this token in the env"
        cause = await self._rest_command(check, ["GET", PROBE_KEY] if check.readonly else ["INCR", PROBE_KEY])
        if cause and _command_denied(cause) and not check.readonly:
            # A read-only credential under a read-write name: the app only reads (fleets do this
            # on purpose, "read-only is enough here"); it works if a read does.
            return await self._rest_command(check, ["GET", PROBE_KEY])
        return cause

    async def _rest_command(self, check: Check, command: list[str]) -> str:
        resp = await self.client.post(
            check.url, json=command, headers={"Authorization": f"Bearer {check.value}"}, timeout=10
        )
        if resp.status_code == 200:
            return ""
        try:
            message = str(resp.json().get("error", ""))
        except (ValueError, AttributeError):
            message = resp.text[:120]
        return _judge_redis_error(resp.status_code, message)

    async def _redis_tcp(self, check: Check) -> str:
        parts = urllib.parse.urlsplit(check.value)
        if (parts.hostname or "") not in LOOPBACK:
            return "host is not reachable from the sandbox"
        url = check.value.replace("rediss://", "redis://", 1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while True:
            cause, retry = await self._tcp_once(url, check.readonly)
            if not retry or loop.time() > deadline:
                return cause
            await asyncio.sleep(0.05)  # the server is restarting: ride it out like a client with retries

    async def _tcp_once(self, url: str, readonly: bool) -> tuple[str, bool]:
        client = self._tcp.get(url)
        if client is None:
            if len(self._tcp) > 256:
                await self._drop_all()
            client = aioredis.from_url(
                url, socket_timeout=5, socket_connect_timeout=2, retry=Retry(NoBackoff(), 0)
            )
            self._tcp[url] = client
        try:
            if readonly:
                await client.get(PROBE_KEY)
            else:
                try:
                    await client.incr(PROBE_KEY)
                except rexc.NoPermissionError as exc:
                    if not _command_denied(f"NOPERM {exc}"):
                        raise
                    await client.get(PROBE_KEY)  # a read-only user: the app only reads
        except rexc.AuthenticationError:
            await self._drop(url)
            return "WRONGPASS invalid username-password pair or user is disabled", False
        except rexc.NoPermissionError as exc:
            return _judge_redis_error(400, f"NOPERM {exc}"), False
        except (rexc.ConnectionError, rexc.TimeoutError, OSError) as exc:
            await self._drop(url)
            return f"connection failed ({type(exc).__name__})", True
        except rexc.ResponseError as exc:
            return f"redis error: {str(exc)[:120]}", False
        return "", False

    async def _index(self, check: Check) -> str:
        if not check.url:
            return "no REST URL for this token in the env"
        resp = await self.client.post(
            check.url.rstrip("/") + "/info", headers={"Authorization": f"Bearer {check.value}"}, timeout=10
        )
        if resp.status_code == 200:
            return ""
        return f"HTTP {resp.status_code} {_error_of(resp)}"

    async def _qstash(self, check: Check) -> str:
        base = (
            check.url if check.url.startswith(("http://", "https://")) else self.world.urls.get("qstash", "")
        )
        if not base:
            return "no QStash URL"
        sink = self.world.urls.get("qstash", base).rstrip("/") + SINK_PATH
        resp = await self.client.post(
            f"{base.rstrip('/')}/v2/publish/{sink}",
            content=b"keyroll-sandbox",
            headers={"Authorization": f"Bearer {check.value}", "Upstash-Retries": "0"},
            timeout=10,
        )
        if resp.status_code < 300:
            return ""
        return f"publish: HTTP {resp.status_code} {_error_of(resp)}"

    async def _drop(self, url: str) -> None:
        client = self._tcp.pop(url, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _drop_all(self) -> None:
        for url in list(self._tcp):
            await self._drop(url)

    async def aclose(self) -> None:
        """Close cached TCP connections."""
        await self._drop_all()


def _error_of(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except (ValueError, json.JSONDecodeError):
        return resp.text[:120]
    if isinstance(body, dict):
        return str(body.get("error", ""))[:160]
    return str(body)[:160]


def _command_denied(cause: str) -> bool:
    return "NOPERM" in cause and "command" in cause


def _judge_redis_error(status: int, message: str) -> str:
    text = message.strip()
    if text.startswith("NOPERM") and "key" in text and "command" not in text:
        return ""  # authenticated; this user is limited to its own key patterns
    return f"HTTP {status} {text[:160]}" if text else f"HTTP {status}"
