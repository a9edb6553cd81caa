"""Second line of defence: a logging filter that masks registered secret values.

Code should never log a value in the first place (values travel as :class:`Secret`); this
filter catches mistakes. Every ``Secret`` that keyroll handles can be registered with
:func:`register_secret`; the filter replaces plain, URL-encoded and base64 forms with the
fingerprint.
"""

from __future__ import annotations

import base64
import logging
import threading
import urllib.parse

from keyroll.core.secret import Secret

__all__ = ["RedactingFilter", "redact", "register_secret"]

_lock = threading.Lock()
_known: dict[str, str] = {}


def _forms(value: str) -> set[str]:
    forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
    raw = value.encode()
    forms.add(base64.b64encode(raw).decode())
    forms.add(base64.urlsafe_b64encode(raw).decode().rstrip("="))
    forms.add(base64.b64encode(raw).decode().rstrip("="))
    return {f for f in forms if len(f) >= 6}


def register_secret(secret: Secret) -> None:
    """Remember a secret so that :func:`redact` and :class:`RedactingFilter` can mask it."""
    value = secret.reveal()
    if len(value) < 6:
        return
    with _lock:
        for form in _forms(value):
            _known[form] = f"<secret {secret.fingerprint}>"


def redact(text: str) -> str:
    """Replace every registered secret form in ``text`` with its fingerprint marker."""
    with _lock:
        items = sorted(_known.items(), key=lambda kv: -len(kv[0]))
    for form, marker in items:
        if form in text:
            text = text.replace(form, marker)
    return text


class RedactingFilter(logging.Filter):
    """A ``logging.Filter`` that rewrites each record's message with :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            msg = str(record.msg)
        redacted = redact(msg)
        if redacted != msg or record.args:
            record.msg = redacted
            record.args = None
        return True
