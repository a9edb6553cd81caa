"""Redis usage in JS/TS: ``@upstash/redis``, ``@vercel/kv``, ``ioredis`` and ``redis`` (node-redis).

Two passes over a project's modules:

1. :func:`~keyroll.harden.analysis.js_clients.collect_bindings` — which local names are Redis
   clients (constructed here, derived with ``.pipeline()``/``.multi()``, returned by a factory
   function, or imported from a project module that exports one), and which modules export a
   client (:mod:`keyroll.harden.analysis.js_clients`).
2. :func:`collect_calls` — every member call on a client: the command, the key shapes and,
   for value-storing writes, whether the value passes through an encryption call. A client
   handed to code we do not know (other than ``new Ratelimit({ redis })``) or dispatched
   dynamically (``redis[cmd]()``) is an *unknown* call: it may send anything.
"""

from __future__ import annotations

from keyroll.harden.analysis import commands as cmdtable
from keyroll.harden.analysis.js_clients import (
    DERIVE_METHODS,
    JsBindings,
    client_ctor,
    client_root,
    derived_client,
)
from keyroll.harden.analysis.js_parse import JsModule, Node
from keyroll.harden.analysis.model import CallSite, KeyShape, SourceAnalysis, ValueWrite
from keyroll.harden.analysis.sites import (
    ENCRYPT_NAME,
    RATELIMIT_COMMANDS,
    RATELIMIT_DEFAULT_PREFIX,
    keys_of_call,
    pattern_shape,
    value_args,
)

__all__ = ["collect_calls"]

_GENERIC_SEND = frozenset({"call", "sendcommand", "send_command", "callbuffer"})
_IGNORED_ESCAPES = frozenset(
    {"console.log", "console.error", "console.warn", "console.info", "console.debug"}
)


def _is_encrypted(mod: JsModule, node: Node, depth: int = 0) -> bool:
    for n in mod.walk(node):
        if n.type in ("call_expression", "new_expression"):
            callee = n.child_by_field_name("function") or n.child_by_field_name("constructor")
            if callee is not None and ENCRYPT_NAME.search(mod.text(callee)):
                return True
        if n.type == "identifier" and depth < 3:
            init = mod.consts.get(mod.text(n))
            if init is not None and init is not node and _is_encrypted(mod, init, depth + 1):
                return True
    return False


def collect_calls(mod: JsModule, b: JsBindings, out: SourceAnalysis) -> None:
    """Pass 2: every Redis call, unknown use, value write and Ratelimit use in the module."""
    if not b.clients and not b.factories and not b.ratelimit_ctors:
        return
    for site in {id(s): s for s in b.clients.values()}.values():
        if site.path == mod.rel and site.library not in ("factory", "import"):
            out.clients.append(site)
    for n in mod.walk():
        if n.type == "call_expression":
            _call(mod, b, n, out)
        elif n.type == "new_expression":
            ctor = mod.text(n.child_by_field_name("constructor"))
            if ctor.split(".", 1)[0] in b.ratelimit_ctors:
                _ratelimit(mod, b, n, out)
        elif n.type in ("identifier", "shorthand_property_identifier") and mod.text(n) in b.clients:
            _escape(mod, b, n, out)
        elif n.type == "subscript_expression":
            obj = n.child_by_field_name("object")
            dispatched = client_root(mod, b, obj) if obj is not None else None
            if dispatched is not None:
                parent = n.parent
                if parent is not None and parent.type == "call_expression":
                    out.unknown_calls.append(
                        CallSite(
                            mod.rel, mod.line(n), "?", via="dynamic dispatch", client_env=dispatched.env_keys
                        )
                    )


def _call(mod: JsModule, b: JsBindings, call: Node, out: SourceAnalysis) -> None:
    fn = call.child_by_field_name("function")
    if fn is not None:
        fn = mod.unwrap(fn)  # TS parses `await r.get<T>(k)` as a call of an await expression
    if fn is None or fn.type != "member_expression":
        return
    obj = fn.child_by_field_name("object")
    method = mod.text(fn.child_by_field_name("property"))
    if obj is None:
        return
    namespace = ""
    target = obj
    u = mod.unwrap(obj)
    if u.type == "member_expression" and mod.text(u.child_by_field_name("property")) == "json":
        namespace, target = "json", u.child_by_field_name("object") or u
    site = client_root(mod, b, target)
    if site is None:
        return
    env = site.env_keys
    low = method.lower()
    args = mod.args(call)
    line = mod.line(call)
    if not namespace and low in _GENERIC_SEND:
        first = args[0] if args else None
        cmd_args: list[Node] = args[1:]
        if first is not None and mod.unwrap(first).type == "array":
            elems = [c for c in mod.unwrap(first).named_children if c.type != "comment"]
            first, cmd_args = (elems[0] if elems else None), elems[1:]
        name = mod.string_value(first) if first is not None else None
        if name is None or cmdtable.info(name.lower()) is None:
            out.unknown_calls.append(CallSite(mod.rel, line, "?", via=f".{method}()", client_env=env))
            return
        _record(mod, name.lower(), cmd_args, call, out, env)
        return
    if not namespace and (low in cmdtable.LIFECYCLE or low in DERIVE_METHODS):
        return  # no data command (pipelines/transactions: the chained calls are recorded)
    cmd = cmdtable.command_for_method(method, namespace=namespace)
    if cmd is None:
        out.unknown_calls.append(
            CallSite(
                mod.rel, line, "?", via=f".{namespace + '.' if namespace else ''}{method}()", client_env=env
            )
        )
        return
    _record(mod, cmd, args, call, out, env)


