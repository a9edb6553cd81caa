"""Which names are Redis clients in JS/TS (pass 1 of :mod:`keyroll.harden.analysis.js_redis`).

Libraries: ``@upstash/redis``, ``@vercel/kv``, ``ioredis`` and ``redis`` (node-redis).
:func:`collect_bindings` finds the local names that are Redis clients — constructed here,
derived with ``.pipeline()``/``.multi()``, returned by a factory function, or imported from a
project module that exports one (:func:`resolve_module`, :func:`derive`) — and which modules
export a client. :func:`client_root` follows an expression back to the client it uses.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from keyroll.harden.analysis import commands as cmdtable
from keyroll.harden.analysis.js_parse import JsModule, Node
from keyroll.harden.analysis.model import ClientSite

__all__ = [
    "DERIVE_METHODS",
    "ClientSite",
    "JsBindings",
    "client_ctor",
    "client_root",
    "collect_bindings",
    "derive",
    "derived_client",
    "lib_of",
    "resolve_module",
]

# module → (transport, what a default/namespace import is, constructor names)
_LIBS = {
    "@upstash/redis": "rest",
    "@vercel/kv": "rest",
    "ioredis": "tcp",
    "redis": "tcp",
    "@redis/client": "tcp",
}
_FROM_ENV_KEYS = {
    "@upstash/redis": ("UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN"),
    "@vercel/kv": ("KV_REST_API_URL", "KV_REST_API_TOKEN"),
}
DERIVE_METHODS = frozenset({"pipeline", "multi", "duplicate", "isolated", "withtypemapping", "autopipeline"})


def lib_of(spec: str) -> str | None:
    """The Redis client library an import specifier names (``ioredis/built/…`` → ``ioredis``)."""
    for lib in _LIBS:
        if spec == lib or spec.startswith(lib + "/"):
            return lib
    return None


@dataclass
class JsBindings:
    """Per-module facts from pass 1."""

    clients: dict[str, ClientSite] = field(default_factory=dict)
    """local name → where the client it holds was made"""
    factories: set[str] = field(default_factory=set)
    """local function names that return a client"""
    exports: dict[str, str] = field(default_factory=dict)
    """exported name (``default`` included) → local name"""
    imports: dict[str, tuple[str, str]] = field(default_factory=dict)
    """local name → (module specifier, imported name | ``default`` | ``*``)"""
    ratelimit_ctors: set[str] = field(default_factory=set)
    """local names of the ``Ratelimit`` class from ``@upstash/ratelimit``"""
    qstash_verify: bool = False
    """imports ``verifySignature*``/``Receiver`` from ``@upstash/qstash``"""


def _imports(mod: JsModule, b: JsBindings) -> None:
    for n in mod.walk():
        if n.type == "import_statement":
            src = mod.string_value(n.child_by_field_name("source")) or ""
            clause = next((c for c in n.named_children if c.type == "import_clause"), None)
            if clause is None:
                continue
            for c in clause.named_children:
                if c.type == "identifier":
                    b.imports[mod.text(c)] = (src, "default")
                elif c.type == "namespace_import":
                    ident = next((x for x in c.named_children if x.type == "identifier"), None)
                    if ident is not None:
                        b.imports[mod.text(ident)] = (src, "*")
                elif c.type == "named_imports":
                    for spec in c.named_children:
                        if spec.type != "import_specifier":
                            continue
                        name = spec.child_by_field_name("name")
                        alias = spec.child_by_field_name("alias")
                        local = mod.text(alias or name)
                        b.imports[local] = (src, mod.string_value(name) or mod.text(name))
        elif n.type == "call_expression" and mod.text(n.child_by_field_name("function")) == "require":
            args = mod.args(n)
            req = mod.string_value(args[0]) if args else None
            parent = n.parent
            if req is None or parent is None or parent.type != "variable_declarator":
                continue
            target = parent.child_by_field_name("name")
            if target is None:
                continue
            if target.type == "identifier":
                b.imports[mod.text(target)] = (req, "default")
            elif target.type == "object_pattern":
                for p in target.named_children:
                    if p.type == "shorthand_property_identifier_pattern":
                        b.imports[mod.text(p)] = (req, mod.text(p))
                    elif p.type == "pair_pattern":
                        key = p.child_by_field_name("key")
                        val = p.child_by_field_name("value")
                        if val is not None and val.type == "identifier":
                            b.imports[mod.text(val)] = (req, mod.text(key))
    for local, (spec_, imported) in b.imports.items():
        if spec_ == "@upstash/ratelimit" and imported in ("Ratelimit", "default"):
            b.ratelimit_ctors.add(local)
        if spec_.startswith("@upstash/qstash") and ("verifySignature" in imported or imported == "Receiver"):
            b.qstash_verify = True


def _env_keys(mod: JsModule, node: Node) -> tuple[str, ...]:
    keys: list[str] = []
    for n in mod.walk(node):
        if n.type in ("member_expression", "subscript_expression"):
            obj = n.child_by_field_name("object")
            if obj is not None and mod.text(obj) in ("process.env", "import.meta.env"):
                if n.type == "member_expression":
                    keys.append(mod.text(n.child_by_field_name("property")))
                else:
                    v = mod.string_value(n.child_by_field_name("index"))
                    if v:
                        keys.append(v)
    return tuple(dict.fromkeys(keys))


def _callee(mod: JsModule, b: JsBindings, callee: Node | None) -> tuple[str, str | None]:
    """The callee's text, and the client library its root name is imported from (None: another)."""
    name = mod.text(callee)
    imp = b.imports.get(name.split(".", 1)[0])
    return name, (lib_of(imp[0]) if imp is not None else None)


