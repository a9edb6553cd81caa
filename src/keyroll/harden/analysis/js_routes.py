"""HTTP routes of JS/TS projects and whether they are rate limited.

* Next.js Pages Router: ``pages/api/**`` (also under ``src/``).
* Next.js App Router: ``app/**/route.{js,ts}`` with exported ``GET``/``POST``/… handlers.
* ``middleware.{js,ts}``: rate limiting there covers every route its ``matcher`` covers.
* Express: ``app.get('/path', …)`` / ``router.post(…)`` on ``express()`` / ``express.Router()``;
  ``app.use(limiter)`` covers the routes registered on that app (or under its path).

A route counts as rate limited when its file calls a rate limiter (``ratelimit.limit(…)``,
``rateLimit(…)``, a ``limiter`` middleware) — and as protected when it verifies QStash
signatures (it is then called by QStash, not by the public).
"""

from __future__ import annotations

import re

from keyroll.harden.analysis.js_clients import JsBindings
from keyroll.harden.analysis.js_parse import JsModule, Node
from keyroll.harden.analysis.model import Route, SourceAnalysis
from keyroll.harden.analysis.sites import RATELIMIT_NAME

__all__ = ["collect_routes", "is_middleware", "middleware_rate_limit", "uses_unknown_framework"]

_HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
_EXPRESS_VERBS = frozenset({"get", "post", "put", "patch", "delete", "all", "options", "head"})
_UNKNOWN_SERVERS = ("fastify", "koa", "hono", "@hapi/hapi", "restify", "@nestjs/common", "h3", "elysia")
_PAGES_API = re.compile(r"^(?:src/)?pages/api/(.+)\.(?:js|jsx|ts|tsx|mjs)$")
_APP_ROUTE = re.compile(r"^(?:src/)?app/(?:(.*)/)?route\.(?:js|ts|mjs|jsx|tsx)$")
_MIDDLEWARE = re.compile(r"^(?:src/)?(?:middleware|proxy)\.(?:js|ts|mjs)$")


def _route_from_segments(path: str) -> str:
    parts = [
        p
        for p in path.split("/")
        if p and not (p.startswith("(") and p.endswith(")")) and not p.startswith("@")
    ]
    if parts and parts[-1] == "index":
        parts = parts[:-1]
    return "/" + "/".join(parts)


def _calls_rate_limiter(mod: JsModule) -> str:
    """The name of a rate-limiting call in the module, or ``""``."""
    for n in mod.walk():
        if n.type in ("call_expression", "new_expression"):
            callee = n.child_by_field_name("function") or n.child_by_field_name("constructor")
            name = mod.text(callee)
            if callee is not None and callee.type == "member_expression":
                obj = mod.text(callee.child_by_field_name("object"))
                prop = mod.text(callee.child_by_field_name("property"))
                if prop in ("limit", "blockUntilReady") and RATELIMIT_NAME.search(obj):
                    return f"{obj}.{prop}()"
                if prop == "limit" and obj.lower().endswith(("limiter", "ratelimit", "rl")):
                    return f"{obj}.{prop}()"
            elif RATELIMIT_NAME.search(name):
                return f"{name}()"
    return ""


def is_middleware(rel: str) -> bool:
    """True for a Next.js ``middleware.ts`` (or ``proxy.ts``) at the root or under ``src/``."""
    return _MIDDLEWARE.match(rel) is not None


def middleware_rate_limit(mod: JsModule) -> tuple[str, tuple[str, ...]]:
    """``(what limits, matcher prefixes)`` of a Next.js middleware; ``("", ())`` when it does not limit."""
    what = _calls_rate_limiter(mod)
    if not what:
        return "", ()
    prefixes: list[str] = []
    for n in mod.walk():
        if n.type == "pair" and mod.text(n.child_by_field_name("key")).strip("'\"") == "matcher":
            value = n.child_by_field_name("value")
            items = value.named_children if value is not None and value.type == "array" else [value]
            for it in items:
                s = mod.string_value(it) if it is not None else None
                if s is not None:
                    prefixes.append(re.split(r"[:(\[*]", s, maxsplit=1)[0])
    return f"middleware ({what})", tuple(prefixes)


