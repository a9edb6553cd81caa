"""Issue 20's case through the CLI against the sandbox (fleet ``secrets``): a Stripe key in three
projects (one copy ``sensitive``, one on a preview branch, one in a custom environment) plus a
team shared var holding the same value.

``keyroll inventory`` lists it as one credential (kind ``stripe``; the sensitive copy related by
key name, "probably the same value — unverified"); ``plan --key`` / ``plan --credential`` then
``apply --value-file`` write every copy in place (type, targets, branch, custom environment and
comment kept), redeploy every affected deployment, and the revoke step is gated on a probe and
on the person's confirmation.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from keyroll.cli.main import run
from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.fleet import load_fleet
from keyroll.sandbox.server import Sandbox
from tests import canary as canary_mod
from tests.sandbox_helpers import JOURNAL_PASSPHRASE, SandboxFactory, register_api_tokens, write_env_file

BUILD = 0.2
NEW = "sk_test_51NewKeyAfterTheLeak0123456789abcdefABCDEF0123456789xyzXYZ"  # keyroll: allow


def _stripe_value() -> str:
    spec = load_fleet("secrets")
    project = next(p for p in spec["projects"] if p["name"] == "shop")
    return str(next(e["value"] for e in project["env"] if e["key"] == "STRIPE_SECRET_KEY"))


OLD = _stripe_value()
OLD_FP = fingerprint_of(OLD)
NEW_FP = fingerprint_of(NEW)


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory, tmp_path: Path) -> Iterator[tuple[Sandbox, str]]:
    canary_mod.register(OLD)
    canary_mod.register(NEW)
    sb = sandbox_factory("secrets", build_seconds=BUILD, canaries=("api_tokens",))
    yield sb, str(write_env_file(tmp_path / "sandbox.env", sb.env()))


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    rc = run(argv)
    out = capsys.readouterr()
    assert rc == code, out.err
    assert "Traceback" not in out.err
    return json.loads(out.out) if out.out.strip() else None


def _api(sb: Sandbox) -> httpx.Client:
    env = sb.env()
    return httpx.Client(
        base_url=env["KEYROLL_VERCEL_API_URL"],
        headers={"Authorization": f"Bearer {env['VERCEL_TOKEN']}"},
        params={"teamId": env["VERCEL_TEAM_ID"]},
        timeout=10.0,
    )


def _projects(api: httpx.Client) -> dict[str, str]:
    return {p["name"]: p["id"] for p in api.get("/v10/projects").json()["projects"]}


def _stripe_vars(api: httpx.Client, project_id: str) -> list[dict[str, Any]]:
    envs = api.get(f"/v10/projects/{project_id}/env").json()["envs"]
    return sorted(
        (e for e in envs if e["key"] == "STRIPE_SECRET_KEY"),
        key=lambda e: (e["target"], e.get("gitBranch") or "", e.get("customEnvironmentIds") or []),
    )


def _serving_env(api: httpx.Client, project_id: str) -> dict[str, dict[str, str]]:
    """The latest READY deployment of each slot (production, branch, custom env) → its env
    fingerprints, as its health endpoint answers them."""
    deps = api.get("/v6/deployments", params={"projectId": project_id, "limit": 100}).json()["deployments"]
    latest: dict[tuple[str, str, str], dict[str, Any]] = {}
    for d in deps:
        if d.get("readyState", d.get("state")) != "READY":
            continue
        meta = d.get("meta") or {}
        slot = (
            str(d.get("target") or "preview"),
            str(meta.get("githubCommitRef") or ""),
            str(
                d.get("customEnvironment", {}).get("id", "")
                if isinstance(d.get("customEnvironment"), dict)
                else ""
            ),
        )
        if slot not in latest or d["created"] > latest[slot]["created"]:
            latest[slot] = d
    out = {}
    for d in latest.values():
        body = httpx.get(f"http://{d['url']}/", timeout=10.0).json()
        out[d["uid"]] = body["env"]
    return out


def _github_secret(sb: Sandbox) -> dict[str, Any]:
    env = sb.env()
    resp = httpx.get(
        f"{env['KEYROLL_GITHUB_API_URL']}/repos/acme/shop/actions/secrets/STRIPE_SECRET_KEY",
        headers={"Authorization": f"Bearer {env['GITHUB_TOKEN']}"},
        timeout=10.0,
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_inventory_lists_the_stripe_key_as_one_group(
    sandbox: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = sandbox
    doc = _json(capsys, ["inventory", "--env-file", env, "--json", "--github-repo", "acme/shop"], code=1)
    creds = {c["fingerprint"]: c for c in doc["credentials"]}
    stripe = creds[OLD_FP]
    assert stripe["service"] == "stripe" and stripe["strategy"] == "manual"
    assert set(stripe["blast_radius"]["projects"]) == {"shop", "billing", "admin"}
    locs = [loc for loc in doc["locations"] if loc["fingerprint"] == OLD_FP]
    env_locs = [loc for loc in locs if loc["kind"] == "vercel_env"]
    shared = [loc for loc in locs if loc["kind"] == "vercel_shared_env"]
    assert len(env_locs) == 6 and len(shared) == 1 and shared[0]["key"] == "STRIPE_API_KEY"
    (b64,) = [loc for loc in env_locs if loc["key"] == "STRIPE_KEY_B64"]
    assert b64["form"] == "base64" and b64["confidence"] == "exact"
    sensitive = [loc for loc in env_locs if loc["env_type"] == "sensitive"]
    assert len(sensitive) == 1 and sensitive[0]["confidence"] == "probable"
    assert "probably the same value — unverified" in sensitive[0]["reason"]
    assert sensitive[0]["project_name"] == "admin"
    (gh,) = [loc for loc in locs if loc["kind"] == "github_secret"]
    assert gh["secret_name"] == "STRIPE_SECRET_KEY" and gh["confidence"] == "probable"
    # other services' secrets are their own groups, each with its kind
    services = {c["service"] for c in doc["credentials"]}
    assert {"stripe", "openai", "neon", "mysql", "generic"} <= services
    # a non-secret encrypted value (a price id) and plain display names are not credentials
    keys = {loc["key"] for loc in doc["locations"]}
    assert "STRIPE_PRICE_ID" not in keys and "NEXT_PUBLIC_SITE_NAME" not in keys
    # the table says which service each credential belongs to
    assert run(["inventory", "--env-file", env]) == 1
    assert "stripe" in capsys.readouterr().out


def test_plan_apply_every_copy_rebuilt_revoke_gated(
    sandbox: tuple[Sandbox, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    canary: canary_mod.Canary,
) -> None:
    sb, env = sandbox
    canary.watch(tmp_path / "journal.db")
    plan_path = tmp_path / "plan.json"
    by_key = _json(
        capsys,
        [
            "plan",
            "--github-repo",
            "acme/shop",
            "--env-file",
            env,
            "--key",
            "STRIPE_SECRET_KEY",
            "--json",
            "--build-seconds",
            str(BUILD),
            "--out",
            str(plan_path),
        ],
    )
    by_fp = _json(
        capsys,
        [
            "plan",
            "--env-file",
            env,
            "--credential",
            OLD_FP,
            "--json",
            "--build-seconds",
            str(BUILD),
            "--github-repo",
            "acme/shop",
        ],
    )
    assert by_key["id"] == by_fp["id"]
    (cp,) = by_key["credentials"]
    assert cp["credential"] == OLD_FP and cp["strategy"] == "manual"
    written = [loc for s in cp["steps"] for loc in s["params"].get("locations", [])]
    # 6 project vars (the sensitive and the base64 one included) + the shared var + the GitHub secret
    assert len(written) == 8
    assert any(loc["kind"] == "github_secret" for loc in written)
    assert any("probably the same value — unverified; written blind" in w for w in cp["warnings"])
    assert len(cp["deployments"]) == 5

    value_file = tmp_path / "new-key"
    value_file.write_text(NEW + "\n")
    api = _api(sb)
    projects = _projects(api)
    before = {name: _stripe_vars(api, pid) for name, pid in projects.items()}
    gh_before = _github_secret(sb)

    # no probe can prove the new value works: refused before anything changes
    rc = run(["apply", str(plan_path), "--env-file", env, "--value-file", str(value_file), "--yes"])
    err = capsys.readouterr().err
    assert rc == 2 and "--health-path" in err and "Traceback" not in err
    assert {name: _stripe_vars(api, pid) for name, pid in projects.items()} == before

    # with a health path: every copy written, every deployment rebuilt and READY, then the
    # run waits for the person to revoke the old key
    rc = run(
        [
            "apply",
            str(plan_path),
            "--env-file",
            env,
            "--value-file",
            str(value_file),
            "--yes",
            "--health-path",
            "/",
        ]
    )
    out = capsys.readouterr()
    assert rc == 4, out.err  # waiting for a person (README: exit codes)
    assert "waiting" in out.err
    after = {name: _stripe_vars(api, pid) for name, pid in projects.items()}
    assert [v.get("comment") for v in after["shop"] if v["target"] == ["production"]] == [
        "Stripe key of the Acme account"
    ]
    assert [v["type"] for v in after["admin"]] == ["sensitive"]
    for name, vars_before in before.items():
        # updated in place: same ids, type, targets, branch, custom environments and comment
        shape = ("id", "type", "target", "gitBranch", "customEnvironmentIds", "comment")
        assert [{k: v.get(k) for k in shape} for v in after[name]] == [
            {k: v.get(k) for k in shape} for v in vars_before
        ]
    b64_checked = 0
    for name, pid in projects.items():
        serving = _serving_env(api, pid)
        assert serving, name
        for dep, fps in serving.items():
            assert fps.get("STRIPE_SECRET_KEY", NEW_FP) == NEW_FP, (name, dep)
            assert fps.get("STRIPE_API_KEY", NEW_FP) == NEW_FP, (name, dep)
            assert OLD_FP not in fps.values(), (name, dep)
            if "STRIPE_KEY_B64" in fps:  # the base64 copy holds the new key, base64-encoded
                assert fps["STRIPE_KEY_B64"] == fingerprint_of(base64.b64encode(NEW.encode()).decode())
                b64_checked += 1
    assert b64_checked == 1
    assert _github_secret(sb)["updated_at"] != gh_before["updated_at"]
    status = _json(capsys, ["status", "--env-file", env, "--json"])
    states = {s["id"].split("/", 1)[1]: s["state"] for s in status["steps"]}
    assert states["probe"] == "done" and states["revoke"] == "pending" and states["rescan"] == "pending"
    assert all(
        v == "done" for k, v in states.items() if k.startswith(("env/", "shared", "redeploy/", "ready/"))
    )

    # the person confirms the revoke: done
    rc = run(["resume", "--env-file", env, "--yes", "--confirm-revoked", OLD_FP])
    out = capsys.readouterr()
    assert rc == 0, out.err
    status = _json(capsys, ["status", "--env-file", env, "--json"])
    assert status["run"]["state"] == "done" and status["integrity"] == []

    # a `vercel env pull` file from before the rotation is a stale copy: verify names the command
    pulled = tmp_path / "app" / ".env.local"
    pulled.parent.mkdir()
    pulled.write_text(f'# Created by Vercel CLI\nSTRIPE_SECRET_KEY="{OLD}"\n')
    doc = _json(
        capsys, ["verify", "--env-file", env, "--all", "--path", str(pulled.parent), "--json"], code=1
    )
    (stale,) = [c for c in doc["checks"] if str(pulled) in c["title"]]
    assert stale["status"] == "fail"
    assert stale["hint"].endswith(f"vercel env pull {pulled} --environment=development --yes")


RESEND_A = "re_dZZbxz2e_PgDV7jYu3yT8BKwbE5B2wxPQ"  # keyroll: allow
RESEND_B = "re_2TBAkxEu_NTeCvf8o6iJ6uiSQkqpYRS3U"  # keyroll: allow
AMBIGUOUS_FLEET: dict[str, Any] = {
    "name": "ambiguous",
    "team": {"id": "team_sandbox", "slug": "acme"},
    "projects": [
        {
            "name": "a",
            "env": [
                {
                    "key": "RESEND_API_KEY",
                    "value": RESEND_A,
                    "target": ["production"],
                }
            ],
            "deployments": [{"target": "production"}],
        },
        {
            "name": "b",
            "env": [
                {
                    "key": "RESEND_API_KEY",
                    "value": RESEND_B,
                    "target": ["production"],
                }
            ],
            "deployments": [{"target": "production"}],
        },
        {
            "name": "c",
            "env": [
                {
                    "key": "RESEND_API_KEY",
                    "value": RESEND_B,
                    "target": ["production"],
                    "type": "sensitive",
                }
            ],
            "deployments": [{"target": "production"}],
        },
    ],
}


def test_untouched_unverified_copy_blocks_revoke_until_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEYROLL_JOURNAL", str(tmp_path / "journal.db"))
    monkeypatch.setenv("KEYROLL_JOURNAL_KEY", JOURNAL_PASSPHRASE)
    old = RESEND_A
    new = "re_9NewKey0_AfterTheLeak0123456789ab"  # keyroll: allow
    for v in (old, new, RESEND_B):
        canary_mod.register(v)
    with Sandbox(tmp_path / "sb", fleet=AMBIGUOUS_FLEET, build_seconds=BUILD) as sb:
        register_api_tokens(sb)
        env = str(write_env_file(tmp_path / "sandbox.env", sb.env()))
        doc = _json(
            capsys,
            [
                "plan",
                "--env-file",
                env,
                "--credential",
                fingerprint_of(old),
                "--json",
                "--build-seconds",
                str(BUILD),
                "--out",
                str(tmp_path / "plan.json"),
            ],
        )
        (cp,) = doc["credentials"]
        assert any("NOT written by this plan" in w and "vercel c RESEND_API_KEY" in w for w in cp["warnings"])
        (tmp_path / "v").write_text(new)
        rc = run(
            [
                "apply",
                str(tmp_path / "plan.json"),
                "--env-file",
                env,
                "--value-file",
                str(tmp_path / "v"),
                "--yes",
                "--health-path",
                "/",
                "--confirm-revoked",
                fingerprint_of(old),
            ]
        )
        err = capsys.readouterr().err
        assert rc == 4 and "unverified" in err, err  # waiting for a person
        # the instructions are printed as text, not as markup ("[production]" kept)
        assert any(ln.startswith("waiting:") and "[production]" in ln for ln in err.splitlines()), err
        status = _json(capsys, ["status", "--env-file", env, "--json"])
        assert {s["id"].split("/", 1)[1]: s["state"] for s in status["steps"]}["revoke"] == "pending"
        rc = run(
            [
                "resume",
                "--env-file",
                env,
                "--yes",
                "--confirm-unverified",
                "--confirm-revoked",
                fingerprint_of(old),
            ]
        )
        assert rc == 0, capsys.readouterr().err


def test_copies_in_env_pull_files_and_secret_store_exports(
    sandbox: tuple[Sandbox, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``vercel env pull`` files and Doppler / Infisical exports are read for copies, and the
    report names the command that updates each one."""
    _, env = sandbox
    d = tmp_path / "app"
    (d / "infra").mkdir(parents=True)
    # vercel env pull (CLI 64): sensitive vars come out as [SENSITIVE] — no copy
    (d / ".env.production.local").write_text(
        "# Created by Vercel CLI\n"
        f'STRIPE_SECRET_KEY="{OLD}"\n'
        'UPSTASH_REDIS_REST_TOKEN="[SENSITIVE]"\n'
        'NEXT_PUBLIC_SITE_NAME="Acme Shop"\n'
    )
    (d / "doppler.json").write_text(
        json.dumps(
            {
                "DOPPLER_CONFIG": "prd",
                "DOPPLER_ENVIRONMENT": "prd",
                "DOPPLER_PROJECT": "shop",
                "STRIPE_API_KEY": OLD,
            },
            indent=2,
        )
    )
    (d / "infisical.json").write_text(json.dumps([{"key": "STRIPE_KEY", "value": OLD}]))
    (d / "infra" / ".infisical.json").write_text(
        json.dumps({"workspaceId": "ws_1", "defaultEnvironment": "prod"})
    )
    (d / "infra" / "secrets.yaml").write_text(f"STRIPE_SECRET_KEY: {OLD}\n")
    doc = _json(capsys, ["inventory", "--env-file", env, "--json", "--path", str(d)], code=1)
    files = {
        Path(loc["path"]).name: loc
        for loc in doc["locations"]
        if loc["kind"] == "file" and loc["fingerprint"] == OLD_FP
    }
    assert set(files) == {".env.production.local", "doppler.json", "infisical.json", "secrets.yaml"}
    pull = files[".env.production.local"]
    assert pull["key"] == "STRIPE_SECRET_KEY"
    assert f"vercel env pull {d / '.env.production.local'} --environment=production --yes" in pull["reason"]
    doppler = files["doppler.json"]
    assert doppler["key"] == "STRIPE_API_KEY"
    assert doppler["reason"].startswith("doppler secrets set STRIPE_API_KEY --project shop --config prd")
    assert (
        f"doppler secrets download --no-file --format json --project shop --config prd > {d / 'doppler.json'}"
        in doppler["reason"]
    )
    infisical = files["infisical.json"]
    assert (
        infisical["key"] == "STRIPE_KEY"
        and "infisical export --env=<env> --format=json" in infisical["reason"]
    )
    yaml_copy = files["secrets.yaml"]
    assert "infisical secrets set --env=prod" in yaml_copy["reason"]
    assert "--format=yaml" in yaml_copy["reason"]
    # [SENSITIVE] is not a value: no credential made of it
    assert not any(
        loc["kind"] == "file" and loc["key"] == "UPSTASH_REDIS_REST_TOKEN" for loc in doc["locations"]
    )
    assert fingerprint_of("[SENSITIVE]") not in {c["fingerprint"] for c in doc["credentials"]}
    # the table shows the commands
    assert run(["inventory", "--env-file", env, "--path", str(d)]) == 1
    out = capsys.readouterr().out
    assert "Copies outside Vercel" in out and "doppler secrets set" in out


