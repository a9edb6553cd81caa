"""Rendering values per copy and rewriting local files in the same form."""

from __future__ import annotations

import base64
import urllib.parse

import pytest

from keyroll.core.errors import RotationError
from keyroll.core.model import LocationKind
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec, LocationSpec
from keyroll.rotate.files import replace_in_text
from keyroll.rotate.render import render, render_url

OLD = "oldPassw0rd+with/special=chars"
NEW = "gt_NewToken-0123456789abcdef"


def _spec(*, role: str, form: str, key: str = "") -> LocationSpec:
    return LocationSpec(kind=LocationKind.VERCEL_ENV, role=role, form=form, key=key)


def test_url_keeps_scheme_host_port_and_path() -> None:
    current = f"rediss://default:{urllib.parse.quote(OLD, safe='')}@eu1-cache.upstash.io:6379/0?ssl=1"
    out = render_url(current, "keyroll-a", NEW, GroupSpec())
    parts = urllib.parse.urlsplit(out)
    assert (parts.scheme, parts.hostname, parts.port, parts.path, parts.query) == (
        "rediss",
        "eu1-cache.upstash.io",
        6379,
        "/0",
        "ssl=1",
    )
    assert parts.username == "keyroll-a" and urllib.parse.unquote(parts.password or "") == NEW


def test_unreadable_url_is_built_from_the_database_endpoint() -> None:
    out = render_url(None, "keyroll-b", NEW, GroupSpec(host="h.upstash.io", port=6380, tls=False))
    assert out == f"redis://keyroll-b:{NEW}@h.upstash.io:6380"
    with pytest.raises(RotationError, match="host is unknown"):
        render_url(None, "keyroll-b", NEW, GroupSpec())


def test_render_by_role_and_form() -> None:
    values = {"rest_token": Secret(NEW), "password": Secret(NEW), "username": Secret("keyroll-a")}
    assert render(_spec(role="rest_token", form="plain"), values, None, GroupSpec()).reveal() == NEW
    b64 = render(_spec(role="rest_token", form="base64"), values, None, GroupSpec()).reveal()
    assert base64.b64decode(b64).decode() == NEW
    quoted = urllib.parse.quote(OLD, safe="")
    url = render(_spec(role="url", form="url"), values, Secret(f"rediss://default:{quoted}@h:1"), GroupSpec())
    assert url.reveal() == f"rediss://keyroll-a:{NEW}@h:1"
    # a current value that does not parse is rebuilt from the database endpoint
    broken = render(
        _spec(role="url", form="url"), values, Secret(f"rediss://default:{OLD}@h:1"), GroupSpec(host="h")
    )
    assert broken.reveal() == f"rediss://keyroll-a:{NEW}@h:6379"
    with pytest.raises(RotationError, match="readonly_rest_token"):
        render(_spec(role="readonly_rest_token", form="plain", key="RO"), values, None, GroupSpec())


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (f"TOKEN={OLD}\n", f"TOKEN={NEW}\n"),
        (f'TOKEN="{OLD}"  # keep me\n', f'TOKEN="{NEW}"  # keep me\n'),
        (f"url: {urllib.parse.quote(OLD, safe='')}\n", f"url: {urllib.parse.quote(NEW, safe='')}\n"),
        (
            f"auth: Basic {base64.b64encode(f'user:{OLD}'.encode()).decode()}\n",
            f"auth: Basic {base64.b64encode(f'user:{NEW}'.encode()).decode()}\n",
        ),
    ],
)
def test_file_forms_are_kept(before: str, after: str) -> None:
    text, n = replace_in_text(before, Secret(OLD), Secret(NEW), "rest_token", "default", "default")
    assert text == after and n >= 1


def test_url_in_a_file_gets_the_new_user_too() -> None:
    before = f"REDIS_URL=rediss://default:{OLD}@h.upstash.io:6379\nOTHER=1\n"
    text, n = replace_in_text(before, Secret(OLD), Secret(NEW), "url", "default", "keyroll-a")
    assert text == f"REDIS_URL=rediss://keyroll-a:{NEW}@h.upstash.io:6379\nOTHER=1\n" and n == 1
