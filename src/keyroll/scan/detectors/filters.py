"""Small pure predicates and context helpers shared by detectors (false-positive filters).

Each ``is_*`` answers one question about a candidate value or its surroundings, so a
detector reads as a list of reasons to drop a match.
"""

from __future__ import annotations

import base64
import math
import re
from collections import Counter

from keyroll.core.model import Form

__all__ = [
    "char_classes",
    "entropy",
    "form_at",
    "is_identifier_like",
    "is_placeholder",
    "is_template",
    "key_before",
    "key_start",
    "line_around",
]

_PLACEHOLDER_WORDS = (
    "example",
    "sample",
    "dummy",
    "placeholder",
    "changeme",
    "change_me",
    "change-me",
    "redacted",
    "replace",
    "your",
    "xxxx",
    "****",
    "....",
    "…",
    "<",
    ">",
    "todo",
    "fixme",
    "insert",
    "secret_here",
    "token_here",
    "here",
    "not-a-",
    "not_a_",
    "fake",
)
_SEQUENCES = ("0123456", "1234567", "2345678", "3456789", "abcdefg", "ABCDEFG", "qwerty", "xyzxyz")
_PLACEHOLDER_WORD = re.compile("|".join(re.escape(w) for w in _PLACEHOLDER_WORDS))
_SEQUENCE = re.compile("|".join(re.escape(q) for q in _SEQUENCES))
_PLACEHOLDER_EXACT = frozenset(
    {"password", "passwd", "pass", "secret", "token", "none", "null", "undefined", "true", "false", "test"}
)
_TEMPLATE = re.compile(
    r"""^(?:
        \$\{.*\}?          # ${VAR} / ${{ secrets.X }}
      | \$\(.*             # $(command)
      | \$[A-Za-z_]\w*$    # $VAR
      | \{\{.*\}\}?        # {{ template }}
      | %[A-Za-z_]\w*%?    # %VAR%
      | <[^>]*>?           # <token>
      | (?:process\.env|os\.environ|os\.getenv|env|getenv|import\.meta\.env|secrets)[.\[(].*
    )$""",
    re.VERBOSE,
)
_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:[.:\-][A-Za-z0-9_$]+)*(?:\(\))?$")
_ASSIGN_KEY = re.compile(
    r"""(?:^|[\s{,(\[;"'`$])          # start of the key
        (?P<key>[A-Za-z_][A-Za-z0-9_.\-]{0,127})
        ["'`\]]?\s*                   # closing quote of a JSON/dict key
        (?::=|=>|==|=|:|\s)\s*        # assignment (a space for `export K V`-like / CLI forms)
        (?:[A-Za-z]?["'`])?\s*$        # opening quote of the value (b"..", f"..")
    """,
    re.VERBOSE | re.MULTILINE,
)
_SEPARATORS = re.compile(r"[._:\-$]+")
_CAMEL_SEGMENT = re.compile(r"[A-Z]*[a-z0-9]+|[A-Z]+")
_CODE_REF = re.compile(r"[A-Za-z_$][\w$]{0,40}(?:\.[A-Za-z_$][\w$]{0,40}){1,5}(?:\(\))?")
_DIGIT = re.compile(r"\d")
_URL_BEFORE = re.compile(r"[a-z][a-z0-9+.-]*://[^\s/@]*$", re.IGNORECASE)


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def char_classes(value: str) -> int:
    """How many of lowercase, uppercase, digits, other appear in ``value``."""
    # str methods and one regex run in C; this is called for every candidate value
    return (
        (value.upper() != value)
        + (value.lower() != value)
        + bool(_DIGIT.search(value))
        + (bool(value) and not value.isalnum())
    )


def is_template(value: str) -> bool:
    """A reference to a value rather than a value: ``${VAR}``, ``{{ x }}``, ``process.env.X`` …"""
    return bool(_TEMPLATE.match(value))


