"""Fleets: the projects, env vars, deployments, secrets and Upstash resources a sandbox starts with.

* :func:`load_fleet` — a built-in name (``small``, ``incident``), a YAML/JSON file, or a dict;
  validated against :mod:`keyroll.sandbox.fleet_schema` plus cross-references (custom
  environments, linked projects, integrations, templates), returned as a normalised dict.
* :func:`keyroll.sandbox.fleet_generate.generate_fleet` — large synthetic fleets for the benchmarks.
* :func:`resolve_templates` / :func:`placeholder_templates` — ``${…}`` values.

A fleet never contains a credential: env values refer to credentials minted by the Upstash
emulation through templates (docs/sandbox.md lists them).
"""

from __future__ import annotations

import importlib.resources
import json
import re
import secrets
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from keyroll.sandbox.fleet_schema import FleetSpec

__all__ = [
    "BUILTIN_FLEETS",
    "TEMPLATE_RE",
    "FleetError",
    "builtin_fleets",
    "load_fleet",
    "placeholder_templates",
    "resolve_templates",
    "template_names",
]

BUILTIN_FLEETS = ("small", "incident", "secrets")
TEMPLATE_RE = re.compile(r"\$\{([^${}]*)\}")
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REDIS_FIELDS = (
    "rest_url",
    "rest_token",
    "readonly_rest_token",
    "password",
    "readonly_password",
    "redis_url",
    "host",
    "port",
)
_INDEX_FIELDS = ("url", "token", "readonly_token")
POSTGRES_FIELDS = ("url", "password", "user", "host", "port", "database")
"""``${postgres:<name>:<field>}`` (docs/sandbox.md, "PostgreSQL")"""
NEON_FIELDS = (
    "url",
    "url_unpooled",
    "password",
    "user",
    "host",
    "host_unpooled",
    "port",
    "database",
    "project_id",
    "branch_id",
    "endpoint_id",
)
"""``${neon:<name>:<field>}`` (docs/sandbox.md, "Neon")"""
_QSTASH_FIELDS = (
    "url",
    "token",
    "readonly_token",
    "current_signing_key",
    "next_signing_key",
    "signing_key_current",
    "signing_key_next",
)


class FleetError(ValueError):
    """A fleet cannot be loaded; the message is one line naming the file and the field."""


# -- loading -----------------------------------------------------------------------------


def builtin_fleets() -> dict[str, str]:
    """Built-in fleet names with their one-line descriptions."""
    out: dict[str, str] = {}
    for name in BUILTIN_FLEETS:
        data = _read_builtin(name)
        out[name] = str(data.get("description", "")).strip()
    return out


def _read_builtin(name: str) -> dict[str, Any]:
    resource = importlib.resources.files("keyroll.sandbox").joinpath("fleets", f"{name}.yaml")
    return _parse(resource.read_text("utf-8"), f"built-in fleet {name}")


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML/JSON"
        raise FleetError(f"{source}:{where} {problem}".replace(": ", ": ", 1)) from None
    if not isinstance(data, dict):
        raise FleetError(f"{source}: a fleet must be a mapping (team, upstash, projects, …)")
    return data


