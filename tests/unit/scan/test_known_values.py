"""The known-value matcher finds every form of every value in one pass."""

from __future__ import annotations

import base64
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyroll.core.model import Form
from keyroll.core.secret import Secret
from keyroll.scan.known import KnownValues

TOKEN = "AXbCASQgZjQ5ZmE2YmUtZTk2Zi00Nzg0LTg0NDgtYjJkNjgzN2Q0ZTQ0"  # keyroll: allow
PW = "p@ss/word+with=specials_1234"


@pytest.mark.parametrize(
    ("text", "form"),
    [
        (f"TOKEN={TOKEN}\n", Form.PLAIN),
        (f'TOKEN="{TOKEN}"\n', Form.QUOTED),
        (f"rediss://default:{TOKEN}@eu1-x.upstash.io:6379", Form.URL),
        (f"x={urllib.parse.quote(PW, safe='')}", Form.URL_ENCODED),
        (f"rediss://default:{urllib.parse.quote(PW, safe='')}@host:6379", Form.URL_ENCODED),
        (f"b64={base64.b64encode(TOKEN.encode()).decode()}", Form.BASE64),
        (f"Authorization: Basic {base64.b64encode(('user:' + TOKEN).encode()).decode()}", Form.BASE64),
        (f"u={base64.urlsafe_b64encode(('ab' + PW).encode()).decode()}", Form.BASE64),
    ],
)
def test_forms(text: str, form: Form) -> None:
    kv = KnownValues([Secret(TOKEN), Secret(PW)])
    matches = kv.find(text)
    assert matches, text
    assert matches[0].form is form


def test_no_false_match_on_prefix() -> None:
    kv = KnownValues([Secret(TOKEN)])
    assert kv.find(TOKEN[:-3] + "zzz") == []


@given(st.text(min_size=10, max_size=40), st.binary(max_size=7), st.binary(max_size=7))
@settings(max_examples=200, deadline=None)
def test_base64_embedded_at_any_offset(value: str, pre: bytes, post: bytes) -> None:
    kv = KnownValues([Secret(value)])
    blob = base64.b64encode(pre + value.encode() + post).decode()
    assert any(m.fingerprint == Secret(value).fingerprint for m in kv.find(blob))


def test_many_values_single_pass_and_lines() -> None:
    secrets = [Secret(f"value-{i:05d}-abcdefghijkl") for i in range(2000)]
    kv = KnownValues(secrets)
    text = "a\nb value-01234-abcdefghijkl c\n"
    hits = list(kv.iter_lines(text))
    assert [(line, col) for line, col, _ in hits] == [(2, 3)]
    assert hits[0][2].fingerprint == secrets[1234].fingerprint
