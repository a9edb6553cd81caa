"""The official node clients the sandbox must satisfy, pinned in ``tests/node/package-lock.json``.

``make node-deps`` (part of ``make test``) installs them with ``npm install --no-save`` (the locked
versions; ``npm ci`` refuses this lock because the registry here lacks vercel@64's optional native
packages for other platforms); when a test asks for them and they are missing, :func:`node_modules`
runs the same install. Only where node/npm are absent
does a test skip (with that reason): with node present, an install that fails is a test failure.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
INSTALL_TIMEOUT = 900
PACKAGES = ("vercel", "@vercel/sdk", "@upstash/redis", "@upstash/qstash")


def _installed(modules: Path) -> bool:
    marker = modules / ".package-lock.json"
    lock = NODE_DIR / "package-lock.json"
    fresh = marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime
    return fresh and all((modules / name / "package.json").exists() for name in PACKAGES)


def node_modules() -> Path:
    """``tests/node/node_modules``, installed from the lock file when missing or older than it."""
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node/npm are not installed: the official-client fidelity tests need them")
    modules = NODE_DIR / "node_modules"
    if not _installed(modules):
        done = subprocess.run(
            [
                "npm",
                "install",
                "--prefix",
                str(NODE_DIR),
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
        )
        assert done.returncode == 0, f"npm install failed: {done.stderr.strip()[-2000:]}"
    return modules
