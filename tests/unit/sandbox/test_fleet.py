"""Fleet loading: built-ins cover every location kind, validation errors are one clear line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keyroll.sandbox.fleet import (
    FleetError,
    builtin_fleets,
    load_fleet,
    placeholder_templates,
    resolve_templates,
    template_names,
)
from keyroll.sandbox.fleet_generate import generate_fleet


def _minimal(**extra: Any) -> dict[str, Any]:
    fleet: dict[str, Any] = {
        "upstash": {"redis": [{"name": "cache"}]},
        "projects": [
            {
                "name": "web",
                "custom_environments": [{"slug": "staging"}],
                "env": [
                    {
                        "key": "UPSTASH_REDIS_REST_TOKEN",
                        "value": "${redis:cache:rest_token}",
                        "target": "production",
                    }
                ],
            }
        ],
    }
    fleet.update(extra)
    return fleet


def test_small_fleet_covers_every_location_kind() -> None:
    fleet = load_fleet("small")
    projects = {p["name"]: p for p in fleet["projects"]}
    envs = [e for p in fleet["projects"] for e in p["env"]]
    assert len(projects) == 3
    assert any(e["type"] == "sensitive" for e in envs)
    assert any(e["git_branch"] for e in envs)
    assert any(e["custom_environments"] for e in envs)
    assert any(e["configuration_id"] == "icfg_upstash" for e in envs)
    assert any(e["key"].startswith("KV_") for e in envs)
    assert "MYAPP_UPSTASH_REDIS_REST_TOKEN" in {e["key"] for e in envs}
    assert any(e["key"] == "REDIS_URL" and "${redis:cache:password}" in e["value"] for e in envs)
    assert {t for e in envs for t in e["target"]} == {"production", "preview", "development"}
    assert any(p["paused"] for p in fleet["projects"])
    shared = fleet["shared_env"]
    assert any(len(s["projects"]) == 2 for s in shared)
    gh = fleet["github"]
    assert gh["repos"] and any(r["environments"] for r in gh["repos"]) and gh["orgs"][0]["secrets"]
    kinds = {name.split(":")[0] for e in envs for name in template_names(e["value"])}
    assert kinds == {"redis", "qstash", "vector", "search"}
    assert any(name.endswith("signing_key") for e in envs for name in template_names(e["value"])), (
        "QStash signing keys"
    )
    assert any(r["managed_by"] == "vercel-integration" for r in fleet["upstash"]["redis"])


def test_incident_fleet_is_big_and_mixed() -> None:
    fleet = load_fleet("incident")
    assert len(fleet["projects"]) >= 25
    envs = [e for p in fleet["projects"] for e in p["env"]]
    names = {n for e in envs for n in template_names(e["value"])}
    assert {"qstash:token"} <= {n for s in fleet["shared_env"] for n in template_names(s["value"])}
    assert {"qstash:current_signing_key", "qstash:next_signing_key"} <= names
    assert any(n.startswith("vector:") for n in names) and any(n.startswith("search:") for n in names)
    assert any(e["configuration_id"] for e in envs)
    assert any(p["custom_environments"] for p in fleet["projects"])
    assert sum(1 for p in fleet["projects"] for d in p["deployments"] if d["git_branch"]) >= 3
    assert len(fleet["github"]["repos"]) >= 3


def test_builtin_list_has_descriptions() -> None:
    fleets = builtin_fleets()
    assert set(fleets) == {"small", "incident", "secrets"}
    assert all(fleets.values())


def test_file_and_dict_specs_load(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    path.write_text(json.dumps(_minimal()))
    from_file = load_fleet(path)
    assert from_file["projects"][0]["env"][0]["target"] == ["production"]
    assert from_file["team"]["slug"] == "acme"  # defaults filled
    yaml_path = tmp_path / "f.yaml"
    yaml_path.write_text("projects:\n  - name: solo\n")
    assert load_fleet(str(yaml_path))["projects"][0]["name"] == "solo"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda f: f["projects"][0]["env"][0].update(target="staging"), "projects.0.env.0.target"),
        (lambda f: f["projects"][0].update(colour="red"), "colour"),
        (
            lambda f: f["projects"][0]["env"][0].update(custom_environments=["nope"]),
            "unknown custom environment 'nope'",
        ),
        (
            lambda f: f["projects"][0]["env"][0].update(value="${redis:other:rest_token}"),
            "${redis:other:rest_token}",
        ),
        (lambda f: f["projects"][0]["env"][0].update(git_branch="x"), "git_branch is only allowed"),
        (
            lambda f: f["projects"][0]["env"][0].update(type="sensitive", target=["development"]),
            "development",
        ),
        (lambda f: f["projects"][0]["env"].append(dict(f["projects"][0]["env"][0])), "conflicts with env.0"),
        (lambda f: f["projects"].append({"name": "web"}), "duplicate project name"),
        (
            lambda f: f.update(shared_env=[{"key": "A", "value": "x", "projects": ["ghost"]}]),
            "unknown project 'ghost'",
        ),
        (lambda f: f["projects"][0]["env"][0].update(key="9BAD"), "invalid key"),
        (lambda f: f["projects"][0]["env"][0].update(configuration_id="icfg_x"), "icfg_x"),
    ],
)
def test_validation_errors_name_the_field(mutate: Any, expected: str) -> None:
    fleet = _minimal()
    mutate(fleet)
    with pytest.raises(FleetError) as info:
        load_fleet(fleet)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="unknown fleet 'nope'"):
        load_fleet("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("projects: [\n  - name: x\n")
    with pytest.raises(FleetError, match=r"bad\.yaml: line \d+"):
        load_fleet(bad)
    not_map = tmp_path / "list.yaml"
    not_map.write_text("- 1\n- 2\n")
    with pytest.raises(FleetError, match="must be a mapping"):
        load_fleet(not_map)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    with pytest.raises(FleetError, match="line 1"):
        load_fleet(bad_json)


def test_templates_resolve_and_name_the_missing_one() -> None:
    value = "rediss://default:${redis:cache:password}@${redis:cache:host}:${redis:cache:port}"
    out = resolve_templates(
        value, {"redis:cache:password": "pw", "redis:cache:host": "h", "redis:cache:port": "1"}
    )
    assert out == "rediss://default:pw@h:1"
    with pytest.raises(FleetError, match=r"\$\{redis:cache:host\}") as info:
        resolve_templates(value, {"redis:cache:password": "secret-password-value"}, where="web.REDIS_URL")
    assert "secret-password-value" not in str(info.value)
    assert "web.REDIS_URL" in str(info.value)


def test_placeholders_cover_every_template_in_a_fleet() -> None:
    fleet = load_fleet("incident")
    stand_ins = placeholder_templates(fleet)
    for project in fleet["projects"]:
        for env in project["env"]:
            resolved = resolve_templates(env["value"], stand_ins)
            assert "${" not in resolved
    assert stand_ins["redis:cache:port"].isdigit()
    assert stand_ins["redis:cache:rest_url"].startswith("https://")


def test_generated_fleet_shape() -> None:
    fleet = generate_fleet(12, vars_per_project=8, preview_branches=2, shared_vars=3, leaked_fraction=0.5)
    loaded = load_fleet(fleet)
    assert len(loaded["projects"]) == 12
    assert all(len(p["env"]) == 8 for p in loaded["projects"])
    assert all(len(p["deployments"]) == 3 for p in loaded["projects"])
    leaked = [p for p in loaded["projects"] if any(e["key"] == "UPSTASH_REDIS_REST_TOKEN" for e in p["env"])]
    assert len(leaked) == 6
    kv = next(s for s in loaded["shared_env"] if s["key"] == "KV_REST_API_TOKEN")
    assert kv["value"] == "${redis:cache:rest_token}" and len(kv["projects"]) == 12
    assert generate_fleet(3, seed=1) == generate_fleet(3, seed=1)
    with pytest.raises(ValueError, match="vars_per_project"):
        generate_fleet(1, vars_per_project=2, preview_branches=1)
