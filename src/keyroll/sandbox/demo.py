"""``keyroll demo``: a whole credential-leak incident, played end to end on the sandbox.

No accounts, no network: :class:`Demo` starts the sandbox in-process (the ``incident`` fleet by
default), makes a local git repository with a committed token and ``.env`` files, starts the
load generator, and then runs what a team would run — inventory → plan → apply → verify →
report — with the consent a real run asks for given on the user's behalf
(``accept_downtime``, ``yes``, ``rewrite_files``). The one step only a person can do, the
dashboard "Reset Credentials" of an integration-managed database, is carried out by
:class:`SandboxDashboard`, which presses the sandbox admin button.

Load-generator failures are attributed to credentials by time and key
(:func:`attribute_failures`): a failure of a credential rotated with an overlap strategy is a
broken promise; a failure of a cutover credential inside its measured window is the accepted
outage. The outcome is a :class:`DemoResult` (value-free; ``to_dict()`` for JSON).

Library code: nothing here prints. Phases go to a :class:`DemoReporter`, step progress to a
:class:`~keyroll.core.progress.Progress`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx

from keyroll.config import Config, load_config
from keyroll.core.errors import RotationError, UsageError
from keyroll.core.model import (
    OVERLAP_STRATEGIES,
    Inventory,
    LocationKind,
    Plan,
    RunState,
    Step,
    Strategy,
)
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Secret, fingerprint_of
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.rotate.options import ApplyOptions, RunResult
from keyroll.sandbox.fleet import load_fleet
from keyroll.sandbox.loadgen import LoadGenerator
from keyroll.sandbox.server import Sandbox
from keyroll.verify.result import CheckCategory, CheckStatus, VerifyResult

__all__ = [
    "Demo",
    "DemoOptions",
    "DemoReporter",
    "DemoResult",
    "FailureAttribution",
    "GroupInfo",
    "SandboxDashboard",
    "Workspace",
    "attribute_failures",
    "deployment_fingerprints",
    "group_infos",
    "make_workspace",
]

CUTOVER_STRATEGIES = frozenset(
    {Strategy.QSTASH_TOKEN, Strategy.INDEX_RESET, Strategy.REDIS_CUTOVER, Strategy.INTEGRATION_RESET}
)
"""Strategies whose old credential dies at once: their failures inside the measured window are
the outage the user accepted."""


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


# -- the person at the dashboard ------------------------------------------------------------


class SandboxDashboard:
    """:class:`~keyroll.rotate.options.HumanActions` for the sandbox: presses the admin
    "Reset Credentials" button of the resource a human step names.

    The resource is found from the step's credential group (its REST URL, else its name, else
    the only integration-managed resource of that product).
    """

    def __init__(self, admin_url: str, plan: Plan, progress: Progress = NULL_PROGRESS) -> None:
        self.admin_url = admin_url.rstrip("/")
        self.plan = plan
        self.progress = progress
        self.clicks: list[dict[str, Any]] = []
        """what was pressed: ``{kind, name, step, resynced}`` (value-free)"""

    def _spec(self, step: Step) -> dict[str, Any]:
        gid = step.id.split("/", 1)[0]
        for cp in self.plan.credentials:
            if cp.steps and cp.steps[0].id.split("/", 1)[0] == gid:
                for s in cp.steps:
                    if "group" in s.params:
                        return dict(s.params["group"])
        return {}

    async def _resource(self, client: httpx.AsyncClient, spec: dict[str, Any]) -> tuple[str, str]:
        kind = str(spec.get("product") or "redis")
        resp = await client.get(f"{self.admin_url}/_sandbox/upstash/resources")
        resp.raise_for_status()
        listing = resp.json().get(kind, []) if kind != "qstash" else []
        if kind == "qstash":
            return kind, "qstash"
        rest_url = str(spec.get("rest_url") or "").rstrip("/")
        name = str(spec.get("resource_name") or "")
        for r in listing:
            if rest_url and str(r.get("rest_url", "")).rstrip("/") == rest_url:
                return kind, str(r["name"])
        for r in listing:
            if name and r.get("name") == name:
                return kind, name
        managed = [r for r in listing if r.get("managed_by") == spec.get("management")]
        if len(managed) == 1:
            return kind, str(managed[0]["name"])
        raise RotationError(
            f"the sandbox dashboard has no {kind} resource for {step_label(spec)}",
            hint="reset it with POST /_sandbox/upstash/<kind>/<name>/reset, then `keyroll resume`",
        )

    async def perform(self, step: Step, instructions: str) -> None:
        """Press "Reset Credentials" for the step's resource.

        :raises RotationError: no matching resource, or the sandbox refused the reset.
        """
        spec = self._spec(step)
        async with httpx.AsyncClient(timeout=30.0) as client:
            kind, name = await self._resource(client, spec)
            resp = await client.post(f"{self.admin_url}/_sandbox/upstash/{kind}/{name}/reset")
            if resp.status_code != 200:
                raise RotationError(
                    f"the sandbox dashboard refused to reset {kind} {name} (HTTP {resp.status_code})",
                    hint="run `keyroll resume` to try again",
                )
            body = resp.json()
        click = {"kind": kind, "name": name, "step": step.id, "resynced": int(body.get("resynced", 0))}
        self.clicks.append(click)
        self.progress.note(
            f'demo: pressed "Reset Credentials" for Upstash {kind} {name!r} in the (sandbox) dashboard '
            f"on your behalf; Vercel resynced {click['resynced']} var(s)"
        )


def step_label(spec: Mapping[str, Any]) -> str:
    """A value-free name for a credential group: ``redis cache`` or the fingerprint."""
    name = spec.get("resource_name") or spec.get("resource_id") or ""
    return f"{spec.get('product', '')} {name}".strip() or str(spec.get("gid", "?"))


# -- the local workspace ----------------------------------------------------------------------


@dataclass(frozen=True)
class Workspace:
    """The demo's local git repository (value-free description)."""

    path: Path
    files: tuple[str, ...]
    """files in the work tree that hold a credential (relative paths)"""
    history: tuple[str, ...]
    """files whose credential is only in git history now"""
    commits: int


