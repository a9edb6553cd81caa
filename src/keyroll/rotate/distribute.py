"""Writing values where the copies live: Vercel project vars, team shared vars, GitHub Actions
secrets and (with ``--rewrite-files``) local files.

* Copies are written in waves: a signing roll's ``signing_current`` copies (retries included)
  before the rest, so no intermediate env lacks the key QStash signs with.
* Vercel project vars are updated in place — an array upsert per project when every item's
  type and scope are known (one request), else ``PATCH`` per var — keeping type (sensitive stays
  sensitive), targets, git branch, custom environments, comment and integration link. Never
  delete + recreate. Every ``failed[]`` item is retried, then the step fails (→ rollback).
  A 2xx answer confirms a write (Vercel answers with the value encrypted, so it cannot be
  compared); the ``rescan`` step reads every written copy back once, at the end.
* Team shared vars: one ``PATCH /v1/env`` for all of them; project links untouched.
* GitHub: ``put_secret`` (sealed box) per secret.
* Files: the old value is replaced in place in the same form (plain, URL-encoded, base64,
  inside a URL); a 0600 backup is kept until the rotation is done. Only configuration gets the
  new value: shell history, Markdown and other docs, notebooks and logs are *redacted* — every
  form of the old value becomes :data:`REDACTED` — because a new secret written there is a new
  leak (:func:`redact_only`). The step's detail says which files were redacted.

Values are rendered per copy by :func:`render` from a value set (``role → Secret``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keyroll.core.errors import KeyrollError, ProviderError, RotationError
from keyroll.core.secret import Secret
from keyroll.providers.github import SecretScope
from keyroll.providers.vercel.models import EnvVarInput
from keyroll.rotate.runtime import Runtime

__all__ = ["REDACTED", "backup_path", "encode", "redact_only", "render", "render_url", "write_locations"]

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


_WRITABLE_TYPES = frozenset({"plain", "encrypted", "sensitive"})


def encode(value: str, form: str) -> str:
    """A raw value in the form a copy uses (``url_encoded``, ``base64``; others are raw)."""
    if form == "url_encoded":
        return urllib.parse.quote(value, safe="")
    if form == "base64":
        return base64.b64encode(value.encode()).decode()
    return value


def render_url(current: str | None, user: str, password: str, endpoint: Mapping[str, Any]) -> str:
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
    host = str(endpoint.get("host") or "")
    if not host:
        raise RotationError(
            "a Redis URL var is unreadable and the database host is unknown",
            hint="make the var readable (not sensitive) or rotate it with --strategy CRED=manual",
        )
    # a group spec may name its own scheme, path and query (a Postgres adapter group); Redis by default
    scheme = str(endpoint.get("scheme") or ("rediss" if endpoint.get("tls", True) else "redis"))
    port = int(endpoint.get("port") or 6379)
    tail = str(endpoint.get("path") or "") + (f"?{endpoint['query']}" if endpoint.get("query") else "")
    return f"{scheme}://{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}@{host}:{port}{tail}"


def render(
    spec: Mapping[str, Any],
    values: Mapping[str, Secret],
    current: Secret | None,
    endpoint: Mapping[str, Any],
) -> Secret:
    """The value a copy must hold under ``values``.

    :raises RotationError: the value set lacks the copy's role.
    """
    role = spec["role"]
    if role == "url":
        if "url" in values and "password" not in values:
            return values["url"]
        pw = values.get("password")
        if pw is None:
            raise RotationError(f"no new password for {spec.get('key') or spec.get('name') or 'a URL copy'}")
        user = values["username"].reveal() if "username" in values else "default"
        return Secret(render_url(current.reveal() if current else None, user, pw.reveal(), endpoint))
    value = values.get(role)
    if value is None and role == "value":
        value = next(iter(values.values()), None)
    if value is None:
        raise RotationError(
            f"no value for role {role} of {spec.get('key') or spec.get('name') or spec.get('path')}"
        )
    form = str(spec.get("form", "plain"))
    if role == "value" and form in ("url", "url_encoded"):
        return _password_in_url(spec, value, current)
    return value if form not in ("url_encoded", "base64") else Secret(encode(value.reveal(), form))


def _password_in_url(spec: Mapping[str, Any], password: Secret, current: Secret | None) -> Secret:
    """A manually rotated password that sits inside a URL (``postgres://user:<pw>@host/db``): the
    var keeps its URL, only the password changes (percent-encoded where the URL needs it).

    :raises RotationError: the current URL could not be read, so it cannot be rebuilt.
    """
    where = spec.get("key") or spec.get("name") or spec.get("path") or "a URL copy"
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


def _render_journaled(
    rt: Runtime,
    gid: str,
    specs: list[dict[str, Any]],
    values: Mapping[str, Secret],
    currents: list[Secret | None],
    endpoint: Mapping[str, Any],
) -> list[Secret]:
    """Render every copy; a value that is not itself in the set (a URL built around a new
    password, an encoded form) is journaled as ``<gid>:rendered:<fp>`` before it is written, so
    that verify can probe exactly what was written."""
    known = {v.fingerprint for v in values.values()}
    out = []
    for spec, current in zip(specs, currents, strict=True):
        value = render(spec, values, current, endpoint)
        if gid and value.fingerprint not in known:
            name = "rendered:" + value.fingerprint.split(":", 1)[-1]
            if not rt.has_value(gid, "rendered", name.split(":", 1)[1]):
                rt.put_value(gid, "rendered", name.split(":", 1)[1], value)
            known.add(value.fingerprint)
        out.append(value)
    return out


async def _current_value(rt: Runtime, spec: Mapping[str, Any]) -> Secret | None:
    """The readable current value of a Vercel var (needed to keep a URL's other parts)."""
    url_copy = spec["role"] == "url" or (
        spec["role"] == "value" and spec.get("form") in ("url", "url_encoded")
    )
    if not url_copy or spec.get("type") == "sensitive":
        return None
    try:
        if spec["kind"] == "vercel_shared_env":
            return (await rt.vercel.get_shared_env(spec["env_id"])).value
        return (await rt.vercel.get_env(spec["project_id"], spec["env_id"])).value
    except KeyrollError:
        return None


_FIRST_ROLES = ("signing_current",)
"""Roles written (retries included) before the others. A signing roll moves the old NEXT key
into CURRENT and a new key into NEXT; with CURRENT written first, every intermediate env holds
the key QStash signs with, so a deployment built in between still verifies deliveries."""


def _merged(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One detail from the waves' details: lists concatenated, counts added."""
    out: dict[str, Any] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = out[k] + v if k in out else v
    return out


def _waves(specs: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    first = [s for s in specs if s.get("role") in _FIRST_ROLES]
    rest = [s for s in specs if s.get("role") not in _FIRST_ROLES]
    return [w for w in (first, rest) if w]


async def _write_project(
    rt: Runtime,
    project_id: str,
    specs: list[dict[str, Any]],
    values: Mapping[str, Secret],
    endpoint: Mapping[str, Any],
    gid: str = "",
) -> dict[str, Any]:
    currents = await asyncio.gather(*(_current_value(rt, s) for s in specs))
    rendered = _render_journaled(rt, gid, specs, values, list(currents), endpoint)
    batch: list[tuple[dict[str, Any], Secret]] = []
    single: list[tuple[dict[str, Any], Secret]] = []
    for spec, value in zip(specs, rendered, strict=True):
        batchable = (
            spec.get("type") in _WRITABLE_TYPES
            and not spec.get("configuration_id")
            and (spec.get("targets") or spec.get("custom_environment_ids"))
        )
        (batch if batchable else single).append((spec, value))
    if len(batch) < 2:
        single.extend(batch)
        batch = []
    calls = 0
    retry: list[tuple[dict[str, Any], Secret]] = []
    deleted: list[dict[str, str]] = []
    if batch:
        items = [
            EnvVarInput(
                key=s["key"],
                value=v,
                type=s["type"],
                target=list(s.get("targets") or []),
                gitBranch=s.get("git_branch") or None,
                customEnvironmentIds=list(s.get("custom_environment_ids") or []),
            )
            for s, v in batch
        ]
        result = await rt.vercel.upsert_env(project_id, items)
        calls += 1
        expected = {s["env_id"] for s, _ in batch}
        ours = {s["key"] for s, _ in batch}
        got = {e.id for e in result.created}
        retry = [(s, v) for s, v in batch if s["env_id"] not in got]
        # an upsert that created a new var instead of updating ours: remove that duplicate
        for extra in result.created:
            if extra.id not in expected and extra.key in ours:
                with contextlib.suppress(KeyrollError):
                    await rt.vercel.delete_env(project_id, extra.id)
                    calls += 1
                    deleted.append({"id": extra.id, "key": extra.key})  # audit: keyroll's own delete
    single.extend(retry)
    attempts = max(1, rt.options.write_retries)

    async def patch(spec: dict[str, Any], value: Secret) -> None:
        nonlocal calls
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                calls += 1
                # the 2xx answer is the confirmation; the rescan step reads every copy back
                await rt.vercel.edit_env(project_id, spec["env_id"], verify=False, value=value)
                return
            except ProviderError as exc:
                last = exc
                if exc.status is not None and exc.status < 500 and exc.status != 429:
                    break
                await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
        raise RotationError(
            f"could not write {spec['key']} of {spec.get('project_name') or project_id}: {last}",
            hint="the credential is rolled back; run `keyroll resume` or `keyroll apply` again",
        )

    await asyncio.gather(*(patch(s, v) for s, v in single))
    return {
        "written": [
            {"env_id": s["env_id"], "key": s["key"], "fp": v.fingerprint, "role": s["role"]}
            for s, v in zip(specs, rendered, strict=True)
        ],
        "batched": len(batch),
        "retried": len(retry),
        "calls": calls,
        **({"deleted": deleted} if deleted else {}),
    }


async def _write_shared(
    rt: Runtime,
    specs: list[dict[str, Any]],
    values: Mapping[str, Secret],
    endpoint: Mapping[str, Any],
    gid: str = "",
) -> dict[str, Any]:
    currents = await asyncio.gather(*(_current_value(rt, s) for s in specs))
    rendered = dict(
        zip(
            [s["env_id"] for s in specs],
            _render_journaled(rt, gid, specs, values, list(currents), endpoint),
            strict=True,
        )
    )
    pending = dict(rendered)
    attempts = max(1, rt.options.write_retries) + 1
    for attempt in range(attempts):
        result = await rt.vercel.update_shared_env({i: {"value": v} for i, v in pending.items()})
        failed_ids = {
            str(
                (f.get("error") or {}).get("envVarId")
                or (f.get("error") or {}).get("id")
                or f.get("id")
                or ""
            )
            for f in result.failed
        }
        if not result.failed:
            pending = {}
            break
        pending = {i: v for i, v in pending.items() if i in failed_ids or "" in failed_ids}
        await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
    if pending:
        keys = sorted(s["key"] for s in specs if s["env_id"] in pending)
        raise RotationError(f"could not update team shared var(s) {', '.join(keys)}")
    return {"written": [{"env_id": i, "fp": v.fingerprint} for i, v in rendered.items()]}


def _scope(spec: Mapping[str, Any]) -> SecretScope:
    scope = str(spec.get("scope") or "repo")
    if scope == "org":
        # inventory records org secrets with repo "org:<name>"
        return SecretScope(kind="org", org=str(spec.get("repo") or "").removeprefix("org:"))
    if scope.startswith("env:"):
        return SecretScope(kind="env", repo=str(spec["repo"]), environment=scope[4:])
    return SecretScope(kind="repo", repo=str(spec["repo"]))


async def _write_github(
    rt: Runtime,
    specs: list[dict[str, Any]],
    values: Mapping[str, Secret],
    endpoint: Mapping[str, Any],
    gid: str = "",
) -> dict[str, Any]:
    out = []
    rendered = _render_journaled(rt, gid, specs, values, [None] * len(specs), endpoint)
    for spec, value in zip(specs, rendered, strict=True):
        await rt.github.put_secret(_scope(spec), spec["name"], value)
        out.append(
            {
                "repo": spec["repo"],
                "scope": spec.get("scope", "repo"),
                "name": spec["name"],
                "fp": value.fingerprint,
            }
        )
    return {"written": out}


def backup_path(path: Path, run_id: str) -> Path:
    """Where the pre-rotation copy of a rewritten file is kept (mode 0600)."""
    return path.with_name(f"{path.name}.keyroll-{run_id}.bak")


def _replace_in_text(
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


async def _write_files(
    rt: Runtime,
    specs: list[dict[str, Any]],
    values: Mapping[str, Secret],
    old: Mapping[str, Secret],
    *,
    restore: bool = False,
) -> dict[str, Any]:
    if not rt.options.rewrite_files:
        return {
            "skipped": "files are rewritten only with --rewrite-files",
            "files": sorted({s["path"] for s in specs}),
        }
    allowed = [p.resolve() for p in rt.options.file_paths]
    by_path: dict[str, list[dict[str, Any]]] = {}
    for spec in specs:
        path = Path(spec["path"]).resolve()
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
        for role in sorted({s["role"] for s in items}):
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
            text, k = _replace_in_text(text, src, dst, role, old_user, new_user)
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


async def write_locations(
    rt: Runtime,
    target: str,
    specs: list[dict[str, Any]],
    values: Mapping[str, Secret],
    endpoint: Mapping[str, Any],
    *,
    old: Mapping[str, Secret] | None = None,
    restore: bool = False,
    gid: str = "",
) -> dict[str, Any]:
    """Write ``values`` to every copy in ``specs`` (all of one ``target``: vercel/shared/github/files).

    With ``gid``, derived values (URLs, encoded forms) are journaled before they are written.

    :raises RotationError: a write kept failing after retries.
    :raises ProviderError: a provider refused (auth, not found).
    """
    started = rt.now()
    if target == "vercel":
        project_id = specs[0]["project_id"]
        detail = _merged(
            [await _write_project(rt, project_id, wave, values, endpoint, gid) for wave in _waves(specs)]
        )
    elif target == "shared":
        detail = _merged([await _write_shared(rt, wave, values, endpoint, gid) for wave in _waves(specs)])
    elif target == "github":
        detail = await _write_github(rt, specs, values, endpoint, gid)
    elif target == "files":
        detail = await _write_files(rt, specs, values, old or {}, restore=restore)
    else:
        raise RotationError(f"unknown write target {target}")
    detail["env_written_at"] = rt.now()
    detail["write_started_at"] = started
    return detail
