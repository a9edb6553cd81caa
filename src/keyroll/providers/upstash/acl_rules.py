"""The ``ACL SETUSER`` rule forms Upstash documents (``redis/commands/server/acl-setuser.mdx``).

Upstash accepts: ``on``/``off``; ``>token`` where the token comes from ``ACL GENTOKEN`` (plain
passwords are refused); ``<token``; ``!<sha256>``; ``resetpass``; ``~pattern``, ``allkeys``,
``resetkeys``; ``&pattern``, ``allchannels``, ``resetchannels``; ``+cmd``/``-cmd``;
``+@cat``/``-@cat``; ``allcommands``/``nocommands``; ``reset``. It refuses ``nopass``, ``#hash``
and subcommand rules (``+client|list``); selectors and ``%R~`` key permissions are not documented.
keyroll sends nothing else (:func:`rule_problem` is checked before every ``SETUSER`` it makes).
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["WORDS", "check_rules", "rule_problem"]

WORDS = frozenset(
    {
        "on",
        "off",
        "resetpass",
        "allkeys",
        "resetkeys",
        "allchannels",
        "resetchannels",
        "allcommands",
        "nocommands",
        "reset",
    }
)
"""the documented single-word rules"""


def rule_problem(rule: str) -> str:
    """Why Upstash would refuse ``rule`` (``""`` when it is a documented form). Password rules
    (``>``/``<``) are checked for shape only: a ``>`` password must come from ``ACL GENTOKEN``."""
    low = rule.lower()
    if low in WORDS:
        return ""
    if low == "nopass":
        return "nopass is refused by Upstash (every user needs a GENTOKEN password)"
    if rule.startswith("#"):
        return "hashed passwords (#…) are refused by Upstash"
    if rule.startswith((">", "<")):
        return "" if len(rule) > 1 else "an empty password rule"
    if rule.startswith("!"):
        body = rule[1:]
        ok = len(body) == 64 and all(c in "0123456789abcdef" for c in body)
        return "" if ok else "!hash needs a 64-character lowercase SHA-256 hash"
    if rule.startswith(("~", "&")):
        return "" if len(rule) > 1 else f"empty pattern rule {rule!r}"
    if rule[:1] in "+-":
        if "|" in rule:
            return f"subcommand rules such as {rule!r} are refused by Upstash"
        return "" if rule not in ("+", "-", "+@", "-@") else f"incomplete rule {rule!r}"
    return f"{rule!r} is not a rule form Upstash documents for ACL SETUSER"


def check_rules(rules: Iterable[str]) -> list[str]:
    """The problems of a rule list (empty: every rule is a documented form)."""
    return [p for p in (rule_problem(r) for r in rules) if p]
