"""The demo's run: the sandbox, the leak, the load, and what a team would run, end to end.

:class:`Demo` starts the sandbox in-process (the ``incident`` fleet by default), makes a local
git repository with a committed token and ``.env`` files, starts the load generator, and then
runs what a team would run — inventory → plan → apply → verify → report — through the
application layer, with the consent a real run asks for given on the user's behalf
(``accept_downtime``, ``yes``, ``rewrite_files``). The one step only a person can do is done by
:class:`~keyroll.demo.dashboard.SandboxDashboard`. The outcome is a
:class:`~keyroll.demo.result.DemoResult` (value-free; ``to_dict()`` for JSON).

Library code: nothing here prints. Phases go to a :class:`DemoReporter`, step progress to a
:class:`~keyroll.core.progress.Progress`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from keyroll.config import Config, load_config
from keyroll.core.model import OVERLAP_STRATEGIES, Inventory, LocationKind, RunState
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Secret
from keyroll.demo.attribution import GroupInfo, attribute_failures, deployment_fingerprints, group_infos
from keyroll.demo.dashboard import SandboxDashboard
from keyroll.demo.result import DemoResult, plan_fingerprints, record_run, stale_summary
from keyroll.demo.workspace import Workspace, make_workspace, write_file
from keyroll.sandbox.fleet import load_fleet
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox
from keyroll.verify.result import CheckStatus

__all__ = ["Demo", "DemoOptions", "DemoReporter"]


class DemoReporter(Protocol):
    """Receives the demo's phases (the CLI prints them; tests may record them)."""

    def phase(self, title: str, detail: str = "") -> None:
        """A new phase started (``detail``: one value-free line)."""
        ...


class _NullReporter:
    def phase(self, title: str, detail: str = "") -> None:
        return None


@dataclass(frozen=True)
class DemoOptions:
    """How the demo's world is built and driven."""

    state_dir: Path
    """where the sandbox state, the git repository, the journal and the reports go"""
    fleet: str | Path | Mapping[str, Any] = "incident"
    """built-in fleet name, fleet file, or a fleet dict"""
    build_seconds: float = 2.0
    """how long one sandbox build takes (the cutover window is about one build)"""
    latency_ms: float = 10.0
    """added latency per control-plane API request"""
    rps: float = 40.0
    """load-generator requests per second over every serving deployment"""
    rate_window_s: float = 60.0
    """length of a rate-limit window (60 s like the real APIs)"""


