"""The rotation workflows' decisions (``keyroll.app.plan``, ``.apply``, ``.runs``, ``.preflight``):
what a run needs before it starts, consent, the plan file, build parallelism, a run's status."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from keyroll.app.apply import (
    ApplyRequest,
    Interaction,
    builds_from_plan,
    consent_to_destructive,
    cutover_consent_problem,
    missing_preconditions,
    prepare_apply,
    refuse_missing,
    require_probe,
    require_sensitive,
)
from keyroll.app.options import effective_policy
from keyroll.app.plan import PlanRequest, Scope, load_plan, plan_document, policy_notes, selected_credentials
from keyroll.app.preflight import PreflightRequest, check_request
from keyroll.app.resume import ResumeRequest, prepare_resume, prepare_rollback
from keyroll.app.runs import abandon_run, pending_destructive, rollback_residue, run_status
from keyroll.config import Config, load_config
from keyroll.config.policy import Setting
from keyroll.core.errors import ConfigError, ConsentRequired, UsageError
from keyroll.core.model import CredentialPlan, Inventory, Plan, RunState, Step, StepKind, Strategy
from keyroll.core.secret import Fingerprint
from keyroll.journal.keys import JournalKey
from keyroll.journal.store import Journal, StepState
from keyroll.rotate.plan_digest import PlanTampered

KEY = "k" * 40
FP = Fingerprint("sha256:0000aaaa")


def _plan(*, cutover: bool = False, manual: bool = False, write: dict[str, object] | None = None) -> Plan:
    steps = (
        Step("g/mint", StepKind.MINT, FP, "mint a new value"),
        Step(
            "g/env/prj_web",
            StepKind.WRITE_ENV,
            FP,
            "write",
            depends_on=("g/mint",),
            params={"action": "write", "locations": [write] if write else []},
        ),
        Step(
            "g/revoke",
            StepKind.REVOKE,
            FP,
            "revoke the old value",
            depends_on=("g/env/prj_web",),
            destructive=True,
        ),
    )
    strategy = Strategy.MANUAL if manual else Strategy.QSTASH_TOKEN if cutover else Strategy.REDIS_ACL
    cp = CredentialPlan(FP, strategy, steps, requires_downtime_consent=cutover)
    return Plan("plan-x", "2026-12-06T00:00:00+00:00", "sha256:00", (cp,))


def _cfg(tmp_path: Path, *, key: str | None = KEY, toml: str = "", token: bool = True) -> Config:
    env = {"KEYROLL_JOURNAL": str(tmp_path / "journal.db")}
    if key is not None:
        env["KEYROLL_JOURNAL_KEY"] = key
    if token:
        env["VERCEL_TOKEN"] = "vercel-test-token-0000"
    path = tmp_path / "keyroll.toml"
    path.write_text(toml, encoding="utf-8")
    return load_config(None, environ=env, toml_path=path)


class Asked:
    """An :class:`Interaction` confirm that records what it was asked (and may decline)."""

    def __init__(self, agree: bool = True) -> None:
        self.agree = agree
        self.questions: list[tuple[str, list[str]]] = []

    def __call__(self, question: str, items: Sequence[str]) -> None:
        self.questions.append((question, list(items)))
        if not self.agree:
            raise KeyboardInterrupt


@pytest.fixture(autouse=True)
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's OS keyring never answers for a test's journal."""
    monkeypatch.setattr("keyroll.journal.keys._keyring_usable", lambda: False)


# -- preconditions --------------------------------------------------------------------------------


def test_cutover_consent_is_missing_only_for_a_cutover_without_consent() -> None:
    assert cutover_consent_problem(_plan(), downtime_ok=False) is None
    assert cutover_consent_problem(_plan(cutover=True), downtime_ok=True) is None
    assert cutover_consent_problem(None, downtime_ok=False) is None
    problem = cutover_consent_problem(_plan(cutover=True), downtime_ok=False)
    assert problem is not None and problem.startswith("--accept-downtime: 1 credential(s) need a cutover")


