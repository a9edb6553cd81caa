"""Rewriting local files (``--rewrite-files``): each copy of the old value, in place.

The old value is replaced in the same form (plain, URL-encoded, base64, inside a URL); a 0600
backup (:func:`backup_path`) is kept until the rotation is done. Only configuration gets the
new value: shell history, Markdown and other docs, notebooks and logs are *redacted* — every
form of the old value becomes :data:`REDACTED` — because a new secret written there is a new
leak (:func:`redact_only`). The step's detail says which files were redacted.
"""

from __future__ import annotations

import base64
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keyroll.core.errors import RotationError
from keyroll.core.secret import Secret
from keyroll.core.steps import LocationSpec
from keyroll.rotate.render import encode
from keyroll.rotate.runtime import Runtime

__all__ = ["REDACTED", "backup_path", "redact_only", "replace_in_text", "write_files"]

REDACTED = "KEYROLL_REDACTED"
"""What replaces an old value in a file that is not configuration (no new value goes there)."""

_HISTORY_NAMES = frozenset(
    {"fish_history", ".lesshst", ".viminfo", ".wget-hsts", ".histfile", ".history", "history"}
)
_DOC_SUFFIXES = frozenset({".md", ".markdown", ".mdx", ".rst", ".adoc", ".txt", ".org", ".html", ".htm"})
_NOTEBOOK_SUFFIXES = frozenset({".ipynb"})
_LOG_SUFFIXES = frozenset({".log", ".out", ".err", ".trace", ".har"})


def redact_only(path: Path) -> str:
    """Why ``path`` gets a placeholder instead of the new value (``""``: it is configuration).

    Shell and REPL history (``.bash_history``, ``.zsh_history``, ``fish_history``,
    ``.python_history`` …), documentation (Markdown, reStructuredText, AsciiDoc, plain text,
    HTML), notebooks (``.ipynb``) and logs (``*.log``, rotated ``app.log.1``, ``*.out``) are
    records of the past, read and shared by people and tools: a working credential does not
    belong there, so the leaked value is removed and nothing new is written.
    """
    name = path.name.lower()
    suffixes = [s.lower() for s in path.suffixes]
    if name in _HISTORY_NAMES or name.lstrip(".").endswith("history"):  # .zhistory, .psql_history …
        return "shell history"
    if path.suffix.lower() in _NOTEBOOK_SUFFIXES:
        return "notebook"
    if path.suffix.lower() in _DOC_SUFFIXES or name in ("readme", "changelog", "notes"):
        return "documentation"
    if (
        path.suffix.lower() in _LOG_SUFFIXES
        or ".log" in suffixes
        or "logs" in {p.lower() for p in path.parts[:-1]}
    ):
        return "log"
    return ""


def backup_path(path: Path, run_id: str) -> Path:
    """Where the pre-rotation copy of a rewritten file is kept (mode 0600)."""
    return path.with_name(f"{path.name}.keyroll-{run_id}.bak")


def replace_in_text(
    text: str, old: Secret, new: Secret, role: str, old_user: str, new_user: str
) -> tuple[str, int]:
    """Replace every form of ``old`` with the same form of ``new``; returns (text, replacements)."""
    o, n = old.reveal(), new.reveal()
    count = 0
    if role == "url":
        pattern = re.compile(re.escape(urllib.parse.quote(old_user, safe="")) + ":" + re.escape(o) + "@")
        text, k = pattern.subn(lambda _m: f"{urllib.parse.quote(new_user, safe='')}:{n}@", text)
        count += k
        enc_o, enc_n = urllib.parse.quote(o, safe=""), urllib.parse.quote(n, safe="")
        if enc_o != o:
            pattern = re.compile(re.escape(old_user) + ":" + re.escape(enc_o) + "@")
            text, k = pattern.subn(lambda _m: f"{new_user}:{enc_n}@", text)
            count += k
    for enc in ("plain", "url_encoded"):
        eo, en = encode(o, enc), encode(n, enc)
        if eo in text:
            count += text.count(eo)
            text = text.replace(eo, en)

    # base64: decode candidate blobs that contain the old value, re-encode with the new one
    def b64(m: re.Match[str]) -> str:
        nonlocal count
        blob = m.group(0)
        urlsafe = "-" in blob or "_" in blob
        try:
            raw = (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(blob + "=" * (-len(blob) % 4))
        except ValueError:
            return blob
        if o.encode() not in raw:
            return blob
        count += 1
        out = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(
            raw.replace(o.encode(), n.encode())
        ).decode()
        return out if blob.endswith("=") or len(blob) % 4 == 0 else out.rstrip("=")

    text = re.sub(r"[A-Za-z0-9+/_-]{16,}={0,2}", b64, text)
    return text, count


async def write_files(
    rt: Runtime,
    specs: list[LocationSpec],
    values: Mapping[str, Secret],
    old: Mapping[str, Secret],
    *,
    restore: bool = False,
) -> dict[str, Any]:
    """Replace ``old`` with ``values`` in every file of ``specs`` (or restore the backups).

    :raises RotationError: a file cannot be read.
    """
    if not rt.options.rewrite_files:
        return {
            "skipped": "files are rewritten only with --rewrite-files",
            "files": sorted({s.path for s in specs}),
        }
    allowed = [p.resolve() for p in rt.options.file_paths]
    by_path: dict[str, list[LocationSpec]] = {}
    for spec in specs:
        path = Path(spec.path).resolve()
        if allowed and not any(path == a or a in path.parents for a in allowed):
            continue
        by_path.setdefault(str(path), []).append(spec)
    out = []
    for path_s, items in sorted(by_path.items()):
        path = Path(path_s)
        backup = backup_path(path, rt.run_id)
        if restore:
            if backup.exists():
                os.replace(backup, path)
                out.append({"path": path_s, "restored": True})
            continue
        try:
            data = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RotationError(f"cannot read {path}: {type(exc).__name__}") from None
        if not backup.exists():
            fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
        text, total = data, 0
        why = redact_only(path)
        for role in sorted({s.role for s in items}):
            src = old.get("password" if role == "url" and "password" in old else role)
            dst = values.get("password" if role == "url" and "password" in values else role)
            if role == "value":
                src, dst = src or next(iter(old.values()), None), dst or next(iter(values.values()), None)
            if src is None or dst is None or src == dst:
                continue
            old_user = old["username"].reveal() if "username" in old else "default"
            new_user = values["username"].reveal() if "username" in values else "default"
            if why:  # a placeholder, never the new value; the user name stays as it was
                dst, new_user = Secret(REDACTED), old_user
            text, k = replace_in_text(text, src, dst, role, old_user, new_user)
            total += k
        if text != data:
            tmp = path.with_name(f".{path.name}.keyroll-tmp")
            mode = path.stat().st_mode & 0o777
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        entry: dict[str, Any] = {"path": path_s, "replacements": total, "backup": str(backup)}
        if why:
            entry.update(redacted=True, kind=why, placeholder=REDACTED)
        out.append(entry)
    return {"files": out}
