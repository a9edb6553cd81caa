"""The Upstash Search data API of one database (in memory; naive term matching).

Paths as the ``upstash-search`` SDK sends them (all POST): ``/info``, ``/list-namespaces``,
``/delete-namespace/{index}``, ``/upsert-data/{index}``, ``/search/{index}``, ``/fetch/{index}``,
``/delete/{index}``, ``/range/{index}``, ``/reset/{index}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keyroll.sandbox.upstash.apps import finish
from keyroll.sandbox.upstash.chaos import ChaosMiddleware
from keyroll.sandbox.upstash.indexes import BadBody, authorize, error, ids_of, read_json, result
from keyroll.sandbox.upstash.state import SearchIndex
from keyroll.sandbox.world import World

__all__ = ["create_app"]

Handler = Callable[[Request, SearchIndex, str], Awaitable[Response]]
WRITES = {"upsert-data", "delete", "reset", "delete-namespace"}
NEEDS_INDEX = {"upsert-data", "search", "fetch", "delete", "range", "reset", "delete-namespace"}
_WORD = re.compile(r"\w+")


def _words(value: Any) -> set[str]:
    return {w.lower() for w in _WORD.findall(json.dumps(value, ensure_ascii=False))}


def _doc(rec: dict[str, Any]) -> dict[str, Any]:
    out = {"id": rec["id"], "content": rec["content"]}
    if rec.get("metadata") is not None:
        out["metadata"] = rec["metadata"]
    return out


async def _info(request: Request, db: SearchIndex, name: str) -> Response:
    count = sum(len(d) for d in db.data.values())
    return result(
        {
            "vectorCount": count,
            "pendingVectorCount": 0,
            "indexSize": len(json.dumps(db.data)),
            "namespaces": {n: {"vectorCount": len(d), "pendingVectorCount": 0} for n, d in db.data.items()},
        }
    )


async def _namespaces(request: Request, db: SearchIndex, name: str) -> Response:
    return result(sorted(db.data))


async def _delete_namespace(request: Request, db: SearchIndex, name: str) -> Response:
    if name not in db.data:
        return error(404, f"Index {name} does not exist")
    del db.data[name]
    return result("Success")


async def _upsert(request: Request, db: SearchIndex, name: str) -> Response:
    payload = await read_json(request)
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(i, dict) for i in items):
        raise BadBody("Invalid upsert payload")
    docs = []
    for item in items:
        if not isinstance(item.get("id"), str | int) or not isinstance(item.get("content"), dict):
            raise BadBody("Each document needs an id and a content object")
        docs.append({"id": str(item["id"]), "content": item["content"], "metadata": item.get("metadata")})
    store = db.data.setdefault(name, {})
    for d in docs:
        store[d["id"]] = d
    return result("Success")


async def _search(request: Request, db: SearchIndex, name: str) -> Response:
    payload = await read_json(request, default={})
    if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
        raise BadBody("query is required")
    top_k = payload.get("topK", 10)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
        raise BadBody("topK must be a non-negative integer")
    terms = _words(payload["query"])
    scored = []
    for rec in db.data.get(name, {}).values():
        hits = len(terms & _words(rec["content"]))
        if hits:
            scored.append((hits / max(len(terms), 1), rec))
    scored.sort(key=lambda x: (-x[0], x[1]["id"]))
    return result([{**_doc(rec), "score": score} for score, rec in scored[: min(top_k, 1000)]])


async def _fetch(request: Request, db: SearchIndex, name: str) -> Response:
    payload = await read_json(request, default={})
    store = db.data.get(name, {})
    prefix = payload.get("prefix") if isinstance(payload, dict) else None
    if isinstance(prefix, str):
        return result([_doc(r) for i, r in sorted(store.items()) if i.startswith(prefix)])
    ids = ids_of(payload)
    if ids is None:
        raise BadBody("ids or prefix is required")
    return result([_doc(store[i]) if i in store else None for i in ids])


async def _delete(request: Request, db: SearchIndex, name: str) -> Response:
    payload = await read_json(request, default={})
    store = db.data.get(name, {})
    prefix = payload.get("prefix") if isinstance(payload, dict) else None
    if isinstance(prefix, str):
        doomed = [i for i in store if i.startswith(prefix)]
    else:
        ids = ids_of(payload)
        if ids is None:
            raise BadBody("ids, prefix or filter is required")
        doomed = [i for i in ids if i in store]
    for i in doomed:
        del store[i]
    return result({"deleted": len(doomed)})


async def _range(request: Request, db: SearchIndex, name: str) -> Response:
    payload = await read_json(request, default={})
    opts = payload if isinstance(payload, dict) else {}
    try:
        start = int(opts.get("cursor") or 0)
        limit = int(opts.get("limit", 100))
    except (TypeError, ValueError):
        raise BadBody("Invalid cursor or limit") from None
    prefix = opts.get("prefix") if isinstance(opts.get("prefix"), str) else ""
    store = db.data.get(name, {})
    ids = [i for i in sorted(store) if i.startswith(prefix)]
    page = ids[start : start + max(0, limit)]
    nxt = str(start + len(page)) if start + len(page) < len(ids) else ""
    return result({"nextCursor": nxt, "vectors": [_doc(store[i]) for i in page]})


async def _reset(request: Request, db: SearchIndex, name: str) -> Response:
    db.data[name] = {}
    return result("Success")


HANDLERS: dict[str, Handler] = {
    "info": _info,
    "list-namespaces": _namespaces,
    "delete-namespace": _delete_namespace,
    "upsert-data": _upsert,
    "search": _search,
    "fetch": _fetch,
    "delete": _delete,
    "range": _range,
    "reset": _reset,
}


def create_app(world: World, db: SearchIndex) -> Starlette:
    """The data API of one Search database (service ``search-<name>``)."""

    async def handle(request: Request) -> Response:
        op = request.path_params.get("op", "")
        name = request.path_params.get("name", "")
        handler = HANDLERS.get(op)
        if handler is None:
            return error(404, f"Unknown endpoint: /{op}")
        if request.method not in ("POST", "GET", "DELETE", "PUT"):
            return error(405, "Method not allowed")
        denied = authorize(request, db.token, db.readonly_token, write=op in WRITES)
        if denied is not None:
            return denied
        if op in NEEDS_INDEX and not name:
            return error(400, "Index name is required")
        try:
            return await handler(request, db, name)
        except BadBody as exc:
            return error(400, str(exc))

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return finish(
        Starlette(
            routes=[
                Route("/", handle, methods=methods),
                Route("/{op}", handle, methods=methods),
                Route("/{op}/{name:path}", handle, methods=methods),
            ],
            middleware=[Middleware(ChaosMiddleware, world=world, name=db.service)],
        )
    )