def uses_unknown_framework(b: JsBindings) -> bool:
    """True when the module imports a server framework the route analysis does not know."""
    return any(
        src == fw or src.startswith(fw + "/") for src, _ in b.imports.values() for fw in _UNKNOWN_SERVERS
    )


def _exported_methods(mod: JsModule) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for n in mod.root.named_children:
        if n.type != "export_statement":
            continue
        decl = n.child_by_field_name("declaration")
        if decl is None:
            clause = next((c for c in n.named_children if c.type == "export_clause"), None)
            for spec in clause.named_children if clause is not None else []:
                alias = spec.child_by_field_name("alias") or spec.child_by_field_name("name")
                if mod.text(alias) in _HTTP_METHODS:
                    out.append((mod.text(alias), mod.line(spec)))
            continue
        for d in mod.walk(decl):
            if d.type in ("function_declaration", "variable_declarator"):
                name = mod.text(d.child_by_field_name("name"))
                if name in _HTTP_METHODS:
                    out.append((name, mod.line(d)))
    return out


def collect_routes(mod: JsModule, b: JsBindings, out: SourceAnalysis) -> None:
    """Routes declared in this module (Next.js files or Express registrations)."""
    limiter = _calls_rate_limiter(mod)
    protected = limiter or ("qstash-signature" if b.qstash_verify else "")
    m = _PAGES_API.match(mod.rel)
    if m:
        out.routes.append(
            Route(
                mod.rel,
                1,
                "next-pages",
                ("/api" + _route_from_segments(m.group(1))).rstrip("/"),
                (),
                bool(protected),
                protected,
            )
        )
        return
    m = _APP_ROUTE.match(mod.rel)
    if m:
        methods = _exported_methods(mod)
        line = methods[0][1] if methods else 1
        route = _route_from_segments(m.group(1) or "")
        out.routes.append(
            Route(mod.rel, line, "next-app", route, tuple(x for x, _ in methods), bool(protected), protected)
        )
        return
    _express(mod, b, out)


def _express(mod: JsModule, b: JsBindings, out: SourceAnalysis) -> None:
    express_names = {local for local, (src, _) in b.imports.items() if src == "express"}
    if not express_names:
        return
    apps: set[str] = set()
    for n in mod.walk():
        if n.type == "variable_declarator":
            value = n.child_by_field_name("value")
            fn = (
                value.child_by_field_name("function")
                if value is not None and value.type == "call_expression"
                else None
            )
            callee = mod.text(fn)
            if callee.split(".", 1)[0] in express_names or callee == "Router":
                apps.add(mod.text(n.child_by_field_name("name")))
    # app.use(limiter) / app.use('/api', limiter): limits routes under that prefix
    global_limits: list[tuple[str, str]] = []
    registrations: list[tuple[Node, str, str, list[Node]]] = []
    for n in mod.walk():
        if n.type != "call_expression":
            continue
        fn = n.child_by_field_name("function")
        if fn is None or fn.type != "member_expression":
            continue
        obj = mod.text(fn.child_by_field_name("object"))
        verb = mod.text(fn.child_by_field_name("property"))
        if obj not in apps:
            continue
        args = mod.args(n)
        if verb == "use":
            prefix = mod.string_value(args[0]) if args else None
            handlers = args[1:] if prefix is not None else args
            for h in handlers:
                if RATELIMIT_NAME.search(mod.text(h)):
                    global_limits.append((prefix or "/", mod.text(h)))
        elif verb in _EXPRESS_VERBS and args:
            route = mod.string_value(args[0])
            if route is not None:
                registrations.append((n, verb.upper(), route, args[1:]))
    for call, verb, route, handlers in registrations:
        by = next((mod.text(h) for h in handlers if RATELIMIT_NAME.search(mod.text(h))), "")
        if not by:
            by = next((what for prefix, what in global_limits if route.startswith(prefix)), "")
        out.routes.append(Route(mod.rel, mod.line(call), "express", route, (verb,), bool(by), by))
