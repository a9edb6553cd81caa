"""The core model: credentials, where their copies live, the inventory, plans and steps.

Pure data, no I/O. Every object is a frozen dataclass that round-trips through JSON with
:func:`keyroll.core.serde.to_dict` / :func:`~keyroll.core.serde.from_dict`; secret values
(fields marked ``secret``) are excluded from JSON and travel as :class:`Secret`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NewType

from keyroll.core.secret import Fingerprint, Secret

__all__ = [
    "SCHEMA_VERSION",
    "ActionName",
    "Confidence",
    "Credential",
    "CredentialKind",
    "CredentialPlan",
    "DeploymentId",
    "DeploymentRef",
    "EnvVarId",
    "Form",
    "Inventory",
    "Location",
    "LocationKind",
    "Management",
    "Milestone",
    "Plan",
    "Product",
    "ProjectId",
    "RunRecord",
    "RunState",
    "Step",
    "StepKind",
    "StepState",
    "Strategy",
    "Unknown",
    "name_custom_environments",
]

SCHEMA_VERSION = 1
"""Version of the JSON formats (inventory, plan, report); bumped with an upgrade step."""

ProjectId = NewType("ProjectId", str)
EnvVarId = NewType("EnvVarId", str)
DeploymentId = NewType("DeploymentId", str)


def _secret_field() -> Any:
    return field(default=None, metadata={"secret": True}, compare=False, repr=False)


class Product(enum.StrEnum):
    """The Upstash product a credential belongs to (``vercel``/``github``/``other`` for the rest)."""

    REDIS = "redis"
    QSTASH = "qstash"
    VECTOR = "vector"
    SEARCH = "search"
    VERCEL = "vercel"
    GITHUB = "github"
    OTHER = "other"


class CredentialKind(enum.StrEnum):
    """What a credential value is, which decides how it can be rotated."""

    REST_TOKEN = "rest_token"
    READONLY_REST_TOKEN = "readonly_rest_token"
    PASSWORD = "password"
    ACL_PASSWORD = "acl_password"
    ACL_REST_TOKEN = "acl_rest_token"
    QSTASH_TOKEN = "qstash_token"
    SIGNING_KEY_CURRENT = "signing_key_current"
    SIGNING_KEY_NEXT = "signing_key_next"
    INDEX_TOKEN = "index_token"
    INDEX_READONLY_TOKEN = "index_readonly_token"
    URL_WITH_PASSWORD = "url_with_password"
    ACCESS_TOKEN = "access_token"
    API_KEY = "api_key"
    """a service's API key (Stripe, OpenAI, Resend …); the service is in ``Credential.service``"""
    UNKNOWN = "unknown"


class Management(enum.StrEnum):
    """Who can rotate it: the native Upstash account (Developer API) or the Vercel integration (dashboard)."""

    NATIVE = "native"
    VERCEL_INTEGRATION = "vercel-integration"
    UNKNOWN = "unknown"


class Strategy(enum.StrEnum):
    """Rotation strategies (DESIGN.md, "Strategies per credential")."""

    REDIS_ACL = "redis_acl"
    """Overlap via an ACL user; the default password is reset at the end."""
    REDIS_ACL_PASSWORD = "redis_acl_password"
    """Overlap on a custom ACL user: add a password, move, remove the old one."""
    REDIS_CUTOVER = "redis_cutover"
    """Cutover: reset the default password of a database without ACL; needs --accept-downtime."""
    QSTASH_SIGNING = "qstash_signing"
    """Double roll of the signing keys with an interlock."""
    QSTASH_TOKEN = "qstash_token"
    """Cutover: reset the token; needs --accept-downtime."""
    INTEGRATION_RESET = "integration_reset"
    """Cutover guided by a person: a console reset of an integration-created Vector/Search/QStash
    token, then keyroll takes (or asks for) the new value, writes and redeploys."""
    INDEX_RESET = "index_reset"
    """Cutover: reset a Vector/Search index's tokens; needs --accept-downtime."""
    MANUAL = "manual"
    """The user supplies the new value."""
    ADAPTER = "adapter"
    """A provider adapter (entry point group ``keyroll.providers``) mints a second credential that
    works alongside the old one, keyroll distributes it, and the adapter revokes the old one."""


OVERLAP_STRATEGIES = frozenset(
    {Strategy.REDIS_ACL, Strategy.REDIS_ACL_PASSWORD, Strategy.QSTASH_SIGNING, Strategy.ADAPTER}
)