def test_every_missing_precondition_is_listed_at_once(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, key=None)
    problems = missing_preconditions(
        cfg, _plan(cutover=True), downtime_ok=False, yes=False, dry_run=False, interactive=False
    )
    assert [p.split(":")[0] for p in problems] == ["--accept-downtime", "--yes", "journal key"]
    assert "1 destructive step(s)" in problems[1]
    # before the plan is known, every rotation is assumed to revoke
    before = missing_preconditions(cfg, None, downtime_ok=False, yes=False, dry_run=False, interactive=False)
    assert before[0] == "--yes: the revoke steps need consent (revoke / cutover reset; journaled)"
    with pytest.raises(ConsentRequired, match=r"apply cannot start, 3 thing\(s\) missing: \(1\) --accept"):
        refuse_missing(problems)
    refuse_missing([])


def test_a_person_or_flags_or_a_dry_run_satisfy_the_preconditions(tmp_path: Path) -> None:
    no_key = _cfg(tmp_path, key=None)
    keyed = _cfg(tmp_path)
    kw = {"downtime_ok": False, "yes": False, "dry_run": False}
    assert missing_preconditions(no_key, _plan(), **kw, interactive=True) == []  # asked at a prompt
    assert (
        missing_preconditions(keyed, _plan(), downtime_ok=False, yes=True, dry_run=False, interactive=False)
        == []
    )
    assert (
        missing_preconditions(no_key, _plan(cutover=True), **{**kw, "dry_run": True}, interactive=False) == []
    )
    short = _cfg(tmp_path, key="short")
    (problem,) = missing_preconditions(short, _plan(), **{**kw, "yes": True}, interactive=True)
    assert problem == "journal key: the journal passphrase is too short (5 characters)"


def test_consent_to_destructive_steps() -> None:
    steps = list(_plan().steps)
    destructive = [s for s in steps if s.destructive]
    asked = Asked()
    assert consent_to_destructive([], False, "x", Interaction(interactive=True, confirm=asked)) is False
    assert consent_to_destructive(destructive, True, "x", Interaction(confirm=asked)) is True
    assert asked.questions == []
    with pytest.raises(ConsentRequired, match=r"1 destructive step\(s\) need consent \(revoke\)"):
        consent_to_destructive(destructive, False, "revoke", Interaction())
    assert consent_to_destructive(destructive, False, "x", Interaction(interactive=True, confirm=asked))
    assert asked.questions == [("Proceed?", ["revoke the old value"])]
    with pytest.raises(KeyboardInterrupt):  # declining stops the run
        consent_to_destructive(destructive, False, "x", Interaction(interactive=True, confirm=Asked(False)))


def test_require_sensitive_refuses_non_sensitive_writes_only_when_on(tmp_path: Path) -> None:
    write = {
        "kind": "vercel_env",
        "project_name": "web",
        "key": "TOKEN",
        "type": "encrypted",
        "targets": ["production"],
    }
    plan = _plan(write=write)
    require_sensitive(plan, effective_policy(_cfg(tmp_path)))
    on = effective_policy(_cfg(tmp_path, toml="[policy]\nrequire_sensitive = true\n"))
    with pytest.raises(ConfigError, match=r"require_sensitive: the plan writes 1 variable\(s\)"):
        require_sensitive(plan, on)
    require_sensitive(_plan(write={**write, "type": "sensitive"}), on)
    assert any("apply will refuse" in n for n in policy_notes(plan, on))


def test_a_manual_credential_needs_a_probe_before_its_revoke() -> None:
    plan = _plan(manual=True)
    with pytest.raises(UsageError, match="nothing can prove the new value"):
        require_probe(plan, ApplyRequest(all_upstash=True))
    require_probe(plan, ApplyRequest(all_upstash=True, health_path="/health"))
    require_probe(plan, ApplyRequest(all_upstash=True, force_revoke=True))
    require_probe(plan, ApplyRequest(all_upstash=True, dry_run=True))