def _pick(templates: Mapping[str, str], *suffixes: str, kind: str = "") -> tuple[str, str] | None:
    for name in sorted(templates):
        parts = name.split(":")
        if kind and parts[0] != kind:
            continue
        if ":acl:" in name:
            continue
        if parts[-1] in suffixes:
            return name, templates[name]
    return None


def _git(repo: Path, *args: str, date: str = "") -> None:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Acme Dev",
        "GIT_AUTHOR_EMAIL": "dev@acme.example",
        "GIT_COMMITTER_NAME": "Acme Dev",
        "GIT_COMMITTER_EMAIL": "dev@acme.example",
    }
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        # git's message names paths and refs, never file contents
        raise UsageError(
            f"git {args[0]} failed in {repo}: {proc.stderr.strip().splitlines()[-1:] or ['?']}",
            hint="the demo needs a working `git` on PATH",
        )


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def make_workspace(root: Path, templates: Mapping[str, str]) -> Workspace:
    """Create the app's git repository the way a leak usually looks.

    Commit 1 adds ``.env`` with the Redis REST token (the classic mistake); commit 2 removes it
    and ignores ``.env*`` — so the token lives on in history only. The work tree then holds an
    untracked ``.env.local`` (Redis and QStash tokens) and ``.vercel/.env.production.local``
    (``vercel env pull`` output with the Vector and Search tokens).

    :param templates: the sandbox's initial credential values (``World.templates``).
    :raises UsageError: git is missing or fails.
    """
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    rest_url = _pick(templates, "rest_url", kind="redis")
    rest_token = _pick(templates, "rest_token", kind="redis")
    qstash = _pick(templates, "token", kind="qstash")
    vector = _pick(templates, "token", kind="vector")
    search = _pick(templates, "token", kind="search")
    vector_url = _pick(templates, "url", kind="vector")
    search_url = _pick(templates, "url", kind="search")

    def lines(*pairs: tuple[str, tuple[str, str] | None]) -> str:
        return "".join(f"{key}={item[1]}\n" for key, item in pairs if item is not None)

    _write(root / "README.md", "# acme storefront\n\nNext.js app on Vercel, Upstash Redis for carts.\n")
    _write(
        root / ".env",
        lines(("UPSTASH_REDIS_REST_URL", rest_url), ("UPSTASH_REDIS_REST_TOKEN", rest_token)),
    )
    _git(root, "add", "README.md", ".env")
    _git(root, "commit", "-q", "--no-verify", "-m", "add redis cart store", date="2024-03-01T10:00:00Z")
    _git(root, "rm", "-q", "--cached", ".env")
    (root / ".env").unlink()
    _write(root / ".gitignore", ".env*\n.vercel\n")
    _git(root, "add", ".gitignore")
    _git(root, "commit", "-q", "--no-verify", "-m", "stop tracking .env", date="2024-03-02T09:00:00Z")
    files: list[str] = []
    local = lines(
        ("UPSTASH_REDIS_REST_URL", rest_url),
        ("UPSTASH_REDIS_REST_TOKEN", rest_token),
        ("QSTASH_TOKEN", qstash),
    )
    if local:
        _write(root / ".env.local", local, 0o600)
        files.append(".env.local")
    pulled = lines(
        ("UPSTASH_VECTOR_REST_URL", vector_url),
        ("UPSTASH_VECTOR_REST_TOKEN", vector),
        ("UPSTASH_SEARCH_REST_URL", search_url),
        ("UPSTASH_SEARCH_REST_TOKEN", search),
    )
    if pulled:
        _write(root / ".vercel" / ".env.production.local", "# Created by Vercel CLI\n" + pulled, 0o600)
        files.append(".vercel/.env.production.local")
    return Workspace(root, tuple(files), (".env",) if rest_token else (), 2)


