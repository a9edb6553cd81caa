"""Analyse a project's source roots: two passes over every JS/TS and Python file.

Pass 1 parses each file and finds client bindings and exports; imports of project modules
that export a client are then linked; pass 2 records calls and routes. Files that cannot be
analysed are counted by reason, and remembered when they mention Redis (the analysis is then
incomplete, and "read-only suffices" is not concluded).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from keyroll.harden.analysis import js_clients, js_redis, js_routes, py_redis, py_routes
from keyroll.harden.analysis.js_parse import JsModule, parse_js
from keyroll.harden.analysis.model import SkipReason, SourceAnalysis
from keyroll.harden.analysis.py_parse import PyModule, parse_py
from keyroll.harden.analysis.walk import is_minified, iter_source_files, read_text

__all__ = ["analyze_sources"]

_REDIS_HINT = re.compile(r"redis|upstash|@vercel/kv|ioredis", re.IGNORECASE)


def analyze_sources(roots: Sequence[Path]) -> SourceAnalysis:
    """Analyse every source file under ``roots`` (one project); never raises on bad files."""
    result = SourceAnalysis(root=", ".join(str(r) for r in roots))
    for root in roots:
        result.merge(_analyze_root(Path(root)))
    result.root = ", ".join(str(r) for r in roots)
    return result


def _skip(out: SourceAnalysis, reason: SkipReason, rel: str, text: str | None) -> None:
    out.skipped[reason.value] += 1
    if text is not None and _REDIS_HINT.search(text):
        out.skipped_with_redis_hints.append(f"{rel} ({reason.value})")


def _analyze_root(root: Path) -> SourceAnalysis:
    out = SourceAnalysis(root=str(root))
    js_mods: dict[str, JsModule] = {}
    py_mods: dict[str, PyModule] = {}
    for f in iter_source_files(root):
        text, reason = read_text(f.path)
        if text is None:
            _skip(out, reason or SkipReason.UNREADABLE, f.rel, None)
            continue
        if is_minified(text, f.path.name):
            _skip(out, SkipReason.MINIFIED, f.rel, text)
            continue
        try:
            mod: JsModule | PyModule | None = (
                parse_js(text, f.rel) if f.language == "js" else parse_py(text, f.rel)
            )
        except (RecursionError, MemoryError, ValueError):
            mod = None
        if mod is None:
            _skip(out, SkipReason.UNPARSEABLE, f.rel, text)
            continue
        out.files_scanned += 1
        out.languages[f.language] += 1
        if isinstance(mod, JsModule):
            js_mods[f.rel] = mod
        else:
            py_mods[f.rel] = mod
    _analyze_js(js_mods, out)
    _analyze_py(py_mods, out)
    return out


def _analyze_js(mods: dict[str, JsModule], out: SourceAnalysis) -> None:
    bindings = {rel: js_clients.collect_bindings(m) for rel, m in mods.items()}
    known = set(mods)
    exported_clients: set[str] = set()
    exported_factories: set[str] = set()
    for b in bindings.values():
        for exp, local in b.exports.items():
            if exp != "default" and local in b.clients:
                exported_clients.add(exp)
            if exp != "default" and local in b.factories:
                exported_factories.add(exp)
    for _ in range(3):  # re-exports through barrels need a few rounds
        changed = False
        for rel, b in bindings.items():
            for local, (spec, name) in b.imports.items():
                if local in b.clients or local in b.factories:
                    continue
                target = js_clients.resolve_module(rel, spec, known)
                if target is not None:
                    tb = bindings[target]
                    src_local = tb.exports.get(name, name if name != "default" else "")
                    if src_local in tb.clients:
                        b.clients[local] = tb.clients[src_local]
                        changed = True
                    elif src_local in tb.factories:
                        b.factories.add(local)
                        changed = True
                elif not spec.startswith((".", "@/", "~/")) and js_clients.lib_of(spec) is None:
                    # tsconfig path aliases we cannot resolve: fall back to the exported name
                    if name in exported_clients:
                        b.clients[local] = js_clients.ClientSite("import", rel, 1)
                        changed = True
                    elif name in exported_factories:
                        b.factories.add(local)
                        changed = True
            for exp, local in b.exports.items():
                if local in b.clients and exp != "default" and exp not in exported_clients:
                    exported_clients.add(exp)
                    changed = True
        if not changed:
            break
    # derived clients from imported ones (const p = redis.pipeline())
    for rel, mod in mods.items():
        b = bindings[rel]
        if b.clients or b.factories:
            js_clients.derive(mod, b)
    middleware_limits: list[tuple[str, tuple[str, ...]]] = []
    for rel, mod in mods.items():
        b = bindings[rel]
        js_redis.collect_calls(mod, b, out)
        if js_routes.is_middleware(rel):
            what, prefixes = js_routes.middleware_rate_limit(mod)
            if what:
                middleware_limits.append((f"{rel} {what}", prefixes))
            continue
        before = len(out.routes)
        js_routes.collect_routes(mod, b, out)
        if len(out.routes) == before and js_routes.uses_unknown_framework(b):
            out.skipped[SkipReason.UNKNOWN_FRAMEWORK.value] += 1
    if middleware_limits:
        _apply_middleware(out, middleware_limits)


def _apply_middleware(out: SourceAnalysis, limits: list[tuple[str, tuple[str, ...]]]) -> None:
    from dataclasses import replace

    for what, prefixes in limits:
        if not prefixes or any(p in ("", "/") for p in prefixes):
            out.global_rate_limit = out.global_rate_limit or what
    for i, r in enumerate(out.routes):
        if r.rate_limited or r.framework not in ("next-pages", "next-app"):
            continue
        for what, prefixes in limits:
            if not prefixes or any(r.route.startswith(p.rstrip("/") or "/") for p in prefixes):
                out.routes[i] = replace(r, rate_limited=True, protected_by=what)
                break


def _analyze_py(mods: dict[str, PyModule], out: SourceAnalysis) -> None:
    first = {rel: py_redis.collect_bindings(m) for rel, m in mods.items()}
    exported = {name for b in first.values() for name in b.module_level}
    factories = {f for b in first.values() for f in b.factories}
    for rel, mod in mods.items():
        seed = {
            local: py_redis.ClientSite("import", rel, 1)
            for local, qual in mod.imports.items()
            if qual.rsplit(".", 1)[-1] in exported and not qual.startswith(("redis", "upstash"))
        }
        b = py_redis.collect_bindings(mod, factories, seed)
        py_redis.collect_calls(mod, b, out)
        before = len(out.routes)
        py_routes.collect_routes(mod, out)
        if len(out.routes) == before and py_routes.uses_unknown_framework(mod):
            out.skipped[SkipReason.UNKNOWN_FRAMEWORK.value] += 1
