"""Database connection URLs with a password: ``postgres[ql]://user:<password>@host/db`` and
``mysql://…`` (also with a driver suffix, ``postgresql+psycopg://``, ``mysql2://``).

The reported value is the password (URL-decoded), as for Redis URLs, so that a
``DATABASE_URL`` and a ``PGPASSWORD`` holding the same password are one credential. The host
names the service: ``*.neon.tech`` is Neon (also behind Vercel Postgres), ``*.supabase.co`` /
``*.pooler.supabase.com`` is Supabase (supabase.com/docs/guides/database/connecting-to-postgres),
anything else is plain Postgres or MySQL.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator

from keyroll.core.model import CredentialKind, Form, Product
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import entropy, is_placeholder, key_before
from keyroll.scan.findings import Certainty, Rule

__all__ = ["DATABASE_URL_PASSWORD", "DatabaseUrlDetector", "service_of_host"]

DATABASE_URL_PASSWORD = Rule(
    id="database-url-password",
    name="Database URL with password",
    description="A postgres:// or mysql:// URL with a password (Neon, Supabase, Vercel Postgres or any host).",
    product=Product.OTHER,
    kind=CredentialKind.URL_WITH_PASSWORD,
    confidence=Certainty.MEDIUM,
    remedy="change the role's password (or rotate it with `keyroll apply`), then remove this copy",
)

_LOCAL = re.compile(r"^(?:localhost|127\.[\d.]+|0\.0\.0\.0|db|postgres|mysql|host|hostname|.*example\.\w+)$")


def service_of_host(scheme: str, host: str) -> str:
    """``neon``, ``supabase``, ``postgres`` or ``mysql`` for a URL's scheme and host."""
    h = host.lower().rstrip(".")
    if h.endswith(".neon.tech"):
        return "neon"
    if h.endswith((".supabase.co", ".supabase.com")):
        return "supabase"
    return "mysql" if scheme.lower().startswith(("mysql", "mariadb")) else "postgres"


class DatabaseUrlDetector(AnchoredDetector):
    """Passwords in Postgres / MySQL URLs (``database-url-password``)."""

    rules = (DATABASE_URL_PASSWORD,)
    anchors = ("postgres://", "postgresql://", "postgresql+", "mysql://", "mysql2://", "mariadb://", "mysql+")
    priority = 80
    pattern = re.compile(
        r"(?P<scheme>(?:postgres(?:ql)?|mysql2?|mariadb)(?:\+[a-z0-9]+)?)://"
        r"(?P<user>[^\s:@/\"'`<>\\]{1,128}):(?P<pw>[^\s@/\"'`<>\\]{1,512})@"
        r"(?P<host>[A-Za-z0-9][A-Za-z0-9.\-_]{0,253})",
        re.IGNORECASE,
    )

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if pos > 0 and (text[pos - 1].isalnum() or text[pos - 1] in "+.-"):
            return
        m = self.pattern.match(text, pos)
        if not m:
            return
        raw = m.group("pw")
        pw = urllib.parse.unquote(raw) if "%" in raw else raw
        host = m.group("host")
        if is_placeholder(pw) or pw.startswith(("$", "{")):
            return
        service = service_of_host(m.group("scheme"), host)
        # a single-label host (``db``, ``h``) is a compose service or an example, not a server on the internet
        strong = len(pw) >= 8 and entropy(pw) >= 2.5 and "." in host and not _LOCAL.match(host.lower())
        start, end = m.span("pw")
        yield Candidate(
            rule=DATABASE_URL_PASSWORD,
            start=start,
            end=end,
            value=pw,
            confidence=Certainty.MEDIUM if strong or service != "postgres" else Certainty.LOW,
            reason=f"password in a {service} URL on {host.lower()}",
            priority=self.priority,
            key=key_before(text, m.start()),
            form=Form.URL_ENCODED if pw != raw else Form.URL,
        )