class Demo:
    """One demo run: ``with Demo(options) as demo: result = demo.run()``.

    The sandbox runs from ``__enter__`` to ``__exit__`` (so ``--keep`` can leave it up after
    :meth:`run`); the load generator runs from before the inventory until the report is written.
    """

    def __init__(
        self,
        options: DemoOptions,
        progress: Progress = NULL_PROGRESS,
        reporter: DemoReporter | None = None,
    ) -> None:
        self.options = options
        self.progress = progress
        self.reporter: DemoReporter = reporter or _NullReporter()
        self.state_dir = options.state_dir
        self.sandbox: Sandbox | None = None
        self.loadgen: LoadGenerator | None = None
        self._passphrase = Secret(secrets.token_urlsafe(32))
        self.journal_path = self.state_dir / "journal.db"
        self.env_file = self.state_dir / "demo.env"
        self._fleet: dict[str, Any] = {}
        self._groups: list[GroupInfo] = []

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> Demo:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._fleet = load_fleet(self.options.fleet)  # FleetError (a ValueError) for a bad fleet
        self.sandbox = Sandbox(
            self.state_dir / "sandbox",
            fleet=self._fleet,
            latency_ms=self.options.latency_ms,
            build_seconds=self.options.build_seconds,
            rate_window_s=self.options.rate_window_s,
        )
        self.sandbox.start(timeout=60.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.loadgen is not None:
            with contextlib.suppress(Exception):
                self.loadgen.stop()
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None

    # -- helpers ----------------------------------------------------------------------------
    @property
    def _sb(self) -> Sandbox:
        if self.sandbox is None:
            raise RuntimeError("Demo.run() outside `with Demo(...)`")
        return self.sandbox

    def _github_scope(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        gh = self._fleet.get("github", {})
        repos = tuple(r["name"] for r in gh.get("repos", []))
        orgs = tuple(o["name"] for o in gh.get("orgs", []))
        return repos, orgs

    def env(self) -> dict[str, str]:
        """The variables of ``demo.env``: the sandbox's tokens and URLs, the journal and its key."""
        repos, _ = self._github_scope()
        env = dict(self._sb.env())
        env["KEYROLL_JOURNAL"] = str(self.journal_path)
        env["KEYROLL_JOURNAL_KEY"] = self._passphrase.reveal()
        if repos:
            env["GITHUB_REPOS"] = ",".join(repos)
        return env

    def _write_env_file(self) -> None:
        write_file(self.env_file, "".join(f"{k}={v}\n" for k, v in sorted(self.env().items())), 0o600)
        os.chmod(self.env_file, 0o600)

    def _config(self) -> Config:
        return load_config(None, environ=self.env())

    def _deployments(self) -> list[dict[str, Any]]:
        hook = self._sb.world.hooks.get("vercel.deployments")
        if hook is None:
            return []

        async def read() -> list[dict[str, Any]]:
            return list(hook())

        return list(self._sb.call(read()))

    # -- the run ----------------------------------------------------------------------------
    def run(self) -> DemoResult:
        """Play the incident: workspace → load → inventory → plan → apply → verify → report.

        :raises KeyrollError: a step could not even start (bad fleet, git missing, …); a
            rotation that fails part-way is not an exception: see ``DemoResult.run_state``.
        """
        started = time.time()
        sb = self._sb
        result = DemoResult(
            state_dir=str(self.state_dir),
            env_file=str(self.env_file),
            fleet=str(self._fleet.get("name") or self.options.fleet),
        )
        result.projects = len(self._fleet.get("projects", []))
        self._write_env_file()
        workspace = make_workspace(self.state_dir / "app", sb.world.templates)
        resources = self._fleet.get("upstash", {})
        self.reporter.phase(
            "sandbox",
            f"{result.projects} projects, {len(resources.get('redis', []))} Redis, "
            f"{len(resources.get('vector', []))} Vector, {len(resources.get('search', []))} Search, QStash; "
            f"a git repo with a committed token and {len(workspace.files)} .env file(s) in {workspace.path}",
        )
        self.loadgen = LoadGenerator(sb.world, rps=self.options.rps, duration=1800.0, concurrency=64)
        self.loadgen.start()
        self.reporter.phase(
            "load",
            f"{self.options.rps:g} requests/s against every serving deployment, from now to the report",
        )
        result.consent = [
            "--accept-downtime: cutover strategies (QStash token, Vector/Search index tokens) cause a short, measured outage",
            "--yes: destructive steps (revoking the old credentials, cutover resets) run without a prompt",
            "--rewrite-files: local files holding a credential are rewritten (a 0600 backup is kept until the rotation is done)",
        ]
        try:
            asyncio.run(self._rotate(result, workspace))
        finally:
            stats = self.loadgen.stop()
        result.requests = int(stats.get("requests", 0))
        result.failed_requests = int(stats.get("failed", 0))
        self._attribute(result, stats)
        result.duration_s = round(time.time() - started, 2)
        result.ok = (
            result.run_state == RunState.DONE.value
            and result.verify_passed
            and result.failures.get("overlap", 1) == 0
            and result.failures.get("unattributed", 1) == 0
        )
        write_file(self.state_dir / "summary.json", json.dumps(result.to_dict(), indent=2) + "\n")
        return result

    async def _rotate(self, result: DemoResult, workspace: Workspace) -> None:
        from keyroll.app.apply import apply_plan
        from keyroll.app.inventory import run_inventory
        from keyroll.app.journal import OpenedJournal, open_journal_for_writing
        from keyroll.app.plan import make_rotation_plan
        from keyroll.app.report import ReportScope, collect_evidence, incident_report, read_journal
        from keyroll.app.session import providers_session
        from keyroll.app.verify import run_verify
        from keyroll.audit.run import AuditOptions
        from keyroll.inventory import InventoryOptions
        from keyroll.report.html import HtmlFormat
        from keyroll.report.json import JsonFormat
        from keyroll.rotate.options import ApplyOptions
        from keyroll.verify.run import VerifyOptions

        cfg = self._config()
        repos, orgs = self._github_scope()
        inv_options = InventoryOptions(
            github_repos=repos, github_orgs=orgs, paths=(workspace.path,), git_repos=(workspace.path,)
        )
        tick = time.time()
        async with providers_session(cfg) as providers:
            inv: Inventory = await run_inventory(cfg, inv_options, self.progress, providers=providers)
            result.phases_s["inventory"] = round(time.time() - tick, 2)
            self.reporter.phase(
                "inventory",
                f"{len(inv.credentials)} credentials, {len(inv.locations)} copies "
                f"({_count_kinds(inv)}), {len(inv.unknowns)} unknown(s)",
            )
            plan = make_rotation_plan(cfg, inv, all_upstash=True, build_seconds=self.options.build_seconds)
            result.credentials_total = len(
                {f for cp in plan.credentials for f in plan_fingerprints(cp.steps)}
            )
            overlap = sum(1 for cp in plan.credentials if cp.strategy in OVERLAP_STRATEGIES)
            human = sum(len(cp.human_steps) for cp in plan.credentials)
            self.reporter.phase(
                "plan",
                f"{len(plan.credentials)} rotations, {len(plan.steps)} steps: {overlap} overlap (no outage), "
                f"{len(plan.credentials) - overlap} cutover (≈ one build each), {human} dashboard step(s)",
            )
            dashboard = SandboxDashboard(self._sb.urls["admin"], plan, self.progress)
            options = ApplyOptions(
                accept_downtime=True,
                yes=True,
                rewrite_files=True,
                file_paths=(workspace.path,),
                health_path="/",
            )
            tick = time.time()
            with open_journal_for_writing(cfg, create=True) as journal:
                self.reporter.phase("apply", "mint → write env → redeploy → wait READY → verify → revoke")
                run = await apply_plan(providers, journal, plan, inv, options, self.progress, dashboard)
                result.phases_s["apply"] = round(time.time() - tick, 2)
                record_run(result, run, plan)
                result.human_steps = list(dashboard.clicks)
                self._groups = group_infos(plan, journal, run.run_id)
                self.reporter.phase("verify", "new accepted, old rejected, deployments fresh, no stale copy")
                tick = time.time()
                voptions = VerifyOptions(
                    run_id=run.run_id,
                    paths=(workspace.path,),
                    git_repos=(workspace.path,),
                    inventory_options=inv_options,
                )
                vr = await run_verify(cfg, journal, voptions, self.progress, providers=providers)
                result.phases_s["verify"] = round(time.time() - tick, 2)
                result.verify_passed = vr.passed
                result.verify_counts = vr.counts()
                result.verify_problems = [
                    c.title + (f" ({'; '.join(e.what for e in c.evidence)})" if c.evidence else "")
                    for c in vr.checks
                    if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)
                ][:20]
                result.stale = stale_summary(vr)
                self.reporter.phase("report", "incident record: HTML and JSON")
                tick = time.time()
                # the evidence keyroll report collects, with the verify result just taken; the
                # record's hardening follow-ups are the harden checks, run now (read-only)
                evidence = await collect_evidence(
                    cfg,
                    read_journal(OpenedJournal(self.journal_path, journal), run.run_id),
                    journal,
                    ReportScope(voptions, AuditOptions()),
                    self.progress,
                    verified=vr,
                    providers=providers,
                )
                report = incident_report(evidence, whole_journal=False)
                html_path = self.state_dir / "report.html"
                json_path = self.state_dir / "report.json"
                write_file(html_path, HtmlFormat().format(report))
                write_file(json_path, JsonFormat().format(report))
                result.report_html, result.report_json = str(html_path), str(json_path)
                result.phases_s["report"] = round(time.time() - tick, 2)
            result.api_calls = dict(providers.api_calls())

    def _attribute(self, result: DemoResult, stats: Mapping[str, Any]) -> None:
        groups = self._groups
        env_fps = deployment_fingerprints(self._deployments())
        slack = max(0.5, self.options.build_seconds / 2)
        attribution = attribute_failures(stats.get("failures", []), env_fps, groups, slack_s=slack)
        if int(stats.get("failed", 0)) > len(stats.get("failures", [])):
            # the generator keeps the latest failures only: count the rest as unexplained
            attribution.unattributed += int(stats["failed"]) - len(stats["failures"])
        result.failures = attribution.to_dict()
        for w in result.cutover_windows:
            span = attribution.observed_span.get(w["credential"])
            w["failed_requests"] = attribution.by_credential.get(w["credential"], 0)
            w["observed_failure_span_s"] = round(span[1] - span[0], 3) if span else 0.0


def _count_kinds(inv: Inventory) -> str:
    counts = Counter(loc.kind.value for loc in inv.locations)
    order = [k.value for k in LocationKind]
    return ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in order if counts.get(k))
