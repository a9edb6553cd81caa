"""Upstash credentials passed in code or on a command line, found by how they are used.

* SDK constructors with a literal token: ``new Redis({ url, token: "…" })``,
  ``Redis(url=…, token="…")``, ``Index(url=…, token="…")``, ``Search(…)``, ``QStash("…")`` /
  ``new Client({ token })``, ``createClient({ url, token })`` (``@vercel/kv``),
  ``new Receiver({ currentSigningKey: "…", nextSigningKey: "…" })`` — only in texts that
  mention Upstash (or ``@vercel/kv``), so redis-py's own ``Redis(password=…)`` examples stay
  out. A ``password`` argument counts when the call names an Upstash host
  (``redis.Redis(host="….upstash.io", password="…")``, ioredis' ``new Redis({ host, password })``).
* Requests to an Upstash host: ``Authorization: Bearer …``, ``?_token=…``, ``Basic user:key``
  (what a ``Basic`` header decodes to; the base64 layer decodes it), ``curl -u user:key``,
  ``requests.get(url, auth=("EMAIL", "KEY"))`` and Go's ``SetBasicAuth`` — the Developer API
  key when the host is ``api.upstash.com`` — and ``redis-cli -a <password>``
  / ``--pass``. The host must be on the same command (backslash-continued lines count) or on the
  request line of an HTTP file (``GET https://….upstash.io/…`` above the headers).

Medium confidence: the format is not verified here (structural detectors win any overlap).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from keyroll.core.model import CredentialKind
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import form_at, line_around
from keyroll.scan.detectors.qstash import QSTASH_SIGNING_KEY, QSTASH_TOKEN
from keyroll.scan.detectors.redis_url import is_upstash_host
from keyroll.scan.detectors.upstash_env import DEVELOPER_API_KEY, REDIS_PASSWORD, is_credential_value
from keyroll.scan.detectors.upstash_index import SEARCH_TOKEN, VECTOR_TOKEN
from keyroll.scan.detectors.upstash_redis import REDIS_REST_TOKEN
from keyroll.scan.findings import Certainty, Rule

__all__ = ["UpstashUsageDetector"]

_VALUE = r"[\"'`](?P<value>[^\"'`\s]{12,600})[\"'`]"
_KWARG = re.compile(
    r"(?P<key>token|currentSigningKey|nextSigningKey|current_signing_key|next_signing_key|password)"
    r"[\"']?\s*[:=]\s*" + _VALUE
)
_POSITIONAL = re.compile(r"\(\s*" + _VALUE)
_BEARER = re.compile(r"Bearer\s+(?P<value>[A-Za-z0-9_\-+/=.~]{12,600})")
_QUERY = re.compile(r"[?&]_token=(?P<value>[A-Za-z0-9_\-+/=.~%]{12,600})")
_USERPASS = re.compile(
    r"(?:Basic|basic|-u|--user)[ \t=]+[\"']?(?P<user>[^\s:\"'/]{1,128}):(?P<value>[^\s\"'`@]{12,600})"
)
_AUTH_PAIR = re.compile(
    r"(?:auth\s*=\s*\(|SetBasicAuth\()\s*[\"'][^\"'\n]{1,128}[\"']\s*,\s*[\"'](?P<value>[^\"'`\s]{12,600})[\"']"
)
_PASS_OPT = re.compile(r"(?:-a|--pass)[ \t=]+[\"']?(?P<value>[^\s\"'`]{12,600})")
_CONSTRUCTORS: dict[str, Rule] = {
    "Redis(": REDIS_REST_TOKEN,
    "createClient(": REDIS_REST_TOKEN,
    "Index(": VECTOR_TOKEN,
    "Search(": SEARCH_TOKEN,
    "QStash(": QSTASH_TOKEN,
    "Client(": QSTASH_TOKEN,
    "Receiver(": QSTASH_SIGNING_KEY,
}
_REDIS_CALLS = ("Redis(", "createClient(")
_HOSTS = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,253}\.(?:upstash\.io|kv\.vercel-storage\.com)\b")
_REQUEST_ANCHORS = ("Bearer ", "_token=", "Basic ", "basic ", "-u ", "--user ", "--user=", "-a ", "--pass ")
_AUTH_ANCHORS = ("auth=(", "auth = (", "SetBasicAuth(")
_PARENS = re.compile(r"[()]")
_HTTP_REQUEST = re.compile(r"^\s*(?:GET|POST|PUT|PATCH|DELETE|HEAD)\s+\S+", re.MULTILINE)
_KIND = {
    "currentSigningKey": CredentialKind.SIGNING_KEY_CURRENT,
    "current_signing_key": CredentialKind.SIGNING_KEY_CURRENT,
    "nextSigningKey": CredentialKind.SIGNING_KEY_NEXT,
    "next_signing_key": CredentialKind.SIGNING_KEY_NEXT,
}


def _host_rule(line: str) -> Rule | None:
    low = line.lower()
    if "api.upstash.com" in low:
        return DEVELOPER_API_KEY
    if "upstash.io" not in low:
        return None
    if "qstash" in low:
        return QSTASH_TOKEN
    if "-vector." in low:
        return VECTOR_TOKEN
    if "-search." in low:
        return SEARCH_TOKEN
    return REDIS_REST_TOKEN


def _args_end(text: str, open_paren: int, limit: int = 800) -> int:
    """The ``)`` closing the call opened at ``open_paren`` (nested calls skipped), or the limit."""
    depth = 0
    hi = min(len(text), open_paren + limit)
    for m in _PARENS.finditer(text, open_paren, hi):
        depth += 1 if m.group() == "(" else -1
        if depth == 0:
            return m.start()
    return hi


def _command_around(text: str, pos: int) -> str:
    """The command holding ``pos``: its line plus ``\\``-continued lines, and the request line
    of an HTTP file (``GET https://…`` a few header lines above)."""
    lo, hi = line_around(text, pos, pos, 1024)
    for _ in range(10):  # continued from the lines before
        if lo < 2 or not text[max(0, lo - 3) : lo - 1].rstrip("\r").endswith("\\"):
            break
        lo, _hi = line_around(text, lo - 1, lo - 1, 1024)
    for _ in range(10):  # continued on the lines after
        if not text[lo:hi].rstrip("\r").endswith("\\") or hi >= len(text):
            break
        _lo, hi = line_around(text, hi + 1, hi + 1, 1024)
    block_lo = text.rfind("\n\n", max(0, lo - 2048), lo)
    request = _HTTP_REQUEST.search(text, block_lo + 1 if block_lo >= 0 else max(0, lo - 2048), lo)
    return (request.group() + "\n" if request else "") + text[lo:hi]


class UpstashUsageDetector(AnchoredDetector):
    """Literal tokens given to Upstash SDK constructors or sent to Upstash hosts."""

    rules = ()
    anchors = (*_CONSTRUCTORS, *_REQUEST_ANCHORS, *_AUTH_ANCHORS)
    requires = ("upstash", "Upstash", "UPSTASH", "@vercel/kv")
    priority = 55

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if anchor in _CONSTRUCTORS:
            yield from self._constructor(text, pos, anchor)
            return
        if pos > 0 and anchor[0] == "-" and not text[pos - 1].isspace():
            return  # ``x-a ``, ``--user`` inside a word
        if anchor in _AUTH_ANCHORS:
            yield from self._auth_pair(text, pos)
            return
        command = _command_around(text, pos)
        rule = _host_rule(command)
        if rule is None:
            return
        kind = rule.kind
        if anchor == "Bearer ":
            m = _BEARER.match(text, pos)
        elif anchor == "_token=":
            m = _QUERY.match(text, pos - 1)
        elif anchor in ("-a ", "--pass "):
            m = _PASS_OPT.match(text, pos)
            rule, kind = (
                (REDIS_PASSWORD, CredentialKind.PASSWORD) if rule is REDIS_REST_TOKEN else (rule, kind)
            )
        else:
            m = _USERPASS.match(text, pos)
            if m and m.group("value").startswith("//"):
                m = None  # ``-u rediss://…``: a URL, the Redis URL detector's job
        cand = self._candidate(text, m, rule, kind, "sent to an Upstash host") if m else None
        if cand:
            yield cand

    def _auth_pair(self, text: str, pos: int) -> Iterator[Candidate]:
        """``requests.get(url, auth=("EMAIL", "KEY"))`` / Go's ``req.SetBasicAuth("EMAIL", "KEY")``
        with the Developer API's host in the call or up to five lines above (Go builds the
        request first)."""
        m = _AUTH_PAIR.match(text, pos)
        if not m:
            return
        lo = pos
        for _ in range(6):
            lo = text.rfind("\n", 0, max(0, lo - 1)) + 1
            if lo == 0 or pos - lo > 2048:
                break
        hi = text.find("\n", m.end())
        rule = _host_rule(text[lo : len(text) if hi < 0 else hi])
        if rule is DEVELOPER_API_KEY:
            cand = self._candidate(text, m, rule, rule.kind, "Basic auth to the Upstash Developer API")
            if cand:
                yield cand

    def _constructor(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        rule = _CONSTRUCTORS[anchor]
        args_start = pos + len(anchor) - 1
        args_end = _args_end(text, args_start)
        if anchor in ("QStash(", "Client("):
            m = _POSITIONAL.match(text, args_start, args_end)
            cand = self._candidate(text, m, rule, rule.kind, f"passed to {anchor})") if m else None
            if cand:
                yield cand
        upstash_host: bool | None = None
        for m in _KWARG.finditer(text, args_start, args_end):
            if m.group("key") == "password":
                # a password is an Upstash one only when the call names an Upstash host
                if anchor not in _REDIS_CALLS:
                    continue
                if upstash_host is None:
                    upstash_host = any(is_upstash_host(h) for h in _HOSTS.findall(text, args_start, args_end))
                if not upstash_host:
                    continue
                cand = self._candidate(
                    text, m, REDIS_PASSWORD, CredentialKind.PASSWORD, f"passed to {anchor}password=…)"
                )
                if cand:
                    yield cand
                continue
            kind = _KIND.get(m.group("key"), rule.kind)
            target = QSTASH_SIGNING_KEY if kind in _KIND.values() else rule
            cand = self._candidate(text, m, target, kind, f"passed to {anchor}{m.group('key')}=…)")
            if cand:
                yield cand

    def _candidate(
        self, text: str, m: re.Match[str], rule: Rule, kind: CredentialKind, reason: str
    ) -> Candidate | None:
        value = m.group("value")
        if not is_credential_value(value):
            return None
        start = m.start("value")
        end = start + len(value)
        return Candidate(
            rule=rule,
            start=start,
            end=end,
            value=value,
            confidence=Certainty.MEDIUM,
            reason=reason,
            priority=self.priority,
            kind=kind,
            key=m.groupdict().get("key") or "",
            form=form_at(text, start, end),
        )
