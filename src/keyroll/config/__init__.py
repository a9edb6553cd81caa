"""Configuration: environment, ``--env-file`` (dotenv syntax) and an optional ``keyroll.toml``.

Control-plane tokens come from the environment or an env file, never from argv. Every base
URL is overridable so that the sandbox (or an enterprise proxy) can be reached.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyroll.config.policy import Policy, parse_policy_table, parse_strategy_table
from keyroll.core.errors import ConfigError
from keyroll.core.model import Strategy
from keyroll.core.secret import Secret

__all__ = [
    "DEFAULT_URLS",
    "TOKEN_KEYS",
    "Config",
    "load_config",
    "parse_env_file",
    "parse_env_text",
    "parse_host_map",
    "update_env_file",
]

log = logging.getLogger(__name__)

TOKEN_KEYS = ("VERCEL_TOKEN", "UPSTASH_API_KEY", "QSTASH_TOKEN", "GITHUB_TOKEN")
"""Keys whose values are secrets (shown as fingerprints only)."""

PLAIN_KEYS = (
    "VERCEL_TEAM_ID",
    "VERCEL_TEAM_SLUG",
    "UPSTASH_EMAIL",
    "GITHUB_OWNER",
    "GITHUB_REPOS",
    "KEYROLL_JOURNAL",
)

DEFAULT_URLS = {
    "KEYROLL_VERCEL_API_URL": "https://api.vercel.com",
    "KEYROLL_UPSTASH_API_URL": "https://api.upstash.com",
    "KEYROLL_QSTASH_URL": "https://qstash.upstash.io",
    "KEYROLL_GITHUB_API_URL": "https://api.github.com",
}

BYPASS_KEY = "VERCEL_AUTOMATION_BYPASS_SECRET"
"""Protection Bypass for Automation secret, sent as ``x-vercel-protection-bypass`` by keyroll's probes"""

KNOWN_KEYS = frozenset(
    (
        *TOKEN_KEYS,
        *PLAIN_KEYS,
        *DEFAULT_URLS,
        "KEYROLL_JOURNAL_KEY",
        "KEYROLL_SANDBOX_ADMIN_URL",
        "KEYROLL_UPSTASH_HOSTS",
        BYPASS_KEY,
    )
)

TOML_SECTIONS: dict[str, frozenset[str]] = {
    "scope": frozenset({"projects", "exclude_projects", "github_repos", "github_org", "files", "git_repos"}),
    "strategy": frozenset(
        {"redis", "redis_acl", "qstash_token", "qstash_signing", "vector", "search", "default"}
    ),
    "policy": frozenset({"require_sensitive", "accept_downtime", "max_parallel_builds", "build_timeout_s"}),
    "journal": frozenset({"path"}),
    "protection_bypass": frozenset(),
}
"""Known keys per section; ``[protection_bypass]`` takes any project name (see :data:`FREE_SECTIONS`)."""

FREE_SECTIONS = frozenset({"protection_bypass"})
"""Sections whose keys are names (projects): ``[protection_bypass] web = "WEB_BYPASS_SECRET"`` names the
environment variable holding that project's bypass secret — never the secret itself."""

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_env_text(text: str, *, source: str = "<env>") -> tuple[dict[str, str], list[str]]:
    """Parse dotenv text; returns ``(values, warnings)``.

    Supports ``export KEY=value``, comments (``#`` at line start or after whitespace in
    unquoted values), single/double quotes, double-quoted escapes and multi-line quoted values.
    Unquoted values are stripped; stray whitespace or line breaks inside token-like values
    (the mistake Vercel's troubleshooting guide warns about) are removed with a warning that
    names the key.

    :raises ConfigError: on a malformed line, with its line number (never its value).
    """
    values: dict[str, str] = {}
    warnings: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        raw = lines[i]
        i += 1
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :].lstrip()
        if "=" not in stripped:
            raise ConfigError(
                f"{source}:{lineno}: expected KEY=VALUE",
                hint="fix the line or remove it (comments start with #)",
            )
        key, _, rest = stripped.partition("=")
        key = key.strip()
        if not _KEY_RE.match(key):
            raise ConfigError(
                f"{source}:{lineno}: invalid variable name", hint="names are letters, digits and _"
            )
        rest = rest.lstrip()
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body = rest[1:]
            collected: list[str] = []
            while True:
                end = _find_closing(body, quote)
                if end >= 0:
                    collected.append(body[:end])
                    trailing = body[end + 1 :].strip()
                    if trailing and not trailing.startswith("#"):
                        raise ConfigError(f"{source}:{lineno}: unexpected text after closing quote of {key}")
                    break
                collected.append(body)
                if i >= len(lines):
                    raise ConfigError(f"{source}:{lineno}: unterminated quoted value for {key}")
                body = lines[i]
                i += 1
            value = "\n".join(collected)
            if quote == '"':
                value = (
                    value.replace("\\n", "\n").replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")
                )
        else:
            value = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
        cleaned = _clean_token_like(value)
        if cleaned != value:
            warnings.append(f"{source}: {key} had stray whitespace or line breaks; they were removed")
            value = cleaned
        values[key] = value
    return values, warnings