def test_build_parallelism_defaults_to_the_vercel_plan() -> None:
    settings = {"max_parallel_builds": Setting(100, "default")}
    builds_from_plan(settings, None, 12)
    assert settings["max_parallel_builds"] == Setting(100, "default")
    builds_from_plan(settings, "pro", 12)
    assert settings["max_parallel_builds"] == Setting(12, "Vercel plan pro")
    flagged = {"max_parallel_builds": Setting(3, "--max-parallel-builds")}
    builds_from_plan(flagged, "pro", 12)
    assert flagged["max_parallel_builds"].value == 3


def test_requests_name_something_to_do() -> None:
    with pytest.raises(UsageError, match="nothing to apply"):
        ApplyRequest()
    with pytest.raises(UsageError, match="not both"):
        ApplyRequest(plan_file=Path("p.json"), credentials=("abcd",))
    with pytest.raises(UsageError, match="choose what to rotate"):
        PlanRequest()
    assert PlanRequest(keys=("A",)).scope == Scope()


def test_preflight_request_checks(tmp_path: Path) -> None:
    check_request(_cfg(tmp_path), PreflightRequest())
    with pytest.raises(ConfigError, match="VERCEL_TOKEN"):
        check_request(_cfg(tmp_path, token=False), PreflightRequest())
    with pytest.raises(UsageError, match="needs a database id"):
        check_request(_cfg(tmp_path), PreflightRequest(scratch_database=" "))
    with pytest.raises(ConfigError, match="UPSTASH"):
        check_request(_cfg(tmp_path), PreflightRequest(scratch_database="db_1"))


# -- the plan file --------------------------------------------------------------------------------


def test_a_plan_file_round_trips_with_its_scope_and_refuses_edits(tmp_path: Path) -> None:
    scope = Scope(projects=("web",), paths=("/srv/.env",), include_paused=False)
    cfg = _cfg(tmp_path)
    doc = plan_document(_plan(), scope, {FP: "default"}, effective_policy(cfg))
    assert list(doc["scope"]) == [
        "projects",
        "github_repos",
        "github_orgs",
        "paths",
        "git_repos",
        "include_paused",
    ]
    assert doc["settings"]["accept_downtime"] == {"value": False, "source": "default"}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    loaded = load_plan(path)
    assert loaded.plan == _plan() and loaded.scope == scope
    doc["credentials"][0]["steps"][2]["destructive"] = False
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(PlanTampered, match="changed step:g/revoke"):
        load_plan(path)
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(UsageError, match="is not a keyroll plan"):
        load_plan(path)
    path.write_text("no", encoding="utf-8")
    with pytest.raises(UsageError, match="is not JSON"):
        load_plan(path)


def test_an_older_plans_scope_lacks_the_newer_keys() -> None:
    assert Scope.from_json({"projects": ["web"]}) == Scope(projects=("web",))


def test_selected_credentials() -> None:
    inv = Inventory(credentials=(), locations=(), generated_at="")
    assert selected_credentials(inv, (), ()) is None
    assert selected_credentials(inv, ("abcd",), ()) == ["abcd"]


def test_prepare_apply_loads_the_plan_and_takes_its_scope(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    scope = Scope(projects=("web",))
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan_document(_plan(), scope, {}, effective_policy(cfg))), encoding="utf-8")
    job = prepare_apply(
        cfg, ApplyRequest(plan_file=path, yes=True, scope=Scope(projects=("other",))), Interaction()
    )
    assert job.plan == _plan() and job.scope == scope
    with pytest.raises(ConsentRequired, match="--accept-downtime"):
        cut = tmp_path / "cut.json"
        cut.write_text(json.dumps(plan_document(_plan(cutover=True), scope, {}, effective_policy(cfg))))
        prepare_apply(cfg, ApplyRequest(plan_file=cut, yes=True), Interaction())
    with pytest.raises(ConfigError, match="VERCEL_TOKEN"):
        prepare_apply(_cfg(tmp_path, token=False), ApplyRequest(plan_file=path), Interaction())


