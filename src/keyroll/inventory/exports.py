"""Copies outside Vercel that a tool wrote and can write again: ``vercel env pull`` files and the
exports of the secret stores teams seed from Vercel (Doppler, Infisical).

:func:`detect_origin` tells, from a file's name and content, which tool wrote it; the
:class:`Origin` then says exactly which command updates a copy in it:

* ``vercel env pull`` writes ``# Created by Vercel CLI`` as its first line, into ``.env.local``
  (development) or ``.env.<environment>.local``; sensitive variables come out as the placeholder
  ``[SENSITIVE]`` (Vercel CLI 64), which is no copy. Vercel is the source: after ``keyroll apply``
  re-run ``vercel env pull <file> --environment=<env> --yes``.
* Doppler's ``doppler secrets download --no-file --format env|json|yaml`` includes its own
  ``DOPPLER_PROJECT`` / ``DOPPLER_CONFIG`` / ``DOPPLER_ENVIRONMENT`` entries
  (docs.doppler.com/docs/accessing-secrets). Doppler holds a copy itself: set it there
  (``doppler secrets set KEY`` reads the value from stdin or a prompt, never argv), then download.
* Infisical's ``infisical export --format=dotenv|json|yaml`` (infisical.com/docs/cli/commands/export)
  writes ``[{"key": …, "value": …}]`` as JSON; a dotenv/YAML export is told by the project's
  ``.infisical.json`` (``workspaceId``, ``defaultEnvironment``) in the file's directory or above.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SENSITIVE_PLACEHOLDER", "Origin", "detect_origin"]

SENSITIVE_PLACEHOLDER = "[SENSITIVE]"
"""What ``vercel env pull`` (CLI 64) writes for a sensitive variable's value: not a copy."""

_VERCEL_HEADER = "# Created by Vercel CLI"
_PULL_NAME = re.compile(r"^\.env(?:\.(?P<env>[A-Za-z0-9_-]+))?\.local$")
_DOPPLER_LINE = re.compile(
    r"(?:^|[\s{,])\"?DOPPLER_(PROJECT|CONFIG|ENVIRONMENT)\"?\s*[:=]\s*\"?([^\"\s,}]*)", re.MULTILINE
)


@dataclass(frozen=True)
class Origin:
    """The tool that wrote a file, and how to bring a copy in it up to date."""

    tool: str
    """``vercel env pull``, ``doppler`` or ``infisical``"""
    path: str
    refresh: str
    """the command that writes the file again from its source"""
    store: str = ""
    """``doppler`` / ``infisical``: the store that holds a copy itself (updated first)"""
    project: str = ""
    environment: str = ""

    def command_for(self, key: str) -> str:
        """Exactly what updates the copy held under ``key`` (value-free)."""
        name = key or "<KEY>"
        if self.tool == "doppler":
            scope = f" --project {self.project or '<project>'} --config {self.environment or '<config>'}"
            return f"doppler secrets set {name}{scope} (new value on stdin), then {self.refresh}"
        if self.tool == "infisical":
            env = self.environment or "<env>"
            return (
                f"infisical secrets set --env={env} --file=<a dotenv file holding {name}=new value>, "
                f"then {self.refresh}"
            )
        return f"after `keyroll apply` updated Vercel: {self.refresh}"


def _format_of(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    stripped = text.lstrip()
    if suffix == ".json" or stripped.startswith(("{", "[")):
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "env"


def _infisical_workspace(path: Path) -> dict[str, object] | None:
    for d in [path.parent, *path.parent.parents][:6]:
        f = d / ".infisical.json"
        if f.is_file():
            try:
                data = json.loads(f.read_text("utf-8"))
            except (OSError, ValueError):
                return {}
            return data if isinstance(data, dict) else {}
    return None


def _is_infisical_json(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(d, dict) and "key" in d and "value" in d for d in data)
    )


def detect_origin(path: Path, text: str) -> Origin | None:
    """Which tool wrote ``path`` (``None``: none keyroll knows)."""
    where = str(path)
    head = text[:2048]
    if head.lstrip().startswith(_VERCEL_HEADER):
        m = _PULL_NAME.match(path.name)
        env = (m.group("env") if m else None) or "development"
        return Origin(
            "vercel env pull",
            where,
            f"vercel env pull {where} --environment={env} --yes",
            environment=env,
        )
    fmt = _format_of(path, text)
    doppler = dict((k.lower(), v) for k, v in _DOPPLER_LINE.findall(text))
    if "project" in doppler or "config" in doppler:
        project, config = doppler.get("project", ""), doppler.get("config", "")
        return Origin(
            "doppler",
            where,
            f"doppler secrets download --no-file --format {fmt} --project {project or '<project>'} "
            f"--config {config or '<config>'} > {where}",
            store="doppler",
            project=project,
            environment=config,
        )
    workspace = _infisical_workspace(path)
    if (fmt == "json" and _is_infisical_json(text)) or (workspace is not None and fmt in ("env", "yaml")):
        env = str((workspace or {}).get("defaultEnvironment") or "")
        out_fmt = {"env": "dotenv", "json": "json", "yaml": "yaml"}[fmt]
        return Origin(
            "infisical",
            where,
            f"infisical export --env={env or '<env>'} --format={out_fmt} --output-file={where}",
            store="infisical",
            environment=env,
        )
    return None