class Form(enum.StrEnum):
    """How a copy of a credential is written at a location."""

    PLAIN = "plain"
    QUOTED = "quoted"
    URL = "url"
    """inside a URL, e.g. ``rediss://default:<pw>@host:6379``"""
    URL_ENCODED = "url_encoded"
    BASE64 = "base64"
    LOGIN = "login"
    """not the secret: the login name it belongs to (``PGUSER`` next to ``PGPASSWORD``), which an
    alternating-users rotation changes together with it"""
    BINARY = "binary"
    """the bytes of a binary file (a SQLite database, a core dump, a ``.pyc``)"""
    UNKNOWN = "unknown"
    """the value could not be read (sensitive var, GitHub secret)"""


class Confidence(enum.StrEnum):
    """How sure keyroll is that a location holds the credential."""

    EXACT = "exact"
    """the value was read and matched"""
    PROBABLE = "probable"
    """the value cannot be read; key name / integration id / content hint match"""
    UNVERIFIED = "unverified"
    """something could not be read and may hold it"""


class LocationKind(enum.StrEnum):
    """The kinds of places a copy can live."""

    VERCEL_ENV = "vercel_env"
    VERCEL_SHARED_ENV = "vercel_shared_env"
    DEPLOYMENT = "deployment"
    GITHUB_SECRET = "github_secret"
    FILE = "file"
    GIT_COMMIT = "git_commit"
    UPSTASH = "upstash"
    """the provider itself (where the credential is minted)"""


@dataclass(frozen=True)
class Credential:
    """One Upstash credential, identified by the fingerprint of its value."""

    fingerprint: Fingerprint
    product: Product
    kind: CredentialKind
    resource_id: str = ""
    """database id, index id, QStash user id …"""
    resource_name: str = ""
    management: Management = Management.UNKNOWN
    strategy: Strategy | None = None
    endpoint: str = ""
    """REST URL or host the credential is used against (not secret)"""
    acl_user: str = ""
    """Redis ACL user the credential belongs to (``default`` for the default user)"""
    related: tuple[Fingerprint, ...] = ()
    """fingerprints that rotate together (e.g. the read-only token and password of the same database)"""
    last4: str = ""
    notes: tuple[str, ...] = ()
    adapter: str = ""
    """the provider adapter that recognised it (``postgres``, ``neon``; empty for Upstash's own)"""
    adapter_kind: str = ""
    """the adapter's credential kind (``postgres_password``)"""
    service: str = ""
    """for credentials beyond Upstash: the issuing service as the scanner's detectors name it
    (``stripe``, ``openai``, ``postgres``, ``neon`` …, ``generic`` when no detector knows it)"""
    value: Secret | None = _secret_field()  # noqa: RUF009
    """the current value when known; never serialised"""

    def with_value(self, value: Secret | None) -> Credential:
        """A copy carrying ``value`` (values are not part of JSON, so loading loses them)."""
        return dataclasses.replace(self, value=value)


def name_custom_environments(ids: Sequence[str], slugs: Sequence[str] = ()) -> tuple[str, ...]:
    """How to show custom environments: each by its slug (``staging``), the id added only where
    two of them share a slug (``staging (env_…)``), the id alone where the slug is unknown.

    ``slugs`` lines up with ``ids`` (missing or ``""`` entries: unknown).
    """
    known = [slugs[i] if i < len(slugs) else "" for i in range(len(ids))]
    shared = {s for s in known if s and known.count(s) > 1}
    return tuple(
        (f"{slug} ({ce})" if slug in shared else slug) if slug else ce
        for ce, slug in zip(ids, known, strict=True)
    )


