"""Upstash Redis REST data plane (``POST <url>`` with a JSON command array).

Used by probes (new token works, old rejected) and by the ACL strategies (``ACL GENTOKEN``,
``ACL SETUSER``, ``ACL RESTTOKEN``, ``ACL DELUSER`` — the first and third are Upstash
extensions, see ``shared/reference/upstash-api.md`` §2.3).

The URL and token are passed per call (they change during a rotation). Requests ask for
``Upstash-Encoding: base64`` so that binary replies survive; the client decodes them. Errors:
401 → :class:`AuthError`; ``{"error": …}`` (e.g. ``NOPERM …``) → :class:`ProviderError` with the
server's text, after any secret value sent in the request was replaced by its fingerprint
(Redis echoes ACL rules, i.e. passwords, in some error messages).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import httpx

from keyroll.core.errors import AuthError, KeyrollError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.http import ApiClient, RetryPolicy
from keyroll.providers.upstash.probe import ProbeResult

__all__ = ["CommandError", "ProbeResult", "RedisREST", "RedisRESTClient"]

Arg = str | int | float | Secret

AUTH_HINT = "the token is unknown or was revoked (a password reset kills the old REST tokens)"


class CommandError(str):
    """An error reply inside a pipeline result (a ``str`` holding the server's message)."""

    __slots__ = ()


class RedisREST(Protocol):
    """A Redis REST endpoint addressed by URL and bearer token."""

    async def command(self, url: str, token: Secret, *args: Arg) -> Any:
        """Run one command; returns ``result``.

        :raises AuthError: 401 (unknown/revoked token).
        :raises ProviderError: ``{"error": …}`` bodies (e.g. NOPERM), message included.
        """
        ...

    async def pipeline(self, url: str, token: Secret, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Run several commands (``/pipeline``); each item is the result or a :class:`CommandError`."""
        ...

    async def probe(self, url: str, token: Secret) -> ProbeResult:
        """Does the endpoint accept ``token``?"""
        ...


def _origin(method: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _wire(arg: Arg) -> str | int | float:
    return arg.reveal() if isinstance(arg, Secret) else arg


def _decode(value: Any) -> Any:
    """Undo ``Upstash-Encoding: base64`` (every string but ``OK``; lists recursively)."""
    if isinstance(value, str):
        if value == "OK":
            return value
        try:
            return base64.b64decode(value, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return value
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _scrub(text: str, secrets: Iterable[Secret]) -> str:
    for s in secrets:
        raw = s.reveal()
        if len(raw) >= 4 and raw in text:
            text = text.replace(raw, f"<{s.fingerprint}>")
    return text


def _rescrub(exc: ProviderError, secrets: Sequence[Secret]) -> ProviderError:
    if not secrets:
        return exc
    clean = type(exc)(
        _scrub(exc.message, secrets), service=exc.service, status=exc.status, code=exc.code, hint=exc.hint
    )
    return clean


def _origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class RedisRESTClient:
    """:class:`RedisREST` over httpx, plus the ACL helpers the rotation engine needs."""

    def __init__(self, http: httpx.AsyncClient, *, retry: RetryPolicy | None = None) -> None:
        """``http`` needs no base URL or auth: both come with each call."""
        self.http = http
        self._sync: dict[str, str] = {}
        """origin → the latest ``upstash-sync-token`` it answered (sent back: read-your-writes)"""
        self.api = ApiClient(
            http,
            "redis",
            limits={"default": (500.0, 1.0)},
            classify=_origin,
            retry=retry or RetryPolicy(attempts=3, base_delay=0.2, max_delay=2.0),
            hint_for_auth=AUTH_HINT,
        )

    @classmethod
    def create(cls, *, timeout: float = 15.0, connect_timeout: float = 5.0) -> RedisRESTClient:
        """A client for any REST URL (no control-plane credential needed)."""
        return cls(httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=connect_timeout)))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.http.aclose()

    # -- core ---------------------------------------------------------------------------
    async def _post(
        self, url: str, token: Secret, path: str, body: Any, what: str, secrets: Sequence[Secret]
    ) -> Any:
        target = url.rstrip("/") + path
        origin = _origin_of(url)
        headers = {"Authorization": f"Bearer {token.reveal()}", "Upstash-Encoding": "base64"}
        if origin in self._sync:
            # as the SDKs do (read_your_writes): a global database's replica answers only once it
            # has seen our last write — e.g. the ACL user created just before its token is used
            headers["Upstash-Sync-Token"] = self._sync[origin]
        try:
            resp = await self.api.request("POST", target, what=what, json=body, headers=headers)
        except ProviderError as exc:
            raise _rescrub(exc, secrets) from None
        sync = resp.headers.get("upstash-sync-token")
        if sync:
            self._sync[origin] = sync
        try:
            return resp.json()
        except ValueError:
            raise ProviderError(
                f"redis: {what}: answer is not JSON", service="redis", status=resp.status_code
            ) from None

    @staticmethod
    def _what(url: str, args: Sequence[Arg]) -> str:
        host = urllib.parse.urlsplit(url).netloc or url
        name = " ".join(a.upper() for a in args[:2] if isinstance(a, str))
        if args and isinstance(args[0], str) and args[0].upper() != "ACL":
            name = str(args[0]).upper()
        return f"{host} {name}".strip()

    async def command(self, url: str, token: Secret, *args: Arg) -> Any:
        """Run one command and return its (decoded) result.

        :raises AuthError: 401 — the token is unknown or revoked.
        :raises ProviderError: an error reply (``NOPERM …``, ``ERR …``) with the server's text.
        """
        secrets = [a for a in args if isinstance(a, Secret)]
        what = self._what(url, args)
        body = await self._post(url, token, "", [_wire(a) for a in args], what, secrets)
        if isinstance(body, dict) and body.get("error"):
            raise ProviderError(
                f"redis: {what}: {_scrub(str(body['error']), secrets)}", service="redis", status=200
            )
        if not isinstance(body, dict) or "result" not in body:
            raise ProviderError(f"redis: {what}: unexpected answer", service="redis")
        return _decode(body["result"])

    async def pipeline(self, url: str, token: Secret, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """``/pipeline``: results in order; an error reply becomes a :class:`CommandError`."""
        return await self._batch(url, token, "/pipeline", commands)

    async def multi_exec(self, url: str, token: Secret, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """``/multi-exec`` (atomic). :raises ProviderError: the transaction was discarded as a whole."""
        return await self._batch(url, token, "/multi-exec", commands)

    async def _batch(
        self, url: str, token: Secret, path: str, commands: Sequence[Sequence[Arg]]
    ) -> list[Any]:
        secrets = [a for c in commands for a in c if isinstance(a, Secret)]
        what = f"{urllib.parse.urlsplit(url).netloc or url} {path.strip('/')}"
        body = await self._post(url, token, path, [[_wire(a) for a in c] for c in commands], what, secrets)
        if isinstance(body, dict):
            raise ProviderError(
                f"redis: {what}: {_scrub(str(body.get('error', 'unexpected answer')), secrets)}",
                service="redis",
            )
        out: list[Any] = []
        for item in body:
            if isinstance(item, dict) and "error" in item:
                out.append(CommandError(_scrub(str(item["error"]), secrets)))
            else:
                out.append(_decode(item.get("result") if isinstance(item, dict) else item))
        return out

    # -- probes -------------------------------------------------------------------------
    async def probe(self, url: str, token: Secret) -> ProbeResult:
        """``PING`` with ``token``: 200 or ``NOPERM`` → accepted; 401/``WRONGPASS`` → rejected; else unknown."""
        try:
            await self.command(url, token, "PING")
        except AuthError:
            return ProbeResult.REJECTED
        except ProviderError as exc:
            text = exc.message.upper()
            if "NOPERM" in text:
                return ProbeResult.ACCEPTED
            if "WRONGPASS" in text or exc.status == 401:
                return ProbeResult.REJECTED
            return ProbeResult.UNKNOWN
        except KeyrollError:
            return ProbeResult.UNKNOWN
        return ProbeResult.ACCEPTED

    async def can_write(self, url: str, token: Secret) -> ProbeResult:
        """Does ``token`` allow writes? ``SET`` of a 1-second probe key: OK → accepted, NOPERM → rejected."""
        try:
            await self.command(url, token, "SET", "keyroll:write-probe", "1", "PX", 1000)
        except ProviderError as exc:
            if "NOPERM" in exc.message.upper():
                return ProbeResult.REJECTED
            return ProbeResult.UNKNOWN
        except KeyrollError:
            return ProbeResult.UNKNOWN
        return ProbeResult.ACCEPTED

    # -- ACL (Upstash) ------------------------------------------------------------------
    async def acl_gentoken(
        self, url: str, token: Secret, user: str, password: Secret | None = None
    ) -> Secret:
        """``ACL GENTOKEN user [password]``: a token usable as ``>token`` password and as REST token.

        :raises ProviderError: the server does not implement it, or the password is too weak.
        """
        args: list[Arg] = ["ACL", "GENTOKEN", user]
        if password is not None:
            args.append(password)
        result = await self.command(url, token, *args)
        if not isinstance(result, str) or not result:
            raise ProviderError(f"redis: ACL GENTOKEN {user}: empty answer", service="redis")
        return Secret(result)

    async def acl_setuser(
        self,
        url: str,
        token: Secret,
        user: str,
        *rules: str | Secret,
        add_passwords: Sequence[Secret] = (),
        remove_passwords: Sequence[Secret] = (),
    ) -> None:
        """``ACL SETUSER user rules… >added… <removed…`` (a rule given as a Secret is sent as is).

        :raises ProviderError: the server refused a rule (its text, with secrets replaced by fingerprints).
        """
        args: list[Arg] = ["ACL", "SETUSER", user, *rules]
        args += [Secret(">" + p.reveal()) for p in add_passwords]
        args += [Secret("<" + p.reveal()) for p in remove_passwords]
        try:
            await self.command(url, token, *args)
        except ProviderError as exc:
            raise _rescrub(exc, [*add_passwords, *remove_passwords]) from None

    async def acl_resttoken(self, url: str, token: Secret, user: str, password: Secret) -> Secret:
        """``ACL RESTTOKEN user password``: a REST token with that user's rights.

        :raises ProviderError: wrong password or unknown user.
        """
        result = await self.command(url, token, "ACL", "RESTTOKEN", user, password)
        if not isinstance(result, str) or not result:
            raise ProviderError(f"redis: ACL RESTTOKEN {user}: empty answer", service="redis")
        return Secret(result)

    async def acl_deluser(self, url: str, token: Secret, *users: str) -> int:
        """``ACL DELUSER users…``: how many existed (and were deleted)."""
        return int(await self.command(url, token, "ACL", "DELUSER", *users))

    async def acl_whoami(self, url: str, token: Secret) -> str:
        """``ACL WHOAMI``: the user a token authenticates as."""
        return str(await self.command(url, token, "ACL", "WHOAMI"))

    async def acl_list(self, url: str, token: Secret) -> list[str]:
        """``ACL LIST``: one rule line per user (passwords appear as ``#<sha256>`` only)."""
        return [str(x) for x in await self.command(url, token, "ACL", "LIST")]

    async def acl_users(self, url: str, token: Secret) -> list[str]:
        """``ACL USERS``."""
        return [str(x) for x in await self.command(url, token, "ACL", "USERS")]

    async def acl_getuser(self, url: str, token: Secret, user: str) -> dict[str, Any] | None:
        """``ACL GETUSER user`` as a dict (``flags``, ``passwords`` — hashes —, ``commands``, ``keys``,
        ``channels``), or ``None`` when the user does not exist."""
        reply = await self.command(url, token, "ACL", "GETUSER", user)
        if reply is None:
            return None
        if isinstance(reply, dict):
            return reply
        if not isinstance(reply, list):
            raise ProviderError(f"redis: ACL GETUSER {user}: unexpected answer", service="redis")
        return {str(reply[i]): reply[i + 1] for i in range(0, len(reply) - 1, 2)}