def _find_closing(body: str, quote: str) -> int:
    j = 0
    while j < len(body):
        ch = body[j]
        if ch == "\\" and quote == '"':
            j += 2
            continue
        if ch == quote:
            return j
        j += 1
    return -1


def _clean_token_like(value: str) -> str:
    """Strip outer whitespace; remove inner whitespace when the rest looks like a single token."""
    stripped = value.strip()
    if re.search(r"\s", stripped):
        squashed = re.sub(r"\s+", "", stripped)
        # Only token-like values (no spaces intended): long, no word separators after squashing
        if len(squashed) >= 16 and re.fullmatch(r"[A-Za-z0-9_\-+/=.:@]+", squashed) and "\n" in stripped:
            return squashed
        return stripped
    return stripped


def parse_env_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """Read and parse an env file.

    :raises ConfigError: unreadable file or malformed content.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read env file {path}: {exc.strerror or exc}", hint="check the path"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"env file {path} is not UTF-8 text", hint="save it as UTF-8") from None
    return parse_env_text(text, source=str(path))


def parse_host_map(text: str) -> dict[str, str]:
    """``host=origin,host=origin`` → ``{host: origin}``.

    :raises ValueError: a malformed entry (the message names it, never a value of anything else).
    """
    out: dict[str, str] = {}
    for raw in text.replace(";", ",").split(","):
        item = raw.strip()
        if not item:
            continue
        host, sep, origin = item.partition("=")
        host, origin = host.strip().lower(), origin.strip().rstrip("/")
        parts = urllib.parse.urlsplit(origin)
        if not sep or not host or parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
            raise ValueError(f"KEYROLL_UPSTASH_HOSTS: {item!r} is not host=http(s)://origin")
        out[host] = origin
    return out


def update_env_file(path: Path, key: str, old: Secret, new: Secret) -> bool:
    """Replace ``key``'s value in an env file when it still holds ``old`` (atomically: a 0600
    temporary file in the same directory, fsync, rename; every other line kept byte for byte).

    :returns: True when the file was rewritten (False: ``key`` no longer holds ``old``).
    :raises ConfigError: the file cannot be read or written.
    """
    try:
        text = path.read_bytes().decode("utf-8")  # line endings kept as they are
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read env file {path}: {exc}") from None
    pattern = re.compile(rf"^(\s*(?:export\s+)?{re.escape(key)}\s*=\s*)(['\"]?)(.*?)\2(\s*)$")
    lines = text.splitlines(keepends=True)
    changed = False
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        m = pattern.match(body)
        if m is None or Secret(m.group(3).strip()).fingerprint != old.fingerprint:
            continue
        ending = line[len(body) :]
        lines[i] = f"{m.group(1)}{m.group(2)}{new.reveal()}{m.group(2)}{m.group(4)}{ending}"
        changed = True
    if not changed:
        return False
    tmp = path.with_name(f".{path.name}.keyroll-{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"cannot write env file {path}: {exc.strerror or exc}") from None
    return True


@dataclass(frozen=True)
class Config:
    """Effective configuration. Tokens are :class:`Secret`; absent ones are ``None``."""

    vercel_token: Secret | None = None
    vercel_team_id: str = ""
    vercel_team_slug: str = ""
    upstash_email: str = ""
    upstash_api_key: Secret | None = None
    qstash_token: Secret | None = None
    github_token: Secret | None = None
    github_owner: str = ""
    github_repos: tuple[str, ...] = ()
    vercel_api_url: str = DEFAULT_URLS["KEYROLL_VERCEL_API_URL"]
    upstash_api_url: str = DEFAULT_URLS["KEYROLL_UPSTASH_API_URL"]
    qstash_url: str = DEFAULT_URLS["KEYROLL_QSTASH_URL"]
    github_api_url: str = DEFAULT_URLS["KEYROLL_GITHUB_API_URL"]
    journal_path: Path = Path(".keyroll/journal.db")
    journal_key: Secret | None = None
    sandbox_admin_url: str = ""
    adapter_settings: dict[str, Secret] = field(default_factory=dict)
    """the provider adapters' settings that are set (``NEON_API_KEY``, ``KEYROLL_POSTGRES_ADMIN_URL`` …;
    see :mod:`keyroll.adapters`), every value a :class:`Secret`"""

    upstash_hosts: dict[str, str] = field(default_factory=dict)
    """``KEYROLL_UPSTASH_HOSTS``: documented Upstash data-plane host → the origin it is reached at
    (``curl --resolve``-style; the sandbox's loopback ports, an enterprise proxy)"""

    bypass_secret: Secret | None = None
    """``VERCEL_AUTOMATION_BYPASS_SECRET``: Protection Bypass for Automation, for every project"""
    bypass_secrets: dict[str, Secret] = field(default_factory=dict)
    """per project (name or id) from ``[protection_bypass]`` in keyroll.toml (env var names resolved)"""
    toml: dict[str, Any] = field(default_factory=dict)
    toml_path: Path | None = None
    """the ``keyroll.toml`` read (``None``: none)"""
    strategy: dict[str, Strategy] = field(default_factory=dict)
    """``[strategy]``, checked: key → strategy (see :mod:`keyroll.config.policy`)"""
    policy: Policy = field(default_factory=Policy)
    """``[policy]``, checked; ``None`` fields are not set by the file"""
    sources: dict[str, str] = field(default_factory=dict)
    """where each key came from: ``env``, the env file path, or ``default``; ``[strategy]`` and
    ``[policy]`` keys set by ``keyroll.toml`` appear as ``strategy.KEY`` / ``policy.KEY``"""
    warnings: tuple[str, ...] = ()

    def tokens(self) -> dict[str, Secret | None]:
        """The control-plane tokens by their environment name."""
        return {
            "VERCEL_TOKEN": self.vercel_token,
            "UPSTASH_API_KEY": self.upstash_api_key,
            "QSTASH_TOKEN": self.qstash_token,
            "GITHUB_TOKEN": self.github_token,
        }

    def bypass_for(self, *project_refs: str) -> Secret | None:
        """The Protection Bypass for Automation secret of a project (by name or id), else the team-wide one."""
        for ref in project_refs:
            if ref and ref in self.bypass_secrets:
                return self.bypass_secrets[ref]
        return self.bypass_secret

    def require(self, *keys: str) -> None:
        """:raises ConfigError: naming the first missing key and where to set it."""
        for key in keys:
            value: object = {**self.tokens(), "UPSTASH_EMAIL": self.upstash_email}.get(key)
            if not value:
                raise ConfigError(
                    f"{key} is not set",
                    hint="export it or put it in a file passed with --env-file (never on the command line)",
                )


def _adapter_setting_names() -> frozenset[str]:
    """The settings the installed provider adapters read (their ``Setting`` names)."""
    from keyroll.adapters.registry import get_registry

    return get_registry().setting_names()


def _norm_url(key: str, value: str) -> str:
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^\s/]+", value):
        raise ConfigError(f"{key} must be an http(s) origin such as {DEFAULT_URLS[key]}")
    return value


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    for section, body in data.items():
        if section not in TOML_SECTIONS:
            raise ConfigError(
                f"{path}: unknown section [{section}]", hint=f"known: {', '.join(sorted(TOML_SECTIONS))}"
            )
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key in body:
            if section in FREE_SECTIONS:
                if not isinstance(body[key], str) or not _KEY_RE.match(body[key]):
                    raise ConfigError(
                        f"{path}: {section}.{key} must name an environment variable (e.g. WEB_BYPASS_SECRET)",
                        hint="the secret itself belongs in the environment or --env-file, not in keyroll.toml",
                    )
                continue
            if key not in TOML_SECTIONS[section]:
                raise ConfigError(
                    f"{path}: unknown key {section}.{key}",
                    hint=f"known: {', '.join(sorted(TOML_SECTIONS[section]))}",
                )
    # values too, now: a bad choice must stop every command before it changes anything
    parse_strategy_table(data.get("strategy", {}), str(path))
    parse_policy_table(data.get("policy", {}), str(path))
    return data


