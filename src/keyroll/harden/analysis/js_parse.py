"""Parsing JS/TS with tree-sitter, and evaluating key expressions to :class:`KeyShape`.

The grammar is chosen by extension (TypeScript, TSX, or JavaScript with JSX). A tree with
syntax errors counts as unparseable: the file is skipped rather than half-understood, so a
conclusion such as "only reads" is never drawn from a partial parse.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

import tree_sitter
import tree_sitter_javascript
import tree_sitter_typescript

from keyroll.harden.analysis.model import DYNAMIC, KeyShape
from keyroll.harden.analysis.sites import Arg, concat

__all__ = ["JsModule", "Node", "parse_js"]

Node = tree_sitter.Node


@cache
def _parser(kind: str) -> tree_sitter.Parser:
    if kind == "ts":
        lang = tree_sitter.Language(tree_sitter_typescript.language_typescript())
    elif kind == "tsx":
        lang = tree_sitter.Language(tree_sitter_typescript.language_tsx())
    else:
        lang = tree_sitter.Language(tree_sitter_javascript.language())
    return tree_sitter.Parser(lang)


def _kind_for(rel: str) -> str:
    lower = rel.lower()
    if lower.endswith((".ts", ".mts", ".cts")):
        return "ts"
    if lower.endswith(".tsx"):
        return "tsx"
    return "js"


@dataclass
class JsModule:
    """A parsed JS/TS file with the lookups the analysers need."""

    rel: str
    source: bytes
    root: Node
    consts: dict[str, Node] = field(default_factory=dict)
    """name → initializer of ``const/let/var name = …`` declared once in the file"""
    nodes: list[Node] = field(default_factory=list)
    """every node of the file, walked once"""

    def text(self, node: Node | None) -> str:
        """Source text of a node."""
        if node is None:
            return ""
        return self.source[node.start_byte : node.end_byte].decode("utf-8", errors="replace")

    def line(self, node: Node) -> int:
        """1-based line of a node."""
        return node.start_point[0] + 1

    def walk(self, node: Node | None = None) -> Iterator[Node]:
        """Every node under ``node`` (pre-order, iterative); the whole file comes from a cache."""
        if node is None and self.nodes:
            yield from self.nodes
            return
        stack = [node or self.root]
        while stack:
            n = stack.pop()
            yield n
            stack.extend(reversed(n.children))

    # -- values ------------------------------------------------------------------------
    def string_value(self, node: Node | None) -> str | None:
        """The value of a string literal (or a template without substitutions)."""
        if node is None:
            return None
        if node.type == "string":
            parts = []
            for ch in node.named_children:
                if ch.type == "string_fragment":
                    parts.append(self.text(ch))
                elif ch.type == "escape_sequence":
                    parts.append(_unescape(self.text(ch)))
            return "".join(parts)
        if node.type == "template_string" and not any(
            c.type == "template_substitution" for c in node.named_children
        ):
            return "".join(self.text(c) for c in node.named_children if c.type == "string_fragment")
        return None

    def unwrap(self, node: Node) -> Node:
        """Strip parentheses and TypeScript-only wrappers (``as``, ``!``, ``satisfies``)."""
        while node.type in (
            "parenthesized_expression",
            "as_expression",
            "non_null_expression",
            "satisfies_expression",
            "type_assertion",
            "await_expression",
        ):
            inner = node.named_children[0] if node.named_children else None
            if inner is None:
                break
            node = inner
        return node

    def shape(self, node: Node | None, depth: int = 0) -> KeyShape:
        """What the code tells about the key this expression evaluates to."""
        if node is None or depth > 6:
            return DYNAMIC
        node = self.unwrap(node)
        t = node.type
        if t == "string":
            return KeyShape(self.string_value(node) or "", exact=True)
        if t == "template_string":
            acc = KeyShape("", exact=True)
            for ch in node.named_children:
                if ch.type == "string_fragment":
                    part = KeyShape(self.text(ch), exact=True)
                elif ch.type == "escape_sequence":
                    part = KeyShape(_unescape(self.text(ch)), exact=True)
                elif ch.type == "template_substitution":
                    inner = ch.named_children[0] if ch.named_children else None
                    part = self.shape(inner, depth + 1)
                else:
                    continue
                acc = concat(acc, part)
                if not acc.exact:
                    break
            return acc
        if t == "binary_expression" and self.text(node.child_by_field_name("operator")) == "+":
            left = self.shape(node.child_by_field_name("left"), depth + 1)
            if not left.exact:
                return left
            return concat(left, self.shape(node.child_by_field_name("right"), depth + 1))
        if t == "identifier":
            init = self.consts.get(self.text(node))
            return self.shape(init, depth + 1) if init is not None else DYNAMIC
        if t == "member_expression":
            obj = node.child_by_field_name("object")
            prop = self.text(node.child_by_field_name("property"))
            if obj is not None and obj.type == "identifier":
                init = self.consts.get(self.text(obj))
                if init is not None:
                    init = self.unwrap(init)
                    if init.type == "object":
                        return self.shape(self._property(init, prop), depth + 1)
            return DYNAMIC
        if t == "number":
            return KeyShape(self.text(node), exact=True)
        return DYNAMIC

    def _property(self, obj: Node, name: str) -> Node | None:
        for pair in obj.named_children:
            if pair.type == "pair":
                key = pair.child_by_field_name("key")
                k = self.string_value(key) if key is not None and key.type == "string" else self.text(key)
                if k == name:
                    return pair.child_by_field_name("value")
        return None

    def arg(self, node: Node) -> Arg:
        """A call argument as the key logic sees it."""
        node = self.unwrap(node)
        if node.type == "spread_element":
            return Arg(kind="spread")
        if node.type == "array":
            return Arg(
                kind="array", elements=[self.arg(c) for c in node.named_children if c.type != "comment"]
            )
        if node.type == "object":
            keys = []
            for pair in node.named_children:
                if pair.type == "pair":
                    key = pair.child_by_field_name("key")
                    if key is not None and key.type in ("property_identifier", "string", "number"):
                        v = self.string_value(key) if key.type == "string" else self.text(key)
                        keys.append(KeyShape(v or "", exact=True))
                    elif key is not None and key.type == "computed_property_name":
                        inner = key.named_children[0] if key.named_children else None
                        keys.append(self.shape(inner))
                elif pair.type == "shorthand_property_identifier":
                    keys.append(KeyShape(self.text(pair), exact=True))
                else:
                    keys.append(DYNAMIC)
            return Arg(kind="object", object_keys=keys)
        if node.type == "identifier":
            init = self.consts.get(self.text(node))
            if init is not None and self.unwrap(init).type in ("array", "object"):
                return self.arg(init)
        return Arg(shape=self.shape(node), is_number=node.type == "number")

    def args(self, call: Node) -> list[Node]:
        """The argument nodes of a call/new expression."""
        a = call.child_by_field_name("arguments")
        if a is None:
            return []
        if a.type == "template_string":  # tagged template
            return [a]
        return [c for c in a.named_children if c.type != "comment"]


def _unescape(seq: str) -> str:
    simple = {"\\n": "\n", "\\t": "\t", "\\'": "'", '\\"': '"', "\\\\": "\\", "\\`": "`", "\\$": "$"}
    return simple.get(seq, seq[1:] if seq.startswith("\\") else seq)


def parse_js(text: str, rel: str) -> JsModule | None:
    """Parse a JS/TS file; ``None`` when the grammar reports syntax errors."""
    source = text.encode("utf-8", errors="replace")
    tree = _parser(_kind_for(rel)).parse(source)
    root = tree.root_node
    if root.has_error:
        return None
    mod = JsModule(rel=rel, source=source, root=root)
    counts: dict[str, int] = {}
    inits: dict[str, Node] = {}
    mod.nodes = list(mod.walk())
    for n in mod.nodes:
        if n.type == "variable_declarator":
            name = n.child_by_field_name("name")
            value = n.child_by_field_name("value")
            if name is not None and name.type == "identifier":
                key = mod.text(name)
                counts[key] = counts.get(key, 0) + 1
                if value is not None:
                    inits[key] = value
        elif n.type == "assignment_expression":
            left = n.child_by_field_name("left")
            if left is not None and left.type == "identifier":
                key = mod.text(left)
                counts[key] = counts.get(key, 0) + 1
                right = n.child_by_field_name("right")
                if right is not None:
                    inits.setdefault(key, right)
    mod.consts = {k: v for k, v in inits.items() if counts.get(k) == 1}
    return mod
