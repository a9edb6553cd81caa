"""Upstash credentials passed in code or on a command line, found by how they are used.

* SDK constructors with a literal token: ``new Redis({ url, token: "…" })``,
  ``Index(url=…, token="…")``, ``Search(…)``, ``QStash("…")`` / ``new Client({ token })``,
  ``new Receiver({ currentSigningKey: "…", nextSigningKey: "…" })`` — only in texts that
  mention Upstash, so redis-py's own ``Redis(password=…)`` examples stay out.
* Requests to an Upstash host: ``Authorization: Bearer …`` or ``?_token=…`` on a line with
  ``*.upstash.io`` (curl in shell history, HTTP files, docs).

Medium confidence: the format is not verified here (structural detectors win any overlap).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from keyroll.core.model import CredentialKind
from keyroll.scan.detectors.base import AnchoredDetector, Candidate
from keyroll.scan.detectors.filters import form_at, line_around
from keyroll.scan.detectors.qstash import QSTASH_SIGNING_KEY, QSTASH_TOKEN
from keyroll.scan.detectors.upstash_env import is_credential_value
from keyroll.scan.detectors.upstash_index import SEARCH_TOKEN, VECTOR_TOKEN
from keyroll.scan.detectors.upstash_redis import REDIS_REST_TOKEN
from keyroll.scan.findings import Certainty, Rule

__all__ = ["UpstashUsageDetector"]

_VALUE = r"[\"'`](?P<value>[^\"'`\s]{12,600})[\"'`]"
_KWARG = re.compile(
    r"(?P<key>token|currentSigningKey|nextSigningKey|current_signing_key|next_signing_key)"
    r"[\"']?\s*[:=]\s*" + _VALUE
)
_POSITIONAL = re.compile(r"\(\s*" + _VALUE)
_BEARER = re.compile(r"Bearer\s+(?P<value>[A-Za-z0-9_\-+/=.~]{12,600})")
_QUERY = re.compile(r"[?&]_token=(?P<value>[A-Za-z0-9_\-+/=.~%]{12,600})")
_CONSTRUCTORS: dict[str, Rule] = {
    "Redis(": REDIS_REST_TOKEN,
    "Index(": VECTOR_TOKEN,
    "Search(": SEARCH_TOKEN,
    "QStash(": QSTASH_TOKEN,
    "Client(": QSTASH_TOKEN,
    "Receiver(": QSTASH_SIGNING_KEY,
}
_KIND = {
    "currentSigningKey": CredentialKind.SIGNING_KEY_CURRENT,
    "current_signing_key": CredentialKind.SIGNING_KEY_CURRENT,
    "nextSigningKey": CredentialKind.SIGNING_KEY_NEXT,
    "next_signing_key": CredentialKind.SIGNING_KEY_NEXT,
}


def _host_rule(line: str) -> Rule | None:
    low = line.lower()
    if "upstash.io" not in low:
        return None
    if "qstash" in low:
        return QSTASH_TOKEN
    if "-vector." in low:
        return VECTOR_TOKEN
    if "-search." in low:
        return SEARCH_TOKEN
    return REDIS_REST_TOKEN


class UpstashUsageDetector(AnchoredDetector):
    """Literal tokens given to Upstash SDK constructors or sent to Upstash hosts."""

    rules = ()
    anchors = (*_CONSTRUCTORS, "Bearer ", "_token=")
    requires = ("upstash", "Upstash", "UPSTASH")
    priority = 55

    def at(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        if anchor in _CONSTRUCTORS:
            yield from self._constructor(text, pos, anchor)
            return
        lo, hi = line_around(text, pos, pos, 1024)
        rule = _host_rule(text[lo:hi])
        if rule is None:
            return
        m = (_BEARER if anchor == "Bearer " else _QUERY).match(text, pos if anchor == "Bearer " else pos - 1)
        cand = self._candidate(text, m, rule, rule.kind, "sent to an Upstash host") if m else None
        if cand:
            yield cand

    def _constructor(self, text: str, pos: int, anchor: str) -> Iterator[Candidate]:
        rule = _CONSTRUCTORS[anchor]
        args_start = pos + len(anchor) - 1
        close = text.find(")", args_start + 1, args_start + 800)
        args_end = close if close > 0 else min(len(text), args_start + 800)
        if anchor in ("QStash(", "Client("):
            m = _POSITIONAL.match(text, args_start, args_end)
            cand = self._candidate(text, m, rule, rule.kind, f"passed to {anchor})") if m else None
            if cand:
                yield cand
        for m in _KWARG.finditer(text, args_start, args_end):
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
