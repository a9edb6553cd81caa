"""``keyroll doctor``: is each control-plane token present, valid, and scoped enough?

Each check makes at most one cheap authenticated GET; a token that is absent is reported
as missing without any network call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx

from keyroll.config import Config
from keyroll.core.errors import KeyrollError
from keyroll.core.secret import Secret
from keyroll.journal.keys import resolve_journal_key
from keyroll.journal.store import Journal

__all__ = ["Check", "check_journal_key", "run_doctor"]

NEEDED_SCOPES = {
    "VERCEL_TOKEN": "a Vercel token with access to the team (env read/write, deployments, events)",
    "UPSTASH_API_KEY": "an Upstash Developer API key of the account that owns the databases (with UPSTASH_EMAIL)",
    "QSTASH_TOKEN": "the QStash token (signing keys roll)",
    "GITHUB_TOKEN": "a GitHub token with `repo` (or fine-grained Secrets: read/write) and `admin:org` for org secrets",
}


@dataclass
class Check:
    """One token's result: ``ok`` is None when it could not be checked (absent or unreachable)."""

    name: str
    present: bool
    ok: bool | None = None
    fingerprint: str = ""
    detail: str = ""
    missing_scopes: list[str] = field(default_factory=list)


async def _get(client: httpx.AsyncClient, url: str, **kw: object) -> httpx.Response | None:
    try:
        return await client.get(url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError:
        return None


async def _check_vercel(client: httpx.AsyncClient, cfg: Config, token: Secret) -> Check:
    c = Check("VERCEL_TOKEN", True, fingerprint=token.fingerprint)
    params = {"teamId": cfg.vercel_team_id} if cfg.vercel_team_id else {}
    r = await _get(
        client,
        f"{cfg.vercel_api_url}/v10/projects",
        params={**params, "limit": "1"},
        headers={"Authorization": f"Bearer {token.reveal()}"},
    )
    return _judge(c, r, cfg.vercel_api_url)


async def _check_upstash(client: httpx.AsyncClient, cfg: Config, key: Secret) -> Check:
    c = Check("UPSTASH_API_KEY", True, fingerprint=key.fingerprint)
    if not cfg.upstash_email:
        c.ok = False
        c.detail = "UPSTASH_EMAIL is not set (the Developer API uses email + API key)"
        return c
    r = await _get(
        client, f"{cfg.upstash_api_url}/v2/redis/databases", auth=(cfg.upstash_email, key.reveal())
    )
    return _judge(c, r, cfg.upstash_api_url)


async def _check_qstash(client: httpx.AsyncClient, cfg: Config, token: Secret) -> Check:
    c = Check("QSTASH_TOKEN", True, fingerprint=token.fingerprint)
    r = await _get(client, f"{cfg.qstash_url}/v2/keys", headers={"Authorization": f"Bearer {token.reveal()}"})
    return _judge(c, r, cfg.qstash_url)


async def _check_github(client: httpx.AsyncClient, cfg: Config, token: Secret) -> Check:
    c = Check("GITHUB_TOKEN", True, fingerprint=token.fingerprint)
    r = await _get(
        client,
        f"{cfg.github_api_url}/user",
        headers={"Authorization": f"Bearer {token.reveal()}", "Accept": "application/vnd.github+json"},
    )
    c = _judge(c, r, cfg.github_api_url)
    if r is not None and r.status_code == 200 and "x-oauth-scopes" in r.headers:
        scopes = {s.strip() for s in r.headers["x-oauth-scopes"].split(",") if s.strip()}
        if "repo" not in scopes:
            c.missing_scopes.append("repo")
            c.ok = False
    return c


def check_journal_key(cfg: Config) -> Check:
    """``apply`` journals new credentials encrypted before using them: is there a key, and does it
    unlock the existing journal? (No network.)"""
    name = "KEYROLL_JOURNAL_KEY"
    try:
        key = resolve_journal_key(cfg.journal_key, cfg.journal_path, create=False)
    except KeyrollError as exc:
        return Check(name, True, ok=False, detail=exc.message)
    if key is None:
        return Check(
            name,
            False,
            detail="missing — `apply` needs it to journal new credentials encrypted: set KEYROLL_JOURNAL_KEY "
            "(32+ characters) or use an OS keyring",
        )
    c = Check(name, True, fingerprint="", detail=f"from {key.source}")
    if not cfg.journal_path.exists():
        c.ok, c.detail = True, f"valid ({key.source}); the journal {cfg.journal_path} will be created"
        return c
    try:
        with Journal.open(cfg.journal_path, key):
            pass
    except KeyrollError as exc:
        c.ok, c.detail = False, exc.message
        return c
    c.ok, c.detail = True, f"unlocks the journal {cfg.journal_path} ({key.source})"
    return c


def _judge(c: Check, r: httpx.Response | None, base: str) -> Check:
    if r is None:
        c.detail = f"{base} unreachable; token not checked"
        return c
    if r.status_code in (401, 403):
        c.ok = False
        c.detail = f"rejected ({r.status_code}): the token is invalid, expired or lacks a scope"
    elif r.status_code < 300:
        c.ok = True
        c.detail = "valid"
    else:
        c.detail = f"unexpected HTTP {r.status_code}; token not confirmed"
    return c


async def run_doctor(cfg: Config, *, timeout: float = 10.0) -> list[Check]:
    """Check every control-plane token; never raises for network trouble."""
    tokens = cfg.tokens()
    checks: dict[str, Check] = {}
    async with httpx.AsyncClient(timeout=timeout) as client:
        jobs = {}
        for name, fn in (
            ("VERCEL_TOKEN", _check_vercel),
            ("UPSTASH_API_KEY", _check_upstash),
            ("QSTASH_TOKEN", _check_qstash),
            ("GITHUB_TOKEN", _check_github),
        ):
            tok = tokens[name]
            if tok is None:
                checks[name] = Check(name, False, ok=None, detail=f"missing — needs {NEEDED_SCOPES[name]}")
            else:
                jobs[name] = fn(client, cfg, tok)
        results = await asyncio.gather(*jobs.values())
        for name, res in zip(jobs, results, strict=True):
            checks[name] = res
    order = ("VERCEL_TOKEN", "UPSTASH_API_KEY", "QSTASH_TOKEN", "GITHUB_TOKEN")
    return [checks[n] for n in order] + [check_journal_key(cfg)]