def load_fleet(spec: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Load and validate a fleet: a built-in name, a YAML/JSON file path, or a dict.

    :returns: the normalised fleet (every optional key filled with its default).
    :raises FleetError: unknown name, unreadable file, bad YAML/JSON, schema or reference errors.
    """
    if isinstance(spec, Mapping):
        data, source = dict(spec), "fleet"
    elif isinstance(spec, str) and spec in BUILTIN_FLEETS:
        data, source = _read_builtin(spec), f"built-in fleet {spec}"
    else:
        path = Path(spec)
        if not path.is_file():
            known = ", ".join(BUILTIN_FLEETS)
            raise FleetError(f"unknown fleet {str(spec)!r}: not a built-in ({known}) and no such file")
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FleetError(f"{path}: cannot read: {exc}") from None
        if path.suffix == ".json":
            try:
                data = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FleetError(f"{path}: line {exc.lineno}: {exc.msg}") from None
            if not isinstance(data, dict):
                raise FleetError(f"{path}: a fleet must be a JSON object")
        else:
            data = _parse(text, str(path))
        source = str(path)
    try:
        model = FleetSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise FleetError(f"{source}: {loc}: {err['msg']}{more}") from None
    fleet = model.model_dump(mode="json")
    _check_references(fleet, source)
    return fleet


# -- cross-reference checks ---------------------------------------------------------------


def _overlap(a: list[str], b: list[str]) -> bool:
    return bool(set(a) & set(b))


def _check_references(fleet: dict[str, Any], source: str) -> None:
    def fail(where: str, msg: str) -> None:
        raise FleetError(f"{source}: {where}: {msg}")

    resources = _resource_names(fleet)
    _check_databases(fleet, fail)
    config_ids = {i["id"] for i in fleet["integrations"]} | {
        r["configuration_id"] for r in fleet["upstash"]["redis"] if r.get("configuration_id")
    }
    names: set[str] = set()
    ids: set[str] = set()
    for pi, project in enumerate(fleet["projects"]):
        where = f"projects.{pi}"
        if project["name"] in names:
            fail(where, f"duplicate project name {project['name']!r}")
        names.add(project["name"])
        if project["id"]:
            if project["id"] in ids:
                fail(where, f"duplicate project id {project['id']!r}")
            ids.add(project["id"])
        slugs = {c["slug"] for c in project["custom_environments"]}
        for ei, env in enumerate(project["env"]):
            ew = f"{where}.env.{ei} ({env['key']})"
            _check_env(env, ew, slugs, config_ids, fail)
            for tmpl in template_names(env["value"]):
                _check_template(tmpl, resources, ew, fail)
            for ej in range(ei):
                other = project["env"][ej]
                if (
                    other["key"] == env["key"]
                    and other["git_branch"] == env["git_branch"]
                    and (
                        _overlap(other["target"], env["target"])
                        or _overlap(other["custom_environments"], env["custom_environments"])
                    )
                ):
                    fail(ew, f"conflicts with env.{ej}: same key and an overlapping target")
        for di, dep in enumerate(project["deployments"]):
            dw = f"{where}.deployments.{di}"
            if dep["custom_environment"] and dep["custom_environment"] not in slugs:
                fail(dw, f"unknown custom environment {dep['custom_environment']!r}")
            if dep["git_branch"] and dep["target"] == "production":
                fail(dw, "git_branch is only for preview deployments")
    for si, shared in enumerate(fleet["shared_env"]):
        sw = f"shared_env.{si} ({shared['key']})"
        if not _KEY_RE.match(shared["key"]):
            fail(sw, "invalid key (letters, digits and _; not starting with a digit)")
        if not shared["target"]:
            fail(sw, "needs at least one target")
        for name in shared["projects"]:
            if name not in names:
                fail(sw, f"unknown project {name!r}")
        for tmpl in template_names(shared["value"]):
            _check_template(tmpl, resources, sw, fail)
        for sj in range(si):
            other = fleet["shared_env"][sj]
            if other["key"] == shared["key"] and _overlap(other["target"], shared["target"]):
                fail(sw, f"conflicts with shared_env.{sj}: same key and an overlapping target")
    repos: set[str] = set()
    for ri, repo in enumerate(fleet["github"]["repos"]):
        rw = f"github.repos.{ri}"
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo["name"]):
            fail(rw, f"repository name {repo['name']!r} must be owner/name")
        if repo["name"].lower() in repos:
            fail(rw, f"duplicate repository {repo['name']!r}")
        repos.add(repo["name"].lower())
        groups = [("secrets", repo["secrets"])] + [
            (f"environments.{env}", items) for env, items in repo["environments"].items()
        ]
        for label, items in groups:
            for item in items:
                for tmpl in template_names(item["value"]):
                    _check_template(tmpl, resources, f"{rw}.{label} ({item['name']})", fail)
    for oi, org in enumerate(fleet["github"]["orgs"]):
        for item in org["secrets"]:
            for tmpl in template_names(item["value"]):
                _check_template(tmpl, resources, f"github.orgs.{oi}.secrets ({item['name']})", fail)


def _check_env(env: dict[str, Any], where: str, slugs: set[str], config_ids: set[str], fail: Any) -> None:
    if not _KEY_RE.match(env["key"]):
        fail(where, "invalid key (letters, digits and _; not starting with a digit)")
    if not env["target"] and not env["custom_environments"]:
        fail(where, "needs a target or custom_environments")
    if env["git_branch"] and env["target"] != ["preview"]:
        fail(where, "git_branch is only allowed with target [preview]")
    if env["type"] == "sensitive" and "development" in env["target"]:
        fail(where, "sensitive variables cannot target development")
    for slug in env["custom_environments"]:
        if slug not in slugs:
            fail(where, f"unknown custom environment {slug!r}")
    if env["configuration_id"] and env["configuration_id"] not in config_ids:
        fail(where, f"unknown integration configuration {env['configuration_id']!r}")


def _check_databases(fleet: dict[str, Any], fail: Any) -> None:
    """Postgres and Neon entries share one server: database and role names must not clash."""
    databases: dict[str, str] = {}
    roles: dict[str, str] = {}
    entries = [
        (f"postgres.{i}", p["name"], p.get("role") or p["name"]) for i, p in enumerate(fleet["postgres"])
    ]
    entries += [(f"neon.{i}", n["database"], n["role"]) for i, n in enumerate(fleet["neon"])]
    names = [p["name"] for p in fleet["postgres"]], [n["name"] for n in fleet["neon"]]
    for kind, listed in zip(("postgres", "neon"), names, strict=True):
        if len(set(listed)) != len(listed):
            fail(kind, "names must be unique")
    for where, db, role in entries:
        for label, value in (("database", db), ("role", role)):
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,39}", value) or value.startswith(
                ("pg_", "neon_", "keyroll_")
            ):
                fail(
                    where, f"{label} name {value!r}: lower-case letters, digits and _, not pg_/neon_/keyroll_"
                )
        if db in databases:
            fail(where, f"database {db!r} is also used by {databases[db]} (one server holds them all)")
        if role in roles:
            fail(where, f"role {role!r} is also used by {roles[role]} (roles are server-wide)")
        databases[db], roles[role] = where, where


def _resource_names(fleet: dict[str, Any]) -> dict[str, set[str]]:
    up = fleet["upstash"]
    return {
        "postgres": {p["name"] for p in fleet.get("postgres", [])},
        "neon": {n["name"] for n in fleet.get("neon", [])},
        "redis": {r["name"] for r in up["redis"]},
        "vector": {r["name"] for r in up["vector"]},
        "search": {r["name"] for r in up["search"]},
        "qstash": {
            str(q.get("region", "eu-central-1"))
            for q in (up["qstash"] if isinstance(up["qstash"], list) else [up["qstash"] or {}])
            if isinstance(q, dict)
        },
        "acl": {
            f"{r['name']}:{u.get('name')}"
            for r in up["redis"]
            for u in (r.get("acl_users") or [])
            if isinstance(u, dict)
        },
    }


def _check_template(name: str, resources: dict[str, set[str]], where: str, fail: Any) -> None:
    parts = name.split(":")
    kind = parts[0]
    ok = False
    if kind == "redis" and len(parts) == 3:
        ok = parts[1] in resources["redis"] and parts[2] in _REDIS_FIELDS
    elif kind == "redis" and len(parts) == 5 and parts[2] == "acl":
        ok = f"{parts[1]}:{parts[3]}" in resources["acl"] and parts[4] in ("password", "rest_token")
    elif kind in ("vector", "search") and len(parts) == 3:
        ok = parts[1] in resources[kind] and parts[2] in _INDEX_FIELDS
    elif kind == "qstash" and len(parts) == 2:
        ok = parts[1] in _QSTASH_FIELDS
    elif kind == "postgres" and len(parts) == 3:
        ok = parts[1] in resources["postgres"] and parts[2] in POSTGRES_FIELDS
    elif kind == "neon" and len(parts) == 3:
        ok = parts[1] in resources["neon"] and parts[2] in NEON_FIELDS

    elif kind == "qstash" and len(parts) == 3:
        ok = parts[1] in resources["qstash"] and parts[2] in _QSTASH_FIELDS
    if not ok:
        fail(where, f"template ${{{name}}} does not name a declared resource and field (see docs/sandbox.md)")


# -- templates ----------------------------------------------------------------------------


def template_names(value: str) -> list[str]:
    """The ``${…}`` names in a value, in order."""
    return TEMPLATE_RE.findall(value)


def resolve_templates(value: str, templates: Mapping[str, str], *, where: str = "") -> str:
    """Replace every ``${name}`` with ``templates[name]``.

    :raises FleetError: naming the first template that has no value (never a value).
    """

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in templates:
            at = f"{where}: " if where else ""
            raise FleetError(
                f"{at}template ${{{name}}} cannot be resolved: no sandbox service provides it "
                "(is the Upstash emulation installed and does it declare this resource?)"
            )
        return templates[name]

    return TEMPLATE_RE.sub(sub, value)


def _iter_values(fleet: Mapping[str, Any]) -> Iterator[str]:
    for project in fleet.get("projects", []):
        for env in project.get("env", []):
            yield env["value"]
    for shared in fleet.get("shared_env", []):
        yield shared["value"]
    gh = fleet.get("github", {})
    for repo in gh.get("repos", []):
        for item in repo.get("secrets", []):
            yield item["value"]
        for items in repo.get("environments", {}).values():
            for item in items:
                yield item["value"]
    for org in gh.get("orgs", []):
        for item in org.get("secrets", []):
            yield item["value"]


def placeholder_templates(fleet: Mapping[str, Any]) -> dict[str, str]:
    """Random stand-in values for every template the fleet uses.

    Used when the Upstash emulation is not installed, so that the Vercel and GitHub
    emulations can run alone; the values look like credentials but nothing accepts them.
    """
    out: dict[str, str] = {}
    alphabet = string.ascii_letters + string.digits

    def token(n: int = 44) -> str:
        return "".join(secrets.choice(alphabet) for _ in range(n))

    for value in _iter_values(fleet):
        for name in template_names(value):
            if name in out:
                continue
            field = name.rsplit(":", 1)[-1]
            resource = name.split(":")[1] if ":" in name else name
            if field in ("rest_url", "url"):
                out[name] = f"https://{resource}.sandbox.invalid"
            elif field == "host":
                out[name] = f"{resource}.sandbox.invalid"
            elif field == "port":
                out[name] = "6379"
            elif field == "redis_url":
                out[name] = f"rediss://default:{token(32)}@{resource}.sandbox.invalid:6379"
            elif "signing_key" in field:
                out[name] = "sig_" + token(28)
            else:
                out[name] = token()
    return out