def client_ctor(mod: JsModule, b: JsBindings, node: Node) -> ClientSite | None:
    """A ClientSite when ``node`` constructs a client (``new Redis()``, ``Redis.fromEnv()``, ``createClient()``)."""
    node = mod.unwrap(node)
    if node.type == "new_expression":
        _, lib = _callee(mod, b, node.child_by_field_name("constructor"))
        if lib in ("@upstash/redis", "ioredis"):
            return ClientSite(lib, mod.rel, mod.line(node), _LIBS[lib], _env_keys(mod, node))
        return None
    if node.type == "call_expression":
        name, lib = _callee(mod, b, node.child_by_field_name("function"))
        if lib is None:
            return None
        last = name.rsplit(".", 1)[-1]
        if lib == "@upstash/redis" and last == "fromEnv":
            return ClientSite(lib, mod.rel, mod.line(node), "rest", _FROM_ENV_KEYS[lib])
        if lib == "@vercel/kv" and last == "createClient":
            return ClientSite(lib, mod.rel, mod.line(node), "rest", _env_keys(mod, node))
        if lib in ("redis", "@redis/client") and last in ("createClient", "createCluster"):
            return ClientSite(lib, mod.rel, mod.line(node), "tcp", _env_keys(mod, node))
    return None


def resolve_module(importer: str, spec: str, known: set[str]) -> str | None:
    """Resolve a project-relative import (``./lib/redis``, ``@/lib/redis``, ``~/lib/redis``) to a module path."""
    if spec.startswith("."):
        base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
        candidates = [base]
    elif spec.startswith(("@/", "~/")):
        candidates = [spec[2:], "src/" + spec[2:]]
    elif spec.startswith("src/"):
        candidates = [spec]
    else:
        return None
    exts = ("", ".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".mts")
    for c in candidates:
        for ext in exts:
            if c + ext in known:
                return c + ext
        for ext in exts[1:]:
            if f"{c}/index{ext}" in known:
                return f"{c}/index{ext}"
    return None


def collect_bindings(mod: JsModule) -> JsBindings:
    """Pass 1: clients made in this module, factories, exports and imports."""
    b = JsBindings()
    _imports(mod, b)
    for local, (src, name) in b.imports.items():
        if lib_of(src) == "@vercel/kv" and name == "kv":
            b.clients[local] = ClientSite("@vercel/kv", mod.rel, 1, "rest", _FROM_ENV_KEYS["@vercel/kv"])
    derive(mod, b)
    _exports(mod, b)
    return b


def derive(mod: JsModule, b: JsBindings) -> JsBindings:
    """Add clients derived from known ones (``const p = redis.pipeline()``, factory results)."""
    if not b.clients and not b.factories and not any(lib_of(src) for src, _ in b.imports.values()):
        return b  # nothing here can make or receive a client
    changed = True
    rounds = 0
    while changed and rounds < 5:  # derived clients and factories refer to each other
        changed = False
        rounds += 1
        for n in mod.walk():
            name_node: Node | None = None
            value: Node | None = None
            if n.type == "variable_declarator":
                name_node, value = n.child_by_field_name("name"), n.child_by_field_name("value")
            elif n.type == "assignment_expression":
                name_node, value = n.child_by_field_name("left"), n.child_by_field_name("right")
            if name_node is not None and value is not None and name_node.type == "identifier":
                local = mod.text(name_node)
                if local in b.clients:
                    continue
                site = client_ctor(mod, b, value) or derived_client(mod, b, value)
                if site is not None:
                    b.clients[local] = site
                    changed = True
                    continue
                is_fn = value.type in ("arrow_function", "function_expression", "function")
                if is_fn and local not in b.factories and _returns_client(mod, b, value):
                    b.factories.add(local)
                    changed = True
            if n.type == "function_declaration":
                fname = mod.text(n.child_by_field_name("name"))
                if fname and fname not in b.factories and _returns_client(mod, b, n):
                    b.factories.add(fname)
                    changed = True
    return b


def derived_client(mod: JsModule, b: JsBindings, node: Node) -> ClientSite | None:
    """A ClientSite when ``node`` derives a client from one (``redis.pipeline()``, ``a ?? new Redis()``)."""
    node = mod.unwrap(node)
    if node.type == "binary_expression":  # globalThis.redis ?? new Redis()
        for side in ("left", "right"):
            child = node.child_by_field_name(side)
            s = client_ctor(mod, b, child) if child is not None else None
            if s is not None:
                return s
        return None
    if node.type == "call_expression":
        fn = node.child_by_field_name("function")
        if fn is not None and fn.type == "identifier" and mod.text(fn) in b.factories:
            return ClientSite("factory", mod.rel, mod.line(node))
        if fn is not None and fn.type == "member_expression":
            obj = fn.child_by_field_name("object")
            method = mod.text(fn.child_by_field_name("property")).lower()
            if obj is not None and method in DERIVE_METHODS:
                root = client_root(mod, b, obj)
                if root is not None:
                    return root
    if node.type == "identifier" and mod.text(node) in b.clients:
        return b.clients[mod.text(node)]
    return None


def _returns_client(mod: JsModule, b: JsBindings, fn: Node) -> bool:
    body = fn.child_by_field_name("body")
    if body is None:
        return False
    if body.type != "statement_block":
        return client_ctor(mod, b, body) is not None or derived_client(mod, b, body) is not None
    for n in mod.walk(body):
        if n.type == "return_statement" and n.named_children:
            val = n.named_children[0]
            if client_ctor(mod, b, val) is not None or derived_client(mod, b, val) is not None:
                return True
    return False


def _exports(mod: JsModule, b: JsBindings) -> None:
    for n in mod.root.named_children:
        if n.type == "export_statement":
            decl = n.child_by_field_name("declaration")
            value = n.child_by_field_name("value")
            if decl is not None:
                for d in mod.walk(decl):
                    if d.type == "variable_declarator" or d.type == "function_declaration":
                        nm = mod.text(d.child_by_field_name("name"))
                        b.exports[nm] = nm
            elif value is not None:
                v = mod.unwrap(value)
                if v.type == "identifier":
                    b.exports["default"] = mod.text(v)
                else:
                    site = client_ctor(mod, b, v) or derived_client(mod, b, v)
                    if site is not None:
                        b.clients["<default>"] = site
                        b.exports["default"] = "<default>"
            else:
                clause = next((c for c in n.named_children if c.type == "export_clause"), None)
                if clause is not None:
                    for spec in clause.named_children:
                        name = mod.text(spec.child_by_field_name("name"))
                        alias = spec.child_by_field_name("alias")
                        b.exports[mod.text(alias) if alias is not None else name] = name
        elif n.type == "expression_statement":
            e = n.named_children[0] if n.named_children else None
            if e is None or e.type != "assignment_expression":
                continue
            left = mod.text(e.child_by_field_name("left"))
            right = e.child_by_field_name("right")
            if right is None:
                continue
            if left == "module.exports":
                r = mod.unwrap(right)
                if r.type == "identifier":
                    b.exports["default"] = mod.text(r)
                elif r.type == "object":
                    for p in r.named_children:
                        if p.type == "shorthand_property_identifier":
                            b.exports[mod.text(p)] = mod.text(p)
                        elif p.type == "pair":
                            val = p.child_by_field_name("value")
                            if val is not None and val.type == "identifier":
                                b.exports[mod.text(p.child_by_field_name("key"))] = mod.text(val)
            elif left.startswith(("exports.", "module.exports.")):
                r = mod.unwrap(right)
                if r.type == "identifier":
                    b.exports[left.rsplit(".", 1)[1]] = mod.text(r)


def client_root(mod: JsModule, b: JsBindings, node: Node) -> ClientSite | None:
    """The client an expression evaluates to, following ``.pipeline()``/command chains."""
    node = mod.unwrap(node)
    if node.type == "identifier":
        return b.clients.get(mod.text(node))
    if node.type == "call_expression":
        fn = node.child_by_field_name("function")
        if fn is None:
            return None
        fn = mod.unwrap(fn)
        if fn.type == "identifier" and mod.text(fn) in b.factories:
            return ClientSite("factory", mod.rel, mod.line(node))
        if fn.type == "member_expression":
            method = mod.text(fn.child_by_field_name("property")).lower()
            obj = fn.child_by_field_name("object")
            if obj is None:
                return None
            if method in DERIVE_METHODS or cmdtable.command_for_method(method) is not None:
                return client_root(mod, b, obj)
        return None
    return None
