"""Run a :class:`~keyroll.sandbox.world.World`: every service on its own loopback port.

:class:`Sandbox` is used three ways:

* ``keyroll sandbox up`` — :meth:`Sandbox.serve_forever` in the foreground;
* tests, the demo and benchmarks — ``with Sandbox(...) as sb:`` runs the servers in a
  background thread with its own event loop and tears everything down on exit;
* both write ``DIR/sandbox.json`` and ``DIR/sandbox.env`` (mode 0600).

Services are installed by ``install(world, fleet)`` functions, in order: Upstash first
(it mints the credentials that fleet templates refer to), then Vercel and GitHub.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from keyroll.sandbox.tls import TlsFiles, make_certificates
from keyroll.sandbox.vercel.plan import plan_limits
from keyroll.sandbox.world import Faults, World

__all__ = ["INSTALLERS", "Sandbox"]

log = logging.getLogger(__name__)

UPSTASH_INSTALLER = "keyroll.sandbox.upstash"

TLS_SERVICES = ("vercel", "github")
"""Services also served over HTTPS with ``Sandbox(tls=True)``."""

INSTALLERS = (
    UPSTASH_INSTALLER,
    "keyroll.sandbox.vercel",
    "keyroll.sandbox.github",
)
"""Modules with an ``install(world, fleet) -> None`` function, in installation order."""


class Sandbox:
    """The emulated world, served on 127.0.0.1."""

    def __init__(
        self,
        state_dir: Path | str,
        *,
        fleet: str | dict[str, Any] | Path = "small",
        latency_ms: float = 0.0,
        build_seconds: float = 1.0,
        faults: str | Faults | None = None,
        rate_window_s: float = 60.0,
        templates: Mapping[str, str] | None = None,
        rate_limits: Mapping[str, int] | None = None,
        tls: bool = False,
        services: Sequence[str] | None = None,
        vercel_plan: str = "pro",
        builds_per_day: int | None = None,
        concurrent_builds: int | None = None,
    ) -> None:
        """:param templates: fixed ``${…}`` values (tests without the Upstash emulation).
        :param rate_limits: per-window limits by ``service.class`` (e.g. ``{"vercel.env_write": 5}``).
        :param tls: also serve Vercel and GitHub over HTTPS (a sandbox CA in ``DIR/tls/``), for
            clients that refuse plain HTTP such as the Vercel CLI.
        :param services: install only these (``upstash``, ``vercel``, ``github``); default all.
        :param vercel_plan: the team's plan, ``hobby`` | ``pro`` | ``enterprise``: concurrent builds
            (1, 12, 12 — Enterprise is "by contract", 12 is the stricter stand-in) and deployments per
            day (100, 6000, 6000) — see :mod:`keyroll.sandbox.vercel.plan`.
        :param builds_per_day: override the plan's daily deployment cap (past it: 402).
        :param concurrent_builds: override the plan's build slots (extra slots bought on Pro).
        :raises ValueError: a bad ``faults`` spec, an unknown plan or a bad limit.
        """
        self.vercel_limits = plan_limits(
            vercel_plan, builds_per_day=builds_per_day, concurrent_builds=concurrent_builds
        )
        """the emulated team's plan limits (build slots, deployments per day)"""
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.world = World(
            state_dir=self.state_dir,
            latency_ms=latency_ms,
            build_seconds=build_seconds,
            faults=faults if isinstance(faults, Faults) else Faults.parse(faults),
            rate_window_s=rate_window_s,
            templates=dict(templates or {}),
            rate_limits=dict(rate_limits or {}),
            vercel_plan=vercel_plan,
            builds_per_day=builds_per_day,
            concurrent_builds=concurrent_builds,
        )
        self.fleet_spec = fleet
        self.tls = tls
        self.services = tuple(services) if services is not None else None
        self.tls_files: TlsFiles | None = None
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._installed = False
        self._on_ready: Callable[[], None] | None = None

    # -- set-up -------------------------------------------------------------------------
    def install(self) -> None:
        """Load the fleet and install every available service (idempotent).

        The Upstash installer starts the redis-servers; when a later step fails they are
        stopped again (the shutdown hooks run) before the error propagates.
        """
        if self._installed:
            return
        try:
            self._install()
        except BaseException:
            self._abort_install()
            raise

    def _abort_install(self) -> None:
        """Run the shutdown hooks registered so far (stops redis-servers), then drop the ports."""
        hooks = list(reversed(self.world.shutdown))

        async def run_hooks() -> None:
            for hook in hooks:
                with contextlib.suppress(Exception):
                    await hook()

        # in a thread of its own: install() may be called from inside a running event loop
        worker = threading.Thread(target=lambda: asyncio.run(run_hooks()), name="keyroll-sandbox-abort")
        worker.start()
        worker.join(timeout=30)
        for sock in self.world.sockets.values():
            sock.close()

    def _install(self) -> None:
        from keyroll.sandbox.fleet import load_fleet, placeholder_templates

        fleet = load_fleet(self.fleet_spec)
        for name in INSTALLERS:
            if self.services is not None and name.rsplit(".", 1)[-1] not in self.services:
                if name == UPSTASH_INSTALLER:
                    for key, value in placeholder_templates(fleet).items():
                        self.world.templates.setdefault(key, value)
                continue
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name != name:
                    raise
                module = None
            install = getattr(module, "install", None)
            if install is None:  # not built yet (or a half-written package without install())
                log.warning("sandbox service %s is not available", name)
                if name == UPSTASH_INSTALLER:
                    # Without the Upstash emulation nobody mints credentials: fill the
                    # fleet's templates with stand-ins so Vercel and GitHub still run.
                    for key, value in placeholder_templates(fleet).items():
                        self.world.templates.setdefault(key, value)
                continue
            install(self.world, fleet)
        for name in self.world.services:
            # ports are bound now and held until serving, so no other process can take them;
            # a service that needed its URL while installing reserved it already
            if name not in self.world.urls:
                self.world.reserve_url(name)
        if self.tls:
            self.tls_files = make_certificates(self.state_dir / "tls")
            for name in TLS_SERVICES:
                if name in self.world.services:
                    self.world.reserve_url(name, "https")
        self._installed = True

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of every service by name."""
        return self.world.urls

    def env(self) -> dict[str, str]:
        """The variables of ``sandbox.env`` (control-plane tokens and base URLs)."""
        env: dict[str, str] = dict(self.world.info.get("env", {}))
        mapping = {
            "vercel": "KEYROLL_VERCEL_API_URL",
            "upstash": "KEYROLL_UPSTASH_API_URL",
            "qstash": "KEYROLL_QSTASH_URL",
            "github": "KEYROLL_GITHUB_API_URL",
        }
        for service, key in mapping.items():
            if service in self.world.urls:
                env[key] = self.world.urls[service]
        if "admin" in self.world.urls:
            env["KEYROLL_SANDBOX_ADMIN_URL"] = self.world.urls["admin"]
        return env

    def write_state_files(self) -> None:
        """Write ``sandbox.json`` and ``sandbox.env`` (0600) into the state dir."""
        info: dict[str, Any] = {
            "version": 1,
            "urls": self.world.urls,
            "env": self.env(),
            **{k: v for k, v in self.world.info.items() if k != "env"},
        }
        if self.tls_files is not None:
            info["tls"] = {"urls": self.world.tls_urls, "ca_cert": str(self.tls_files.ca_cert)}
        self._write_private(self.state_dir / "sandbox.json", json.dumps(info, indent=2, default=str) + "\n")
        lines = [f"{k}={v}" for k, v in sorted(self.env().items())]
        self._write_private(self.state_dir / "sandbox.env", "\n".join(lines) + "\n")

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(path, 0o600)

    # -- running ------------------------------------------------------------------------
    async def _serve(self) -> None:
        try:
            await self._run_servers()
        finally:
            # also when a start-up hook or a server failed: the redis-servers run since install()
            for hook in reversed(self.world.shutdown):
                with contextlib.suppress(Exception):
                    await hook()
            for sock in self.world.sockets.values():
                sock.close()

    async def _run_servers(self) -> None:
        for hook in self.world.startup:
            await hook()
        listeners: list[tuple[Any, str, dict[str, Any]]] = [
            (app, self.world.urls[name], {}) for name, app in self.world.services.items()
        ]
        if self.tls_files is not None:
            ssl = {"ssl_certfile": str(self.tls_files.cert), "ssl_keyfile": str(self.tls_files.key)}
            listeners += [(self.world.services[n], url, ssl) for n, url in self.world.tls_urls.items()]
        sockets: list[socket.socket] = []
        for app, url, extra in listeners:
            sockets.append(self.world.socket_for(url))
            config = uvicorn.Config(
                app,
                host="127.0.0.1",
                port=int(url.rsplit(":", 1)[1]),
                log_level="warning",
                access_log=False,
                lifespan="off",
                **extra,
            )
            server = uvicorn.Server(config)
            # uvicorn < 0.30 installs handlers in serve(); newer ones capture signals only in
            # the main thread and re-raise them on exit, which ends every server in turn.
            server.install_signal_handlers = lambda: None  # type: ignore[method-assign,attr-defined,unused-ignore]
            self._servers.append(server)
        tasks = [
            asyncio.create_task(s.serve(sockets=[sock]))
            for s, sock in zip(self._servers, sockets, strict=True)
        ]
        while not all(s.started for s in self._servers):
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done() and t.exception():
                        raise t.exception()  # type: ignore[misc]
            await asyncio.sleep(0.01)
        self.write_state_files()
        self._ready.set()
        if self._on_ready is not None:
            self._on_ready()
        await asyncio.gather(*tasks)

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.close()

    def start(self, timeout: float = 30.0) -> Sandbox:
        """Start in a background thread; returns when every service answers."""
        self.install()
        self._thread = threading.Thread(target=self._thread_main, name="keyroll-sandbox", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("sandbox did not start in time")
        if self._error is not None:
            raise RuntimeError(f"sandbox failed to start: {self._error!r}") from self._error
        return self

    def stop(self) -> None:
        """Stop every server and run shutdown hooks (stops redis-server)."""
        for s in self._servers:
            s.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._thread = None

    def call(self, coro: Any, timeout: float = 30.0) -> Any:
        """Run a coroutine on the sandbox's loop from another thread (tests use it to poke state)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Foreground mode for ``keyroll sandbox up``: runs until interrupted.

        :param on_ready: called once every service answers and the state files are written.
        """
        self.install()
        self._on_ready = on_ready

        async def main() -> None:
            # SIGINT is handled by asyncio.run (it cancels this task); treat SIGTERM the same
            # way so shutdown hooks (which stop redis-server) always run.
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()
            if task is not None:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(signal.SIGTERM, task.cancel)
            await self._serve()

        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            asyncio.run(main())

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
