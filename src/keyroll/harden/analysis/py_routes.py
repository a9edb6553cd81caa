"""HTTP routes of FastAPI and Flask apps, and whether they are rate limited.

A route is rate limited when a decorator (``@limiter.limit("5/minute")`` — slowapi,
Flask-Limiter), a dependency (``Depends(rate_limiter)``) or its body (``ratelimit.limit(ip)``
— ``upstash-ratelimit``) limits it; a middleware (``app.add_middleware(SlowAPIMiddleware)``)
or ``Limiter(..., default_limits=[...])`` limits every route of the module.
"""

from __future__ import annotations

import ast

from keyroll.harden.analysis.model import Route, SourceAnalysis
from keyroll.harden.analysis.py_parse import PyModule, dotted
from keyroll.harden.analysis.sites import RATELIMIT_NAME

__all__ = ["collect_routes", "uses_unknown_framework"]

_APP_CTORS = {
    "fastapi.FastAPI": "fastapi",
    "fastapi.APIRouter": "fastapi",
    "fastapi.routing.APIRouter": "fastapi",
    "flask.Flask": "flask",
    "flask.Blueprint": "flask",
}
_VERBS = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "options", "route", "api_route", "websocket"}
)
_UNKNOWN = ("django", "aiohttp", "tornado", "sanic", "litestar", "quart", "bottle", "falcon", "starlette")


def uses_unknown_framework(mod: PyModule) -> bool:
    """True when the module imports a web framework the route analysis does not know."""
    names = set(mod.imports.values())
    if any(n.startswith("fastapi") or n.startswith("flask") for n in names):
        return False
    return any(n == fw or n.startswith(fw + ".") for n in names for fw in _UNKNOWN)


def _text(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:
        return ""


def _limited_by(fn: ast.FunctionDef | ast.AsyncFunctionDef, decorators: list[ast.expr]) -> str:
    for d in decorators:
        t = _text(d.func if isinstance(d, ast.Call) else d)
        if RATELIMIT_NAME.search(t):
            return f"@{t}"
        if isinstance(d, ast.Call):
            for kw in d.keywords:
                if kw.arg == "dependencies" and RATELIMIT_NAME.search(_text(kw.value)):
                    return f"dependencies={_text(kw.value)}"
    for default in [*fn.args.defaults, *(x for x in fn.args.kw_defaults if x is not None)]:
        if RATELIMIT_NAME.search(_text(default)):
            return _text(default)
    for n in ast.walk(fn):
        if isinstance(n, ast.Call):
            name = dotted(n.func)
            if name and RATELIMIT_NAME.search(name):
                return f"{name}()"
    return ""


def collect_routes(mod: PyModule, out: SourceAnalysis) -> None:
    """Routes declared in this module."""
    if not mod.mentions("fastapi", "flask"):
        return
    apps: dict[str, str] = {}
    global_limit = ""
    for node in mod.nodes:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            fw = _APP_CTORS.get(mod.qualname(node.value.func))
            if fw:
                for t in node.targets:
                    apps[dotted(t)] = fw
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if name.endswith("add_middleware") and node.args:
                arg = _text(node.args[0])
                if "SlowAPI" in arg or RATELIMIT_NAME.search(arg):
                    global_limit = f"middleware {arg}"
            if name.endswith("Limiter") and any(
                kw.arg in ("default_limits", "application_limits") for kw in node.keywords
            ):
                global_limit = global_limit or f"{name}(default_limits=…)"
    if global_limit:
        out.global_rate_limit = out.global_rate_limit or f"{mod.rel}: {global_limit}"
    qstash = any(v.startswith("qstash") and v.endswith("Receiver") for v in mod.imports.values())
    for node in mod.nodes:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for d in node.decorator_list:
            if not (isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)):
                continue
            owner, verb = dotted(d.func.value), d.func.attr
            if owner not in apps or verb not in _VERBS:
                continue
            path = d.args[0].value if d.args and isinstance(d.args[0], ast.Constant) else None
            if not isinstance(path, str):
                path = "?"
            if verb in ("route", "api_route"):
                methods_kw = next((kw.value for kw in d.keywords if kw.arg == "methods"), None)
                methods = (
                    tuple(str(e.value).upper() for e in methods_kw.elts if isinstance(e, ast.Constant))
                    if isinstance(methods_kw, (ast.List, ast.Tuple))
                    else ("GET",)
                )
            else:
                methods = (verb.upper(),)
            by = _limited_by(node, node.decorator_list) or ("qstash-signature" if qstash else "")
            by = by or global_limit
            out.routes.append(Route(mod.rel, node.lineno, apps[owner], path, methods, bool(by), by))
