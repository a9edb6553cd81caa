"""The layers of ``docs/architecture.md``, checked on the import graph of ``src/keyroll``.

Every ``import`` of a keyroll module — at module level or inside a function — must point to the
same layer or a lower one::

    cli, demo → app → report → verify, audit, harden, preflight → rotate, inventory, scan
      → providers, journal, adapters → config → core

``core`` imports nothing of keyroll; ``sandbox`` imports nothing of keyroll but ``core``. A module may
have a layer of its own (:data:`MODULE_LAYERS`: the adapter contracts sit just above core).

Imports that break a rule today are listed in :data:`KNOWN` with the reason; the test fails on any
new one *and* on a listed one that is gone (so the list only shrinks). Moving a module to another
layer means changing :data:`LAYERS` and ``docs/architecture.md`` together.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# top-level package (or module) of keyroll → its layer; higher may import lower, never the reverse
LAYERS: dict[str, int] = {
    "core": 0,
    "config": 1,
    "policy": 1,
    "providers": 2,
    "journal": 2,
    "adapters": 2,
    "rotate": 3,
    "inventory": 3,
    "scan": 3,
    "verify": 4,
    "audit": 4,
    "harden": 4,
    "preflight": 4,
    "doctor": 4,
    "report": 5,
    "app": 6,
    "cli": 7,
    "demo": 7,
    "__main__": 8,
}
# modules whose layer differs from their package's: the adapter interface and registry are plain
# contracts above core (config reads the adapters' setting names), the built-in Upstash adapter wraps
# the inventory's classifier and verify's probes (it is loaded by name through the registry)
MODULE_LAYERS: dict[str, int] = {
    "adapters.interface": 1,
    "adapters.registry": 1,
    "adapters.upstash": 4,
}
ISOLATED = {"sandbox": {"core"}}  # packages that may import only these (and themselves)
ROOT = "keyroll"  # ``keyroll/__init__`` holds the version only: any layer may import it

# (importing module, imported module): why it is still here
KNOWN: dict[tuple[str, str], str] = {
    ("keyroll.policy", "keyroll.rotate.groups"): "default_strategy: to read core.strategy directly",
    ("keyroll.policy", "keyroll.rotate.options"): "ApplyOptions built from settings: belongs above rotate",
    **{
        ("keyroll.sandbox.demo", f"keyroll.{m}"): "the demo is an application filed in the emulator"
        for m in (
            "audit.run",
            "config",
            "harden.latest",
            "inventory",
            "journal.keys",
            "journal.read",
            "journal.store",
            "providers.factory",
            "report.build",
            "report.hardening",
            "report.html",
            "report.json",
            "rotate.engine",
            "rotate.options",
            "rotate.planner",
            "verify.result",
            "verify.run",
        )
    },
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            out.add(module)
            out.update(f"{module}.{a.name}" for a in node.names)  # ``from pkg import module``
    return {m for m in out if m == ROOT or m.startswith(ROOT + ".")}


def _existing(module: str, known: set[str]) -> str:
    """The longest prefix of ``module`` that is a module (``from x import name`` adds x.name)."""
    while module not in known and "." in module:
        module = module.rpartition(".")[0]
    return module


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def graph() -> dict[tuple[str, str], None]:
    files = sorted((SRC / ROOT).rglob("*.py"))
    modules = {_module_name(p) for p in files}
    edges: dict[tuple[str, str], None] = {}
    for path in files:
        src = _module_name(path)
        for imported in _imports(path):
            dst = _existing(imported, modules)
            if dst in modules and _top(src) != _top(dst):
                edges[(src, dst)] = None
    return edges


def _layer(module: str) -> int | None:
    """The layer of a module: its own entry in :data:`MODULE_LAYERS`, else its package's."""
    rel = module.partition(".")[2]
    while rel:
        if rel in MODULE_LAYERS:
            return MODULE_LAYERS[rel]
        rel = rel.rpartition(".")[0]
    return LAYERS.get(_top(module))


def violations() -> set[tuple[str, str]]:
    bad: set[tuple[str, str]] = set()
    for src, dst in graph():
        a, b = _top(src), _top(dst)
        if b == ROOT:
            continue
        if a in ISOLATED:
            if b not in ISOLATED[a]:
                bad.add((src, dst))
            continue
        if b in ISOLATED:
            if a not in ("cli", "demo", "__main__"):
                bad.add((src, dst))
            continue
        la, lb = _layer(src), _layer(dst)
        if la is None or lb is None:
            bad.add((src, dst))  # a new top-level package: give it a layer
            continue
        if lb > la:
            bad.add((src, dst))
    return bad


def test_every_top_level_package_has_a_layer() -> None:
    tops = {_top(_module_name(p)) for p in (SRC / ROOT).rglob("*.py")} - {ROOT}
    assert tops <= set(LAYERS) | set(ISOLATED), sorted(tops - set(LAYERS) - set(ISOLATED))


def test_core_imports_nothing_of_keyroll() -> None:
    assert not [(s, d) for s, d in graph() if _top(s) == "core" and _top(d) != ROOT]


def test_imports_point_down_the_layers() -> None:
    found = violations()
    new = sorted(found - set(KNOWN))
    gone = sorted(set(KNOWN) - found)
    assert not new, (
        "imports against the layers (move the code, or the module to another layer):\n"
        + "\n".join(f"  {s} -> {d}" for s, d in new)
    )
    assert not gone, "fixed — remove from KNOWN:\n" + "\n".join(f"  {s} -> {d}" for s, d in gone)


def test_the_checker_sees_function_level_and_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "keyroll" / "x"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from keyroll.cli.main import run\n    from . import b\n")
    global SRC
    saved, SRC = SRC, tmp_path
    try:
        assert _imports(pkg / "a.py") >= {"keyroll.cli.main", "keyroll.x", "keyroll.x.b"}
    finally:
        SRC = saved
