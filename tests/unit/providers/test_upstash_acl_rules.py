"""keyroll creates ACL users only with the ``ACL SETUSER`` forms Upstash documents."""

from __future__ import annotations

import pytest

from keyroll.harden.analysis.keys import AclRules
from keyroll.providers.upstash.acl_rules import check_rules, rule_problem
from keyroll.rotate.strategies.redis_acl import RO_RULES, RW_RULES


@pytest.mark.parametrize(
    "rule",
    ["on", "off", "reset", "resetpass", "allkeys", "resetkeys", "~cache:*", "&*", "allchannels",
     "resetchannels", "+get", "-flushall", "+@read", "-@dangerous", "allcommands", "nocommands",
     ">AXtokenFromGentoken", "<AXtokenFromGentoken", "!" + "a" * 64],
)  # fmt: skip
def test_documented_forms_pass(rule: str) -> None:
    assert rule_problem(rule) == ""


@pytest.mark.parametrize(
    "rule, needle",
    [
        ("nopass", "nopass"),
        ("#" + "a" * 64, "hashed"),
        ("+client|list", "subcommand"),
        ("%R~cache:*", "not a rule form"),
        ("(+get ~x)", "not a rule form"),
        ("clearselectors", "not a rule form"),
        ("!ABC", "SHA-256"),
        (">", "empty"),
    ],
)
def test_refused_forms_are_named(rule: str, needle: str) -> None:
    assert needle in rule_problem(rule)


def test_every_rule_set_keyroll_sends_is_documented() -> None:
    assert check_rules(RW_RULES) == [] and check_rules(RO_RULES) == []
    assert check_rules(["reset", *RW_RULES]) == []
    for acl in (
        AclRules("svc", ("cache:*",), (), narrowed_keys=True, read_only=False),
        AclRules("svc", ("*",), ("get", "mget"), narrowed_keys=False, read_only=True),
        AclRules("svc", ("jobs:*",), ("@read", "publish"), narrowed_keys=True, read_only=False),
    ):
        assert check_rules(["on", *acl.rules()]) == [], acl
