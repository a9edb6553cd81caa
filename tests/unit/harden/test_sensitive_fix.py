"""Converting a credential var to sensitive: in place, or bridged so no build ever misses it."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from keyroll.core.errors import ProviderError
from keyroll.core.secret import Secret
from keyroll.harden.sensitive_fix import convert_project_var, convert_shared_var
from keyroll.providers.vercel.models import EnvVar, EnvVarInput, SharedEnvVar, UpsertResult

VALUE = "AXsandbox-token-value-000000000001"
BUILD = ("production", "preview")


class TinyVercel:
    """Just enough of VercelAPI: project vars, shared vars, and a trace of what builds would see."""

    def __init__(self, *, refuse_type_change: bool, fail_create_sensitive: bool = False) -> None:
        self.refuse = refuse_type_change
        self.fail_create = fail_create_sensitive
        self.ids = (f"env_{i}" for i in itertools.count(1))
        self.envs: dict[str, dict[str, Any]] = {}
        self.shared: dict[str, dict[str, Any]] = {}
        self.trace: list[dict[str, str | None]] = []

    # what a new build of each target would get right now (project vars override shared ones)
    def effective(self, target: str) -> str | None:
        for e in self.envs.values():
            if e["key"] == "TOKEN" and target in e["target"]:
                return str(e["value"])
        for s in self.shared.values():
            if s["key"] == "TOKEN" and target in s["target"] and "prj" in s["projects"]:
                return str(s["value"])
        return None

    def _snap(self) -> None:
        self.trace.append({t: self.effective(t) for t in BUILD})

    def _model(self, env_id: str) -> EnvVar:
        e = self.envs[env_id]
        value = None if e["type"] == "sensitive" else Secret(e["value"])
        return EnvVar(
            id=env_id,
            key=e["key"],
            type=e["type"],
            target=list(e["target"]),
            comment=e.get("comment"),
            value=value,
        )

    async def get_env(self, project_id: str, env_id: str) -> EnvVar:
        return self._model(env_id)

    async def list_env(self, project_id: str, *, decrypt: bool = False) -> list[EnvVar]:
        return [self._model(i) for i in self.envs]

    async def edit_env(self, project_id: str, env_id: str, **changes: Any) -> EnvVar:
        e = self.envs[env_id]
        if "type" in changes and changes["type"] != e["type"] and self.refuse:
            raise ProviderError(
                "Existing Environment Variables cannot be converted to or from Sensitive",
                status=400,
                code="bad_request",
            )
        for k, v in changes.items():
            e[k] = v.reveal() if isinstance(v, Secret) else v
        self._snap()
        return self._model(env_id)

    async def upsert_env(self, project_id: str, items: list[EnvVarInput]) -> UpsertResult:
        created = []
        for item in items:
            if self.fail_create and item.type == "sensitive":
                return UpsertResult(failed=[{"error": {"code": "x"}}])
            for e in self.envs.values():
                assert not (e["key"] == item.key and set(e["target"]) & set(item.target)), "ENV_CONFLICT"
            i = next(self.ids)
            self.envs[i] = {
                "key": item.key,
                "value": item.value.reveal(),
                "type": item.type,
                "target": list(item.target),
                "comment": item.comment,
            }
            created.append(self._model(i))
        self._snap()
        return UpsertResult(created=created)

    async def delete_env(self, project_id: str, env_id: str) -> None:
        self.envs.pop(env_id)
        self._snap()

    async def create_shared_env(
        self,
        key: str,
        value: Secret,
        *,
        type: str,
        target: list[str],
        project_ids: list[str],
        comment: str | None = None,
    ) -> SharedEnvVar:
        i = f"shr_{len(self.shared) + 1}"
        self.shared[i] = {
            "key": key,
            "value": value.reveal(),
            "type": type,
            "target": target,
            "projects": project_ids,
        }
        self._snap()
        return SharedEnvVar(id=i, key=key, type=type, target=target, projectId=project_ids)

    async def delete_shared_env(self, env_ids: list[str]) -> list[str]:
        for i in env_ids:
            self.shared.pop(i, None)
        self._snap()
        return list(env_ids)

    async def get_shared_env(self, env_id: str) -> SharedEnvVar:
        s = self.shared[env_id]
        return SharedEnvVar(
            id=env_id,
            key=s["key"],
            type=s["type"],
            target=s["target"],
            projectId=s["projects"],
            value=None if s["type"] == "sensitive" else Secret(s["value"]),
        )

    async def update_shared_env(self, updates: dict[str, dict[str, Any]]) -> UpsertResult:
        if self.refuse:
            raise ProviderError("Shared variables cannot be converted to or from Sensitive.", status=400)
        for i, change in updates.items():
            self.shared[i].update(
                {k: (v.reveal() if isinstance(v, Secret) else v) for k, v in change.items()}
            )
        return UpsertResult()


def _seed(v: TinyVercel, targets: tuple[str, ...] = ("production", "preview", "development")) -> str:
    v.envs["env_0"] = {
        "key": "TOKEN",
        "value": VALUE,
        "type": "encrypted",
        "target": list(targets),
        "comment": "cache",
    }
    return "env_0"


def _never_missing(v: TinyVercel) -> None:
    assert v.trace, "nothing happened"
    for snap in v.trace:
        assert snap == {"production": VALUE, "preview": VALUE}, snap


async def test_in_place_keeps_the_id_and_splits_development() -> None:
    v = TinyVercel(refuse_type_change=False)
    env_id = _seed(v)
    conv = await convert_project_var(v, "prj", env_id, "TOKEN")  # type: ignore[arg-type]
    assert conv.ok and conv.method == "in-place"
    assert v.envs[env_id]["type"] == "sensitive" and v.envs[env_id]["target"] == ["production", "preview"]
    dev = [e for i, e in v.envs.items() if i != env_id]
    assert dev == [
        {"key": "TOKEN", "value": VALUE, "type": "encrypted", "target": ["development"], "comment": "cache"}
    ]
    _never_missing(v)


async def test_bridge_when_the_api_refuses_never_leaves_a_build_without_the_var() -> None:
    v = TinyVercel(refuse_type_change=True)
    env_id = _seed(v)
    conv = await convert_project_var(v, "prj", env_id, "TOKEN")  # type: ignore[arg-type]
    assert conv.ok and conv.method == "bridge", conv.error
    assert env_id not in v.envs and not v.shared  # re-added, bridge removed
    types = sorted((e["type"], tuple(e["target"])) for e in v.envs.values())
    assert types == [("encrypted", ("development",)), ("sensitive", ("production", "preview"))]
    _never_missing(v)
    assert any("bridge" in s for s in conv.steps)


async def test_bridge_failure_restores_the_original() -> None:
    v = TinyVercel(refuse_type_change=True, fail_create_sensitive=True)
    env_id = _seed(v, BUILD)
    conv_error = None
    try:
        await convert_project_var(v, "prj", env_id, "TOKEN")  # type: ignore[arg-type]
    except Exception as exc:  # the failure surfaces after the restore
        conv_error = exc
    assert conv_error is not None
    assert not v.shared
    (restored,) = v.envs.values()
    assert restored["type"] == "encrypted" and restored["value"] == VALUE
    _never_missing(v)


async def test_already_sensitive_is_a_no_op() -> None:
    v = TinyVercel(refuse_type_change=False)
    env_id = _seed(v, BUILD)
    v.envs[env_id]["type"] = "sensitive"
    conv = await convert_project_var(v, "prj", env_id, "TOKEN")  # type: ignore[arg-type]
    assert conv.ok and conv.method == "none"  # already sensitive


@pytest.mark.parametrize("refuse", [False, True])
async def test_shared_var(refuse: bool) -> None:
    v = TinyVercel(refuse_type_change=refuse)
    v.shared["shr_0"] = {
        "key": "TOKEN",
        "value": VALUE,
        "type": "encrypted",
        "target": list(BUILD),
        "projects": ["prj"],
    }
    conv = await convert_shared_var(v, "shr_0", "shared TOKEN")  # type: ignore[arg-type]
    assert conv.ok, conv.error
    (shared,) = v.shared.values()
    assert shared["type"] == "sensitive" and shared["projects"] == ["prj"]
    assert not v.envs  # bridge copies removed
    if refuse:
        _never_missing(v)
