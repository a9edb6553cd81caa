"""QStash: signing keys, publishing and signed deliveries (``shared/reference/upstash-api.md`` §3).

* Auth: ``Authorization: Bearer <token>`` or ``?qstash_token=``; an unknown token gets 401
  ``{"error": …}``; the read-only token may read but not publish or rotate (403).
* ``GET /v2/keys`` → ``{current, next}``; ``POST /v2/keys/rotate`` rolls: current ← next,
  next ← fresh (also ``/v1/keys/rotate``).
* ``POST /v2/publish/<destination>`` (and ``/v2/enqueue/<queue>/<destination>``) answers
  ``{"messageId"}`` and delivers in the background: ``Upstash-Method`` (default POST) to the
  destination with ``Upstash-Signature`` — a HS256 JWT signed with the *current* key at
  delivery time: ``iss="Upstash"``, ``sub`` = destination, ``exp`` (+5 min), ``nbf``, ``iat``,
  ``jti``, ``body`` = base64url(sha256(body)) without padding, exactly what ``qstash.Receiver``
  verifies. A non-2xx answer is retried ``Upstash-Retries`` times (default 3) with a short
  backoff. Deliveries go to loopback only (the sandbox never leaves the machine).
* One service per region (``qstash`` for the first declared region, ``qstash-<region>`` for the
  others): each region has its own token and signing keys, and a token of one region is
  rejected (401) by another, as at Upstash.
* ``POST /_sandbox/sink`` accepts deliveries that should go nowhere (used by deployments that
  publish to prove their token works).

Every delivery attempt is recorded on the :class:`Delivery` and reported to listeners
(the load generator counts failed attempts as failed requests of the destination).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import secrets
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import jwt
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from keyroll.sandbox.upstash import resets
from keyroll.sandbox.upstash.apps import finish
from keyroll.sandbox.upstash.chaos import ChaosMiddleware
from keyroll.sandbox.upstash.state import QStashUser, UpstashState
from keyroll.sandbox.world import World

__all__ = ["Attempt", "Delivery", "QStashService", "sign"]

SINK_PATH = "/_sandbox/sink"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_BODY = 1024 * 1024


def sign(key: str, url: str, body: bytes, *, now: float | None = None) -> str:
    """The ``Upstash-Signature`` JWT for a delivery of ``body`` to ``url``."""
    t = int(now if now is not None else time.time())
    digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).decode().rstrip("=")
    claims = {
        "iss": "Upstash",
        "sub": url,
        "exp": t + 300,
        "nbf": t,
        "iat": t,
        "jti": "jwt_" + secrets.token_hex(12),
        "body": digest,
    }
    return jwt.encode(claims, key, algorithm="HS256")


@dataclass
class Attempt:
    """One delivery attempt: when, what came back."""

    at: float
    status: int | None
    error: str = ""
    detail: str = ""
    """the destination's answer (truncated), e.g. the failing key a deployment names"""

    @property
    def ok(self) -> bool:
        """2xx answer."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    """A published message and its delivery attempts."""

    id: str
    url: str
    body: bytes
    method: str
    headers: dict[str, str]
    retries: int
    created: float
    not_before: float
    tag: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    state: str = "CREATED"
    """CREATED → ACTIVE → DELIVERED | FAILED"""


Listener = Callable[[Delivery, Attempt], None]


class QStashService:
    """QStash API app plus its delivery worker."""

    def __init__(
        self, world: World, state: UpstashState, started: Callable[[], float], *, region: str = ""
    ) -> None:
        """``region``: whose QStash user this service is (``""``: the first declared region)."""
        self.world = world
        self.state = state
        self.region = region
        self.started = started
        self.deliveries: deque[Delivery] = deque(maxlen=20000)
        self.by_id: dict[str, Delivery] = {}
        self.listeners: list[Listener] = []
        self.client: httpx.AsyncClient | None = None
        self._ids = itertools.count(1)
        self.app = self._build()

    @property
    def user(self) -> QStashUser | None:
        """This region's QStash user (its token and signing keys)."""
        if not self.region:
            return self.state.qstash
        return self.state.qstash_user(self.region)

    # -- delivery -----------------------------------------------------------------------
    def publish(
        self,
        url: str,
        body: bytes,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        retries: int = 3,
        delay: float = 0.0,
        tag: str = "",
    ) -> Delivery:
        """Queue a message for delivery (must run on the sandbox event loop)."""
        msg = Delivery(
            id=f"msg_{next(self._ids):06d}{secrets.token_hex(6)}",
            url=url,
            body=body,
            method=method.upper(),
            headers=dict(headers or {}),
            retries=max(0, min(retries, 5)),
            created=time.time(),
            not_before=time.time() + max(0.0, delay),
            tag=tag,
        )
        if len(self.deliveries) == self.deliveries.maxlen:
            self.by_id.pop(self.deliveries[0].id, None)
        self.deliveries.append(msg)
        self.by_id[msg.id] = msg
        self.state.spawn(self._deliver(msg))
        return msg

    def _publish_request(self, url: str, body: bytes, request: Request) -> Delivery:
        h = request.headers
        forwarded = {
            k[len("upstash-forward-") :]: v for k, v in h.items() if k.lower().startswith("upstash-forward-")
        }
        if "content-type" in h:
            forwarded["content-type"] = h["content-type"]
        try:
            retries = int(h.get("upstash-retries", "3"))
        except ValueError:
            retries = 3
        return self.publish(
            url,
            body,
            method=h.get("upstash-method", "POST"),
            headers=forwarded,
            retries=retries,
            delay=_parse_delay(h.get("upstash-delay", "")),
            tag=h.get("upstash-label", ""),
        )

    def listen(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(delivery, attempt)`` after every attempt; returns an unsubscribe function."""
        self.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return unsubscribe

    async def _deliver(self, msg: Delivery) -> None:
        wait = msg.not_before - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        msg.state = "ACTIVE"
        for n in range(msg.retries + 1):
            attempt = await self._attempt(msg, n)
            msg.attempts.append(attempt)
            for listener in list(self.listeners):
                try:
                    listener(msg, attempt)
                except Exception:  # a broken listener must not stop deliveries
                    pass
            if attempt.ok:
                msg.state = "DELIVERED"
                return
            if n < msg.retries:
                await asyncio.sleep(min(0.1 * 2**n, 1.0))
        msg.state = "FAILED"

    async def _attempt(self, msg: Delivery, n: int) -> Attempt:
        now = time.time()
        user = self.user
        parsed = urllib.parse.urlsplit(msg.url)
        if parsed.path == SINK_PATH and msg.url.startswith(self.world.urls.get("qstash", "\0")):
            return Attempt(now, 200)
        if user is None or (parsed.hostname or "") not in LOOPBACK:
            return Attempt(now, None, "the sandbox delivers to loopback destinations only")
        headers = dict(msg.headers)
        headers.update(
            {
                "upstash-signature": sign(user.current_signing_key, msg.url, msg.body, now=now),
                "upstash-message-id": msg.id,
                "upstash-retried": str(n),
                "user-agent": "Upstash-QStash",
            }
        )
        assert self.client is not None
        try:
            resp = await self.client.request(
                msg.method, msg.url, content=msg.body, headers=headers, timeout=15
            )
        except httpx.HTTPError as exc:
            return Attempt(now, None, type(exc).__name__)
        return Attempt(now, resp.status_code, detail=resp.text[:300] if resp.status_code >= 300 else "")

    # -- API ----------------------------------------------------------------------------
    def _auth(self, request: Request, *, write: bool) -> Response | None:
        user = self.user
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        token = value.strip() if scheme.lower() == "bearer" else request.query_params.get("qstash_token", "")
        if user is None or not token:
            return JSONResponse({"error": "Unauthorized"}, status_code=401)
        if secrets.compare_digest(token, user.token):
            return None
        if secrets.compare_digest(token, user.readonly_token):
            if write:
                return JSONResponse(
                    {"error": "read-only token cannot be used for this operation"}, status_code=403
                )
            return None
        return JSONResponse({"error": "Unauthorized"}, status_code=401)

    def _keys(self) -> dict[str, str]:
        user = self.user
        assert user is not None
        return {"current": user.current_signing_key, "next": user.next_signing_key}

    def _build(self) -> Starlette:
        async def get_keys(request: Request) -> Response:
            return self._auth(request, write=False) or JSONResponse(self._keys())

        async def rotate_keys(request: Request) -> Response:
            denied = self._auth(request, write=True)
            if denied:
                return denied
            user = self.user
            assert user is not None
            resets.roll_signing_keys(self.state, user)
            return JSONResponse(self._keys())

        async def publish(request: Request) -> Response:
            denied = self._auth(request, write=True)
            if denied:
                return denied
            destination = request.path_params.get("destination", "")
            raw = (request.scope.get("raw_path") or b"").split(b"?", 1)[0]
            marker = b"/publish/" if b"/publish/" in raw else b"/enqueue/"
            if marker in raw:
                tail = raw.split(marker, 1)[1]
                if marker == b"/enqueue/":
                    tail = tail.split(b"/", 1)[1] if b"/" in tail else b""
                destination = urllib.parse.unquote(tail.decode("utf-8", "replace"))
            if request.url.query:
                query = "&".join(p for p in request.url.query.split("&") if not p.startswith("qstash_token="))
                destination += f"?{query}" if query else ""
            parsed = urllib.parse.urlsplit(destination)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                return JSONResponse(
                    {"error": f"invalid destination url: {destination[:200]}"}, status_code=400
                )
            body = await request.body()
            if len(body) > MAX_BODY:
                return JSONResponse({"error": "message size exceeds the limit of 1MB"}, status_code=413)
            msg = self._publish_request(destination, body, request)
            return JSONResponse({"messageId": msg.id})

        async def get_message(request: Request) -> Response:
            denied = self._auth(request, write=False)
            if denied:
                return denied
            msg = self.by_id.get(request.path_params["id"])
            if msg is None:
                return JSONResponse({"error": "message not found"}, status_code=404)
            return JSONResponse(
                {
                    "messageId": msg.id,
                    "url": msg.url,
                    "method": msg.method,
                    "body": msg.body.decode("utf-8", "replace"),
                    "createdAt": int(msg.created * 1000),
                    "notBefore": int(msg.not_before * 1000),
                    "maxRetries": msg.retries,
                    "state": msg.state,
                }
            )

        async def sink(request: Request) -> Response:
            return JSONResponse({"ok": True})

        async def not_found(request: Request) -> Response:
            return JSONResponse({"error": "not found"}, status_code=404)

        return finish(
            Starlette(
                routes=[
                    Route("/v2/keys", get_keys, methods=["GET"]),
                    Route("/v2/keys/rotate", rotate_keys, methods=["POST"]),
                    Route("/v1/keys/rotate", rotate_keys, methods=["POST"]),
                    Route("/v2/publish/{destination:path}", publish, methods=["POST", "PUT"]),
                    Route("/v2/enqueue/{queue}/{destination:path}", publish, methods=["POST", "PUT"]),
                    Route("/v2/messages/{id}", get_message, methods=["GET"]),
                    Route(SINK_PATH, sink, methods=["POST", "PUT", "GET"]),
                    Route("/{path:path}", not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
                ],
                middleware=[
                    Middleware(
                        ChaosMiddleware,
                        world=self.world,
                        name="qstash",
                        control=True,
                        started=self.started,
                        exempt=("/v2/publish", "/v2/enqueue", "/v2/messages", SINK_PATH),
                    )
                ],
            )
        )


def _parse_delay(value: str) -> float:
    value = value.strip().lower()
    if not value:
        return 0.0
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        if value[-1] in units:
            return max(0.0, float(value[:-1]) * units[value[-1]])
        return max(0.0, float(value))
    except ValueError:
        return 0.0
