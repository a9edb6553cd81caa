"""What each step action needs: one frozen dataclass per action's parameters.

A plan stores a step's parameters as a JSON object (``Step.params``: the plan file, the journal,
the plan digest). These classes are the typed contract on both sides of that boundary: a strategy
lays a step out with ``XParams(...).to_params()`` and the action reads it back with
``XParams.of(step)`` — no string keys in between. :meth:`StepParams.to_params` writes exactly
the keys the plan format has always had: a field whose metadata says ``omit`` is left out when it
holds its default (``None`` / ``False``), tuples become lists, :class:`When` an object.

The group spec (``params["group"]`` on a group's first step: the resource, its endpoint and the
fingerprints by role) is a :class:`GroupSpec`, converted the same way. Each location spec
(``params["locations"]``: one copy the step writes or waits for, without its value) is a
:class:`LocationSpec`; it writes the common keys and then the keys of its kind of place. A
redeploy step's serving deployments are :class:`~keyroll.core.model.DeploymentRef` objects.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, get_type_hints

from keyroll.core.model import ActionName, Confidence, DeploymentRef, Form, LocationKind, Step
from keyroll.core.serde import from_dict, to_jsonable

__all__ = [
    "AclAddPasswordParams",
    "AclMintParams",
    "AclRemovePasswordParams",
    "AdapterMintParams",
    "AdapterRevokeParams",
    "AwaitParams",
    "CutoverResetParams",
    "DeluserParams",
    "GroupSpec",
    "GuidedResetParams",
    "GuidedValuesParams",
    "HumanParams",
    "LocationSpec",
    "ManualRevokeParams",
    "ManualValueParams",
    "ProbeNewParams",
    "ProbeOldParams",
    "RedeployParams",
    "RescanParams",
    "ResetDefaultParams",
    "ResyncWaitParams",
    "RollParams",
    "StepParams",
    "When",
    "WriteParams",
    "group_spec_of",
    "is_cutover_reset",
    "locations_of",
    "phase_of",
    "when_of",
]

_OMIT = {"omit": True}


@dataclass(frozen=True, kw_only=True)
class GroupSpec:
    """What a group's actions know about its resource, without any value (the first step's
    ``group`` parameter). Optional parts are written only when a strategy sets them."""

    adapter: str | None = None
    """the provider adapter that recognised the credential"""
    adapter_kind: str | None = None
    gid: str = ""
    strategy: str = ""
    product: str = ""
    resource_id: str = ""
    resource_name: str = ""
    management: str = ""
    acl_user: str = ""
    """the user whose credentials rotate (Redis ACL); ``""`` or ``default`` for the default user"""
    credentials: dict[str, str] = field(default_factory=dict)
    """role → fingerprint of the live value"""
    stale: dict[str, str] = field(default_factory=dict)
    """fingerprint → why: stale or dead copies (replaced too, reported)"""
    users_in_use: tuple[str, ...] = ()
    fingerprints: tuple[str, ...] = ()
    rest_url: str = ""
    endpoint: str = ""
    # how a URL copy is rebuilt (Redis: host, port, tls; an adapter's URL: scheme … query)
    scheme: str | None = None
    host: str | None = None
    port: int | None = None
    tls: bool | None = None
    path: str | None = None
    query: str | None = None
    revoke_mode: ActionName | None = None
    """Redis ACL: the revoke step's action (``deluser``, ``reset_default`` or ``human_reset``)"""
    projects_without_next: tuple[str, ...] | None = None
    """QStash signing keys: projects that hold no next signing key"""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored as ``params["group"]`` (unset optional parts left out)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = _to_json(dict(value) if isinstance(value, dict) else value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupSpec:
        """Read a ``params["group"]`` object (unknown keys are ignored)."""
        hints = get_type_hints(cls)
        return cls(
            **{
                f.name: _from_json(hints[f.name], data[f.name])
                for f in dataclasses.fields(cls)
                if f.name in data and data[f.name] is not None
            }
        )


_VERCEL_KEYS = (
    "project_id",
    "project_name",
    "env_id",
    "key",
    "type",
    "targets",
    "git_branch",
    "custom_environment_ids",
    "configuration_id",
    "linked_project_ids",
)
_KIND_KEYS: dict[LocationKind, tuple[str, ...]] = {
    LocationKind.VERCEL_ENV: _VERCEL_KEYS,
    LocationKind.VERCEL_SHARED_ENV: _VERCEL_KEYS,
    LocationKind.GITHUB_SECRET: ("repo", "scope", "name"),
    LocationKind.FILE: ("path", "line", "column"),
}
_COMMON_KEYS = ("kind", "role", "form", "old_fp", "confidence")


@dataclass(frozen=True, kw_only=True)
class LocationSpec:
    """One copy a step writes or waits for (an item of ``params["locations"]``), without its
    value: where it is, what part of the credential it holds (``role``) and how (``form``).
    Only the fields of its ``kind`` of place are written (:meth:`to_dict`)."""

    kind: LocationKind
    role: str = "value"
    """what the copy holds: ``value``, ``url``, ``password``, ``rest_token``, ``signing_next`` …"""
    form: str = Form.PLAIN.value
    """how the value is written there (:class:`~keyroll.core.model.Form`)"""
    old_fp: str = ""
    """fingerprint of the value it holds now"""
    confidence: str = Confidence.EXACT.value
    # Vercel vars (project or shared)
    project_id: str = ""
    project_name: str = ""
    env_id: str = ""
    key: str = ""
    type: str = ""
    """the var's type: ``encrypted``, ``sensitive``, ``plain`` …"""
    targets: tuple[str, ...] = ()
    git_branch: str = ""
    custom_environment_ids: tuple[str, ...] = ()
    configuration_id: str = ""
    """the integration that manages the var (``""``: none)"""
    linked_project_ids: tuple[str, ...] = ()
    """a shared var: the projects that read it"""
    # GitHub secrets
    repo: str = ""
    scope: str = "repo"
    """``repo``, ``env:<name>`` or ``org``"""
    name: str = ""
    # files
    path: str = ""
    line: int = 0
    column: int = 0

    @property
    def is_vercel(self) -> bool:
        """A Vercel var (a project's or a shared one)."""
        return self.kind in (LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV)

    @property
    def project_ids(self) -> tuple[str, ...]:
        """Projects whose deployments read this copy (its project, or a shared var's links)."""
        if self.kind is LocationKind.VERCEL_ENV:
            return (self.project_id,) if self.project_id else ()
        if self.kind is LocationKind.VERCEL_SHARED_ENV:
            return self.linked_project_ids
        return ()

    @property
    def label(self) -> str:
        """The copy's name for a message: the var's key, the secret's name or the file's path."""
        return self.key or self.name or self.path

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in ``params["locations"]``."""
        out: dict[str, Any] = {}
        for name in (*_COMMON_KEYS, *_KIND_KEYS.get(self.kind, ())):
            value = getattr(self, name)
            out[name] = value.value if name == "kind" else _to_json(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LocationSpec:
        """Read a ``params["locations"]`` item (unknown keys are ignored)."""
        hints = get_type_hints(cls)
        return cls(
            **{
                f.name: _from_json(hints[f.name], data[f.name])
                for f in dataclasses.fields(cls)
                if f.name in data and data[f.name] is not None
            }
        )


@dataclass(frozen=True)
class When:
    """A condition: the step runs only if ``step``'s outcome reported ``key`` (an emergency path
    laid out in advance); otherwise it is skipped."""

    step: str
    key: str


@dataclass(frozen=True, kw_only=True)
class StepParams:
    """Base of the per-action parameter classes (fields in the order the plan format writes them)."""

    ACTIONS: ClassVar[frozenset[str]] = frozenset()
    """the action names these parameters belong to"""

    def to_params(self) -> dict[str, Any]:
        """The JSON object stored as ``Step.params``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("omit") and value in (None, False):
                continue
            out[f.name] = _to_json(value)
        return out

    @classmethod
    def of(cls, step: Step) -> Self:
        """The parameters of ``step``.

        :raises ValueError: the step's action is not one of this class's.
        """
        if step.action not in cls.ACTIONS:
            raise ValueError(f"step {step.id} ({step.action!r}) has no {cls.__name__}")
        return cls.from_params(step.params)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Self:
        """Read a ``Step.params`` object (unknown keys are ignored)."""
        hints = get_type_hints(cls)
        kwargs = {
            f.name: _from_json(hints[f.name], params[f.name])
            for f in dataclasses.fields(cls)
            if f.init and f.name in params
        }
        return cls(**kwargs)


