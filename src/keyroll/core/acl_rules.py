"""The ``ACL SETUSER`` rule forms Upstash documents (``redis/commands/server/acl-setuser.mdx``):
one classification that keyroll (before every ``SETUSER`` it sends) and the sandbox (which refuses
what Upstash refuses) both read, each wording the refusal its own way.

Upstash accepts: ``on``/``off``; ``>token`` where the token comes from ``ACL GENTOKEN`` (plain
passwords are refused); ``<token``; ``!<sha256>``; ``resetpass``; ``~pattern``, ``allkeys``,
``resetkeys``; ``&pattern``, ``allchannels``, ``resetchannels``; ``+cmd``/``-cmd``;
``+@cat``/``-@cat``; ``allcommands``/``nocommands``; ``reset``. It refuses ``nopass``, ``#hash``
and subcommand rules (``+client|list``); selectors and ``%R~`` key permissions are not documented.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["WORDS", "RuleProblem", "rule_form"]

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


class RuleProblem(StrEnum):
    """Why Upstash refuses a rule."""

    NOPASS = "nopass"
    HASHED = "hashed"
    EMPTY_PASSWORD = "empty_password"
    BAD_HASH = "bad_hash"
    EMPTY_PATTERN = "empty_pattern"
    SUBCOMMAND = "subcommand"
    INCOMPLETE = "incomplete"
    UNDOCUMENTED = "undocumented"


def rule_form(rule: str) -> RuleProblem | None:
    """``None`` when ``rule`` is a documented form, else why Upstash refuses it. Password rules
    (``>``/``<``) are checked for shape only: a ``>`` password must come from ``ACL GENTOKEN``."""
    low = rule.lower()
    if low in WORDS:
        return None
    if low == "nopass":
        return RuleProblem.NOPASS
    if rule.startswith("#"):
        return RuleProblem.HASHED
    if rule.startswith((">", "<")):
        return None if len(rule) > 1 else RuleProblem.EMPTY_PASSWORD
    if rule.startswith("!"):
        body = rule[1:]
        ok = len(body) == 64 and all(c in "0123456789abcdef" for c in body)
        return None if ok else RuleProblem.BAD_HASH
    if rule.startswith(("~", "&")):
        return None if len(rule) > 1 else RuleProblem.EMPTY_PATTERN
    if rule[:1] in "+-":
        if "|" in rule:
            return RuleProblem.SUBCOMMAND
        return None if rule not in ("+", "-", "+@", "-@") else RuleProblem.INCOMPLETE
    # selectors "(…)", "clearselectors", "%R~…" key permissions and anything else: undocumented
    return RuleProblem.UNDOCUMENTED