@dataclass(frozen=True)
class Location:
    """One place that holds (or probably holds) a copy of a credential."""

    kind: LocationKind
    fingerprint: Fingerprint
    """the credential this location holds (or probably holds)"""
    form: Form = Form.PLAIN
    confidence: Confidence = Confidence.EXACT
    reason: str = ""
    # Vercel env (project or shared)
    project_id: str = ""
    project_name: str = ""
    env_id: str = ""
    key: str = ""
    targets: tuple[str, ...] = ()
    git_branch: str = ""
    custom_environment_ids: tuple[str, ...] = ()
    custom_environment_slugs: tuple[str, ...] = ()
    """the slugs of ``custom_environment_ids`` (``staging``), same order, ``""`` where unknown;
    for display only (older inventories have none)"""
    env_type: str = ""
    configuration_id: str = ""
    content_hint: str = ""
    linked_project_ids: tuple[str, ...] = ()
    # deployments
    deployment_id: str = ""
    deployment_url: str = ""
    serving: bool = False
    """for deployments: currently serves a production alias, a branch or a custom environment"""
    # GitHub
    repo: str = ""
    secret_scope: str = ""
    """``repo``, ``env:<name>`` or ``org``"""
    secret_name: str = ""
    updated_at: str = ""
    # files and git
    path: str = ""
    line: int = 0
    column: int = 0
    commit: str = ""
    author_date: str = ""

    def custom_environment_names(self) -> tuple[str, ...]:
        """The custom environments this location is scoped to, as people know them (see
        :func:`name_custom_environments`)."""
        return name_custom_environments(self.custom_environment_ids, self.custom_environment_slugs)

    def describe(self) -> str:
        """A short, value-free description for tables and messages."""
        k = self.kind
        if k is LocationKind.VERCEL_ENV:
            scope = ",".join(self.targets) or ",".join(self.custom_environment_names())
            br = f"@{self.git_branch}" if self.git_branch else ""
            return f"vercel {self.project_name or self.project_id} {self.key} [{scope}{br}]"
        if k is LocationKind.VERCEL_SHARED_ENV:
            return f"vercel shared {self.key} → {len(self.linked_project_ids)} project(s)"
        if k is LocationKind.DEPLOYMENT:
            return f"deployment {self.deployment_id} ({self.project_name or self.project_id})"
        if k is LocationKind.GITHUB_SECRET:
            return f"github {self.repo} {self.secret_scope} {self.secret_name}"
        if k is LocationKind.FILE:
            return f"file {self.path}:{self.line}"
        if k is LocationKind.GIT_COMMIT:
            return f"git {self.commit[:10]} {self.path}:{self.line}"
        return f"upstash {self.key or self.fingerprint}"


@dataclass(frozen=True)
class DeploymentRef:
    """A deployment of an affected project, as inventory/plan/verify see it."""

    project_id: str
    deployment_id: str
    url: str = ""
    target: str = ""
    """``production``, ``preview`` or a custom environment id"""
    git_branch: str = ""
    custom_environment_id: str = ""
    custom_environment_slug: str = ""
    """the custom environment's slug (``staging``) when known; for display only"""
    created_at: int = 0
    """ms since epoch (Vercel's unit)"""
    state: str = "READY"
    serving: bool = True
    """True: current production / latest preview per branch / custom env; False: older, still answering"""

    @property
    def environment(self) -> str:
        """Where it serves, as people say it: the custom environment's slug (its id when the slug
        is unknown), else the target (``production``/``preview``)."""
        if self.custom_environment_id:
            return self.custom_environment_slug or self.custom_environment_id
        return self.target or "preview"


@dataclass(frozen=True)
class Unknown:
    """Something inventory could not see, and why — reported, never silently skipped."""

    where: str
    reason: str
    key: str = ""
    project_id: str = ""
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inventory:
    """Credentials × locations, plus the deployments to redeploy and what could not be seen."""

    credentials: tuple[Credential, ...] = ()
    locations: tuple[Location, ...] = ()
    deployments: tuple[DeploymentRef, ...] = ()
    unknowns: tuple[Unknown, ...] = ()
    generated_at: str = ""
    version: int = SCHEMA_VERSION

    def credential(self, fp: str) -> Credential | None:
        """The credential with fingerprint ``fp`` (or a unique prefix of it), if any."""
        matches = [c for c in self.credentials if c.fingerprint == fp or c.fingerprint.startswith(fp)]
        return matches[0] if len(matches) == 1 else None

    def locations_of(self, fp: str) -> tuple[Location, ...]:
        """Every location of the credential ``fp``."""
        return tuple(loc for loc in self.locations if loc.fingerprint == fp)

    def affected_projects(self, fp: str) -> tuple[str, ...]:
        """Project ids whose deployments use the credential (project vars and linked shared vars)."""
        out: dict[str, None] = {}
        for loc in self.locations_of(fp):
            if loc.kind is LocationKind.VERCEL_ENV and loc.project_id:
                out[loc.project_id] = None
            elif loc.kind is LocationKind.VERCEL_SHARED_ENV:
                for p in loc.linked_project_ids:
                    out[p] = None
        return tuple(out)

    def custom_environment_slugs(self) -> dict[str, str]:
        """Custom environment id → slug, as far as the locations and deployments know them."""
        out: dict[str, str] = {}
        for loc in self.locations:
            for ce, slug in zip(loc.custom_environment_ids, loc.custom_environment_slugs, strict=False):
                if slug:
                    out.setdefault(ce, slug)
        for d in self.deployments:
            if d.custom_environment_id and d.custom_environment_slug:
                out.setdefault(d.custom_environment_id, d.custom_environment_slug)
        return out

    @property
    def complete(self) -> bool:
        """True when nothing was left unverified."""
        return not self.unknowns and all(loc.confidence is Confidence.EXACT for loc in self.locations)


