"""The facts the checks look at, gathered once (:mod:`keyroll.harden.collect`) and then pure.

Checks are functions of a :class:`HardenContext`; unit tests build one directly from core
model objects, so no check needs a network or a sandbox to be tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from keyroll.core.model import Credential, CredentialKind, Inventory, Location, LocationKind, Product
from keyroll.harden.analysis.model import SourceAnalysis

_FULL_KINDS = frozenset(
    {CredentialKind.REST_TOKEN, CredentialKind.PASSWORD, CredentialKind.URL_WITH_PASSWORD}
)

__all__ = [
    "PUBLIC_PREFIXES",
    "SECRET_KINDS",
    "AssetHit",
    "DatabaseFacts",
    "EnvFileHit",
    "HardenContext",
    "ProjectFacts",
    "is_public_key",
]

PUBLIC_PREFIXES = (
    "NEXT_PUBLIC_",
    "VITE_",
    "REACT_APP_",
    "PUBLIC_",
    "NUXT_PUBLIC_",
    "NUXT_ENV_",
    "EXPO_PUBLIC_",
    "GATSBY_",
    "STORYBOOK_",
    "VUE_APP_",
    "REDWOOD_ENV_",
    "SANITY_STUDIO_",
    "NX_PUBLIC_",
    "PLASMO_PUBLIC_",
)
"""Prefixes that frameworks inline into client bundles (Next.js, Vite, CRA, SvelteKit/Astro, Nuxt, Expo …)."""

SECRET_KINDS = frozenset(
    {
        CredentialKind.REST_TOKEN,
        CredentialKind.READONLY_REST_TOKEN,
        CredentialKind.PASSWORD,
        CredentialKind.ACL_PASSWORD,
        CredentialKind.ACL_REST_TOKEN,
        CredentialKind.QSTASH_TOKEN,
        CredentialKind.SIGNING_KEY_CURRENT,
        CredentialKind.SIGNING_KEY_NEXT,
        CredentialKind.INDEX_TOKEN,
        CredentialKind.INDEX_READONLY_TOKEN,
        CredentialKind.URL_WITH_PASSWORD,
        CredentialKind.ACCESS_TOKEN,
        CredentialKind.UNKNOWN,
    }
)
"""Kinds whose value is a secret (every kind the inventory reports; URLs without a password are not credentials)."""


def is_public_key(key: str) -> str:
    """The public prefix of ``key`` (``NEXT_PUBLIC_``), or ``""`` when it is not client-exposed."""
    upper = key.upper()
    return next((p for p in PUBLIC_PREFIXES if upper.startswith(p)), "")


@dataclass(frozen=True)
class AssetHit:
    """A credential found inside a built client asset."""

    root: str
    path: str
    """relative to the source root"""
    line: int
    column: int
    fingerprint: str
    form: str
    project_id: str = ""


@dataclass(frozen=True)
class EnvFileHit:
    """A credential in a local env file (``.env.local`` …)."""

    root: str
    path: str
    line: int
    key: str
    fingerprint: str
    project_id: str = ""


@dataclass
class ProjectFacts:
    """One Vercel project in scope, with the source roots mapped to it and their analysis."""

    id: str
    name: str
    sources: list[Path] = field(default_factory=list)
    analysis: SourceAnalysis | None = None


@dataclass(frozen=True)
class DatabaseFacts:
    """An Upstash Redis database as the Developer API shows it (no values)."""

    id: str
    name: str
    rest_url: str = ""
    credential_protection: bool | None = None
    """``None`` when the API does not say"""
    protection_supported: bool | None = None
    """the plan supports Credential Protection (Prod Pack); ``None`` when unknown"""
    fingerprints: tuple[str, ...] = ()
    """fingerprints of the database's password and REST tokens"""


@dataclass
class HardenContext:
    """Everything the checks need."""

    inventory: Inventory
    projects: dict[str, ProjectFacts] = field(default_factory=dict)
    """by project id"""
    databases: list[DatabaseFacts] = field(default_factory=list)
    asset_hits: list[AssetHit] = field(default_factory=list)
    env_file_hits: list[EnvFileHit] = field(default_factory=list)
    unmapped_sources: list[str] = field(default_factory=list)
    unknowns: list[str] = field(default_factory=list)
    """what could not be checked, and why"""
    minted: set[str] = field(default_factory=set)
    """fingerprints of credentials ``keyroll harden --fix`` minted (ACL users with their own rights)"""

    def is_default_full(self, cred: Credential) -> bool:
        """True for a credential of the default user (every command on every key).

        The Developer API's list of the database's own credentials decides when known; otherwise
        the kind and the ACL user the inventory learned.
        """
        if cred.kind not in _FULL_KINDS or cred.fingerprint in self.minted:
            return False
        db = self.database_of(cred)
        if db is not None and db.fingerprints:
            return cred.fingerprint in db.fingerprints
        return cred.acl_user in ("", "default")

    def project_name(self, project_id: str) -> str:
        """The name of a project (its id when unknown)."""
        p = self.projects.get(project_id)
        if p is not None:
            return p.name
        for loc in self.inventory.locations:
            if loc.project_id == project_id and loc.project_name:
                return loc.project_name
        return project_id

    def credential(self, fp: str) -> Credential | None:
        """The inventory's credential with this fingerprint."""
        return next((c for c in self.inventory.credentials if c.fingerprint == fp), None)

    def env_locations(self) -> list[Location]:
        """Project and shared env var locations of secret credentials, in scope."""
        out = []
        for loc in self.inventory.locations:
            if loc.kind not in (LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV):
                continue
            if self.projects and loc.kind is LocationKind.VERCEL_ENV and loc.project_id not in self.projects:
                continue
            cred = self.credential(loc.fingerprint)
            if cred is not None and cred.kind not in SECRET_KINDS:
                continue
            out.append(loc)
        return out

    def credentials_of_project(self, project_id: str) -> tuple[str, ...]:
        """Fingerprints of the credentials a project's deployments get (own and linked shared vars)."""
        out: dict[str, None] = {}
        for loc in self.env_locations():
            if loc.project_id == project_id or project_id in loc.linked_project_ids:
                out[loc.fingerprint] = None
        return tuple(out)

    def projects_of(self, fp: str) -> tuple[str, ...]:
        """Projects in scope whose deployments get the credential (project vars and linked shared vars)."""
        ids = self.inventory.affected_projects(fp)
        return tuple(p for p in ids if not self.projects or p in self.projects)

    def database_of(self, cred: Credential) -> DatabaseFacts | None:
        """The database a Redis credential belongs to (by resource id, name or fingerprint)."""
        if cred.product is not Product.REDIS:
            return None
        for db in self.databases:
            if cred.resource_id and cred.resource_id == db.id:
                return db
            if cred.fingerprint in db.fingerprints or any(f in db.fingerprints for f in cred.related):
                return db
        for db in self.databases:
            if cred.resource_name and cred.resource_name == db.name:
                return db
        return None