def test_password_inside_a_database_url_is_rotated_in_place(
    sandbox: tuple[Sandbox, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manually rotated password that sits in a database URL (``mysql://``): the var keeps its
    URL, only the password changes."""
    sb, env = sandbox
    spec = load_fleet("secrets")
    shop = next(p for p in spec["projects"] if p["name"] == "shop")
    url = str(next(e["value"] for e in shop["env"] if e["key"] == "DATABASE_URL"))
    old_pw = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    new_pw = "N3w/Passw0rd+" + "x9Z"  # needs percent-encoding inside a URL
    for v in (old_pw, new_pw, url):
        canary_mod.register(v)
    fp = fingerprint_of(old_pw)
    plan_path = tmp_path / "plan.json"
    doc = _json(
        capsys,
        [
            "plan",
            "--env-file",
            env,
            "--key",
            "DATABASE_URL",
            "--strategy",
            f"{fp}=manual",
            "--json",
            "--build-seconds",
            str(BUILD),
            "--out",
            str(plan_path),
        ],
    )
    assert doc["credentials"][0]["credential"] == fp
    (tmp_path / "pw").write_text(new_pw)
    rc = run(
        [
            "apply",
            str(plan_path),
            "--env-file",
            env,
            "--value-file",
            str(tmp_path / "pw"),
            "--yes",
            "--health-path",
            "/",
            "--confirm-revoked",
            fp,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    api = _api(sb)
    pid = _projects(api)["shop"]
    (var,) = [e for e in api.get(f"/v10/projects/{pid}/env").json()["envs"] if e["key"] == "DATABASE_URL"]
    got = api.get(f"/v1/projects/{pid}/env/{var['id']}").json()["value"]
    want = url.replace(f":{old_pw}@", ":N3w%2FPassw0rd%2Bx9Z@")
    assert fingerprint_of(got) == fingerprint_of(want)


def test_without_a_probe_only_force_revoke_gets_past_the_gate_and_it_is_recorded(
    sandbox: tuple[Sandbox, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, env = sandbox
    spec = load_fleet("secrets")
    shop = next(p for p in spec["projects"] if p["name"] == "shop")
    old = str(next(e["value"] for e in shop["env"] if e["key"] == "OPENAI_API_KEY"))
    new = "sk-" + "proj-" + "N3wKey" * 10
    for v in (old, new):
        canary_mod.register(v)
    fp = fingerprint_of(old)
    (tmp_path / "v").write_text(new)
    argv = [
        "apply",
        "--env-file",
        env,
        "--key",
        "OPENAI_API_KEY",
        "--value-file",
        str(tmp_path / "v"),
        "--yes",
    ]
    rc = run([*argv, "--dry-run"])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    rc = run([*argv, "--force-revoke", "--confirm-revoked", fp])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    status = _json(capsys, ["status", "--env-file", env, "--json"])
    assert status["run"]["state"] == "done"
    assert status["run"]["options"].get("force_revoke") is True
    # the journal says the revoke went ahead without a probe
    from keyroll.journal.store import Journal

    with Journal.open(tmp_path / "journal.db") as reader:
        records = reader.step_records(reader.run(None).id)
    (revoke,) = [r for sid, r in records.items() if sid.endswith("/revoke")]
    assert revoke.detail["no_probe"] is True and revoke.detail["gate"] == "forced"
    assert revoke.detail["confirmed_by"] == "--confirm-revoked"
