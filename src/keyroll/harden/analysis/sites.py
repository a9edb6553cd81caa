"""Language-neutral pieces shared by the JS/TS and Python analysers.

* :class:`Arg` — a call argument as the key/value logic needs to see it (a value with a key
  shape, a spread, an array or an object literal).
* :func:`keys_of_call` — which arguments of an SDK call are keys, from ``COMMAND``'s key
  positions (SDKs pass arguments in command order).
* :func:`concat` — key-shape arithmetic for ``"a:" + x`` and template strings.
* :data:`RATELIMIT_COMMANDS` — what ``@upstash/ratelimit`` / ``upstash-ratelimit`` send.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from keyroll.harden.analysis import commands as cmdtable
from keyroll.harden.analysis.model import DYNAMIC, KeyShape

__all__ = [
    "ENCRYPT_NAME",
    "RATELIMIT_COMMANDS",
    "RATELIMIT_DEFAULT_PREFIX",
    "RATELIMIT_NAME",
    "Arg",
    "concat",
    "keys_of_call",
    "pattern_shape",
    "value_args",
]

RATELIMIT_COMMANDS = ("eval", "evalsha", "get", "incrby", "pexpire", "hmget", "hset", "script")
"""Commands the Upstash rate-limit SDKs send (Lua scripts for the algorithms, loaded by SHA)."""
RATELIMIT_DEFAULT_PREFIX = "@upstash/ratelimit"
"""Key prefix of both rate-limit SDKs unless ``prefix`` is given."""

RATELIMIT_NAME = re.compile(r"rate_?limit|ratelimiter|limiter|throttl", re.IGNORECASE)
"""Names of callables that rate-limit (``ratelimit.limit``, ``rateLimit()``, ``@limiter.limit``)."""
ENCRYPT_NAME = re.compile(r"encrypt|seal|cipher|aes|fernet|secretbox", re.IGNORECASE)
"""Names of callables that encrypt a value before it is stored."""


@dataclass
class Arg:
    """One call argument seen by the key logic."""

    kind: str = "value"
    """``value`` | ``spread`` | ``array`` | ``object``"""
    shape: KeyShape = DYNAMIC
    elements: list[Arg] = field(default_factory=list)
    """array elements"""
    object_keys: list[KeyShape] = field(default_factory=list)
    """object literal property names (``mset({k: v})``)"""
    is_number: bool = False


def concat(a: KeyShape, b: KeyShape) -> KeyShape:
    """The shape of ``a + b``: exact only when both are exact; otherwise the known prefix."""
    if a.exact:
        if b.exact:
            return KeyShape(a.prefix + b.prefix, exact=True)
        return KeyShape(a.prefix + b.prefix)
    return KeyShape(a.prefix)


def _flatten(args: Sequence[Arg]) -> list[Arg]:
    out: list[Arg] = []
    for a in args:
        if a.kind == "array":
            out.extend(_flatten(a.elements))
        else:
            out.append(a)
    return out


def _shapes(args: Sequence[Arg]) -> list[KeyShape]:
    out: list[KeyShape] = []
    for a in args:
        if a.kind == "spread":
            out.append(DYNAMIC)
        elif a.kind == "object":
            continue  # options objects ({ex: 60}) are never keys
        elif a.kind == "array":
            out.extend(_shapes(a.elements))
        elif not a.is_number:
            out.append(a.shape)
    return out


def keys_of_call(command: str, args: Sequence[Arg]) -> tuple[KeyShape, ...]:
    """Key shapes touched by an SDK call of ``command`` with ``args`` (SDK argument order)."""
    if command in ("keys",) and args:
        return (pattern_shape(args[0].shape),)
    if command in ("scan", "hscan", "sscan", "zscan"):
        return ()
    info = cmdtable.info(command)
    if info is None or (info.first == 0 and not info.movable_keys):
        return ()
    if info.movable_keys:
        if command.startswith(("eval", "fcall")):
            return (DYNAMIC,)  # keys live in a numkeys-counted list; do not guess
        return tuple(_shapes(args))
    start = info.first - 1
    if info.step == 2 and args and args[0].kind == "object":
        return tuple(args[0].object_keys)
    if info.last == info.first:
        return tuple(_shapes(args[start : start + 1]))
    if info.last < 0:
        flat = _flatten(args[start:])
        end = len(flat) + info.last + 1
        picked = flat[: max(end, 0)]
        return tuple(_shapes(picked[:: max(info.step, 1)]))
    return tuple(_shapes(args[start : info.last]))


def pattern_shape(shape: KeyShape) -> KeyShape:
    """A KEYS/SCAN MATCH pattern → the literal prefix before its first glob character."""
    if shape.dynamic:
        return shape
    m = re.search(r"[*?\[\\]", shape.prefix)
    if m is None:
        return shape
    return KeyShape(shape.prefix[: m.start()])


def value_args(command: str, args: Sequence[Arg]) -> list[int]:
    """Indexes of the arguments that carry stored values (not keys) for value-storing writes."""
    info = cmdtable.info(command)
    if info is None:
        return []
    first = max(info.first - 1, 0)
    if info.step == 2:  # mset k v k v
        return [i for i in range(len(args)) if i % 2 == 1 or args[i].kind == "object"]
    return [i for i in range(len(args)) if i > first]
