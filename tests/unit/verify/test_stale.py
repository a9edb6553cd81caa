"""Stale copies: no old value left in Vercel env, GitHub secrets or files; history reported apart."""

from __future__ import annotations

from pathlib import Path

from keyroll.core.model import Confidence, Form, Inventory, Location, LocationKind, Unknown
from keyroll.journal.runlog import EnvWrite
from keyroll.verify.result import CheckCategory, CheckStatus
from keyroll.verify.stale import StaleInput, stale_checks

OLD = "sha256:0a0a0a0a"
OLD_PW = "sha256:0b0b0b0b"
NEW = "sha256:1c1c1c1c"
T = 1_760_000_000.0


def venv(
    fp: str,
    env_id: str,
    project: str = "prj_web",
    *,
    sensitive: bool = False,
    key: str = "UPSTASH_REDIS_REST_TOKEN",
) -> Location:
    return Location(
        LocationKind.VERCEL_ENV,
        fp,
        project_id=project,
        project_name=project[4:],
        env_id=env_id,
        key=key,
        targets=("production",),
        env_type="sensitive" if sensitive else "encrypted",
        confidence=Confidence.PROBABLE if sensitive else Confidence.EXACT,
        form=Form.UNKNOWN if sensitive else Form.PLAIN,
    )


def gh(fp: str, updated: str) -> Location:
    return Location(
        LocationKind.GITHUB_SECRET,
        fp,
        repo="acme/web",
        secret_scope="repo",
        secret_name="UPSTASH_REDIS_REST_TOKEN",
        confidence=Confidence.PROBABLE,
        form=Form.UNKNOWN,
        updated_at=updated,
    )


def run(
    before: tuple[Location, ...],
    after: tuple[Location, ...] | None,
    *,
    writes: tuple[EnvWrite, ...] = (),
    unknowns: tuple[Unknown, ...] = (),
    scanned: tuple[Path, ...] = (),
) -> dict[str, object]:
    inp = StaleInput(
        fp=OLD,
        old_fps=frozenset({OLD, OLD_PW}),
        rotated_at=T,
        after_read_at=T + 100,
        before=Inventory(locations=before),
        after=None if after is None else Inventory(locations=after, unknowns=unknowns),
        after_error="inventory failed: VERCEL_TOKEN rejected" if after is None else "",
        writes=writes,
        scanned_paths=scanned,
    )
    return {c.id: c for c in stale_checks(inp)}


def test_exact_old_copies_fail_and_history_warns() -> None:
    after = (
        venv(OLD, "env_1"),
        Location(
            LocationKind.VERCEL_SHARED_ENV,
            OLD_PW,
            env_id="sh_1",
            key="REDIS_URL",
            linked_project_ids=("prj_web", "prj_api"),
            form=Form.URL,
        ),
        Location(LocationKind.FILE, OLD, path="/repo/.env.local", line=4),
        Location(LocationKind.GIT_COMMIT, OLD, path=".env", line=1, commit="deadbeef" * 5),
        Location(LocationKind.UPSTASH, OLD_PW, key="db_1 password"),
        Location(LocationKind.DEPLOYMENT, OLD, deployment_id="dpl_1"),
        venv(NEW, "env_2"),
    )
    checks = run((), after)
    by_kind = {c.id.split(":")[3]: c for c in checks.values()}
    assert by_kind["vercel_env"].status is CheckStatus.FAIL and "stale copy" in by_kind["vercel_env"].title
    assert by_kind["vercel_shared_env"].status is CheckStatus.FAIL
    assert by_kind["file"].status is CheckStatus.FAIL and "rewrite-files" in by_kind["file"].hint
    assert by_kind["upstash"].status is CheckStatus.FAIL
    hist = by_kind["git_commit"]
    assert hist.status is CheckStatus.WARN and hist.category is CheckCategory.HISTORY
    assert "deployment" not in by_kind and len(checks) == 5
    assert all(c.evidence and c.evidence[0].at == T + 100 for c in checks.values())


