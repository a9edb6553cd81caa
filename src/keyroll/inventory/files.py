"""Source: local files — ``.env*``, ``.vercel/.env.*.local``, configs, shell history, docs.

Known values are found in every form (plain, quoted, inside URLs, URL-encoded, base64) by
one pass of :class:`~keyroll.scan.known.KnownValues` over each file. Dotenv files are also
read as ``KEY=value`` lines, so that a value under an Upstash name that nothing else knows
(a stale copy, another account's token) is still reported. Binary files are skipped;
unreadable or oversized files become unknowns.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keyroll.core.model import Form, Unknown
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.inventory import matching
from keyroll.inventory.classify import KeyClass, classify_key, classify_value
from keyroll.inventory.exports import SENSITIVE_PLACEHOLDER, Origin, detect_origin
from keyroll.inventory.records import TextHit
from keyroll.scan.known import KnownValues

__all__ = ["DotenvSighting", "FileScan", "is_dotenv", "iter_files", "scan_files", "scan_text"]

SKIP_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache"}
    | {".pytest_cache", ".tox", ".cache"}
)
"""Directories that hold tooling, not copies a person made (``.vercel`` and build output are kept)."""
MAX_BYTES = 32 * 1024 * 1024
SNIFF = 8192

_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*[=:]\s*(.*?)\s*$")
_JSON_KEY_LINE = re.compile(r'^\s*"([A-Za-z_][A-Za-z0-9_.-]*)"\s*:')


@dataclass(frozen=True)
class DotenvSighting:
    """A value under an Upstash-looking key in a dotenv file (not necessarily known elsewhere)."""

    secret: Secret
    key_class: KeyClass
    hit: TextHit
    acl_user: str = ""
    endpoint: str = ""


@dataclass
class FileScan:
    """Result of scanning local files."""

    hits: list[TextHit] = field(default_factory=list)
    sightings: list[DotenvSighting] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)
    files: int = 0
    skipped_binary: int = 0


def is_dotenv(path: Path) -> bool:
    """``.env``, ``.env.local``, ``prod.env``, ``.vercel/.env.production.local`` …"""
    name = path.name
    return name.startswith(".env") or name.endswith(".env") or (".env." in name and name.endswith(".local"))


def iter_files(paths: tuple[Path, ...]) -> Iterator[Path]:
    """Every regular file under ``paths`` (directory symlinks are not followed; each file once)."""
    seen: set[str] = set()
    for root in paths:
        if root.is_file():
            candidates: Iterator[Path] = iter([root])
        else:
            candidates = _walk(root)
        for path in candidates:
            try:
                real = os.path.realpath(path)
            except OSError:
                real = str(path)
            if real in seen:
                continue
            seen.add(real)
            yield path


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_file():
                yield path


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'`":
        return value[1:-1]
    return re.split(r"\s+#", value, maxsplit=1)[0]


def _export_keys(text: str) -> dict[str, str]:
    """Fingerprint → key of a JSON export (``{"KEY": "value"}`` or Infisical's
    ``[{"key": …, "value": …}]``), for copies whose line does not name the key."""
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    pairs: list[tuple[object, object]] = []
    if isinstance(data, dict):
        pairs = list(data.items())
    elif isinstance(data, list):
        pairs = [(d.get("key"), d.get("value")) for d in data if isinstance(d, dict)]
    return {fingerprint_of(v): str(k) for k, v in pairs if isinstance(k, str) and isinstance(v, str) and v}


def scan_text(
    text: str, matcher: KnownValues, *, path: str, dotenv: bool, out: FileScan, origin: Origin | None = None
) -> None:
    """Add the known values found in ``text`` (and dotenv sightings) to ``out``. With ``origin``
    (the tool that wrote the file), each copy carries the command that updates it."""
    keys: dict[int, str] = {}
    lines = text.splitlines() if dotenv or origin is not None else []
    for i, text_line in enumerate(lines, start=1):
        m = _DOTENV_LINE.match(text_line) or _JSON_KEY_LINE.match(text_line)
        if m:
            keys[i] = m.group(1)
    by_fp = _export_keys(text) if origin is not None and text.lstrip().startswith(("{", "[")) else {}
    found: set[tuple[int, str]] = set()
    for line, column, match in matching.iter_lines(matcher, text):
        key = keys.get(line, "") or by_fp.get(match.fingerprint, "")
        if origin is not None and origin.tool == "infisical" and by_fp:
            key = by_fp.get(match.fingerprint, key)
        update = origin.command_for(key) if origin is not None else ""
        out.hits.append(TextHit(match.fingerprint, match.form, path, line, column, key=key, update=update))
        found.add((line, match.fingerprint))
    if not dotenv:
        return
    for i, key in keys.items():
        cls = classify_key(key)
        if cls is None or not cls.is_credential:
            continue
        m = _DOTENV_LINE.match(lines[i - 1])
        assert m is not None
        raw = _unquote(m.group(2))
        if not raw or raw.startswith("${") or raw == SENSITIVE_PLACEHOLDER:
            continue  # [SENSITIVE]: `vercel env pull` could not read it either — no copy here
        vc = classify_value(raw)
        if cls.role == "redis_url" and vc is None:
            continue  # a URL without a password holds no credential
        secret = vc.secret if vc is not None else Secret(raw)
        if (i, secret.fingerprint) in found:
            continue
        form = Form.URL if vc is not None and vc.endpoint else Form.PLAIN
        update = origin.command_for(key) if origin is not None else ""
        hit = TextHit(secret.fingerprint, form, path, i, (m.start(2) + 1), key=key, update=update)
        out.sightings.append(
            DotenvSighting(
                secret,
                cls,
                hit,
                acl_user=vc.acl_user if vc else "",
                endpoint=vc.endpoint if vc else "",
            )
        )
        found.add((i, secret.fingerprint))


def scan_files(paths: tuple[Path, ...], matcher: KnownValues) -> FileScan:
    """Scan every file under ``paths`` (blocking; run it in a thread)."""
    out = FileScan()
    for path in iter_files(paths):
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                out.unknowns.append(
                    Unknown(where=f"file {path}", reason=f"too large to scan ({size // (1024 * 1024)} MiB)")
                )
                continue
            data = path.read_bytes()
        except OSError as exc:
            out.unknowns.append(Unknown(where=f"file {path}", reason=f"unreadable: {exc.strerror or exc}"))
            continue
        if b"\0" in data[:SNIFF]:
            out.skipped_binary += 1
            continue
        out.files += 1
        text = data.decode("utf-8", errors="replace")
        origin = detect_origin(path, text)
        dotenv = is_dotenv(path) or (origin is not None and not text.lstrip().startswith(("{", "[")))
        scan_text(text, matcher, path=str(path), dotenv=dotenv, out=out, origin=origin)
    return out