class StepKind(enum.StrEnum):
    """The actions a plan is made of (DESIGN.md, "Concepts")."""

    MINT = "mint"
    WRITE_ENV = "write_env"
    REDEPLOY = "redeploy"
    AWAIT_READY = "await_ready"
    PROBE = "probe"
    REVOKE = "revoke"
    HUMAN = "human"
    RESCAN = "rescan"


class ActionName(enum.StrEnum):
    """How a step is carried out: a step's ``params["action"]``, the key of the engine's action
    registry (part of the plan format). The built-in ones; an adapter may register more under
    names of its own."""

    # generic: distribution, gates, people
    WRITE = "write"
    REDEPLOY = "redeploy"
    AWAIT = "await"
    PROBE_NEW = "probe_new"
    PROBE_OLD = "probe_old"
    RESCAN = "rescan"
    HUMAN_RESET = "human_reset"
    HUMAN_REVOKE = "human_revoke"
    RESYNC_WAIT = "resync_wait"
    MANUAL_VALUE = "manual_value"
    MANUAL_REVOKE = "manual_revoke"
    ADAPTER_MINT = "adapter_mint"
    ADAPTER_REVOKE = "adapter_revoke"
    # Redis ACL users and passwords
    ACL_MINT = "acl_mint"
    RESET_DEFAULT = "reset_default"
    DELUSER = "deluser"
    ACL_ADD_PASSWORD = "acl_add_password"
    ACL_REMOVE_PASSWORD = "acl_remove_password"
    # cutovers and rolls
    REDIS_RESET = "redis_reset"
    QSTASH_RESET = "qstash_reset"
    INDEX_RESET = "index_reset"
    ROLL = "roll"
    GUIDED_RESET = "guided_reset"
    GUIDED_VALUES = "guided_values"


class StepState(enum.StrEnum):
    """A step's state in the journal."""

    PENDING = "pending"
    RUNNING = "running"
    """intent written, outcome unknown (read back on resume)"""
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class Step:
    """One idempotent action with a precondition; ``params`` holds only non-secret data."""

    id: str
    kind: StepKind
    credential: Fingerprint
    description: str
    depends_on: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    destructive: bool = False
    """revoke / cutover reset: needs consent and is journaled before it runs"""
    project_id: str = ""

    @property
    def action(self) -> str:
        """How the step is carried out (an :class:`ActionName`, or an adapter's own name)."""
        return str(self.params.get("action", ""))


@dataclass(frozen=True)
class CredentialPlan:
    """The steps for one credential under one strategy."""

    credential: Fingerprint
    strategy: Strategy
    steps: tuple[Step, ...]
    expected_outage_s: float = 0.0
    """0 for overlap strategies; ≈ one build for cutovers"""
    requires_downtime_consent: bool = False
    projects: tuple[str, ...] = ()
    deployments: tuple[DeploymentRef, ...] = ()
    human_steps: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """An ordered DAG of steps for a set of credentials; deterministic and serialisable."""

    id: str
    created_at: str
    inventory_digest: str
    """digest of the inventory the plan was made from; apply refuses on drift"""
    credentials: tuple[CredentialPlan, ...] = ()
    version: int = SCHEMA_VERSION

    @property
    def steps(self) -> tuple[Step, ...]:
        """All steps of all credentials, in plan order."""
        return tuple(s for cp in self.credentials for s in cp.steps)


class Milestone(enum.StrEnum):
    """Where one credential is in a run, derived from its journaled steps: pending → minted →
    distributed → deployed → verified → revoked → done, or off that road."""

    PENDING = "pending"
    MINTED = "minted"
    DISTRIBUTED = "distributed"
    DEPLOYED = "deployed"
    VERIFIED = "verified"
    REVOKED = "revoked"
    DONE = "done"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    WAITING = "waiting"
    """a step waits for a person"""
    WOULD_FAIL = "would fail"
    """a dry run's verdict: the real run would fail at this credential"""


class RunState(enum.StrEnum):
    """Lifecycle of one ``apply`` run in the journal."""

    RUNNING = "running"
    INTERRUPTED = "interrupted"
    """the process died or was stopped; ``keyroll resume`` continues"""
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    DONE = "done"
    WAITING = "waiting"
    """a step waits for a person (a dashboard click); ``keyroll resume`` checks it was done"""
    CLOSED = "closed"
    """ended without finishing: abandoned with a recorded reason, or rolled back as far as
    possible — what a person must still do is recorded as residue (terminal)"""


@dataclass(frozen=True)
class RunRecord:
    """One ``apply`` run as the journal records it."""

    id: str
    plan_id: str
    started_at: float
    """epoch seconds"""
    state: RunState = RunState.RUNNING
    finished_at: float | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    """accept_downtime, yes, overrides (e.g. ``force_revoke``) — recorded for the report"""
