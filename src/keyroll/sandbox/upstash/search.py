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
from starlette.requests import Request
from starlette.responses import Response

from keyroll.sandbox.upstash.indexes import (
    BadBody,
    create_index_app,
    delete_records,
    error,
    fetch_records,
    range_records,
    read_json,
    result,
)
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
    return result(fetch_records(payload, db.data.get(name, {}), _doc))


async def _delete(request: Request, db: SearchIndex, name: str) -> Response:
    payload = await read_json(request, default={})
    deleted = delete_records(payload, db.data.get(name, {}), missing="ids, prefix or filter is required")
    return result({"deleted": deleted})


async def _range(request: Request, db: SearchIndex, name: str) -> Response:
    payload = await read_json(request, default={})
    return result(range_records(payload, db.data.get(name, {}), _doc))


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
    return create_index_app(world, db, HANDLERS, writes=WRITES, needs_name=NEEDS_INDEX)
