"""Helpers for tests that run a sandbox: its credentials as canaries, its env as a dotenv file,
the journal passphrase, a webhook receiver."""

from __future__ import annotations

import contextlib
import http.server
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from keyroll.sandbox.server import Sandbox
from tests import canary

PUBLIC_TEMPLATES = frozenset({"url", "rest_url", "host", "port"})
"""last parts of template names whose values are not secrets (URLs, hosts, ports)"""
API_TOKENS = ("VERCEL_TOKEN", "UPSTASH_API_KEY", "QSTASH_TOKEN", "GITHUB_TOKEN")
JOURNAL_PASSPHRASE = "a journal passphrase of 32+ characters"
"""the passphrase of the tests' journals (the ``journal_key``, ``journal_env`` fixtures)"""


class SandboxFactory(Protocol):
    """Starts a sandbox for the test: the ``sandbox_factory`` fixture of ``tests/conftest.py``.

    ``canaries``: which of its credentials become canaries — ``templates`` (every credential the
    fleet minted) and ``api_tokens`` (the tokens of its env); ``state_dir``: ``tmp_path/sb``
    unless given; ``journal``: set the CLI's journal (``KEYROLL_JOURNAL`` in ``tmp_path``, its
    passphrase :data:`JOURNAL_PASSPHRASE`); ``kw``: other :class:`Sandbox` arguments.
    """

    def __call__(
        self,
        fleet: str | dict[str, Any] | Path = "small",
        *,
        build_seconds: float = 0.2,
        canaries: Sequence[str] = ("templates", "api_tokens"),
        state_dir: Path | None = None,
        journal: bool = True,
        **kw: Any,
    ) -> Sandbox: ...


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


class _Inbox(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: every POST (headers, body) lands in ``inbox``."""

    inbox: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.inbox.put(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def webhook_receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    """A local HTTP endpoint for QStash deliveries: its URL and the queue of what arrived."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Inbox)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/webhook", _Inbox.inbox
    finally:
        server.shutdown()
        server.server_close()
