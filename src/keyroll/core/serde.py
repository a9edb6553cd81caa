"""Tiny dataclass <-> JSON helpers for the core model (no third-party dependency, no I/O).

Fields whose metadata says ``{"secret": True}`` are never serialised; :class:`Secret`
values anywhere else serialise to their fingerprint, so nothing sensitive can reach JSON.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from keyroll.core.secret import Secret

__all__ = ["dumps", "from_dict", "to_dict", "to_jsonable"]

T = TypeVar("T")


def to_jsonable(obj: Any) -> Any:
    """Convert a model object (dataclasses, enums, tuples, dicts) into plain JSON types."""
    if isinstance(obj, Secret):
        return str(obj.fingerprint)
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            if f.metadata.get("secret"):
                continue
            out[f.name] = to_jsonable(getattr(obj, f.name))
        return out
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [to_jsonable(v) for v in obj]
        if isinstance(obj, (set, frozenset)):
            items.sort(key=repr)
        return items
    return obj


def to_dict(obj: Any) -> dict[str, Any]:
    """Serialise a dataclass instance to a JSON-ready dict (secret fields excluded)."""
    result = to_jsonable(obj)
    assert isinstance(result, dict)
    return result


def dumps(obj: Any, *, indent: int | None = 2) -> str:
    """``json.dumps`` for model objects; Secrets become fingerprints."""
    return json.dumps(to_jsonable(obj), indent=indent, sort_keys=False)


def _convert(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return _convert(args[0], value)
        for alt in args:
            try:
                return _convert(alt, value)
            except (TypeError, ValueError, KeyError):
                continue
        return value
    if origin is typing.Literal:
        return value
    if origin in (tuple,):
        targs = get_args(tp)
        if len(targs) == 2 and targs[1] is Ellipsis:
            return tuple(_convert(targs[0], v) for v in value)
        return tuple(_convert(a, v) for a, v in zip(targs, value, strict=False))
    if origin in (list,):
        (a,) = get_args(tp)
        return [_convert(a, v) for v in value]
    if origin in (frozenset, set):
        (a,) = get_args(tp)
        return frozenset(_convert(a, v) for v in value)
    if origin in (dict,):
        ka, va = get_args(tp)
        return {_convert(ka, k): _convert(va, v) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_dict(tp, value)
    return value


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a dataclass from :func:`to_dict` output; unknown keys are ignored, secret fields stay default."""
    if not isinstance(data, dict):
        raise TypeError(f"expected an object for {cls.__name__}")
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.metadata.get("secret") or f.name not in data:
            continue
        kwargs[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**kwargs)