def load_config(
    env_file: Path | None = None,
    *,
    environ: dict[str, str] | None = None,
    toml_path: Path | None = None,
    strict_keys: bool = False,
) -> Config:
    """Merge the environment, an env file (which wins) and ``keyroll.toml``.

    :param strict_keys: reject unknown ``KEYROLL_*`` keys in the env file.
    :raises ConfigError: malformed files, bad URLs, unknown keys.
    """
    env = dict(os.environ if environ is None else environ)
    adapter_keys = _adapter_setting_names()
    known_keys = KNOWN_KEYS | adapter_keys
    sources: dict[str, str] = {k: "env" for k in known_keys if env.get(k)}
    warnings: list[str] = []
    if env_file is not None:
        values, warns = parse_env_file(env_file)
        warnings.extend(warns)
        for key, value in values.items():
            if key.startswith("KEYROLL_") and key not in known_keys:
                raise ConfigError(
                    f"{env_file}: unknown setting {key}", hint=f"known: {', '.join(sorted(known_keys))}"
                )
            if strict_keys and key not in known_keys:
                raise ConfigError(f"{env_file}: unknown setting {key}")
            env[key] = value
            if key in known_keys:
                sources[key] = str(env_file)
    else:
        for key in (*TOKEN_KEYS, "UPSTASH_EMAIL"):
            if key in env:
                cleaned = env[key].strip()
                if cleaned != env[key]:
                    warnings.append(
                        f"environment: {key} had stray whitespace or line breaks; they were removed"
                    )
                    env[key] = cleaned
    toml: dict[str, Any] = {}
    if toml_path is None and Path("keyroll.toml").is_file():
        toml_path = Path("keyroll.toml")
    if toml_path is not None:
        toml = _load_toml(toml_path)
        for section in ("strategy", "policy"):
            for key in toml.get(section, {}):
                sources[f"{section}.{key}"] = str(toml_path)

    def secret(key: str) -> Secret | None:
        v = env.get(key, "")
        return Secret(v) if v else None

    urls = {k: _norm_url(k, env[k]) if env.get(k) else v for k, v in DEFAULT_URLS.items()}
    for k in DEFAULT_URLS:
        sources.setdefault(k, "default")
    repos = tuple(r.strip() for r in env.get("GITHUB_REPOS", "").split(",") if r.strip())
    try:
        hosts = parse_host_map(env.get("KEYROLL_UPSTASH_HOSTS", ""))
    except ValueError as exc:
        raise ConfigError(str(exc), hint="write host=https://origin pairs separated by commas") from None
    journal = env.get("KEYROLL_JOURNAL") or toml.get("journal", {}).get("path") or ".keyroll/journal.db"
    return Config(
        vercel_token=secret("VERCEL_TOKEN"),
        vercel_team_id=env.get("VERCEL_TEAM_ID", ""),
        vercel_team_slug=env.get("VERCEL_TEAM_SLUG", ""),
        upstash_email=env.get("UPSTASH_EMAIL", ""),
        upstash_api_key=secret("UPSTASH_API_KEY"),
        qstash_token=secret("QSTASH_TOKEN"),
        github_token=secret("GITHUB_TOKEN"),
        github_owner=env.get("GITHUB_OWNER", ""),
        github_repos=repos,
        vercel_api_url=urls["KEYROLL_VERCEL_API_URL"],
        upstash_api_url=urls["KEYROLL_UPSTASH_API_URL"],
        qstash_url=urls["KEYROLL_QSTASH_URL"],
        github_api_url=urls["KEYROLL_GITHUB_API_URL"],
        journal_path=Path(journal),
        journal_key=secret("KEYROLL_JOURNAL_KEY"),
        sandbox_admin_url=env.get("KEYROLL_SANDBOX_ADMIN_URL", ""),
        adapter_settings={k: Secret(env[k].strip()) for k in sorted(adapter_keys) if env.get(k, "").strip()},
        upstash_hosts=hosts,
        bypass_secret=secret(BYPASS_KEY),
        bypass_secrets={
            project: Secret(env[name])
            for project, name in toml.get("protection_bypass", {}).items()
            if env.get(name)
        },
        toml=toml,
        toml_path=toml_path,
        strategy=parse_strategy_table(toml.get("strategy", {}), str(toml_path)),
        policy=parse_policy_table(toml.get("policy", {}), str(toml_path)),
        sources=sources,
        warnings=tuple(warnings),
    )
