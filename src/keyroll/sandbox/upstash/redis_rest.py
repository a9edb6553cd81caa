"""The Upstash Redis REST API of one database, proxied to its real redis-server.

Request forms (``shared/reference/upstash-api.md`` §2.2): ``POST /`` with a JSON command array;
path form ``GET|POST /set/k/v`` (a POST body is appended as the last argument, query pairs
after it); ``/pipeline`` and ``/multi-exec`` with a 2-D array. Auth: ``Authorization: Bearer``
or ``?_token=``. Answers ``{"result": …}`` / ``{"error": …}`` (400 for command errors, 401
``WRONGPASS invalid or missing auth token``, 405 for other methods); ``Upstash-Encoding: base64``
encodes every string except the literal ``OK`` (errors stay plain); ``Upstash-Response-Format:
resp2`` answers raw RESP2.

Each request runs as the token's Redis user (``AUTH`` on every request), so ACLs, ``NOPERM``
and revoked passwords are the server's own verdicts.

Every answer carries ``upstash-sync-token``. On a global database (fleet ``read_regions``) an
``ACL SETUSER`` reaches the read replicas ``replica_lag_ms`` late: until then a request with that
user's token is answered 401, unless it sends an ``Upstash-Sync-Token`` at least as new as the
change's (read-your-writes, as the SDKs do) — the lag a read right after a write can meet.
"""

from __future__ import annotations

import base64
import json
import math
import time
import urllib.parse
from typing import Any

import redis.exceptions as rexc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import request_response

from keyroll.sandbox.upstash.acl import PASSTHROUGH, handle_acl, resolve_token
from keyroll.sandbox.upstash.apps import finish
from keyroll.sandbox.upstash.chaos import ChaosMiddleware
from keyroll.sandbox.upstash.redis_server import ServerError, Unauthorized, scrub_error
from keyroll.sandbox.upstash.state import RedisDB
from keyroll.sandbox.world import World

__all__ = ["MAX_REQUEST_BYTES", "create_app", "encode_reply"]

MAX_REQUEST_BYTES = 10 * 1024 * 1024
"""``db_max_request_size`` of free/pay-as-you-go databases"""

# Commands that would break a pooled connection or the server, or that Upstash serves elsewhere.
BLOCKED = frozenset(
    {
        "AUTH", "HELLO", "SELECT", "QUIT", "RESET", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
        "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
        "MONITOR", "SYNC", "PSYNC", "REPLICAOF", "SLAVEOF", "SHUTDOWN", "DEBUG", "MODULE",
        "FAILOVER", "BGSAVE", "SAVE", "BGREWRITEAOF", "MIGRATE", "SWAPDB", "CLUSTER", "READONLY",
        "READWRITE", "ASKING", "LATENCY",
    }
)  # fmt: skip
CLIENT_ALLOWED = frozenset({"ID", "INFO", "GETNAME", "SETNAME", "LIST", "TRACKINGINFO", "GETREDIR"})


class BadRequest(Exception):
    """The request cannot be turned into commands (answered 400 with this message)."""


