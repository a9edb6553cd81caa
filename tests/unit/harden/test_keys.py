"""Key shapes → ACL key patterns, ACL SETUSER rules, and the command table."""

from __future__ import annotations

import pytest

from keyroll.harden.analysis import commands as cmdtable
from keyroll.harden.analysis.keys import acl_rules, glob_escape, key_patterns
from keyroll.harden.analysis.model import DYNAMIC, KeyShape
from keyroll.harden.analysis.sites import Arg, keys_of_call


@pytest.mark.parametrize(
    ("shapes", "expected"),
    [
        ([KeyShape("cache:")], ("cache:*",)),
        ([KeyShape("cache:"), KeyShape("cache:user:"), KeyShape("cache:x", exact=True)], ("cache:*",)),
        ([KeyShape("a:"), KeyShape("config", exact=True)], ("a:*", "config")),
        ([KeyShape("weird[1]*", exact=True)], ("weird\\[1\\]\\*",)),
        ([KeyShape("cache:"), DYNAMIC], None),
        ([], ()),
    ],
)
def test_key_patterns(shapes: list[KeyShape], expected: tuple[str, ...] | None) -> None:
    assert key_patterns(shapes) == expected


def test_glob_escape_round_trip() -> None:
    assert glob_escape("a?b") == "a\\?b"


def test_acl_rules_least_privilege_line() -> None:
    rules = acl_rules(
        "svc-web-ro", ["get", "mget"], [KeyShape("cache:"), KeyShape("config", exact=True)], read_only=True
    )
    assert rules.narrowed_keys
    assert (
        rules.line()
        == "ACL SETUSER svc-web-ro on ><token from ACL GENTOKEN> ~cache:* ~config -@all +get +mget"
    )


def test_acl_rules_cannot_narrow_dynamic_keys() -> None:
    rules = acl_rules("svc-api", ["set"], [DYNAMIC], read_only=False)
    assert not rules.narrowed_keys and rules.key_patterns == ("*",)
    assert rules.rules() == ["~*", "-@all", "+set"]


def test_acl_rules_full_rights_when_nothing_known() -> None:
    from keyroll.harden.analysis.keys import AclRules

    r = AclRules("svc-x", ("*",), (), narrowed_keys=False, read_only=False)
    assert r.rules() == ["~*", "&*", "+@all"]


@pytest.mark.parametrize(
    ("method", "namespace", "command"),
    [
        ("get", "", "get"),
        ("hGetAll", "", "hgetall"),
        ("getBuffer", "", "get"),
        ("delete", "", "del"),
        ("scan_iter", "", "scan"),
        ("zRangeByScore", "", "zrangebyscore"),
        ("client_list", "", "client"),
        ("set", "json", "json.set"),
        ("connect", "", None),
        ("whatever", "", None),
    ],
)
def test_command_for_method(method: str, namespace: str, command: str | None) -> None:
    assert cmdtable.command_for_method(method, namespace=namespace) == command


@pytest.mark.parametrize(
    ("command", "read"),
    [
        ("get", True),
        ("zrange", True),
        ("json.get", True),
        ("ping", True),
        ("set", False),
        ("del", False),
        ("eval", False),
        ("flushall", False),
    ],
)
def test_is_read(command: str, read: bool) -> None:
    assert cmdtable.is_read(command) is read


def test_keys_of_call_positions() -> None:
    s = lambda p, exact=True: Arg(shape=KeyShape(p, exact=exact))  # noqa: E731
    assert keys_of_call("rename", [s("a"), s("b")]) == (KeyShape("a", True), KeyShape("b", True))
    assert keys_of_call("mset", [s("k1"), s("v1"), s("k2"), s("v2")]) == (
        KeyShape("k1", True),
        KeyShape("k2", True),
    )
    assert keys_of_call("blpop", [s("q1"), s("q2"), Arg(shape=KeyShape("5", True), is_number=True)]) == (
        KeyShape("q1", True),
        KeyShape("q2", True),
    )
    assert keys_of_call("keys", [s("sess:*")]) == (KeyShape("sess:"),)
    assert keys_of_call("eval", [s("return 1"), s("k")]) == (DYNAMIC,)
    assert keys_of_call("ping", []) == ()
