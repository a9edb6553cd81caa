"""The outermost-match rule: a token that embeds a password is a copy of the token only."""

from __future__ import annotations

import base64

from keyroll.core.model import Form
from keyroll.core.secret import Secret
from keyroll.inventory import matching
from keyroll.scan.known import KnownValues
from tests.fakes.common import token

PASSWORD = token("pw")
# a REST token built like Upstash's: bytes that contain the password, base64-encoded
TOKEN = base64.b64encode(b"\x01\x18\xeb$" + b"db-uuid-0123456789" + PASSWORD.encode()).decode()


def test_nested_match_of_another_value_is_dropped() -> None:
    kv = KnownValues([Secret(PASSWORD), Secret(TOKEN)])
    assert {m.fingerprint for m in kv.find(TOKEN)} == {
        Secret(TOKEN).fingerprint,
        Secret(PASSWORD).fingerprint,
    }
    (only,) = matching.find(kv, TOKEN)
    assert only.fingerprint == Secret(TOKEN).fingerprint and only.form is Form.PLAIN


def test_separate_values_on_one_line_are_both_kept() -> None:
    kv = KnownValues([Secret(PASSWORD), Secret(TOKEN)])
    text = f"a\nTOKEN={TOKEN} URL=rediss://default:{PASSWORD}@host:6379\n"
    hits = list(matching.iter_lines(kv, text))
    assert [(line, m.fingerprint, m.form) for line, _, m in hits] == [
        (2, Secret(TOKEN).fingerprint, Form.PLAIN),
        (2, Secret(PASSWORD).fingerprint, Form.URL),
    ]
    assert hits[0][1] == len("TOKEN=") + 1
