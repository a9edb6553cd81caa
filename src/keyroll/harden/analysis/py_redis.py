"""Redis usage in Python: ``upstash-redis`` (``upstash_redis``) and ``redis-py`` (``redis``).

Same two passes as the JS analyser: :func:`collect_bindings` finds client names (constructed,
derived with ``.pipeline()``, returned by factories, typed parameters ``r: Redis``, FastAPI
``Depends(get_redis)``), :func:`collect_calls` records every command with its key shapes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from keyroll.harden.analysis import commands as cmdtable
from keyroll.harden.analysis.model import CallSite, ClientSite, KeyShape, SourceAnalysis, ValueWrite
from keyroll.harden.analysis.py_parse import PyModule, dotted
from keyroll.harden.analysis.sites import (
    ENCRYPT_NAME,
    RATELIMIT_COMMANDS,
    RATELIMIT_DEFAULT_PREFIX,
    keys_of_call,
    pattern_shape,
    value_args,
)

__all__ = ["ClientSite", "PyBindings", "client_root", "collect_bindings", "collect_calls"]

_UPSTASH = ("upstash_redis.Redis", "upstash_redis.asyncio.Redis", "upstash_redis.client.Redis")
_REDIS_PY = (
    "redis.Redis",
    "redis.StrictRedis",
    "redis.client.Redis",
    "redis.asyncio.Redis",
    "redis.asyncio.StrictRedis",
    "redis.asyncio.client.Redis",
    "redis.cluster.RedisCluster",
    "redis.RedisCluster",
    "redis.asyncio.RedisCluster",
)
_FROM_URL = ("redis.from_url", "redis.asyncio.from_url")
_DERIVE = frozenset({"pipeline", "client"})
_IGNORED_ESCAPES = frozenset(
    {"print", "repr", "str", "isinstance", "type", "id", "len", "getattr", "hasattr"}
)


@dataclass
class PyBindings:
    """Per-module facts from pass 1."""

    clients: dict[str, ClientSite] = field(default_factory=dict)
    factories: set[str] = field(default_factory=set)
    module_level: set[str] = field(default_factory=set)
    """client names bound at module level (importable by other modules)"""


def _env_keys(mod: PyModule, node: ast.AST) -> tuple[str, ...]:
    keys: list[str] = []
    for n in ast.walk(node):
        if isinstance(n, ast.Subscript) and mod.qualname(n.value) == "os.environ":
            if isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str):
                keys.append(n.slice.value)
        elif (
            isinstance(n, ast.Call)
            and mod.qualname(n.func) in ("os.environ.get", "os.getenv")
            and n.args
            and isinstance(n.args[0], ast.Constant)
            and isinstance(n.args[0].value, str)
        ):
            keys.append(n.args[0].value)
    return tuple(dict.fromkeys(keys))


def _ctor(mod: PyModule, node: ast.AST | None) -> ClientSite | None:
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call):
        return None
    q = mod.qualname(node.func)
    line = getattr(node, "lineno", 1)
    if q in _UPSTASH:
        return ClientSite("upstash-redis", mod.rel, line, "rest", _env_keys(mod, node))
    if q.endswith(".from_env") and q[: -len(".from_env")] in _UPSTASH:
        return ClientSite(
            "upstash-redis", mod.rel, line, "rest", ("UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN")
        )
    if q in _REDIS_PY or q in _FROM_URL or (q.endswith(".from_url") and q[: -len(".from_url")] in _REDIS_PY):
        return ClientSite("redis-py", mod.rel, line, "tcp", _env_keys(mod, node))
    return None


def _annotation_client(mod: PyModule, ann: ast.AST | None) -> ClientSite | None:
    if ann is None:
        return None
    for n in ast.walk(ann):
        q = mod.qualname(n) if isinstance(n, (ast.Name, ast.Attribute)) else ""
        if q in _UPSTASH:
            return ClientSite("upstash-redis", mod.rel, getattr(ann, "lineno", 1), "rest")
        if q in _REDIS_PY:
            return ClientSite("redis-py", mod.rel, getattr(ann, "lineno", 1), "tcp")
    return None


def client_root(mod: PyModule, b: PyBindings, node: ast.AST | None) -> ClientSite | None:
    """The client an expression evaluates to (names, ``.pipeline()``, factory calls, ``Depends``)."""
    if isinstance(node, ast.Await):
        node = node.value
    name = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else ""
    if name and name in b.clients:
        return b.clients[name]
    if isinstance(node, ast.Call):
        fname = dotted(node.func)
        if fname in b.factories:
            return ClientSite("factory", mod.rel, node.lineno)
        if isinstance(node.func, ast.Attribute) and (
            node.func.attr in _DERIVE or cmdtable.command_for_method(node.func.attr) is not None
        ):
            return client_root(mod, b, node.func.value)
        site = _ctor(mod, node)
        if site is not None:
            return site
    return None


def collect_bindings(
    mod: PyModule, known_factories: set[str] | None = None, seed: dict[str, ClientSite] | None = None
) -> PyBindings:
    """Pass 1: client names, factories and module-level clients (``seed``: imported clients)."""
    b = PyBindings(clients=dict(seed or {}), factories=set(known_factories or ()))
    if not b.clients and not mod.mentions("redis", "upstash_redis") and not (b.factories & mod.names):
        return b  # nothing here can make or receive a client
    module_names = {
        dotted(t)
        for stmt in mod.tree.body
        if isinstance(stmt, (ast.Assign, ast.AnnAssign))
        for t in (stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target])
    }
    for _ in range(3):
        before = (len(b.clients), len(b.factories))
        for node in mod.nodes:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                site = _ctor(mod, node.value) or (client_root(mod, b, node.value) if node.value else None)
                if site is None and isinstance(node, ast.AnnAssign):
                    site = _annotation_client(mod, node.annotation) if node.value is not None else None
                if site is not None:
                    for t in targets:
                        name = dotted(t)
                        if name:
                            b.clients.setdefault(name, site)
                            if name in module_names:
                                b.module_level.add(name)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    site = client_root(mod, b, item.context_expr)
                    if site is not None and item.optional_vars is not None:
                        b.clients.setdefault(dotted(item.optional_vars), site)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                _function(mod, b, node)
        if (len(b.clients), len(b.factories)) == before:
            break
    return b


def _function(mod: PyModule, b: PyBindings, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
    defaults = [None] * (len(fn.args.posonlyargs) + len(fn.args.args) - len(fn.args.defaults)) + list(
        fn.args.defaults
    )
    defaults += list(fn.args.kw_defaults)
    for a, d in zip(args, defaults, strict=False):
        site = _annotation_client(mod, a.annotation)
        depends = isinstance(d, ast.Call) and dotted(d.func).endswith("Depends") and bool(d.args)
        if site is None and depends and isinstance(d, ast.Call) and dotted(d.args[0]) in b.factories:
            site = ClientSite("factory", mod.rel, fn.lineno)
        if site is not None:
            b.clients.setdefault(a.arg, site)
    if fn.name in b.factories:
        return
    ret = _annotation_client(mod, fn.returns)
    if ret is not None:
        b.factories.add(fn.name)
        return
    for n in ast.walk(fn):
        if isinstance(n, ast.Return) and n.value is not None and client_root(mod, b, n.value) is not None:
            b.factories.add(fn.name)
            return


def _is_encrypted(mod: PyModule, node: ast.AST, depth: int = 0) -> bool:
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and ENCRYPT_NAME.search(dotted(n.func) or ""):
            return True
        if isinstance(n, ast.Name) and depth < 3:
            init = mod.consts.get(n.id)
            if init is not None and _is_encrypted(mod, init, depth + 1):
                return True
    return False


def collect_calls(mod: PyModule, b: PyBindings, out: SourceAnalysis) -> None:
    """Pass 2: every Redis call, unknown use, value write and Ratelimit use in the module."""
    if not b.clients and not b.factories and not mod.mentions("upstash_ratelimit"):
        return
    seen: set[int] = set()
    for site in b.clients.values():
        if site.path == mod.rel and site.library not in ("factory", "import") and id(site) not in seen:
            seen.add(id(site))
            out.clients.append(site)
    for node in mod.nodes:
        if not isinstance(node, ast.Call):
            continue
        q = mod.qualname(node.func)
        if q.startswith("upstash_ratelimit") and q.rsplit(".", 1)[-1] == "Ratelimit":
            _ratelimit(mod, b, node, out)
            continue
        if isinstance(node.func, ast.Call) and dotted(node.func.func) == "getattr":
            dispatched = client_root(mod, b, node.func.args[0]) if node.func.args else None
            if dispatched is not None:
                out.unknown_calls.append(
                    CallSite(
                        mod.rel, node.lineno, "?", via="getattr dispatch", client_env=dispatched.env_keys
                    )
                )
            continue
        if isinstance(node.func, ast.Attribute):
            _call(mod, b, node, node.func, out)
        _escapes(mod, b, node, q, out)


def _call(mod: PyModule, b: PyBindings, call: ast.Call, fn: ast.Attribute, out: SourceAnalysis) -> None:
    obj = fn.value
    namespace = ""
    if isinstance(obj, ast.Call) and isinstance(obj.func, ast.Attribute) and obj.func.attr == "json":
        namespace, obj = "json", obj.func.value
    elif isinstance(obj, ast.Attribute) and obj.attr == "json":
        namespace, obj = "json", obj.value
    site = client_root(mod, b, obj)
    if site is None:
        return
    env = site.env_keys
    method = fn.attr
    low = method.lower()
    if not namespace and (low in ("execute_command", "send_command") or (low == "execute" and call.args)):
        first: ast.AST | None = call.args[0] if call.args else None
        rest: list[ast.expr] = list(call.args[1:])
        if isinstance(first, (ast.List, ast.Tuple)):
            rest = list(first.elts[1:])
            first = first.elts[0] if first.elts else None
        name = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else None
        if name is None or cmdtable.info(name.lower()) is None:
            out.unknown_calls.append(CallSite(mod.rel, call.lineno, "?", via=f".{method}()", client_env=env))
            return
        _record(mod, name.lower(), rest, call, out, env)
        return
    if not namespace and (low in cmdtable.LIFECYCLE or low in _DERIVE):
        return
    cmd = cmdtable.command_for_method(method, namespace=namespace)
    if cmd is None:
        label = f".{namespace}().{method}()" if namespace else f".{method}()"
        out.unknown_calls.append(CallSite(mod.rel, call.lineno, "?", via=label, client_env=env))
        return
    _record(mod, cmd, list(call.args), call, out, env)


def _record(
    mod: PyModule,
    cmd: str,
    args: list[ast.expr],
    call: ast.Call,
    out: SourceAnalysis,
    env: tuple[str, ...] = (),
) -> None:
    views = [mod.arg(a) for a in args]
    if cmd in ("scan", "hscan", "sscan", "zscan"):
        keys: tuple[KeyShape, ...] = (mod.shape(args[0]),) if cmd != "scan" and args else ()
        if cmd == "scan":
            match = next((kw.value for kw in call.keywords if kw.arg == "match"), None)
            if match is not None:
                keys = (pattern_shape(mod.shape(match)),)
    else:
        keys = keys_of_call(cmd, views)
        if not keys and cmdtable.info(cmd) is not None and cmdtable.info(cmd).first > 0:  # type: ignore[union-attr]
            key_kw = next((kw.value for kw in call.keywords if kw.arg in ("name", "key", "keys")), None)
            if key_kw is not None:
                keys = (mod.shape(key_kw),)
    out.calls.append(CallSite(mod.rel, call.lineno, cmd, keys, client_env=env))
    if cmdtable.stores_value(cmd):
        idx = value_args(cmd, views)
        values: list[ast.AST] = [args[i] for i in idx if i < len(args)]
        values += [kw.value for kw in call.keywords if kw.arg in ("value", "mapping", "values", "obj")]
        if values:
            enc = all(_is_encrypted(mod, v) for v in values)
            out.writes.append(ValueWrite(mod.rel, call.lineno, cmd, enc))


def _ratelimit(mod: PyModule, b: PyBindings, call: ast.Call, out: SourceAnalysis) -> None:
    prefix = KeyShape(RATELIMIT_DEFAULT_PREFIX)
    uses_client = False
    env: tuple[str, ...] = ()
    for kw in call.keywords:
        if kw.arg == "prefix":
            s = mod.shape(kw.value)
            prefix = KeyShape(s.prefix) if not s.dynamic else s
        if kw.arg == "redis":
            uses_client = True
            site = client_root(mod, b, kw.value)
            env = site.env_keys if site is not None else ()
    if not uses_client and not call.args:
        return
    for cmd in RATELIMIT_COMMANDS:
        info = cmdtable.info(cmd)
        keys = (prefix,) if info is not None and (info.first > 0 or info.movable_keys) else ()
        out.calls.append(CallSite(mod.rel, call.lineno, cmd, keys, via="upstash-ratelimit", client_env=env))


def _escapes(mod: PyModule, b: PyBindings, call: ast.Call, q: str, out: SourceAnalysis) -> None:
    name = dotted(call.func)
    if name in _IGNORED_ESCAPES or name.startswith(("log", "logger", "logging")):
        return
    if isinstance(call.func, ast.Attribute) and client_root(mod, b, call.func.value) is not None:
        return  # a call on the client itself: its arguments are data
    values = [*call.args, *(kw.value for kw in call.keywords)]
    for v in values:
        if isinstance(v, (ast.Name, ast.Attribute)) and dotted(v) in b.clients:
            if name in b.factories:
                continue
            env = b.clients[dotted(v)].env_keys
            out.unknown_calls.append(
                CallSite(mod.rel, call.lineno, "?", via=f"client passed to {name or q}()", client_env=env)
            )
            return
