"""Shared sample data for the verify/report/audit unit tests: a journaled two-credential run.

Built directly from core model objects in the shape the rotation engine journals them
(``docs/journal.md``): step ids ``<gid>/<name>[/<project>]``, write steps with
``params.target/locations``, redeploy outcomes with ``deployments[]``, await outcomes with
``ready[]``, value sets ``<gid>:<set>:<role>`` in the secret store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from keyroll.audit.events import AuditEvent, EventCategory
from keyroll.audit.run import AuditResult
from keyroll.core.errors import JournalError
from keyroll.core.model import (
    Confidence,
    Credential,
    CredentialKind,
    CredentialPlan,
    DeploymentRef,
    Form,
    Inventory,
    Location,
    LocationKind,
    Management,
    Plan,
    Product,
    RunRecord,
    RunState,
    Step,
    StepKind,
    StepState,
    Strategy,
)
from keyroll.core.secret import Secret
from keyroll.journal.events import JournalEntry
from keyroll.journal.runlog import RunLog
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, EvidenceSource, VerifyResult

T0 = 1_760_000_000.0
"""start of the sample run (epoch seconds)"""

REDIS_URL = "http://127.0.0.1:1/redis-cache"

# values (>= 12 chars, so the canary watches them)
OLD_REST = Secret("AXoldRESTtokenValue0000000000001")
OLD_PW = Secret("oldpasswordvalue000000000000001")
NEW_REST = Secret("AXnewACLRESTtokenValue000000001")
OLD_QSTASH = Secret("eyJVc2VySUQiOiJvbGQtcXN0YXNoLXRva2VuIn0=")
NEW_QSTASH = Secret("eyJVc2VySUQiOiJuZXctcXN0YXNoLXRva2VuIn0=")

FP_REDIS = OLD_REST.fingerprint
FP_QSTASH = OLD_QSTASH.fingerprint
GID_R = FP_REDIS.split(":", 1)[1]
GID_Q = FP_QSTASH.split(":", 1)[1]


def inventory(*, redis_password: bool = True) -> Inventory:
    """The inventory the plan was made from (``redis_password``: the database's password is a known copy too)."""
    creds = (
        Credential(
            FP_REDIS,
            Product.REDIS,
            CredentialKind.REST_TOKEN,
            resource_id="db_1",
            resource_name="cache",
            management=Management.NATIVE,
            strategy=Strategy.REDIS_ACL,
            endpoint=REDIS_URL,
            acl_user="default",
            related=(OLD_PW.fingerprint,) if redis_password else (),
        ),
        Credential(
            OLD_PW.fingerprint,
            Product.REDIS,
            CredentialKind.PASSWORD,
            resource_id="db_1",
            related=(FP_REDIS,),
        ),
        Credential(
            FP_QSTASH,
            Product.QSTASH,
            CredentialKind.QSTASH_TOKEN,
            resource_id="qs_1",
            management=Management.NATIVE,
            strategy=Strategy.QSTASH_TOKEN,
        ),
    )
    locs = (
        Location(
            LocationKind.VERCEL_ENV,
            FP_REDIS,
            project_id="prj_web",
            project_name="web",
            env_id="env_w1",
            key="UPSTASH_REDIS_REST_TOKEN",
            targets=("production",),
        ),
        Location(
            LocationKind.VERCEL_ENV,
            FP_REDIS,
            project_id="prj_api",
            project_name="api",
            env_id="env_a1",
            key="UPSTASH_REDIS_REST_TOKEN",
            targets=("production",),
            env_type="sensitive",
            confidence=Confidence.PROBABLE,
            form=Form.UNKNOWN,
            reason="sensitive",
        ),
        Location(
            LocationKind.VERCEL_ENV,
            FP_QSTASH,
            project_id="prj_api",
            project_name="api",
            env_id="env_a2",
            key="QSTASH_TOKEN",
            targets=("production", "preview"),
        ),
        Location(
            LocationKind.GITHUB_SECRET,
            FP_REDIS,
            repo="acme/web",
            secret_scope="repo",
            secret_name="UPSTASH_REDIS_REST_TOKEN",
            confidence=Confidence.PROBABLE,
            form=Form.UNKNOWN,
            updated_at="2025-01-01T00:00:00Z",
        ),
        Location(LocationKind.FILE, FP_REDIS, path="/tmp/nowhere/.env.local", line=3),
        Location(
            LocationKind.GIT_COMMIT,
            FP_REDIS,
            path=".env",
            line=1,
            commit="c0ffee" * 6 + "abcd",
            author_date="2025-01-01T00:00:00Z",
        ),
    )
    deps = (
        DeploymentRef(
            "prj_web",
            "dpl_web_old",
            "127.0.0.1:1/_d/dpl_web_old",
            "production",
            created_at=int((T0 - 86400) * 1000),
        ),
        DeploymentRef(
            "prj_api",
            "dpl_api_old",
            "127.0.0.1:1/_d/dpl_api_old",
            "production",
            created_at=int((T0 - 86400) * 1000),
        ),
        DeploymentRef(
            "prj_web",
            "dpl_web_older",
            "127.0.0.1:1/_d/dpl_web_older",
            "production",
            created_at=int((T0 - 2 * 86400) * 1000),
            serving=False,
        ),
    )
    if not redis_password:
        creds = tuple(c for c in creds if c.fingerprint != OLD_PW.fingerprint)
    return Inventory(creds, locs, deps, generated_at="2025-10-09T08:50:00Z")


def _loc_spec(project: str, env_id: str, key: str, old_fp: str) -> dict[str, Any]:
    return {
        "kind": "vercel_env",
        "role": "rest_token",
        "form": "plain",
        "old_fp": old_fp,
        "project_id": project,
        "project_name": project.removeprefix("prj_"),
        "env_id": env_id,
        "key": key,
        "targets": ["production"],
    }


def plan() -> Plan:
    """Two credential plans: Redis overlap (two projects) and a QStash token cutover (one project)."""
    r = GID_R
    redis_steps = (
        Step(f"{r}/mint", StepKind.MINT, FP_REDIS, "create ACL user keyroll-a", params={"action": "mint"}),
        Step(
            f"{r}/env/prj_web",
            StepKind.WRITE_ENV,
            FP_REDIS,
            "write web",
            (f"{r}/mint",),
            {
                "action": "write",
                "target": "vercel",
                "values": "new",
                "phase": 1,
                "locations": [_loc_spec("prj_web", "env_w1", "UPSTASH_REDIS_REST_TOKEN", FP_REDIS)],
            },
            project_id="prj_web",
        ),
        Step(
            f"{r}/env/prj_api",
            StepKind.WRITE_ENV,
            FP_REDIS,
            "write api",
            (f"{r}/mint",),
            {
                "action": "write",
                "target": "vercel",
                "values": "new",
                "phase": 1,
                "locations": [_loc_spec("prj_api", "env_a1", "UPSTASH_REDIS_REST_TOKEN", FP_REDIS)],
            },
            project_id="prj_api",
        ),
        Step(
            f"{r}/github",
            StepKind.WRITE_ENV,
            FP_REDIS,
            "github",
            (f"{r}/mint",),
            {"action": "write", "target": "github", "values": "new", "phase": 1, "locations": []},
        ),
        Step(
            f"{r}/redeploy/prj_web",
            StepKind.REDEPLOY,
            FP_REDIS,
            "redeploy web",
            (f"{r}/env/prj_web",),
            {"action": "redeploy"},
            project_id="prj_web",
        ),
        Step(
            f"{r}/ready/prj_web",
            StepKind.AWAIT_READY,
            FP_REDIS,
            "await web",
            (f"{r}/redeploy/prj_web",),
            {"action": "await"},
            project_id="prj_web",
        ),
        Step(
            f"{r}/redeploy/prj_api",
            StepKind.REDEPLOY,
            FP_REDIS,
            "redeploy api",
            (f"{r}/env/prj_api",),
            {"action": "redeploy"},
            project_id="prj_api",
        ),
        Step(
            f"{r}/ready/prj_api",
            StepKind.AWAIT_READY,
            FP_REDIS,
            "await api",
            (f"{r}/redeploy/prj_api",),
            {"action": "await"},
            project_id="prj_api",
        ),
        Step(
            f"{r}/probe", StepKind.PROBE, FP_REDIS, "probe new", (f"{r}/ready/prj_web", f"{r}/ready/prj_api")
        ),
        Step(
            f"{r}/revoke",
            StepKind.REVOKE,
            FP_REDIS,
            "reset default password",
            (f"{r}/probe",),
            destructive=True,
        ),
        Step(f"{r}/probe-old", StepKind.PROBE, FP_REDIS, "probe old rejected", (f"{r}/revoke",)),
    )
    q = GID_Q
    qstash_steps = (
        Step(f"{q}/revoke", StepKind.REVOKE, FP_QSTASH, "reset QStash token", destructive=True),
        Step(
            f"{q}/env/prj_api",
            StepKind.WRITE_ENV,
            FP_QSTASH,
            "write api",
            (f"{q}/revoke",),
            {
                "action": "write",
                "target": "vercel",
                "values": "new",
                "phase": 1,
                "locations": [_loc_spec("prj_api", "env_a2", "QSTASH_TOKEN", FP_QSTASH)],
            },
            project_id="prj_api",
        ),
        Step(
            f"{q}/redeploy/prj_api",
            StepKind.REDEPLOY,
            FP_QSTASH,
            "redeploy api",
            (f"{q}/env/prj_api",),
            {"action": "redeploy"},
            project_id="prj_api",
        ),
        Step(
            f"{q}/ready/prj_api",
            StepKind.AWAIT_READY,
            FP_QSTASH,
            "await api",
            (f"{q}/redeploy/prj_api",),
            {"action": "await"},
            project_id="prj_api",
        ),
    )
    return Plan(
        id="plan_1",
        created_at="2025-10-09T08:50:00Z",
        inventory_digest="d",
        credentials=(
            CredentialPlan(FP_REDIS, Strategy.REDIS_ACL, redis_steps, projects=("prj_web", "prj_api")),
            CredentialPlan(
                FP_QSTASH,
                Strategy.QSTASH_TOKEN,
                qstash_steps,
                expected_outage_s=60.0,
                requires_downtime_consent=True,
                projects=("prj_api",),
            ),
        ),
    )


@dataclass
class _Seq:
    n: int = 0
    entries: list[JournalEntry] = field(default_factory=list)

    def add(
        self, ts: float, step: Step, phase: str, state: StepState, detail: dict[str, Any] | None = None
    ) -> None:
        self.n += 1
        self.entries.append(
            JournalEntry(
                self.n,
                T0 + ts,
                "run_1",
                step.id,
                phase,
                state,
                step.kind,
                step.credential,
                step.project_id,
                detail or {},
            )
        )


def entries(*, stop_after: float | None = None, forced: bool = False) -> list[JournalEntry]:
    """The journal entries of the sample run; ``stop_after`` cuts it (a partial rotation)."""
    p = plan()
    steps = {s.id: s for s in p.steps}
    r, q = GID_R, GID_Q
    seq = _Seq()

    def done(ts: float, sid: str, detail: dict[str, Any] | None = None, dur: float = 0.2) -> None:
        st = steps[sid]
        seq.add(ts, st, "intent", StepState.RUNNING)
        seq.add(ts + dur, st, "outcome", StepState.DONE, detail)

    done(0.0, f"{r}/mint", {"user": "keyroll-a"})
    done(
        1.0,
        f"{r}/env/prj_web",
        {
            "written": [
                {
                    "env_id": "env_w1",
                    "key": "UPSTASH_REDIS_REST_TOKEN",
                    "fp": NEW_REST.fingerprint,
                    "role": "rest_token",
                }
            ]
        },
    )
    done(
        1.1,
        f"{r}/env/prj_api",
        {
            "written": [
                {
                    "env_id": "env_a1",
                    "key": "UPSTASH_REDIS_REST_TOKEN",
                    "fp": NEW_REST.fingerprint,
                    "role": "rest_token",
                }
            ]
        },
    )
    done(
        1.2,
        f"{r}/github",
        {
            "written": [
                {
                    "repo": "acme/web",
                    "scope": "repo",
                    "name": "UPSTASH_REDIS_REST_TOKEN",
                    "fp": NEW_REST.fingerprint,
                }
            ]
        },
    )
    done(
        1.5,
        f"{r}/redeploy/prj_web",
        {
            "redeploy_started": T0 + 1.5,
            "deployments": [
                {
                    "old": "dpl_web_old",
                    "new": "dpl_web_new",
                    "target": "production",
                    "created_at": int((T0 + 1.6) * 1000),
                    "started_at": T0 + 1.6,
                }
            ],
        },
    )
    done(
        1.6,
        f"{r}/redeploy/prj_api",
        {
            "redeploy_started": T0 + 1.6,
            "deployments": [
                {
                    "old": "dpl_api_old",
                    "new": "dpl_api_new",
                    "target": "production",
                    "created_at": int((T0 + 1.7) * 1000),
                    "started_at": T0 + 1.7,
                }
            ],
        },
    )
    done(
        2.0,
        f"{r}/ready/prj_web",
        {
            "ready": [{"old": "dpl_web_old", "new": "dpl_web_new", "state": "READY", "ready_at": T0 + 4.0}],
            "ready_at": T0 + 4.0,
        },
        dur=2.0,
    )
    done(
        2.1,
        f"{r}/ready/prj_api",
        {
            "ready": [{"old": "dpl_api_old", "new": "dpl_api_new", "state": "READY", "ready_at": T0 + 4.5}],
            "ready_at": T0 + 4.5,
        },
        dur=2.5,
    )
    done(5.0, f"{r}/probe", {"new": "accepted"})
    if stop_after is not None and stop_after <= 5.5:
        return seq.entries
    done(6.0, f"{r}/revoke", {"force_revoke": True} if forced else {})
    done(6.5, f"{r}/probe-old", {"old": "rejected"})
    done(7.0, f"{q}/revoke", {})
    done(
        7.3,
        f"{q}/env/prj_api",
        {
            "written": [
                {"env_id": "env_a2", "key": "QSTASH_TOKEN", "fp": NEW_QSTASH.fingerprint, "role": "token"}
            ]
        },
    )
    done(
        7.6,
        f"{q}/redeploy/prj_api",
        {
            "deployments": [
                {"old": "dpl_api_new", "new": "dpl_api_q", "target": "production", "started_at": T0 + 7.7}
            ]
        },
    )
    done(
        7.8,
        f"{q}/ready/prj_api",
        {
            "ready": [{"old": "dpl_api_new", "new": "dpl_api_q", "state": "READY", "ready_at": T0 + 10.2}],
            "ready_at": T0 + 10.2,
            "window_s": 3.2,
        },
        dur=2.5,
    )
    return seq.entries


def secret_fps(*, redis_password: bool = True) -> dict[str, str]:
    """The journal's secret names → fingerprints."""
    out = {
        f"{GID_R}:old:rest_token": FP_REDIS,
        f"{GID_R}:old:password": OLD_PW.fingerprint,
        f"{GID_R}:new:rest_token": NEW_REST.fingerprint,
        f"{GID_Q}:old:token": FP_QSTASH,
        f"{GID_Q}:new:token": NEW_QSTASH.fingerprint,
    }
    if not redis_password:
        del out[f"{GID_R}:old:password"]
    return out


SECRETS = {
    f"{GID_R}:old:rest_token": OLD_REST,
    f"{GID_R}:old:password": OLD_PW,
    f"{GID_R}:new:rest_token": NEW_REST,
    f"{GID_Q}:old:token": OLD_QSTASH,
    f"{GID_Q}:new:token": NEW_QSTASH,
}


def runlog(
    *,
    stop_after: float | None = None,
    forced: bool = False,
    state: RunState | None = None,
    redis_password: bool = True,
) -> RunLog:
    """The sample run as a :class:`RunLog`."""
    es = entries(stop_after=stop_after, forced=forced)
    st = state or (RunState.DONE if stop_after is None else RunState.INTERRUPTED)
    run = RunRecord(
        "run_1",
        "plan_1",
        T0,
        st,
        finished_at=es[-1].ts if st is RunState.DONE else None,
        options={"accept_downtime": True, "force_revoke": forced, "yes": True},
    )
    return RunLog(
        path="journal.db",
        run=run,
        runs=(run,),
        plan=plan(),
        inventory=inventory(redis_password=redis_password),
        entries=tuple(es),
        secret_fps=secret_fps(redis_password=redis_password),
    )


class FakeJournal:
    """A :class:`~keyroll.journal.read.JournalReader` over the sample data."""

    def __init__(
        self,
        *,
        with_key: bool = True,
        integrity: list[str] | None = None,
        broken_plan: bool = False,
        stop_after: float | None = None,
        redis_password: bool = True,
    ) -> None:
        self.log = runlog(stop_after=stop_after, redis_password=redis_password)
        self.with_key = with_key
        self._integrity = integrity or []
        self.broken_plan = broken_plan

    def runs(self) -> list[RunRecord]:
        assert self.log.run is not None
        return [self.log.run]

    def entries(self, run_id: str | None = None) -> list[JournalEntry]:
        return list(self.log.entries)

    def plan(self, run_id: str) -> Plan:
        if self.broken_plan:
            raise JournalError("plan of run run_1 is not valid JSON")
        assert self.log.plan is not None
        return self.log.plan

    def inventory(self, run_id: str) -> Inventory | None:
        return self.log.inventory

    def check_integrity(self) -> list[str]:
        return list(self._integrity)

    def get_secret(self, run_id: str, name: str) -> Secret:
        if not self.with_key:
            raise JournalError("the journal key is needed to read credentials")
        return SECRETS[name]

    def secret_fingerprints(self, run_id: str) -> dict[str, str]:
        return dict(self.log.secret_fps)


# -- verify and audit results for the report tests ------------------------------------------

NOW = T0 + 100
"""the report's generation time in the samples"""


def verify_result(*extra: Check, fail_old: bool = False) -> VerifyResult:
    ev = (Evidence(EvidenceSource.PROBE, "Redis REST PING → 401", T0 + 50),)
    checks = [
        Check(
            f"old_rejected:{FP_REDIS}:{FP_REDIS}",
            CheckCategory.OLD_REJECTED,
            CheckStatus.FAIL if fail_old else CheckStatus.PASS,
            "old value rejected",
            FP_REDIS,
            evidence=ev,
        ),
        Check(
            f"new_accepted:{FP_REDIS}:{NEW_REST.fingerprint}",
            CheckCategory.NEW_ACCEPTED,
            CheckStatus.PASS,
            "new accepted",
            FP_REDIS,
            evidence=ev,
        ),
        Check(
            f"old_rejected:{FP_QSTASH}:{FP_QSTASH}",
            CheckCategory.OLD_REJECTED,
            CheckStatus.PASS,
            "old qstash rejected",
            FP_QSTASH,
            evidence=ev,
        ),
        Check(
            f"rollback:{FP_REDIS}:prj_web:alias",
            CheckCategory.ROLLBACK,
            CheckStatus.PASS,
            "alias fresh",
            FP_REDIS,
            "prj_web",
            evidence=ev,
        ),
        Check(
            f"stale:{FP_REDIS}:vercel_env:prj_web:env_w1",
            CheckCategory.STALE,
            CheckStatus.PASS,
            "replaced",
            FP_REDIS,
            "prj_web",
            evidence=ev,
        ),
        Check(
            f"stale:{FP_REDIS}:github_secret:acme/web:repo:UPSTASH_REDIS_REST_TOKEN",
            CheckCategory.STALE,
            CheckStatus.PASS,
            "github updated",
            FP_REDIS,
            evidence=ev,
        ),
        Check(
            f"history:{FP_REDIS}:git_commit:abc:.env:1",
            CheckCategory.HISTORY,
            CheckStatus.WARN,
            "in git history: .env",
            FP_REDIS,
            hint="history is not rewritten",
        ),
        *extra,
    ]
    return VerifyResult(
        tuple(checks),
        T0 + 50,
        T0 + 51,
        "run_1",
        (FP_REDIS, FP_QSTASH),
        searched=("path:/tmp/nowhere", "github:acme/web"),
    )


def audit_result(flagged: bool = False) -> AuditResult:
    ev = AuditEvent(
        "vercel",
        "ev1",
        "env-variable-edit",
        EventCategory.ENV_CHANGE,
        T0 + 1.05,
        actor="usr_me",
        project_id="prj_web",
        own=True,
        reasons=("keyroll write_env",),
    )
    events = [ev]
    if flagged:
        events.append(
            AuditEvent(
                "vercel",
                "ev2",
                "env-variable-read",
                EventCategory.ENV_READ,
                T0 - 3600,
                actor="usr_stranger",
                unusual=True,
                reasons=("unknown actor",),
            )
        )
    return AuditResult(
        T0 - 30 * 86400, NOW, tuple(events), sources=("vercel",), read_at=NOW, known_actors=("usr_me",)
    )
