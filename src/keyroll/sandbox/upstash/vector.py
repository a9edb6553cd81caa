"""The Upstash Vector data API of one index (in memory; brute-force queries).

Enough of it for ``upstash_vector.Index`` to work and for a token to be proven: ``/info``,
``/upsert``, ``/query``, ``/fetch``, ``/range``, ``/delete``, ``/reset``, ``/list-namespaces``,
``/delete-namespace`` (each with an optional ``/{namespace}``). Scores of COSINE indexes are
normalised to [0, 1] as Upstash does.
"""

from __future__ import annotations

import json
import math
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
from keyroll.sandbox.upstash.state import VectorIndex
from keyroll.sandbox.world import World

__all__ = ["create_app"]

Handler = Callable[[Request, VectorIndex, str], Awaitable[Response]]
WRITES = {"upsert", "upsert-data", "update", "delete", "reset", "delete-namespace"}


def _score(a: list[float], b: list[float], fn: str) -> float:
    if fn == "EUCLIDEAN":
        return 1 / (1 + sum((x - y) ** 2 for x, y in zip(a, b, strict=False)))
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    if fn == "DOT_PRODUCT":
        return (1 + dot) / 2
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(y * y for y in b)) or 1.0
    return (1 + dot / (na * nb)) / 2


def _vector(value: Any, dimension: int) -> list[float]:
    if not isinstance(value, list) or not all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    ):
        raise BadBody("Vector must be an array of numbers")
    if len(value) != dimension:
        raise BadBody(f"Invalid vector dimension: {len(value)}, expected: {dimension}")
    return [float(x) for x in value]


def _view(rec: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rec["id"]}
    if payload.get("includeVectors"):
        out["vector"] = rec["vector"]
    if payload.get("includeMetadata") and rec.get("metadata") is not None:
        out["metadata"] = rec["metadata"]
    if payload.get("includeData") and rec.get("data") is not None:
        out["data"] = rec["data"]
    return out


async def _info(request: Request, index: VectorIndex, ns: str) -> Response:
    count = sum(len(v) for v in index.data.values())
    return result(
        {
            "vectorCount": count,
            "pendingVectorCount": 0,
            "indexSize": len(json.dumps(index.data)),
            "dimension": index.dimension,
            "similarityFunction": index.similarity_function,
            "indexType": "DENSE",
            "denseIndex": {
                "dimension": index.dimension,
                "similarityFunction": index.similarity_function,
                "embeddingModel": None,
            },
            "namespaces": {
                name: {"vectorCount": len(v), "pendingVectorCount": 0} for name, v in index.data.items()
            },
        }
    )


async def _upsert(request: Request, index: VectorIndex, ns: str) -> Response:
    payload = await read_json(request)
    items = payload if isinstance(payload, list) else [payload]
    if not items or not all(isinstance(i, dict) for i in items):
        raise BadBody("Invalid upsert payload")
    records = []
    for item in items:
        if not isinstance(item.get("id"), str | int):
            raise BadBody("Vector id is required")
        records.append(
            {
                "id": str(item["id"]),
                "vector": _vector(item.get("vector"), index.dimension),
                "metadata": item.get("metadata"),
                "data": item.get("data"),
            }
        )
    store = index.data.setdefault(ns, {})
    for rec in records:
        store[rec["id"]] = rec
    return result("Success")


async def _upsert_data(request: Request, index: VectorIndex, ns: str) -> Response:
    return error(
        400, "Embedding data for this index is not allowed. The index must be created with an embedding model"
    )


async def _query(request: Request, index: VectorIndex, ns: str) -> Response:
    payload = await read_json(request, default={})
    if not isinstance(payload, dict):
        raise BadBody("Invalid query payload")
    vec = _vector(payload.get("vector"), index.dimension)
    top_k = payload.get("topK", 10)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 0:
        raise BadBody("topK must be a non-negative integer")
    store = index.data.get(ns, {})
    scored = sorted(
        store.values(), key=lambda r: _score(vec, r["vector"], index.similarity_function), reverse=True
    )
    return result(
        [
            {**_view(r, payload), "score": _score(vec, r["vector"], index.similarity_function)}
            for r in scored[: min(top_k, 1000)]
        ]
    )


async def _fetch(request: Request, index: VectorIndex, ns: str) -> Response:
    payload = await read_json(request, default={})
    opts = payload if isinstance(payload, dict) else {}
    return result(fetch_records(payload, index.data.get(ns, {}), lambda r: _view(r, opts)))


async def _range(request: Request, index: VectorIndex, ns: str) -> Response:
    payload = await read_json(request, default={})
    opts = payload if isinstance(payload, dict) else {}
    return result(range_records(payload, index.data.get(ns, {}), lambda r: _view(r, opts)))


async def _delete(request: Request, index: VectorIndex, ns: str) -> Response:
    payload = await read_json(request, default={})
    deleted = delete_records(payload, index.data.get(ns, {}), missing="ids or prefix is required")
    return result({"deleted": deleted})


async def _reset(request: Request, index: VectorIndex, ns: str) -> Response:
    if "all" in request.query_params:
        index.data = {"": {}}
    else:
        index.data[ns] = {}
    return result("Success")


async def _namespaces(request: Request, index: VectorIndex, ns: str) -> Response:
    return result(sorted(index.data))


async def _delete_namespace(request: Request, index: VectorIndex, ns: str) -> Response:
    if not ns:
        return error(400, "Default namespace cannot be deleted")
    if ns not in index.data:
        return error(404, f"Namespace {ns} does not exist")
    del index.data[ns]
    return result("Success")


HANDLERS: dict[str, Handler] = {
    "info": _info,
    "upsert": _upsert,
    "upsert-data": _upsert_data,
    "query": _query,
    "fetch": _fetch,
    "range": _range,
    "delete": _delete,
    "reset": _reset,
    "list-namespaces": _namespaces,
    "delete-namespace": _delete_namespace,
}


def create_app(world: World, index: VectorIndex) -> Starlette:
    """The data API of one Vector index (service ``vector-<name>``; the path's name is the namespace)."""
    return create_index_app(world, index, HANDLERS, writes=WRITES)
