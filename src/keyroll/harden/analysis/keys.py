"""Key shapes → Redis ACL key patterns (``~cache:*``) and the least-privilege ``ACL SETUSER`` rules.

Exact keys become exact patterns (glob characters escaped), literal prefixes become
``prefix*``; patterns covered by a broader prefix are dropped. A dynamic key (nothing known)
means the keyspace cannot be narrowed: the result is ``~*`` and the caller says why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from keyroll.harden.analysis.model import KeyShape

__all__ = ["AclRules", "acl_rules", "glob_escape", "key_patterns"]

_GLOB_SPECIAL = set("*?[]\\")
_PUBSUB = frozenset({"publish", "subscribe", "psubscribe", "ssubscribe", "spublish"})


def glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so ``text`` matches itself."""
    return "".join("\\" + ch if ch in _GLOB_SPECIAL else ch for ch in text)


def key_patterns(shapes: Iterable[KeyShape]) -> tuple[str, ...] | None:
    """The minimal set of glob patterns covering ``shapes``; ``None`` when one is dynamic."""
    prefixes: set[str] = set()
    exact: set[str] = set()
    for s in shapes:
        if s.dynamic:
            return None
        (exact if s.exact else prefixes).add(s.prefix)
    kept_prefixes = sorted(p for p in prefixes if not any(q != p and p.startswith(q) for q in prefixes))
    kept_exact = sorted(k for k in exact if not any(k.startswith(p) for p in kept_prefixes))
    return tuple([glob_escape(p) + "*" for p in kept_prefixes] + [glob_escape(k) for k in kept_exact])


@dataclass(frozen=True)
class AclRules:
    """The rules of an ``ACL SETUSER`` line (without the password) and why they are what they are."""

    user: str
    key_patterns: tuple[str, ...]
    """``("cache:*",)``; ``("*",)`` when the keyspace cannot be narrowed"""
    commands: tuple[str, ...]
    narrowed_keys: bool
    read_only: bool

    def rules(self) -> list[str]:
        """Rule tokens after ``on >password``: key patterns, then ``-@all`` and ``+cmd`` each.

        No commands means "the same rights as the default user" (``&* +@all``); a category
        such as ``@read`` is granted as a category (``-@dangerous`` is then added).
        """
        out = [f"~{p}" for p in self.key_patterns]
        if not self.commands:
            return [*out, "&*", "+@all"]
        if any(c in _PUBSUB for c in self.commands):
            out.append("&*")
        out.append("-@all")
        out.extend(f"+{c}" for c in self.commands)
        if any(c.startswith("@") for c in self.commands):
            out.append("-@dangerous")
        return out

    def line(self, password_placeholder: str = "<token from ACL GENTOKEN>") -> str:
        """The exact command to show the user (a placeholder stands where the password goes)."""
        return " ".join(["ACL SETUSER", self.user, "on", f">{password_placeholder}", *self.rules()])


def acl_rules(user: str, commands: Iterable[str], shapes: Iterable[KeyShape], *, read_only: bool) -> AclRules:
    """Least-privilege rules for ``user``: exactly the commands used, on the keys used."""
    cmds = sorted({c for c in commands if c and c != "?"})
    patterns = key_patterns(shapes)
    narrowed = patterns is not None and len(patterns) > 0
    return AclRules(
        user=user,
        key_patterns=patterns if narrowed and patterns is not None else ("*",),
        commands=tuple(cmds),
        narrowed_keys=narrowed,
        read_only=read_only,
    )