# -- attributing load-generator failures --------------------------------------------------------


@dataclass(frozen=True)
class GroupInfo:
    """What the failure attribution needs to know about one rotated credential group."""

    gid: str
    credential: str
    strategy: Strategy
    label: str
    fingerprints: frozenset[str]
    """old and new fingerprints of every value of the group"""
    writes: frozenset[tuple[str, str]]
    """(project id, env key) pairs the rotation wrote or waited for"""
    window: tuple[float, float] | None = None
    """measured cutover window (reset → last READY), epoch seconds"""

    @property
    def overlap(self) -> bool:
        """True when the strategy promises zero failed requests."""
        return self.strategy not in CUTOVER_STRATEGIES


@dataclass
class FailureAttribution:
    """Load-generator failures sorted by whose fault they are (counts and value-free samples)."""

    total: int = 0
    overlap: int = 0
    """failures of credentials rotated with an overlap strategy (must be 0)"""
    cutover_in_window: int = 0
    """failures of a cutover credential inside its measured window (the accepted outage)"""
    cutover_outside_window: int = 0
    """failures of a cutover credential outside its measured window (the window is wrong)"""
    unattributed: int = 0
    """failures naming no rotated credential"""
    by_credential: dict[str, int] = field(default_factory=dict)
    observed_span: dict[str, tuple[float, float]] = field(default_factory=dict)
    """credential → (first, last) failure time"""
    samples: list[dict[str, Any]] = field(default_factory=list)
    """a few failures that are not the accepted outage: time, deployment, project, cause"""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        d = asdict(self)
        d["observed_span"] = {k: list(v) for k, v in self.observed_span.items()}
        return d


def _value_fps(value: str) -> set[str]:
    out: set[str] = {fingerprint_of(value)}
    if "://" in value:
        parts = urllib.parse.urlsplit(value)
        if parts.password:
            out.add(fingerprint_of(urllib.parse.unquote(parts.password)))
    return out