def is_placeholder(value: str) -> bool:
    """A documentation stand-in: ``your-token``, ``xxxx``, ``AX...``, ``<password>``, ``TOKEN``."""
    low = value.lower()
    if low in _PLACEHOLDER_EXACT or is_template(value):
        return True
    if _PLACEHOLDER_WORD.search(low):
        return True
    if "..." in value or value[:1] in "[{(" or "password" in low or "passwd" in low:
        return True
    if _SEQUENCE.search(value):  # 0123456789abcdef: typed, not generated
        return True
    decoded = _printable_b64(value)
    if decoded is not None and decoded != value and is_placeholder(decoded):
        return True
    if len(set(value)) <= 3:  # aaaa, 0000, xXxX
        return True
    # all-caps words: TOKEN, MY_SECRET_TOKEN, REDIS_PASSWORD (a variable name, not a value)
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*", value)) and not any(c.isdigit() for c in value[-8:])


def _is_word(part: str) -> bool:
    if part.isdigit():
        return True  # version and build numbers
    if sum(c.isdigit() for c in part) > 3:
        return False
    if part.islower() or part.isupper():
        return True
    # camelCase: word-length segments, not too long, vowels like words have
    letters = [c for c in part if c.isalpha()]
    vowels = sum(c in "aeiouAEIOU" for c in letters)
    segments = _CAMEL_SEGMENT.findall(part)
    return (
        len(part) <= 24
        and bool(segments)
        and len(part) / len(segments) >= 2.5
        and vowels >= 0.25 * len(letters)
    )


def _printable_b64(value: str) -> str | None:
    """``value`` base64-decoded, if it decodes to printable ASCII (``bm90LWEtdG9rZW4=``)."""
    if len(value) < 8 or len(value.rstrip("=")) % 4 == 1:
        return None
    core = value.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
    except ValueError:
        return None
    # printable ASCII only (32–126): isascii() and isprintable() run in C
    return raw.decode("ascii") if raw and raw.isascii() and raw.decode("ascii").isprintable() else None


def is_identifier_like(value: str) -> bool:
    """Code, not data: ``self.token``, ``get_token()``, ``argon2id.PASSWD_MIN``, ``apiKeyHeader``.

    Attribute chains (``a.b.c``) are code; otherwise every ``._-:`` separated part must read as
    a word (one case, or camelCase with word-length segments; at most three digits). Random
    tokens have many digits and case changes.
    """
    if _CODE_REF.fullmatch(value):
        return True
    if not _IDENTIFIER.match(value) or (len(value) >= 24 and sum(c.isdigit() for c in value) >= 4):
        return False
    parts = [p for p in _SEPARATORS.split(value.strip("._:-$()")) if p]
    return all(_is_word(p) for p in parts)


def line_around(text: str, start: int, end: int, limit: int = 512) -> tuple[int, int]:
    """Bounds of the line holding ``[start, end)``, clipped to ``limit`` characters each side."""
    lo = text.rfind("\n", max(0, start - limit), start) + 1
    if lo == 0 and start > limit:
        lo = start - limit
    hi = text.find("\n", end, end + limit)
    if hi < 0:
        hi = min(len(text), end + limit)
    return lo, hi


_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def key_start(text: str, pos: int, max_back: int = 64) -> int:
    """Start of the identifier (``[A-Za-z0-9_.-]``) that contains ``pos`` (scanning back)."""
    lo = max(0, pos - max_back)
    i = pos
    while i > lo and text[i - 1] in _KEY_CHARS:
        i -= 1
    return i


def key_before(text: str, start: int) -> str:
    """The key a value is assigned to (``KEY=``, ``"key": "``, ``key: ``, ``--key ``), or ``""``."""
    lo = max(0, start - 160)
    nl = text.rfind("\n", lo, start)
    if nl >= 0:
        lo = nl + 1
    m = _ASSIGN_KEY.search(text, lo, start)
    return m.group("key") if m else ""


def form_at(text: str, start: int, end: int) -> Form:
    """How the value at ``[start, end)`` is written: inside a URL, quoted, or plain."""
    # the scheme must be on the value's line with no space in between: look at that line only,
    # and test for "://" before the regex (which tries every start position)
    lo = max(0, start - 200)
    before = text[max(lo, text.rfind("\n", lo, start) + 1) : start]
    if "://" in before and _URL_BEFORE.search(before) and end < len(text) and text[end] in "@:/":
        return Form.URL
    if start > 0 and end < len(text) and text[start - 1] in "\"'`" and text[end] == text[start - 1]:
        return Form.QUOTED
    return Form.PLAIN
