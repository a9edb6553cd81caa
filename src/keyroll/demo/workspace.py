"""The demo's local workspace: a git repository that leaked a token the way leaks usually look.

A committed ``.env`` (removed again, so the token lives on in history only), an untracked
``.env.local`` and a ``vercel env pull`` file: the copies keyroll must find and rewrite.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from keyroll.core.errors import UsageError

__all__ = ["Workspace", "make_workspace", "write_file"]


@dataclass(frozen=True)
class Workspace:
    """The demo's local git repository (value-free description)."""

    path: Path
    files: tuple[str, ...]
    """files in the work tree that hold a credential (relative paths)"""
    history: tuple[str, ...]
    """files whose credential is only in git history now"""
    commits: int


def _pick(templates: Mapping[str, str], *suffixes: str, kind: str = "") -> tuple[str, str] | None:
    for name in sorted(templates):
        parts = name.split(":")
        if kind and parts[0] != kind:
            continue
        if ":acl:" in name:
            continue
        if parts[-1] in suffixes:
            return name, templates[name]
    return None


def _git(repo: Path, *args: str, date: str = "") -> None:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Acme Dev",
        "GIT_AUTHOR_EMAIL": "dev@acme.example",
        "GIT_COMMITTER_NAME": "Acme Dev",
        "GIT_COMMITTER_EMAIL": "dev@acme.example",
    }
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        # git's message names paths and refs, never file contents
        raise UsageError(
            f"git {args[0]} failed in {repo}: {proc.stderr.strip().splitlines()[-1:] or ['?']}",
            hint="the demo needs a working `git` on PATH",
        )


def write_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` to ``path`` (parents created) with ``mode`` for a new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def make_workspace(root: Path, templates: Mapping[str, str]) -> Workspace:
    """Create the app's git repository the way a leak usually looks.

    Commit 1 adds ``.env`` with the Redis REST token (the classic mistake); commit 2 removes it
    and ignores ``.env*`` — so the token lives on in history only. The work tree then holds an
    untracked ``.env.local`` (Redis and QStash tokens) and ``.vercel/.env.production.local``
    (``vercel env pull`` output with the Vector and Search tokens).

    :param templates: the sandbox's initial credential values (``World.templates``).
    :raises UsageError: git is missing or fails.
    """
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    rest_url = _pick(templates, "rest_url", kind="redis")
    rest_token = _pick(templates, "rest_token", kind="redis")
    qstash = _pick(templates, "token", kind="qstash")
    vector = _pick(templates, "token", kind="vector")
    search = _pick(templates, "token", kind="search")
    vector_url = _pick(templates, "url", kind="vector")
    search_url = _pick(templates, "url", kind="search")

    def lines(*pairs: tuple[str, tuple[str, str] | None]) -> str:
        return "".join(f"{key}={item[1]}\n" for key, item in pairs if item is not None)

    write_file(root / "README.md", "# acme storefront\n\nNext.js app on Vercel, Upstash Redis for carts.\n")
    write_file(
        root / ".env",
        lines(("UPSTASH_REDIS_REST_URL", rest_url), ("UPSTASH_REDIS_REST_TOKEN", rest_token)),
    )
    _git(root, "add", "README.md", ".env")
    _git(root, "commit", "-q", "--no-verify", "-m", "add redis cart store", date="2024-03-01T10:00:00Z")
    _git(root, "rm", "-q", "--cached", ".env")
    (root / ".env").unlink()
    write_file(root / ".gitignore", ".env*\n.vercel\n")
    _git(root, "add", ".gitignore")
    _git(root, "commit", "-q", "--no-verify", "-m", "stop tracking .env", date="2024-03-02T09:00:00Z")
    files: list[str] = []
    local = lines(
        ("UPSTASH_REDIS_REST_URL", rest_url),
        ("UPSTASH_REDIS_REST_TOKEN", rest_token),
        ("QSTASH_TOKEN", qstash),
    )
    if local:
        write_file(root / ".env.local", local, 0o600)
        files.append(".env.local")
    pulled = lines(
        ("UPSTASH_VECTOR_REST_URL", vector_url),
        ("UPSTASH_VECTOR_REST_TOKEN", vector),
        ("UPSTASH_SEARCH_REST_URL", search_url),
        ("UPSTASH_SEARCH_REST_TOKEN", search),
    )
    if pulled:
        write_file(root / ".vercel" / ".env.production.local", "# Created by Vercel CLI\n" + pulled, 0o600)
        files.append(".vercel/.env.production.local")
    return Workspace(root, tuple(files), (".env",) if rest_token else (), 2)
