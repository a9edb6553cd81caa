"""The value each copy of a credential must hold, rendered from a value set (``role → Secret``).

A copy holds a role's value as is, in the form it uses (URL-encoded, base64: :func:`encode`), or
as a URL around it: a Redis URL with the new ``user:password`` (:func:`render_url`, the current
URL's other parts kept when readable), or a manually rotated password inside the URL it sits in.
Pure: no provider and no journal.
"""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping

from keyroll.core.errors import RotationError
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec, LocationSpec

__all__ = ["encode", "render", "render_url"]


def encode(value: str, form: str) -> str:
    """A raw value in the form a copy uses (``url_encoded``, ``base64``; others are raw)."""
    if form == "url_encoded":
        return urllib.parse.quote(value, safe="")
    if form == "base64":
        return base64.b64encode(value.encode()).decode()
    return value


def render_url(current: str | None, user: str, password: str, endpoint: GroupSpec) -> str:
    """A Redis URL with ``user:password`` — the current URL's other parts kept when readable.

    :raises RotationError: the current URL is unreadable and the host is unknown.
    """
    if current:
        parts = urllib.parse.urlsplit(current)
        try:
            port = parts.port
        except ValueError:  # an unencoded password with URL delimiters: rebuild from the endpoint
            parts, port = urllib.parse.urlsplit(""), None
        if parts.scheme and parts.hostname:
            host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
            netloc = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{host}"
            if port:
                netloc += f":{port}"
            return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    host = endpoint.host or ""
    if not host:
        raise RotationError(
            "a Redis URL var is unreadable and the database host is unknown",
            hint="make the var readable (not sensitive) or rotate it with --strategy CRED=manual",
        )
    # a group spec may name its own scheme, path and query (a Postgres adapter group); Redis by default
    scheme = endpoint.scheme or ("rediss" if endpoint.tls is None or endpoint.tls else "redis")
    port = endpoint.port or 6379
    tail = (endpoint.path or "") + (f"?{endpoint.query}" if endpoint.query else "")
    return f"{scheme}://{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{host}:{port}{tail}"


def render(
    spec: LocationSpec,
    values: Mapping[str, Secret],
    current: Secret | None,
    endpoint: GroupSpec,
) -> Secret:
    """The value a copy must hold under ``values``.

    :raises RotationError: the value set lacks the copy's role.
    """
    role = spec.role
    if role == "url":
        if "url" in values and "password" not in values:
            return values["url"]
        pw = values.get("password")
        if pw is None:
            raise RotationError(f"no new password for {spec.key or spec.name or 'a URL copy'}")
        user = values["username"].reveal() if "username" in values else "default"
        return Secret(render_url(current.reveal() if current else None, user, pw.reveal(), endpoint))
    value = values.get(role)
    if value is None and role == "value":
        value = next(iter(values.values()), None)
    if value is None:
        raise RotationError(f"no value for role {role} of {spec.label or None}")
    form = spec.form
    if role == "value" and form in ("url", "url_encoded"):
        return _password_in_url(spec, value, current)
    return value if form not in ("url_encoded", "base64") else Secret(encode(value.reveal(), form))


def _password_in_url(spec: LocationSpec, password: Secret, current: Secret | None) -> Secret:
    """A manually rotated password that sits inside a URL (``postgres://user:<pw>@host/db``): the
    var keeps its URL, only the password changes (percent-encoded where the URL needs it).

    :raises RotationError: the current URL could not be read, so it cannot be rebuilt.
    """
    where = spec.label or "a URL copy"
    if current is None:
        raise RotationError(
            f"cannot rebuild the URL of {where}: its current value could not be read",
            hint="update it by hand, or rotate with a provider adapter",
        )
    parts = urllib.parse.urlsplit(current.reveal())
    if parts.password is None or "@" not in parts.netloc:
        raise RotationError(f"{where} no longer holds a URL with a password", hint="update it by hand")
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    netloc = f"{user}:{urllib.parse.quote(password.reveal(), safe='')}@{hostport}"
    return Secret(urllib.parse.urlunsplit(parts._replace(netloc=netloc)))
