"""Parsing Python with :mod:`ast`, and evaluating key expressions to :class:`KeyShape`."""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field

from keyroll.harden.analysis.model import DYNAMIC, KeyShape
from keyroll.harden.analysis.sites import Arg, concat

__all__ = ["PyModule", "dotted", "parse_py"]


def dotted(node: ast.AST | None) -> str:
    """``a.b.c`` for Name/Attribute chains (calls in between become ``a.b().c``); ``""`` otherwise."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    if isinstance(node, ast.Call):
        base = dotted(node.func)
        return f"{base}()" if base else ""
    return ""


@dataclass
class PyModule:
    """A parsed Python file with the lookups the analysers need."""

    rel: str
    tree: ast.Module
    consts: dict[str, ast.expr] = field(default_factory=dict)
    """name → value of a name assigned exactly once in the file"""
    imports: dict[str, str] = field(default_factory=dict)
    """local name → fully qualified imported name (``Redis`` → ``upstash_redis.Redis``)"""
    nodes: list[ast.AST] = field(default_factory=list)
    """every node, walked once"""
    names: frozenset[str] = frozenset()
    """every identifier used in the file"""

    def mentions(self, *modules: str) -> bool:
        """True when the file imports from one of these top-level modules."""
        return any(q.split(".", 1)[0] in modules for q in self.imports.values())

    def qualname(self, node: ast.AST | None) -> str:
        """The dotted name with its first part replaced by what it was imported as."""
        name = dotted(node)
        if not name:
            return ""
        head, _, rest = name.partition(".")
        full = self.imports.get(head, head)
        return f"{full}.{rest}" if rest else full

    def shape(self, node: ast.AST | None, depth: int = 0) -> KeyShape:
        """What the code tells about the key this expression evaluates to."""
        if node is None or depth > 6:
            return DYNAMIC
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (str, int)) and not isinstance(node.value, bool):
                return KeyShape(str(node.value), exact=True)
            if isinstance(node.value, bytes):
                return KeyShape(node.value.decode("utf-8", "replace"), exact=True)
            return DYNAMIC
        if isinstance(node, ast.JoinedStr):
            acc = KeyShape("", exact=True)
            for part in node.values:
                if isinstance(part, ast.Constant):
                    piece = KeyShape(str(part.value), exact=True)
                elif (
                    isinstance(part, ast.FormattedValue)
                    and part.format_spec is None
                    and part.conversion == -1
                ):
                    piece = self.shape(part.value, depth + 1)
                else:
                    piece = DYNAMIC
                acc = concat(acc, piece)
                if not acc.exact:
                    break
            return acc
        if isinstance(node, ast.BinOp):
            left = self.shape(node.left, depth + 1)
            if isinstance(node.op, ast.Add):
                return concat(left, self.shape(node.right, depth + 1)) if left.exact else left
            if isinstance(node.op, ast.Mod) and left.exact:
                return KeyShape(left.prefix.split("%", 1)[0]) if "%" in left.prefix else left
            return DYNAMIC
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
            base = self.shape(node.func.value, depth + 1)
            if base.exact and "{" in base.prefix:
                return KeyShape(base.prefix.split("{", 1)[0])
            return base
        if isinstance(node, ast.Name):
            init = self.consts.get(node.id)
            return self.shape(init, depth + 1) if init is not None else DYNAMIC
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            init = self.consts.get(node.value.id)
            if isinstance(init, ast.Dict):
                key = node.slice
                for k, v in zip(init.keys, init.values, strict=False):
                    if isinstance(k, ast.Constant) and isinstance(key, ast.Constant) and k.value == key.value:
                        return self.shape(v, depth + 1)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            # class constants: Keys.CACHE = "cache:"
            init = self.consts.get(f"{node.value.id}.{node.attr}")
            if init is not None:
                return self.shape(init, depth + 1)
        return DYNAMIC

    def arg(self, node: ast.expr) -> Arg:
        """A call argument as the key logic sees it."""
        if isinstance(node, ast.Starred):
            return Arg(kind="spread")
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            return Arg(kind="array", elements=[self.arg(e) for e in node.elts])
        if isinstance(node, ast.Dict):
            return Arg(
                kind="object", object_keys=[self.shape(k) if k is not None else DYNAMIC for k in node.keys]
            )
        if isinstance(node, ast.Name):
            init = self.consts.get(node.id)
            if isinstance(init, (ast.List, ast.Tuple, ast.Dict, ast.Set)):
                return self.arg(init)
        is_number = isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
        return Arg(shape=self.shape(node), is_number=is_number)


def parse_py(text: str, rel: str) -> PyModule | None:
    """Parse a Python file; ``None`` on a syntax error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text, filename=rel)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    mod = PyModule(rel=rel, tree=tree)
    counts: dict[str, int] = {}
    values: dict[str, ast.expr] = {}
    mod.nodes = list(ast.walk(tree))
    mod.names = frozenset(n.id for n in mod.nodes if isinstance(n, ast.Name))
    for node in mod.nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".", 1)[0]
                mod.imports[local] = alias.name if alias.asname else alias.name.split(".", 1)[0]
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            for alias in node.names:
                mod.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                mod.imports.setdefault(
                    alias.asname or alias.name, f"{'.' * node.level}{node.module or ''}.{alias.name}"
                )
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                name = dotted(t) if isinstance(t, (ast.Name, ast.Attribute)) else ""
                if name:
                    counts[name] = counts.get(name, 0) + 1
                    if node.value is not None:
                        values[name] = node.value
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.Assign)
                    and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)
                ):
                    key = f"{node.name}.{stmt.targets[0].id}"
                    counts[key] = counts.get(key, 0) + 1
                    values[key] = stmt.value
    mod.consts = {k: v for k, v in values.items() if counts.get(k) == 1}
    return mod
