"""Fidelity: the real Vercel CLI (npm ``vercel``) and ``@vercel/sdk`` work against the sandbox.

The clients are the versions pinned in ``tests/node/package-lock.json`` (``make node-deps``, which
``make test`` runs, installs them with ``npm install --no-save``; the fixture does the same when they are missing).
They skip only where node/npm are absent; where node is present, a failed install fails the tests.
The Vercel CLI depends on ``sandbox@4.4.0``, which the registry reachable here lacks: an npm
``overrides`` entry points it at a stub package in ``tests/node/stubs/sandbox`` (the tests never use it).

The CLI only speaks ``https:``, so the sandbox serves Vercel over TLS with its own CA
(``Sandbox(tls=True)``) and the CLI trusts it through ``NODE_EXTRA_CA_CERTS``. The SDK
validates every response against its zod schemas, so a missing required field fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from keyroll.core.secret import fingerprint_of
from keyroll.sandbox.server import Sandbox
from keyroll.sandbox.vercel.state import VercelState
from tests.node_clients import node_modules as installed_node_modules

pytestmark = [pytest.mark.node]

SDK_SCRIPT = r"""
import { Vercel } from "@vercel/sdk";
const [serverURL, token, teamId] = process.argv.slice(2);
const v = new Vercel({ bearerToken: token, serverURL });
function flat(issues, out = []) {
  for (const i of issues) {
    if (i.code === "invalid_union" && i.unionErrors) {
      const here = i.path.join(".");
      let best = null;
      for (const u of i.unionErrors) {
        const root = u.issues.length === 1 && u.issues[0].code === "invalid_type" && u.issues[0].path.join(".") === here;
        if (root) continue;
        const f = flat(u.issues, []);
        if (!best || f.length < best.length) best = f;
      }
      out.push(...(best || [`${here}: no union branch matches`]));
    } else out.push(`${i.path.join(".")}: ${i.message}`);
  }
  return out;
}
const findEnv = async (key) => (await v.projects.filterProjectEnvs({ idOrName: "web", teamId })).envs.find(e => e.key === key);
const calls = {
  getProjects: () => v.projects.getProjects({ teamId }),
  getProject: () => v.projects.getProject({ idOrName: "web", teamId }),
  filterProjectEnvs: () => v.projects.filterProjectEnvs({ idOrName: "web", teamId, decrypt: "true" }),
  getProjectEnv: async () => v.projects.getProjectEnv({ idOrName: "web", id: (await findEnv("UPSTASH_REDIS_REST_URL")).id, teamId }),
  customEnvironments: () => v.environment.getProjectsByIdOrNameCustomEnvironments({ idOrName: "web", teamId }),
  getCustomEnvironment: () => v.environment.getCustomEnvironment({ idOrName: "web", environmentSlugOrId: "staging", teamId }),
  getDeployments: () => v.deployments.getDeployments({ teamId, projectId: "web" }),
  getDeployment: async () => v.deployments.getDeployment({ idOrUrl: (await v.deployments.getDeployments({ teamId, projectId: "web" })).deployments[0].uid, teamId }),
  listSharedEnvVariable: () => v.environment.listSharedEnvVariable({ teamId }),
  listUserEvents: () => v.user.listUserEvents({ teamId }),
  getConfigurations: () => v.integrations.getConfigurations({ view: "account", teamId }),
  getAuthUser: () => v.user.getAuthUser(),
  getTeam: () => v.teams.getTeam({ teamId }),
  createProjectEnv: () => v.projects.createProjectEnv({ idOrName: "web", teamId, upsert: "true", requestBody: [{ key: "SDK_MADE", value: "sdk-made-value-0001", type: "encrypted", target: ["production"] }] }),
  editProjectEnv: async () => v.projects.editProjectEnv({ idOrName: "web", id: (await findEnv("SDK_MADE")).id, teamId, requestBody: { value: "sdk-made-value-0002" } }),
  createDeployment: async () => {
    const d = await v.deployments.getDeployments({ teamId, projectId: "web", target: "production" });
    return v.deployments.createDeployment({ teamId, forceNew: "1", requestBody: { deploymentId: d.deployments[0].uid, name: "web", target: "production", meta: { action: "redeploy" } } });
  },
  removeProjectEnv: async () => v.projects.removeProjectEnv({ idOrName: "web", id: (await findEnv("SDK_MADE")).id, teamId }),
};
const out = {};
for (const [name, fn] of Object.entries(calls)) {
  try { await fn(); out[name] = "ok"; }
  catch (e) {
    const z = e && e.cause && e.cause.issues ? e.cause : null;
    out[name] = z ? flat(z.issues).slice(0, 20) : String((e && e.message) || e).slice(0, 300);
  }
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """``tests/node/node_modules`` with the pinned ``vercel`` and ``@vercel/sdk``."""
    return installed_node_modules()


@pytest.fixture(scope="module")
def sb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox(
        tmp_path_factory.mktemp("fidelity"), fleet="small", build_seconds=0.2, tls=True, services=("vercel",)
    ) as sandbox:
        yield sandbox


def state_of(sb: Sandbox) -> VercelState:
    state: VercelState = sb.world.hooks["vercel.state"]()
    return state


def vercel(
    node_modules: Path, sb: Sandbox, tmp_path: Path, *args: str, link: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI against the sandbox (HTTPS URL, sandbox token, team scope)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    if link is not None:
        state = state_of(sb)
        project = state.project(link)
        assert project is not None
        (work / ".vercel").mkdir(exist_ok=True)
        (work / ".vercel" / "project.json").write_text(
            json.dumps({"orgId": state.team["id"], "projectId": project.id})
        )
    assert sb.tls_files is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "NODE_EXTRA_CA_CERTS": str(sb.tls_files.ca_cert),
        "VERCEL_TELEMETRY_DISABLED": "1",
        "NO_UPDATE_NOTIFIER": "1",
        "CI": "1",
        "FORCE_COLOR": "0",
    }
    token = sb.env()["VERCEL_TOKEN"]
    cmd = [
        str(node_modules / ".bin" / "vercel"),
        *args,
        "--api",
        sb.world.tls_urls["vercel"],
        "--token",
        token,
        "--scope",
        state_of(sb).team["slug"],
        "--global-config",
        str(tmp_path / "global"),
        "--no-color",
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=work, env=env)


def test_cli_project_ls(node_modules: Path, sb: Sandbox, tmp_path: Path) -> None:
    done = vercel(node_modules, sb, tmp_path, "project", "ls")
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    for name in ("web", "api", "docs"):
        assert f"https://{name}-acme.vercel.app" in text


def test_cli_env_ls(node_modules: Path, sb: Sandbox, tmp_path: Path) -> None:
    done = vercel(node_modules, sb, tmp_path, "env", "ls", link="web")
    assert done.returncode == 0, done.stderr
    assert "UPSTASH_REDIS_REST_TOKEN" in done.stdout and "KV_REST_API_TOKEN" in done.stdout
    assert "Preview (feat-x)" in done.stdout
    branch = vercel(node_modules, sb, tmp_path, "env", "ls", "preview", "feat-x", link="web")
    assert branch.returncode == 0 and "MYAPP_UPSTASH_REDIS_REST_TOKEN" in branch.stdout


def test_cli_ls_lists_deployments(node_modules: Path, sb: Sandbox, tmp_path: Path) -> None:
    done = vercel(node_modules, sb, tmp_path, "ls")
    assert done.returncode == 0, done.stderr
    state = state_of(sb)
    assert all(dep_id in done.stdout for dep_id in list(state.deployments)[:3])


def test_cli_env_pull_gets_the_values(node_modules: Path, sb: Sandbox, tmp_path: Path) -> None:
    done = vercel(
        node_modules,
        sb,
        tmp_path,
        "env",
        "pull",
        "--yes",
        ".env.pulled",
        "--environment=production",
        link="web",
    )
    assert done.returncode == 0, done.stderr
    pulled = dict(
        line.split("=", 1)
        for line in (tmp_path / "work" / ".env.pulled").read_text().splitlines()
        if "=" in line
    )
    web = state_of(sb).project("web")
    assert web is not None
    url = next(ev for ev in web.env.values() if ev.key == "UPSTASH_REDIS_REST_URL")
    assert fingerprint_of(pulled["UPSTASH_REDIS_REST_URL"].strip('"')) == fingerprint_of(url.value)
    # sensitive vars come back without their value: older CLIs write "", vercel@64 a placeholder
    assert pulled["UPSTASH_REDIS_REST_TOKEN"].strip('"') in ("", "[SENSITIVE]")


def _sdk_problems(node_modules: Path, sb: Sandbox, script_name: str, source: str) -> dict[str, object]:
    """Run an @vercel/sdk script against ``sb``; the checks it reports as not ``ok``."""
    script = node_modules.parent / script_name
    script.write_text(source)
    env = sb.env()
    done = subprocess.run(
        ["node", str(script), env["KEYROLL_VERCEL_API_URL"], env["VERCEL_TOKEN"], env["VERCEL_TEAM_ID"]],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return {name: r for name, r in results.items() if r != "ok"}


def test_sdk_reads_and_writes_validate(node_modules: Path, sb: Sandbox) -> None:
    problems = _sdk_problems(node_modules, sb, "keyroll_fidelity.mjs", SDK_SCRIPT)
    assert not problems, problems


# -- the platform's realities (reference notes §12): a Hobby team, an Ignored Build Step, Deployment
# Protection with a bypass secret, hidden production vars, a staging deployment, queued and cancelled builds

REALITIES_SDK_SCRIPT = r"""
import { Vercel } from "@vercel/sdk";
const [serverURL, token, teamId] = process.argv.slice(2);
const v = new Vercel({ bearerToken: token, serverURL });
function flat(issues, out = []) {
  for (const i of issues) {
    if (i.code === "invalid_union" && i.unionErrors) {
      const here = i.path.join(".");
      let best = null;
      for (const u of i.unionErrors) {
        const f = flat(u.issues, []);
        if (!best || f.length < best.length) best = f;
      }
      out.push(...(best || [`${here}: no union branch matches`]));
    } else out.push(`${i.path.join(".")}: ${i.message}`);
  }
  return out;
}
const issues = (e) => {
  const z = e && e.cause && e.cause.issues ? e.cause : null;
  return z ? flat(z.issues).slice(0, 20) : String((e && e.message) || e).slice(0, 300);
};
const deps = async (projectId) => (await v.deployments.getDeployments({ teamId, projectId, limit: 100 })).deployments;
const calls = {
  getTeam: async () => { const t = await v.teams.getTeam({ teamId }); if (t.billing?.plan !== "hobby") throw new Error("plan " + JSON.stringify(t.billing)); },
  getProjects: () => v.projects.getProjects({ teamId }),
  getProjectWeb: async () => { const p = await v.projects.getProject({ idOrName: "web", teamId }); if (!p.ssoProtection) throw new Error("no ssoProtection"); },
  getProjectApi: () => v.projects.getProject({ idOrName: "api", teamId }),
  filterProjectEnvsHidden: async () => { const r = await v.projects.filterProjectEnvs({ idOrName: "api", teamId }); if (r.hiddenProductionEnvCount !== 2) throw new Error("hidden " + JSON.stringify(Object.keys(r))); },
  updateProject: () => v.projects.updateProject({ idOrName: "web", teamId, requestBody: { commandForIgnoringBuildStep: "exit 0" } }),
  redeployIgnored: async () => {
    const prod = (await deps("web")).find(d => d.target === "production" && d.state === "READY");
    await v.deployments.createDeployment({ teamId, forceNew: "1", requestBody: { deploymentId: prod.uid, name: "web", target: "production" } });
    await v.deployments.createDeployment({ teamId, forceNew: "1", requestBody: { deploymentId: prod.uid, name: "web", target: "production" } });
  },
  listQueuedAndCanceled: async () => { await new Promise(r => setTimeout(r, 400)); const states = (await deps("web")).map(d => d.state); if (!states.includes("CANCELED") && !states.includes("QUEUED")) throw new Error(states.join(",")); },
  getEachDeployment: async () => {
    for (const d of [...await deps("web"), ...await deps("api")]) {
      try { await v.deployments.getDeployment({ idOrUrl: d.uid, teamId }); }
      catch (e) { throw new Error(d.state + " " + d.target + ": " + JSON.stringify(issues(e))); }
    }
  },
  getStaging: async () => { const s = (await deps("api")).find(d => d.target === "staging"); const full = await v.deployments.getDeployment({ idOrUrl: s.uid, teamId }); if (full.target !== "staging") throw new Error("target " + full.target); },
};
const out = {};
for (const [name, fn] of Object.entries(calls)) {
  try { await fn(); out[name] = "ok"; } catch (e) { out[name] = issues(e); }
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def realities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    from tests.integration.test_sandbox_vercel_realities import realities_fleet

    with Sandbox(
        tmp_path_factory.mktemp("fidelity-realities"),
        fleet=realities_fleet(),
        build_seconds=0.3,
        tls=True,
        services=("vercel",),
        vercel_plan="hobby",
    ) as sandbox:
        yield sandbox


def test_sdk_parses_the_realities(node_modules: Path, realities: Sandbox) -> None:
    problems = _sdk_problems(node_modules, realities, "keyroll_fidelity_realities.mjs", REALITIES_SDK_SCRIPT)
    assert not problems, problems


def test_cli_parses_the_realities(node_modules: Path, realities: Sandbox, tmp_path: Path) -> None:
    state = state_of(realities)
    api = state.project("api")
    web = state.project("web")
    assert api is not None and web is not None
    # a queued and a cancelled build in the listing (Hobby: one slot; Ignored Build Step cancels)
    prod = state.deployments[web.production_id or ""]
    for _ in range(2):
        state.create_deployment(
            web,
            target="production",
            git_branch="main",
            custom_env_id=None,
            meta={},
            source="redeploy",
            redeploy=True,
        )
    done = vercel(node_modules, realities, tmp_path, "project", "ls")
    assert done.returncode == 0, done.stderr
    assert "https://web-acme.vercel.app" in done.stdout + done.stderr
    done = vercel(node_modules, realities, tmp_path, "env", "ls", link="api")
    assert done.returncode == 0, done.stderr
    assert "UPSTASH_VECTOR_REST_TOKEN" in done.stdout
    done = vercel(node_modules, realities, tmp_path, "ls", "web")
    assert done.returncode == 0, done.stderr
    assert prod.id[4:] in done.stdout or "web" in done.stdout
    done = vercel(node_modules, realities, tmp_path, "ls", "api")
    assert done.returncode == 0, done.stderr
