"""Shared machinery of the resilience suite: a sandbox case, plans, crash + resume, outcome checks.

A *case* is one fresh sandbox (fleet ``small``) with its own journal and ``case.env`` (the
sandbox's tokens and URLs, the journal path and key, the GitHub repos to scope). Plans cover
every credential group of the fleet except the integration-managed database, whose dashboard
reset needs a person (``keyroll apply`` without a terminal stops there by design).

:func:`check` settles what the suite claims after a run: the journal holds a run that reached
``done``, its integrity check is clean, every journaled secret decrypts to its recorded
fingerprint, verify's probes say every new value is accepted and every old one rejected, and
no load-generator failure belongs to an overlap strategy.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keyroll.config import load_config
from keyroll.core.model import CredentialPlan, Management, Plan
from keyroll.core.secret import Secret
from keyroll.core.serde import to_jsonable
from keyroll.demo.attribution import (
    FailureAttribution,
    attribute_failures,
    deployment_fingerprints,
    group_infos,
)
from keyroll.inventory import options_from_config, take_inventory
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal
from keyroll.providers.factory import open_providers
from keyroll.rotate.crash import boundary_name
from keyroll.rotate.plan_digest import seal
from keyroll.rotate.planner import make_plan
from keyroll.sandbox.server import Sandbox
from keyroll.verify.result import CheckCategory, CheckStatus
from keyroll.verify.run import VerifyOptions, verify
from tests import canary as canary_mod

PASSPHRASE = "resilience-suite journal passphrase, 32+ characters"
BUILD = 0.2
FLEET = "small"
REPOS = ("acme/web", "acme/api")
RPS = 30.0
_STRIP = ("VERCEL_", "UPSTASH_", "QSTASH_", "KEYROLL_", "KV_", "REDIS_URL", "GITHUB_TOKEN", "GH_TOKEN")


@dataclass
class Case:
    """One sandbox with its journal and env file."""

    sb: Sandbox
    dir: Path
    env_file: Path
    journal: Path


@contextlib.contextmanager
def open_case(directory: Path, *, faults: str | None = None, rate_window_s: float = 60.0) -> Iterator[Case]:
    """A fresh sandbox (fleet ``small``) and ``case.env`` for the CLI."""
    directory.mkdir(parents=True, exist_ok=True)
    with Sandbox(
        directory / "sb", fleet=FLEET, build_seconds=BUILD, faults=faults, rate_window_s=rate_window_s
    ) as sb:
        env = {
            **sb.env(),
            "KEYROLL_JOURNAL": str(directory / "journal.db"),
            "KEYROLL_JOURNAL_KEY": PASSPHRASE,
            "GITHUB_REPOS": ",".join(REPOS),
        }
        env_file = directory / "case.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
        os.chmod(env_file, 0o600)
        yield Case(sb, directory, env_file, directory / "journal.db")


def native(cp: CredentialPlan) -> bool:
    """Every group a CLI run can finish alone (not the integration-managed database)."""
    spec = cp.steps[0].params.get("group") or next(
        (s.params["group"] for s in cp.steps if "group" in s.params), {}
    )
    return spec.get("management") != Management.VERCEL_INTEGRATION.value


def write_plan(case: Case, select: Callable[[CredentialPlan], bool] = native) -> tuple[Path, Plan]:
    """Take the inventory the CLI's ``apply`` will take (same scope) and write a plan file
    holding the selected groups, as ``keyroll plan --out`` does."""
    cfg = load_config(case.env_file)

    async def go() -> Plan:
        async with open_providers(cfg) as providers:
            inv = await take_inventory(providers, options_from_config(cfg))
        everything = make_plan(inv, all_upstash=True, build_seconds_estimate=BUILD)
        chosen = [cp.credential for cp in everything.credentials if select(cp)]
        return make_plan(inv, credentials=chosen, build_seconds_estimate=BUILD)

    plan = asyncio.run(go())
    doc: dict[str, Any] = to_jsonable(plan)
    doc["scope"] = {"projects": [], "github_repos": list(REPOS), "paths": []}
    path = case.dir / "plan.json"
    path.write_text(json.dumps(seal(doc), indent=2))  # sealed like `keyroll plan --out` (its digest)
    return path, plan


def label(cp: CredentialPlan) -> str:
    """A name for a credential group that is the same in every sandbox (fingerprints are not)."""
    spec: dict[str, Any] = next((dict(s.params["group"]) for s in cp.steps if "group" in s.params), {})
    return f"{cp.strategy.value}[{spec.get('resource_name') or spec.get('management') or '?'}]"


def canonical_boundaries(plan: Plan) -> dict[str, str]:
    """Canonical name → boundary name, in plan order (group ids replaced by :func:`label`)."""
    out: dict[str, str] = {}
    for cp in plan.credentials:
        gid = cp.steps[0].id.split("/", 1)[0]
        name = label(cp)
        for step in cp.steps:
            for phase in ("before", "after"):
                b = boundary_name(phase, step)
                out[b.replace(gid, name, 1)] = b
    return out


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a ``keyroll`` subprocess: no developer tokens, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP)}
    env.update(extra)
    return env


def apply_argv(case: Case, plan_path: Path) -> list[str]:
    """``keyroll apply PLAN --env-file … --yes --accept-downtime --json``."""
    return ["apply", str(plan_path), "--env-file", str(case.env_file), "--yes", "--accept-downtime", "--json"]


def resume_argv(case: Case) -> list[str]:
    """``keyroll resume --env-file … --yes --accept-downtime --json``."""
    return ["resume", "--env-file", str(case.env_file), "--yes", "--accept-downtime", "--json"]


def run_subprocess(
    case: Case, argv: list[str], *, timeout: float = 240.0, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m keyroll ARGV`` in the case directory (no keyroll.toml is picked up)."""
    return subprocess.run(
        [sys.executable, "-m", "keyroll", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=case.dir,
        env=cli_env(**env),
        check=False,
    )


def start_subprocess(case: Case, argv: list[str], **env: str) -> subprocess.Popen[str]:
    """Start ``python -m keyroll ARGV`` (for signals sent mid-run) with Ctrl-C's default
    disposition, as on a terminal: a suite started in the background (``make resilience &``)
    ignores SIGINT, and an ignored disposition is inherited, so the signal would never arrive."""
    return subprocess.Popen(
        [sys.executable, "-m", "keyroll", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=case.dir,
        env=cli_env(**env),
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_step(journal: Path, predicate: Callable[[str, str], bool], timeout: float = 60.0) -> bool:
    """Poll the journal (read-only, no key) until an entry ``(step_id, state)`` satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if journal.exists():
            with contextlib.suppress(Exception), Journal.open(journal) as j:
                runs = j.runs()
                if runs and any(predicate(e.step_id, e.state.value) for e in j.entries(runs[-1].id)):
                    return True
        time.sleep(0.02)
    return False


@dataclass
class Outcome:
    """What one resilience run left behind."""

    run_state: str = ""
    integrity: list[str] = field(default_factory=list)
    secrets: int = 0
    undecryptable: list[str] = field(default_factory=list)
    new_not_accepted: list[str] = field(default_factory=list)
    old_not_rejected: list[str] = field(default_factory=list)
    old_unknown: list[str] = field(default_factory=list)
    """old values verify could not probe (reported; a verify gap, not a lost secret)"""
    failures: FailureAttribution = field(default_factory=FailureAttribution)
    requests: int = 0
    plaintext_in_journal: list[str] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    """step id → journaled error (value-free)"""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Done, sound journal, nothing lost, new accepted, old rejected, no overlap failure."""
        return (
            self.run_state == "done"
            and not self.integrity
            and self.secrets > 0
            and not self.undecryptable
            and not self.new_not_accepted
            and not self.old_not_rejected
            and self.failures.overlap == 0
            and not self.plaintext_in_journal
        )

    def problems(self) -> str:
        """A one-line summary for assertion messages (value-free)."""
        return (
            f"state={self.run_state} groups={self.groups} errors={list(self.errors.values())[:3]} integrity={self.integrity[:2]} "
            f"undecryptable={self.undecryptable[:3]} new_not_accepted={self.new_not_accepted[:3]} "
            f"old_not_rejected={self.old_not_rejected[:3]} old_unknown={self.old_unknown[:2]} overlap_failures={self.failures.overlap} "
            f"samples={self.failures.samples[:2]} plaintext={self.plaintext_in_journal[:2]}"
        )


def _deployments(sb: Sandbox) -> list[dict[str, Any]]:
    hook = sb.world.hooks["vercel.deployments"]

    async def read() -> list[dict[str, Any]]:
        return list(hook())

    return list(sb.call(read()))


def check(case: Case, plan: Plan, stats: dict[str, Any], *, probe: bool = True) -> Outcome:
    """Settle a run: journal state and integrity, secrets decrypt, probes, failure attribution."""
    out = Outcome(requests=int(stats.get("requests", 0)))
    key = JournalKey.from_passphrase(Secret(PASSPHRASE))
    cfg = load_config(case.env_file)
    with Journal.open(case.journal, key) as j:
        run = j.runs()[-1]
        run_plan = j.plan(run.id)
        out.run_state = run.state.value
        out.integrity = j.check_integrity()
        names = j.secret_fingerprints(run.id)
        out.secrets = len(names)
        values: list[str] = []
        for name, fp in names.items():
            try:
                value = j.get_secret(run.id, name)
            except Exception as exc:  # a secret that cannot be read back is lost
                out.undecryptable.append(f"{name}: {type(exc).__name__}")
                continue
            if value.fingerprint != fp:
                out.undecryptable.append(f"{name}: fingerprint mismatch")
            values.append(value.reveal())
        from keyroll.rotate.engine import group_state

        records = j.step_records(run.id)
        out.groups = {label(cp): group_state(cp, records) for cp in run_plan.credentials}
        out.errors = {
            sid: str(r.detail.get("error", "")) for sid, r in records.items() if r.detail.get("error")
        }
        groups = group_infos(run_plan, j, run.id)
        if probe:

            async def go() -> Any:
                async with open_providers(cfg) as providers:
                    return await verify(providers, j, VerifyOptions(run_id=run.id))

            vr = asyncio.run(go())
            for c in vr.checks:
                if c.category is CheckCategory.NEW_ACCEPTED and c.status is not CheckStatus.PASS:
                    out.new_not_accepted.append(c.title)
                if c.category is CheckCategory.OLD_REJECTED and c.status is CheckStatus.FAIL:
                    out.old_not_rejected.append(c.title)
                if c.category is CheckCategory.OLD_REJECTED and c.status is CheckStatus.UNKNOWN:
                    out.old_unknown.append(f"{c.title} ({'; '.join(e.what for e in c.evidence)})")
    blob = b"".join(p.read_bytes() for p in case.dir.glob("journal.db*")).decode("latin-1")
    for v in values:
        if len(v) >= 12 and not v.startswith("http") and any(f in blob for f in canary_mod.forms(v)):
            out.plaintext_in_journal.append(f"a value of {len(v)} characters")
    env_fps = deployment_fingerprints(_deployments(case.sb))
    out.failures = attribute_failures(stats.get("failures", []), env_fps, groups, slack_s=1.0)
    return out


def assert_no_secret_in(canary: canary_mod.Canary, *texts: str) -> None:
    """Subprocess output is not captured by pytest: check it against the canary explicitly."""
    for i, text in enumerate(texts):
        canary.check_text(text, where=f"subprocess output {i}")
