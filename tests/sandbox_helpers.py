"""Helpers for tests that run a sandbox: its credentials as canaries, its env as a dotenv file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from keyroll.sandbox.server import Sandbox
from tests import canary

PUBLIC_TEMPLATES = frozenset({"url", "rest_url", "host", "port"})
"""last parts of template names whose values are not secrets (URLs, hosts, ports)"""
API_TOKENS = ("VERCEL_TOKEN", "UPSTASH_API_KEY", "QSTASH_TOKEN", "GITHUB_TOKEN")


def register_template_secrets(sb: Sandbox) -> None:
    """Make every credential the sandbox minted (each template but URLs, hosts, ports) a canary."""
    for name, value in sb.world.templates.items():
        if name.rsplit(":", 1)[-1] not in PUBLIC_TEMPLATES:
            canary.register(value)


def register_api_tokens(sb: Sandbox) -> None:
    """Make the sandbox's API tokens (those its env sets) canaries."""
    env = sb.env()
    for key in API_TOKENS:
        if env.get(key):
            canary.register(env[key])


def write_env_file(path: Path, values: Mapping[str, str]) -> Path:
    """Write ``values`` as a dotenv file at ``path``; return ``path``."""
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path