def _to_arg(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest("ERR invalid number in command")
        if value.is_integer() and abs(value) < 1e21:
            return str(int(value)).encode()
        return repr(value).encode()
    raise BadRequest("ERR failed to parse command: arguments must be strings or numbers")


def _command(value: Any) -> list[bytes]:
    if not isinstance(value, list) or not value:
        raise BadRequest("ERR failed to parse command")
    return [_to_arg(v) for v in value]


def _error_text(err: rexc.ResponseError) -> str:
    code = getattr(err, "status_code", None)
    text = f"{code} {err}" if code else str(err)
    return scrub_error(text)


def encode_reply(value: Any, b64: bool) -> Any:
    """A redis reply as Upstash's JSON ``result`` (base64 strings except ``OK`` when asked)."""
    if isinstance(value, bytes):
        if value == b"OK":
            return "OK"
        return base64.b64encode(value).decode() if b64 else value.decode("utf-8", "replace")
    if isinstance(value, rexc.ResponseError):
        return _error_text(value)
    if isinstance(value, list | tuple):
        return [encode_reply(v, b64) for v in value]
    if isinstance(value, dict):
        return [encode_reply(x, b64) for kv in value.items() for x in kv]
    if isinstance(value, float):
        return encode_reply(repr(value).encode(), b64)
    return value


def _resp2(value: Any) -> bytes:
    if isinstance(value, bytes):
        if value in (b"OK", b"PONG", b"QUEUED"):
            return b"+" + value + b"\r\n"
        return b"$%d\r\n%s\r\n" % (len(value), value)
    if isinstance(value, rexc.ResponseError):
        return b"-" + _error_text(value).encode() + b"\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, list | tuple):
        return b"*%d\r\n" % len(value) + b"".join(_resp2(v) for v in value)
    return _resp2(str(value).encode())


def _blocked(args: list[bytes]) -> rexc.ResponseError | None:
    name = args[0].decode("utf-8", "replace").upper()
    if name in BLOCKED:
        return rexc.ResponseError(f"Command is not available: '{name}'", status_code="ERR")
    if name == "CLIENT" and (
        len(args) < 2 or args[1].decode("utf-8", "replace").upper() not in CLIENT_ALLOWED
    ):
        return rexc.ResponseError("Command is not available: 'CLIENT'", status_code="ERR")
    if name == "CONFIG" and (len(args) < 2 or args[1].decode("utf-8", "replace").upper() != "GET"):
        return rexc.ResponseError("Command is not available: 'CONFIG'", status_code="ERR")
    return None


def _is_acl(args: list[bytes]) -> bool:
    return args[0].upper() == b"ACL"


async def _read_body(request: Request) -> bytes | None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.query_params.get("_token") or None


def _path_segments(request: Request) -> list[bytes]:
    raw = request.scope.get("raw_path") or request.url.path.encode()
    raw = raw.split(b"?", 1)[0]
    parts = raw.split(b"/")[1:]
    if parts and parts[-1] == b"":
        parts.pop()
    return [urllib.parse.unquote_to_bytes(p) for p in parts]


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("ERR failed to parse command") from None


def create_app(world: World, db: RedisDB) -> Starlette:
    """The REST data plane of ``db`` (registered as service ``redis-<name>``)."""
    sync = {"n": 0}

    def _error(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def run(binding: Any, commands: list[list[bytes]]) -> list[Any]:
        """Execute non-transactional commands in order, intercepting ACL extensions."""
        assert db.server is not None
        out: list[Any] = []
        batch: list[list[bytes]] = []

        server = db.server

        async def flush() -> None:
            if batch:
                out.extend(await server.execute(binding.user, binding.password, list(batch)))
                batch.clear()

        for args in commands:
            blocked = _blocked(args)
            if blocked is not None:
                await flush()
                out.append(blocked)
                continue
            if _is_acl(args):
                await flush()
                reply = await handle_acl(db, binding, args)
                if reply is not PASSTHROUGH:
                    out.append(reply)
                    continue
            batch.append(args)
        await flush()
        return out

    def _behind_replica(binding: Any, request: Request) -> bool:
        """A global database's replica has not seen the ACL change behind this token yet."""
        pending = db.acl_pending.get(binding.user) if binding.kind == "acl" else None
        if pending is None:
            return False
        seq, visible_at = pending
        if time.monotonic() >= visible_at:
            db.acl_pending.pop(binding.user, None)
            return False
        try:
            seen = int(request.headers.get("upstash-sync-token", "0"))
        except ValueError:
            seen = 0
        return seen < seq

    def _note_acl_changes(commands: list[list[bytes]], replies: list[Any], seq: int) -> None:
        if not db.read_regions or db.replica_lag_s <= 0:
            return
        for args, reply in zip(commands, replies, strict=False):
            if (
                len(args) > 2
                and args[0].upper() == b"ACL"
                and args[1].upper() == b"SETUSER"
                and not isinstance(reply, rexc.ResponseError)
            ):
                user = args[2].decode("utf-8", "replace")
                db.acl_pending[user] = (seq, time.monotonic() + db.replica_lag_s)

    def _item(reply: Any, b64: bool) -> dict[str, Any]:
        if isinstance(reply, rexc.ResponseError):
            return {"error": _error_text(reply)}
        return {"result": encode_reply(reply, b64)}

    async def handle(request: Request) -> Response:
        if request.method not in ("GET", "HEAD", "POST", "PUT"):
            return _error(405, "Method Not Allowed")
        token = _bearer(request)
        binding = resolve_token(db, token) if token else None
        if binding is None:
            return _error(401, "WRONGPASS invalid or missing auth token")
        body = await _read_body(request)
        if body is None:
            return _error(400, "ERR max request size exceeded")
        b64 = request.headers.get("upstash-encoding", "").lower() == "base64"
        fmt = request.headers.get("upstash-response-format", "").lower()
        if fmt and fmt not in ("json", "resp2"):
            return _error(400, "ERR invalid response format, expected json or resp2")
        if fmt == "resp2" and b64:
            return _error(400, "ERR base64 encoding is not allowed with the resp2 response format")
        segments = _path_segments(request)
        try:
            mode, commands = _parse(request, segments, body)
        except BadRequest as exc:
            return _error(400, str(exc))
        if _behind_replica(binding, request):
            return _error(401, "WRONGPASS invalid or missing auth token")
        sync["n"] += 1
        headers = {"upstash-sync-token": str(sync["n"])}
        try:
            if mode == "multi":
                response = await _transaction(binding, commands, b64)
                response.headers.update(headers)
                return response
            replies = await run(binding, commands)
            _note_acl_changes(commands, replies, sync["n"])
        except Unauthorized:
            return _error(401, "WRONGPASS invalid or missing auth token")
        except ServerError:
            return _error(500, "ERR database is temporarily unavailable, retry")
        if mode == "pipeline":
            return JSONResponse([_item(r, b64) for r in replies], headers=headers)
        (reply,) = replies
        if fmt == "resp2":
            status = 400 if isinstance(reply, rexc.ResponseError) else 200
            return Response(_resp2(reply), status, headers=headers, media_type="application/octet-stream")
        if isinstance(reply, rexc.ResponseError):
            return JSONResponse({"error": _error_text(reply)}, status_code=400, headers=headers)
        return JSONResponse({"result": encode_reply(reply, b64)}, headers=headers)

    async def _transaction(binding: Any, commands: list[list[bytes]], b64: bool) -> Response:
        assert db.server is not None
        for args in commands:
            blocked = _blocked(args)
            if blocked is not None:
                return _error(400, _error_text(blocked))
            if _is_acl(args):
                return _error(400, "ERR ACL commands are not supported in transactions")
        replies = await db.server.execute(binding.user, binding.password, [[b"MULTI"], *commands, [b"EXEC"]])
        for reply in replies[:-1]:
            if isinstance(reply, rexc.ResponseError):
                return _error(400, _error_text(reply))
        final = replies[-1]
        if isinstance(final, rexc.ResponseError):
            return _error(400, _error_text(final))
        if not isinstance(final, list):
            return _error(400, "ERR transaction aborted")
        return JSONResponse([_item(r, b64) for r in final])

    def _parse(request: Request, segments: list[bytes], body: bytes) -> tuple[str, list[list[bytes]]]:
        if not segments:
            if request.method not in ("POST", "PUT") or not body.strip():
                raise BadRequest("ERR empty command")
            return "single", [_command(_json_body(body))]
        head = segments[0].lower()
        if len(segments) == 1 and head in (b"pipeline", b"multi-exec"):
            data = _json_body(body)
            if not isinstance(data, list) or not data:
                raise BadRequest(f"ERR failed to parse {head.decode()} request")
            return ("pipeline" if head == b"pipeline" else "multi"), [_command(c) for c in data]
        if head in (b"monitor", b"subscribe", b"psubscribe"):
            raise BadRequest(f"ERR /{head.decode()} is not supported by the keyroll sandbox")
        args = list(segments)
        if body and request.method in ("POST", "PUT"):
            args.append(body)
        query = request.scope.get("query_string", b"")
        for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            if key != b"_token":
                args.extend((key, value))
        return "single", [args]

    # No routes: every path (even ones Starlette's path regex rejects) reaches ``handle``.
    app = Starlette(middleware=[Middleware(ChaosMiddleware, world=world, name=db.service)])
    return finish(app, request_response(handle))