def _record(
    mod: JsModule, cmd: str, args: list[Node], call: Node, out: SourceAnalysis, env: tuple[str, ...] = ()
) -> None:
    views = [mod.arg(a) for a in args]
    if cmd in ("scan", "sscan", "hscan", "zscan"):
        keys = _scan_keys(mod, cmd, args)
    else:
        keys = keys_of_call(cmd, views)
    line = mod.line(call)
    out.calls.append(CallSite(mod.rel, line, cmd, keys, client_env=env))
    if cmdtable.stores_value(cmd):
        idx = value_args(cmd, views)
        values = [args[i] for i in idx if i < len(args)]
        if values:
            enc = all(_is_encrypted(mod, v) for v in values)
            out.writes.append(ValueWrite(mod.rel, line, cmd, enc))


def _scan_keys(mod: JsModule, cmd: str, args: list[Node]) -> tuple[KeyShape, ...]:
    keyed = cmd != "scan"
    keys: list[KeyShape] = [mod.shape(args[0])] if keyed and args else []
    for i, a in enumerate(args):
        u = mod.unwrap(a)
        if u.type == "object":
            for p in u.named_children:
                is_match = (
                    p.type == "pair"
                    and mod.text(p.child_by_field_name("key")).strip("'\"").lower() == "match"
                )
                if is_match and not keyed:
                    keys.append(pattern_shape(mod.shape(p.child_by_field_name("value"))))
        elif (mod.string_value(u) or "").upper() == "MATCH" and i + 1 < len(args) and not keyed:
            keys.append(pattern_shape(mod.shape(args[i + 1])))
    return tuple(keys)


def _ratelimit(mod: JsModule, b: JsBindings, new: Node, out: SourceAnalysis) -> None:
    prefix = KeyShape(RATELIMIT_DEFAULT_PREFIX)
    uses_client = False
    env: tuple[str, ...] = ()
    for a in mod.args(new):
        u = mod.unwrap(a)
        if u.type != "object":
            continue
        for p in u.named_children:
            key = p.child_by_field_name("key") if p.type == "pair" else p
            kname = mod.text(key).strip("'\"")
            if kname == "prefix" and p.type == "pair":
                s = mod.shape(p.child_by_field_name("value"))
                prefix = KeyShape(s.prefix) if not s.dynamic else s
            if kname == "redis":
                uses_client = True
                value = p.child_by_field_name("value") if p.type == "pair" else p
                site = None
                if value is not None:
                    site = (
                        client_root(mod, b, value)
                        or client_ctor(mod, b, value)
                        or derived_client(mod, b, value)
                    )
                env = site.env_keys if site is not None else ()
    if not uses_client:
        return
    line = mod.line(new)
    for cmd in RATELIMIT_COMMANDS:
        info = cmdtable.info(cmd)
        keys = (prefix,) if info is not None and (info.first > 0 or info.movable_keys) else ()
        out.calls.append(CallSite(mod.rel, line, cmd, keys, via="@upstash/ratelimit", client_env=env))


def _escape(mod: JsModule, b: JsBindings, ident: Node, out: SourceAnalysis) -> None:
    """A client identifier used as a value passed to other code (``fn(redis)``, ``new X({ redis })``)."""
    node, parent = ident, ident.parent
    if parent is None:
        return
    if parent.type == "pair":
        if parent.child_by_field_name("value") != node:
            return
        node, parent = parent, parent.parent
    if parent is not None and parent.type == "object":
        node, parent = parent, parent.parent
    if parent is None or parent.type != "arguments":
        return
    call = parent.parent
    if call is None:
        return
    callee = call.child_by_field_name("function") or call.child_by_field_name("constructor")
    name = mod.text(callee)
    if name.split(".", 1)[0] in b.ratelimit_ctors or name in _IGNORED_ESCAPES:
        return
    site = b.clients.get(mod.text(ident))
    env = site.env_keys if site is not None else ()
    out.unknown_calls.append(
        CallSite(mod.rel, mod.line(ident), "?", via=f"client passed to {name}()", client_env=env)
    )
