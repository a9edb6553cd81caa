"""Secret never reveals its value except through reveal()."""

from __future__ import annotations

import json
import logging
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keyroll.core.redact import RedactingFilter, register_secret
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.core.serde import dumps
from tests import canary

values = st.text(min_size=12, max_size=80).filter(lambda s: s.strip() and "Secret(" not in s)


@given(values)
@settings(max_examples=150, deadline=None)
def test_secret_never_leaks_through_string_conversions(v: str) -> None:
    s = Secret(v)
    canary.forget(v)  # an arbitrary string, not a credential: later tests may print it
    for text in (
        str(s),
        repr(s),
        f"{s}",
        f"{s!r}",
        f"{s:>60}",
        "%s" % (s,),  # noqa: UP031
        f"{s}",
        str([s]),
        str({"k": s}),
    ):
        assert v not in text
        assert s.fingerprint in text
    assert s.reveal() == v
    assert s.fingerprint == fingerprint_of(v)


@given(values)
@settings(max_examples=100, deadline=None)
def test_secret_never_leaks_through_exceptions_json_pickle(v: str) -> None:
    s = Secret(v)
    canary.forget(v)  # an arbitrary string, not a credential: later tests may print it
    err = ValueError(f"bad token {s}", s)
    assert v not in str(err) and v not in repr(err)
    with pytest.raises(TypeError):
        json.dumps(s)
    assert v not in dumps({"token": s})
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_logging_shows_fingerprint_only(caplog: pytest.LogCaptureFixture) -> None:
    s = Secret("AXfoo_supersecret_value_123456")
    with caplog.at_level(logging.INFO):
        logging.getLogger("keyroll.test").info("token is %s", s)
        logging.getLogger("keyroll.test").info("token repr %r", s)
    assert "supersecret" not in caplog.text
    assert s.fingerprint in caplog.text


def test_fingerprint_format_and_equality() -> None:
    a, b = Secret("x" * 20), Secret("x" * 20)
    assert a == b and hash(a) == hash(b)
    assert a != Secret("y" * 20)
    assert a.fingerprint.startswith("sha256:") and len(a.fingerprint) == 15
    assert a.last4 == "xxxx"
    with pytest.raises(AttributeError):
        a._value = "z"  # type: ignore[misc]


def test_redacting_filter_masks_plain_and_encoded_forms() -> None:
    s = Secret("redact-me-please-0123456789")
    register_secret(s)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "leak %s", (s.reveal(),), None)
    RedactingFilter().filter(record)
    assert "redact-me" not in record.getMessage()
    assert s.fingerprint in record.getMessage()