def _to_json(value: Any) -> Any:
    if isinstance(value, GroupSpec | LocationSpec):
        return value.to_dict()
    if isinstance(value, DeploymentRef):
        return to_jsonable(value)
    if isinstance(value, When):
        return {"step": value.step, "key": value.key}
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def _from_json(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_json(args[0], value) if len(args) == 1 else value
    if tp is When:
        return When(str(value["step"]), str(value["key"]))
    if tp is GroupSpec:
        return GroupSpec.from_dict(value)
    if tp is LocationSpec:
        return LocationSpec.from_dict(value)
    if tp is DeploymentRef:
        return from_dict(DeploymentRef, value)
    if tp is LocationKind:
        return LocationKind(value)
    if origin is dict:
        return dict(value)
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return tuple(_from_json(item, v) for v in value)
    if tp is int:
        return int(value)
    if tp is float:
        return float(value)
    if tp is ActionName:
        return ActionName(value)
    return value


# -- distribution (rotate.pipeline) ---------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class WriteParams(StepParams):
    """Write value set ``values`` to ``locations`` of one ``target``."""

    ACTIONS = frozenset({ActionName.WRITE})
    values: str
    """the value set written (``new``, ``reset``, …)"""
    phase: int = 1
    when: When | None = field(default=None, metadata=_OMIT)
    action: ActionName = field(default=ActionName.WRITE, init=False)
    target: str
    """``vercel`` (one project), ``shared`` (team shared vars), ``github``, ``files``"""
    locations: tuple[LocationSpec, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RedeployParams(StepParams):
    """Redeploy a project's serving ``deployments`` (so they read the written values)."""

    ACTIONS = frozenset({ActionName.REDEPLOY})
    when: When | None = field(default=None, metadata=_OMIT)
    action: ActionName = field(default=ActionName.REDEPLOY, init=False)
    phase: int = 1
    project_name: str = ""
    deployments: tuple[DeploymentRef, ...] = ()
    """the serving deployments"""
    build_estimate_s: float = 0.0


@dataclass(frozen=True, kw_only=True)
class AwaitParams(StepParams):
    """Wait until the builds of ``redeploy_step`` are READY."""

    ACTIONS = frozenset({ActionName.AWAIT})
    when: When | None = field(default=None, metadata=_OMIT)
    action: ActionName = field(default=ActionName.AWAIT, init=False)
    phase: int = 1
    redeploy_step: str = ""
    build_estimate_s: float = 0.0


# -- gates (rotate.gates) -------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class ProbeNewParams(StepParams):
    """Probe value set ``values`` (``None``: the group's live values) and the new deployments."""

    ACTIONS = frozenset({ActionName.PROBE_NEW})
    action: ActionName = field(default=ActionName.PROBE_NEW, init=False)
    values: str | None
    phase: int = 1
    cutover: bool = field(default=False, metadata=_OMIT)
    """a cutover's probe: it measures the outage window"""
    when: When | None = field(default=None, metadata=_OMIT)


@dataclass(frozen=True, kw_only=True)
class ProbeOldParams(StepParams):
    """Probe that the old values are rejected."""

    ACTIONS = frozenset({ActionName.PROBE_OLD})
    action: ActionName = field(default=ActionName.PROBE_OLD, init=False)


@dataclass(frozen=True, kw_only=True)
class RescanParams(StepParams):
    """Read the written vars back."""

    ACTIONS = frozenset({ActionName.RESCAN})
    action: ActionName = field(default=ActionName.RESCAN, init=False)


# -- people (rotate.strategies.common, manual, integration_reset) ---------------------------
@dataclass(frozen=True, kw_only=True)
class HumanParams(StepParams):
    """A person resets or revokes the credential, following ``instructions``."""

    ACTIONS = frozenset({ActionName.HUMAN_RESET, ActionName.HUMAN_REVOKE})
    action: ActionName
    instructions: str | None = field(default=None, metadata=_OMIT)
    """what the person is told (the step's description when absent)"""


@dataclass(frozen=True, kw_only=True)
class ResyncWaitParams(StepParams):
    """Wait until Vercel resyncs the integration's vars at ``locations``."""

    ACTIONS = frozenset({ActionName.RESYNC_WAIT})
    action: ActionName = field(default=ActionName.RESYNC_WAIT, init=False)
    phase: int = 1
    locations: tuple[LocationSpec, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ManualValueParams(StepParams):
    """Take the new value from the secret source."""

    ACTIONS = frozenset({ActionName.MANUAL_VALUE})
    action: ActionName = field(default=ActionName.MANUAL_VALUE, init=False)
    group: GroupSpec


@dataclass(frozen=True, kw_only=True)
class ManualRevokeParams(StepParams):
    """A person revokes the old value; ``unverified`` names the copies keyroll could not check."""

    ACTIONS = frozenset({ActionName.MANUAL_REVOKE})
    action: ActionName = field(default=ActionName.MANUAL_REVOKE, init=False)
    instructions: str | None = field(default=None, metadata=_OMIT)
    """what the person is told (the step's description when absent)"""
    unverified: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GuidedResetParams(StepParams):
    """A person resets an integration-managed credential in the Upstash console (a cutover)."""

    ACTIONS = frozenset({ActionName.GUIDED_RESET})
    action: ActionName = field(default=ActionName.GUIDED_RESET, init=False)
    group: GroupSpec
    instructions: str | None = field(default=None, metadata=_OMIT)
    """what the person is told (the step's description when absent)"""
    cutover_reset: bool = True


@dataclass(frozen=True, kw_only=True)
class GuidedValuesParams(StepParams):
    """Read the new value from the Vercel vars at ``locations``, or ask for it."""

    ACTIONS = frozenset({ActionName.GUIDED_VALUES})
    action: ActionName = field(default=ActionName.GUIDED_VALUES, init=False)
    locations: tuple[LocationSpec, ...] = ()


# -- provider adapters (rotate.strategies.adapter) -------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AdapterMintParams(StepParams):
    """The adapter mints a new credential."""

    ACTIONS = frozenset({ActionName.ADAPTER_MINT})
    action: ActionName = field(default=ActionName.ADAPTER_MINT, init=False)
    group: GroupSpec


@dataclass(frozen=True, kw_only=True)
class AdapterRevokeParams(StepParams):
    """The adapter revokes the old credential."""

    ACTIONS = frozenset({ActionName.ADAPTER_REVOKE})
    action: ActionName = field(default=ActionName.ADAPTER_REVOKE, init=False)


# -- Redis ACL (rotate.strategies.redis_acl, redis_acl_password) -----------------------------
@dataclass(frozen=True, kw_only=True)
class AclMintParams(StepParams):
    """Create ACL ``user`` with the default user's rights (and its read-only twin)."""

    ACTIONS = frozenset({ActionName.ACL_MINT})
    action: ActionName = field(default=ActionName.ACL_MINT, init=False)
    group: GroupSpec
    user: str = ""
    """the user to create (``keyroll-a`` when empty; the other one if the old token is that one)"""
    readonly: bool = False


@dataclass(frozen=True, kw_only=True)
class DeluserParams(StepParams):
    """Delete the ACL ``users`` (the revoke)."""

    ACTIONS = frozenset({ActionName.DELUSER})
    action: ActionName = field(default=ActionName.DELUSER, init=False)
    users: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class ResetDefaultParams(StepParams):
    """Reset the default password (the revoke) and delete ``delete_users``."""

    ACTIONS = frozenset({ActionName.RESET_DEFAULT})
    action: ActionName = field(default=ActionName.RESET_DEFAULT, init=False)
    delete_users: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class AclAddPasswordParams(StepParams):
    """Add a second password to ACL ``user``."""

    ACTIONS = frozenset({ActionName.ACL_ADD_PASSWORD})
    action: ActionName = field(default=ActionName.ACL_ADD_PASSWORD, init=False)
    group: GroupSpec
    user: str


@dataclass(frozen=True, kw_only=True)
class AclRemovePasswordParams(StepParams):
    """Remove the old password of ACL ``user`` (the revoke)."""

    ACTIONS = frozenset({ActionName.ACL_REMOVE_PASSWORD})
    action: ActionName = field(default=ActionName.ACL_REMOVE_PASSWORD, init=False)
    user: str


# -- cutovers and rolls (rotate.strategies.qstash_token, index_reset, redis_cutover, qstash_signing)
@dataclass(frozen=True, kw_only=True)
class CutoverResetParams(StepParams):
    """Reset the credential at the provider: the old value dies now (a cutover)."""

    ACTIONS = frozenset({ActionName.QSTASH_RESET, ActionName.INDEX_RESET, ActionName.REDIS_RESET})
    action: ActionName
    group: GroupSpec
    cutover_reset: bool = True


@dataclass(frozen=True, kw_only=True)
class RollParams(StepParams):
    """Roll the QStash signing keys (``roll`` 1 or 2)."""

    ACTIONS = frozenset({ActionName.ROLL})
    action: ActionName = field(default=ActionName.ROLL, init=False)
    roll: int
    group: GroupSpec | None = field(default=None, metadata=_OMIT)


# -- what several actions share ---------------------------------------------------------------
def phase_of(step: Step, default: int = 1) -> int:
    """The phase of a step (a rotation's 1st, 2nd… distribution), ``default`` when it has none."""
    return int(step.params.get("phase") or default)


def is_cutover_reset(step: Step) -> bool:
    """The step that kills the old value of a cutover (its window opens there)."""
    return bool(step.params.get("cutover_reset"))


def group_spec_of(step: Step) -> GroupSpec | None:
    """The group spec, carried by the first step of a group (``None`` on the others)."""
    spec = step.params.get("group")
    return GroupSpec.from_dict(spec) if isinstance(spec, dict) else None


def when_of(step: Step) -> When | None:
    """The condition of a conditional step."""
    when = step.params.get("when")
    return When(str(when.get("step")), str(when.get("key"))) if isinstance(when, dict) else None


def locations_of(step: Step) -> tuple[LocationSpec, ...]:
    """The copies a step writes or waits for (:class:`WriteParams`, :class:`ResyncWaitParams`,
    :class:`GuidedValuesParams`; none for other actions)."""
    return tuple(LocationSpec.from_dict(spec) for spec in step.params.get("locations") or ())