def test_replaced_written_unverifiable_and_removed_vars() -> None:
    before = (
        venv(OLD, "env_1"),
        venv(OLD, "env_2", "prj_api", sensitive=True),
        venv(OLD, "env_3", "prj_cli", sensitive=True),
        venv(OLD, "env_4", "prj_old"),
        venv(OLD, "env_5", "prj_gone"),
    )
    after = (
        venv(NEW, "env_1"),
        venv(NEW, "env_2", "prj_api", sensitive=True),
        venv(NEW, "env_3", "prj_cli", sensitive=True),
    )
    writes = (
        EnvWrite(OLD, T + 5, "prj_api", "env_2", "UPSTASH_REDIS_REST_TOKEN", fingerprint=NEW),
        EnvWrite(OLD, T - 50, "prj_cli", "env_3", "UPSTASH_REDIS_REST_TOKEN"),
    )  # before the rotation: no proof
    unknowns = (Unknown(where="vercel project prj_gone", reason="403 forbidden", project_id="prj_gone"),)
    checks = run(before, after, writes=writes, unknowns=unknowns)
    by_project = {c.project_id: c for c in checks.values()}
    assert by_project["prj_web"].status is CheckStatus.PASS and "replaced" in by_project["prj_web"].title
    assert NEW in by_project["prj_web"].evidence[0].what
    assert (
        by_project["prj_api"].status is CheckStatus.PASS
        and "written by keyroll" in by_project["prj_api"].title
    )
    assert (
        by_project["prj_api"].evidence[0].source.value == "journal"
        and by_project["prj_api"].evidence[0].at == T + 5
    )
    assert (
        by_project["prj_cli"].status is CheckStatus.UNKNOWN and "unverifiable" in by_project["prj_cli"].title
    )
    assert by_project["prj_old"].status is CheckStatus.PASS and "removed" in by_project["prj_old"].title
    assert by_project["prj_gone"].status is CheckStatus.UNKNOWN


def test_github_secrets_by_updated_at() -> None:
    fresh = run((gh(OLD, "2020-01-01T00:00:00Z"),), (gh(NEW, "2025-10-09T09:00:00Z"),))
    (c,) = fresh.values()
    assert c.status is CheckStatus.PASS and "updated after the rotation" in c.title
    stale = run((gh(OLD, "2020-01-01T00:00:00Z"),), (gh(OLD, "2024-01-01T00:00:00Z"),))
    (c,) = stale.values()
    assert c.status is CheckStatus.FAIL and "gh secret set" in c.hint
    gone = run((gh(OLD, "2020-01-01T00:00:00Z"),), ())
    assert next(iter(gone.values())).status is CheckStatus.PASS
    nodate = run((gh(OLD, ""),), (gh(OLD, ""),))
    assert next(iter(nodate.values())).status is CheckStatus.UNKNOWN


def test_files_pass_only_when_rescanned(tmp_path: Path) -> None:
    f = tmp_path / "app" / ".env"
    before = (Location(LocationKind.FILE, OLD, path=str(f), line=1),)
    scanned = run(before, (), scanned=(tmp_path,))
    assert next(iter(scanned.values())).status is CheckStatus.PASS
    not_scanned = run(before, ())
    c = next(iter(not_scanned.values()))
    assert c.status is CheckStatus.UNKNOWN and f"--path {f}" in c.hint


def test_no_after_inventory_is_unknown() -> None:
    (c,) = run((venv(OLD, "env_1"),), None).values()
    assert c.status is CheckStatus.UNKNOWN and "VERCEL_TOKEN rejected" in c.title


def test_other_credentials_are_ignored() -> None:
    assert run((venv("sha256:99999999", "env_9"),), (venv("sha256:99999999", "env_9"),)) == {}


def test_hidden_production_vars_keep_verify_from_passing() -> None:
    hidden = Unknown(
        where="vercel project web",
        reason="2 production env var(s) hidden from this token (hiddenProductionEnvCount): they are counted",
        project_id="prj_web",
        targets=("production",),
    )
    elsewhere = Unknown(where="vercel project docs", reason=hidden.reason, project_id="prj_docs")
    checks = run((venv(OLD, "env_1"),), (), unknowns=(hidden, elsewhere))
    unknown = [c for c in checks.values() if c.status is CheckStatus.UNKNOWN and ":hidden:" in c.id]
    assert [c.id for c in unknown] == [f"stale:{OLD}:hidden:prj_web"], (
        "only projects that held the credential"
    )
    assert unknown[0].title.startswith("vercel project web: 2 production env var(s) hidden")
    assert not [c for c in run((venv(OLD, "env_1"),), ()).values() if c.status is CheckStatus.UNKNOWN]