def deployment_fingerprints(deployments: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """``deployment id → {env key → fingerprints}`` from the sandbox's deployment dicts (values
    are fingerprinted at once: the value itself and a password inside a URL)."""
    out: dict[str, dict[str, set[str]]] = {}
    for d in deployments:
        env = d.get("env") or {}
        out[str(d.get("id"))] = {str(k): _value_fps(str(v)) for k, v in env.items() if v}
    return out


def group_infos(plan: Plan, journal: Journal, run_id: str) -> list[GroupInfo]:
    """One :class:`GroupInfo` per credential plan, from the plan and what the journal holds
    (new fingerprints, measured windows)."""
    secret_fps = journal.secret_fingerprints(run_id) if run_id else {}
    records = journal.step_records(run_id) if run_id else {}
    out: list[GroupInfo] = []
    for cp in plan.credentials:
        gid = cp.steps[0].id.split("/", 1)[0]
        spec: dict[str, Any] = next((dict(s.params["group"]) for s in cp.steps if "group" in s.params), {})
        fps = {str(f) for f in spec.get("fingerprints", [cp.credential])}
        fps |= {str(f) for f in spec.get("credentials", {}).values()}
        fps |= {fp for name, fp in secret_fps.items() if name.startswith(f"{gid}:")}
        writes: set[tuple[str, str]] = set()
        window: tuple[float, float] | None = None
        for s in cp.steps:
            for loc in s.params.get("locations", []):
                key = str(loc.get("key") or "")
                if not key:
                    continue
                if loc.get("kind") == "vercel_env" and loc.get("project_id"):
                    writes.add((str(loc["project_id"]), key))
                for pid in (
                    loc.get("linked_project_ids", []) if loc.get("kind") == "vercel_shared_env" else []
                ):
                    writes.add((str(pid), key))
            rec = records.get(s.id)
            if rec is not None and "window_start" in rec.detail and "window_end" in rec.detail:
                start, end = float(rec.detail["window_start"]), float(rec.detail["window_end"])
                window = (min(start, window[0]), max(end, window[1])) if window else (start, end)
        out.append(
            GroupInfo(
                gid, cp.credential, cp.strategy, step_label(spec), frozenset(fps), frozenset(writes), window
            )
        )
    return out


def _failing_keys(cause: str) -> list[str]:
    """``"KEY: cause; KEY2: cause"`` → ``[KEY, KEY2]`` (``A/B`` names both signing keys)."""
    text = cause.removeprefix("delivery: ")
    keys: list[str] = []
    for part in text.split("; "):
        head, sep, _ = part.partition(": ")
        if not sep:
            continue
        for key in head.split("/"):
            key = key.strip()
            if key and key.replace("_", "").isalnum() and key.upper() == key:
                keys.append(key)
    return keys


def attribute_failures(
    failures: Sequence[Mapping[str, Any]],
    env_fps: Mapping[str, Mapping[str, set[str]]],
    groups: Sequence[GroupInfo],
    *,
    slack_s: float = 0.5,
    max_samples: int = 20,
) -> FailureAttribution:
    """Sort load-generator failures by the credential behind them.

    A failure names the failing env keys of a deployment; the deployment's value fingerprints
    for those keys say which rotated group it belongs to (else the group that wrote that key in
    that project). Any overlap group among the candidates makes it an overlap failure; a cutover
    group's failure counts as the accepted outage when it falls inside that group's measured
    window (± ``slack_s`` for requests in flight).
    """
    result = FailureAttribution(total=len(failures))
    spans: dict[str, list[float]] = {}
    for f in failures:
        t = float(f.get("t") or 0.0)
        dep_env = env_fps.get(str(f.get("deployment")), {})
        project = str(f.get("project") or "")
        candidates: list[GroupInfo] = []
        for key in _failing_keys(str(f.get("cause", ""))):
            fps = dep_env.get(key, set())
            by_value = [g for g in groups if fps & g.fingerprints]
            by_write = [g for g in groups if (project, key) in g.writes]
            candidates.extend(by_value or by_write)
        unique = list({g.gid: g for g in candidates}.values())
        sample = {k: f.get(k) for k in ("t_rel", "kind", "deployment", "project", "status", "cause")}
        if not unique:
            result.unattributed += 1
            if len(result.samples) < max_samples:
                result.samples.append({**sample, "attributed_to": None})
            continue
        for g in unique:
            result.by_credential[g.credential] = result.by_credential.get(g.credential, 0) + 1
            spans.setdefault(g.credential, []).append(t)
        overlap = [g for g in unique if g.overlap]
        if overlap:
            result.overlap += 1
            if len(result.samples) < max_samples:
                result.samples.append(
                    {**sample, "attributed_to": overlap[0].credential, "strategy": "overlap"}
                )
            continue
        inside = any(g.window and g.window[0] - slack_s <= t <= g.window[1] + slack_s for g in unique)
        if inside:
            result.cutover_in_window += 1
        else:
            result.cutover_outside_window += 1
            if len(result.samples) < max_samples:
                result.samples.append(
                    {**sample, "attributed_to": unique[0].credential, "strategy": "cutover"}
                )
    result.observed_span = {k: (min(v), max(v)) for k, v in spans.items()}
    return result


# -- the result -------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """Everything the demo's summary shows (value-free)."""

    state_dir: str
    env_file: str
    fleet: str
    run_id: str = ""
    run_state: str = ""
    ok: bool = False
    duration_s: float = 0.0
    phases_s: dict[str, float] = field(default_factory=dict)
    projects: int = 0
    credentials_total: int = 0
    credentials_rotated: int = 0
    groups: list[dict[str, Any]] = field(default_factory=list)
    """per credential group: credential, strategy, resource, state, redeployed, window_s"""
    deployments_redeployed: int = 0
    requests: int = 0
    failed_requests: int = 0
    failures: dict[str, Any] = field(default_factory=dict)
    """:meth:`FailureAttribution.to_dict`"""
    cutover_windows: list[dict[str, Any]] = field(default_factory=list)
    stale: dict[str, Any] = field(default_factory=dict)
    """copies of the old values by kind: found, replaced/removed, left"""
    human_steps: list[dict[str, Any]] = field(default_factory=list)
    consent: list[str] = field(default_factory=list)
    verify_passed: bool = False
    verify_counts: dict[str, int] = field(default_factory=dict)
    verify_problems: list[str] = field(default_factory=list)
    report_html: str = ""
    report_json: str = ""
    api_calls: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {"kind": "keyroll.demo", "version": 1, **asdict(self)}


_KIND_LABELS = {
    LocationKind.VERCEL_ENV.value: "Vercel project vars",
    LocationKind.VERCEL_SHARED_ENV.value: "team shared vars",
    LocationKind.GITHUB_SECRET.value: "GitHub Actions secrets",
    LocationKind.FILE.value: "local files",
    LocationKind.GIT_COMMIT.value: "git history",
}


def _stale_summary(vr: VerifyResult) -> dict[str, Any]:
    by_kind: dict[str, Counter[str]] = {}
    for c in vr.checks:
        if c.category not in (CheckCategory.STALE, CheckCategory.HISTORY):
            continue
        rest = c.id.removeprefix(f"{c.category.value}:{c.credential}:")
        kind = rest.split(":", 1)[0]
        if kind not in _KIND_LABELS:
            continue
        by_kind.setdefault(kind, Counter())[c.status.value] += 1
    rows = []
    for kind, counts in sorted(by_kind.items()):
        found = sum(counts.values())
        removed = counts.get(CheckStatus.PASS.value, 0)
        rows.append(
            {
                "kind": kind,
                "label": _KIND_LABELS[kind],
                "found": found,
                "removed": removed,
                "left": found - removed,
                "not_rewritten": kind == LocationKind.GIT_COMMIT.value,
            }
        )
    return {
        "found": sum(r["found"] for r in rows),
        "removed": sum(r["removed"] for r in rows),
        "left": sum(r["left"] for r in rows),
        "by_kind": rows,
    }


# -- the demo ---------------------------------------------------------------------------------


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
        _write(self.env_file, "".join(f"{k}={v}\n" for k, v in sorted(self.env().items())), 0o600)
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
        _write(self.state_dir / "summary.json", json.dumps(result.to_dict(), indent=2) + "\n")
        return result

    async def _rotate(self, result: DemoResult, workspace: Workspace) -> None:
        from keyroll.audit.run import AuditOptions, audit
        from keyroll.inventory import InventoryOptions, take_inventory
        from keyroll.journal.read import load_runlog
        from keyroll.providers.factory import open_providers
        from keyroll.report.build import build_report
        from keyroll.report.html import HtmlFormat
        from keyroll.report.json import JsonFormat
        from keyroll.rotate.engine import Engine
        from keyroll.rotate.planner import make_plan
        from keyroll.verify.run import VerifyOptions, verify

        cfg = self._config()
        repos, orgs = self._github_scope()
        inv_options = InventoryOptions(
            github_repos=repos, github_orgs=orgs, paths=(workspace.path,), git_repos=(workspace.path,)
        )
        tick = time.time()
        async with open_providers(cfg) as providers:
            inv: Inventory = await take_inventory(providers, inv_options, self.progress)
            result.phases_s["inventory"] = round(time.time() - tick, 2)
            self.reporter.phase(
                "inventory",
                f"{len(inv.credentials)} credentials, {len(inv.locations)} copies "
                f"({_count_kinds(inv)}), {len(inv.unknowns)} unknown(s)",
            )
            plan = make_plan(inv, all_upstash=True, build_seconds_estimate=self.options.build_seconds)
            result.credentials_total = len({f for cp in plan.credentials for f in _fps(cp.steps)})
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
            key = JournalKey.from_passphrase(self._passphrase)
            tick = time.time()
            with Journal.open(self.journal_path, key, create=True) as journal:
                self.reporter.phase("apply", "mint → write env → redeploy → wait READY → verify → revoke")
                run = await Engine(providers, journal, options, self.progress, human=dashboard).apply(
                    plan, inventory=inv
                )
                result.phases_s["apply"] = round(time.time() - tick, 2)
                self._record_run(result, run, plan)
                result.human_steps = list(dashboard.clicks)
                self._groups = group_infos(plan, journal, run.run_id)
                self.reporter.phase("verify", "new accepted, old rejected, deployments fresh, no stale copy")
                tick = time.time()
                vr = await verify(
                    providers,
                    journal,
                    VerifyOptions(
                        run_id=run.run_id,
                        paths=(workspace.path,),
                        git_repos=(workspace.path,),
                        inventory_options=inv_options,
                    ),
                    self.progress,
                )
                result.phases_s["verify"] = round(time.time() - tick, 2)
                result.verify_passed = vr.passed
                result.verify_counts = vr.counts()
                result.verify_problems = [
                    c.title + (f" ({'; '.join(e.what for e in c.evidence)})" if c.evidence else "")
                    for c in vr.checks
                    if c.status in (CheckStatus.FAIL, CheckStatus.UNKNOWN)
                ][:20]
                result.stale = _stale_summary(vr)
                self.reporter.phase("report", "incident record: HTML and JSON")
                tick = time.time()
                log = load_runlog(journal, run.run_id, path=str(self.journal_path))
                runlogs = [load_runlog(journal, r.id, path=str(self.journal_path)) for r in journal.runs()]
                audited = await audit(providers, AuditOptions(), runlogs, self.progress)
                from keyroll import __version__
                from keyroll.harden.latest import latest_path
                from keyroll.report.hardening import check_hardening

                # the record's hardening follow-ups: the harden checks, run now (read-only)
                hardening = await check_hardening(providers, latest_path(self.journal_path), self.progress)
                report = build_report(
                    log,
                    vr,
                    audited,
                    now=time.time(),
                    tool_version=__version__,
                    journal_path=str(self.journal_path),
                    hardening=hardening,
                )
                html_path = self.state_dir / "report.html"
                json_path = self.state_dir / "report.json"
                _write(html_path, HtmlFormat().format(report))
                _write(json_path, JsonFormat().format(report))
                result.report_html, result.report_json = str(html_path), str(json_path)
                result.phases_s["report"] = round(time.time() - tick, 2)
            result.api_calls = dict(providers.api_calls())

    def _record_run(self, result: DemoResult, run: RunResult, plan: Plan) -> None:
        result.run_id = run.run_id
        result.run_state = run.state.value
        new_ids: set[str] = set()
        rotated: set[str] = set()
        for cp, outcome in zip(plan.credentials, run.credentials, strict=False):
            spec: dict[str, Any] = next(
                (dict(s.params["group"]) for s in cp.steps if "group" in s.params), {}
            )
            new_ids.update(new for _, new in outcome.deployments)
            if outcome.state == "done":
                rotated.update(_fps(cp.steps))
            result.groups.append(
                {
                    "credential": outcome.credential,
                    "strategy": outcome.strategy.value,
                    "resource": step_label(spec),
                    "management": spec.get("management", ""),
                    "state": outcome.state,
                    "redeployed": len({new for _, new in outcome.deployments}),
                    "window_s": outcome.window_s,
                    "error": outcome.error,
                }
            )
            if outcome.window_s is not None:
                result.cutover_windows.append(
                    {
                        "credential": outcome.credential,
                        "strategy": outcome.strategy.value,
                        "resource": step_label(spec),
                        "window_s": outcome.window_s,
                    }
                )
        result.credentials_rotated = len(rotated)
        result.deployments_redeployed = len(new_ids)
        if run.waiting:
            result.notes.append(f"waiting: {run.waiting}")

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


def _fps(steps: Sequence[Step]) -> set[str]:
    for s in steps:
        if "group" in s.params:
            return {str(f) for f in s.params["group"].get("fingerprints", [])} or {s.credential}
    return {steps[0].credential} if steps else set()


def _count_kinds(inv: Inventory) -> str:
    counts = Counter(loc.kind.value for loc in inv.locations)
    order = [k.value for k in LocationKind]
    return ", ".join(f"{counts[k]} {k.replace('_', ' ')}" for k in order if counts.get(k))