# -- journaled runs -------------------------------------------------------------------------------


def _journal_with_run(cfg: Config, *, done: tuple[str, ...] = (), residue: bool = False) -> str:
    with Journal.open(cfg.journal_path, JournalKey.generate(), create=True) as j:
        run = j.start_run(_plan(), {"yes": True})
        for sid in done:
            j.append(run.id, sid, "outcome", StepState.DONE)
        if residue:
            j.append(
                run.id,
                "g/rollback",
                "outcome",
                StepState.DONE,
                detail={"residue": [{"what": "user keyroll-a", "do": "delete it"}]},
            )
        return run.id


def test_resume_asks_consent_for_the_destructive_steps_not_done(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with pytest.raises(UsageError, match="no journal at") as info:
        prepare_resume(cfg, ResumeRequest(), Interaction())
    assert "nothing to resume" in (info.value.hint or "")
    run_id = _journal_with_run(cfg, done=("g/mint",))
    assert [s.id for s in pending_destructive(cfg, None)] == ["g/revoke"]
    with pytest.raises(ConsentRequired, match="destructive step"):
        prepare_resume(cfg, ResumeRequest(), Interaction())
    asked = Asked()
    job = prepare_resume(
        cfg, ResumeRequest(run_id=run_id, force_revoke=True), Interaction(interactive=True, confirm=asked)
    )
    assert job.action == "resume" and job.yes and job.force_revoke and job.run_id == run_id
    assert asked.questions == [("Proceed?", ["revoke the old value"])]


def test_rollback_needs_consent(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with pytest.raises(UsageError, match="no journal at") as info:
        prepare_rollback(cfg, None, True, Interaction())
    assert "nothing to roll back" in (info.value.hint or "")
    _journal_with_run(cfg)
    with pytest.raises(ConsentRequired, match="rollback rewrites env vars"):
        prepare_rollback(cfg, None, False, Interaction())
    asked = Asked()
    job = prepare_rollback(cfg, "r", False, Interaction(interactive=True, confirm=asked))
    assert job.action == "rollback" and job.yes and job.run_id == "r"
    assert asked.questions == [("Restore the old values and redeploy?", [])]


def test_status_names_an_interrupted_run_and_its_residue(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with pytest.raises(UsageError, match="no journal"):
        run_status(cfg, None)
    run_id = _journal_with_run(cfg, done=("g/mint",), residue=True)
    status = run_status(cfg, None)
    assert status.record.id == run_id and status.state == "interrupted" and not status.live
    assert [r["state"] for r in status.steps] == ["done", "pending", "pending"]
    assert status.residue == [{"credential": FP, "what": "user keyroll-a", "do": "delete it"}]
    assert status.integrity == [] and status.closing == {}
    assert rollback_residue(cfg, run_id) == status.residue
    assert rollback_residue(cfg, "") == []


def test_abandon_closes_the_run_with_its_reason(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    with pytest.raises(UsageError, match="no journal at") as info:
        abandon_run(cfg, "r", "why")
    assert "nothing to abandon" in (info.value.hint or "")
    run_id = _journal_with_run(cfg, done=("g/mint",))
    outcome = abandon_run(cfg, run_id, "  the  project  was deleted ")
    assert outcome.record.state is RunState.CLOSED
    assert [r["not_done"] for r in outcome.residue] == [["write", "revoke the old value"]]
    status = run_status(cfg, run_id)
    assert status.state == "closed" and status.closing["reason"] == "the project was deleted"


def test_a_dry_run_journal_leaves_nothing_behind() -> None:
    """``apply --dry-run`` journals into a throw-away journal: its directory goes with it."""
    from keyroll.app.journal import dry_journal

    with dry_journal() as journal:
        where = journal.path.parent
        assert where.is_dir() and where.name.startswith("keyroll-dry-")
    assert not where.exists()
