"""keyroll's wording of the ``ACL SETUSER`` rule forms Upstash refuses (the forms themselves:
:mod:`keyroll.core.acl_rules`). keyroll sends nothing else (:func:`rule_problem` is checked before
every ``SETUSER`` it makes).
"""

from __future__ import annotations

from collections.abc import Iterable

from keyroll.core.acl_rules import WORDS, RuleProblem, rule_form

__all__ = ["WORDS", "check_rules", "rule_problem"]


def rule_problem(rule: str) -> str:
    """Why Upstash would refuse ``rule`` (``""`` when it is a documented form)."""
    problem = rule_form(rule)
    if problem is None:
        return ""
    return {
        RuleProblem.NOPASS: "nopass is refused by Upstash (every user needs a GENTOKEN password)",
        RuleProblem.HASHED: "hashed passwords (#…) are refused by Upstash",
        RuleProblem.EMPTY_PASSWORD: "an empty password rule",
        RuleProblem.BAD_HASH: "!hash needs a 64-character lowercase SHA-256 hash",
        RuleProblem.EMPTY_PATTERN: f"empty pattern rule {rule!r}",
        RuleProblem.SUBCOMMAND: f"subcommand rules such as {rule!r} are refused by Upstash",
        RuleProblem.INCOMPLETE: f"incomplete rule {rule!r}",
        RuleProblem.UNDOCUMENTED: f"{rule!r} is not a rule form Upstash documents for ACL SETUSER",
    }[problem]


def check_rules(rules: Iterable[str]) -> list[str]:
    """The problems of a rule list (empty: every rule is a documented form)."""
    return [p for p in (rule_problem(r) for r in rules) if p]
