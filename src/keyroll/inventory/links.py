"""Linking what could not be read: unreadable Vercel vars and GitHub secrets → credentials.

Sensitive Vercel vars and GitHub Actions secrets never return their value. Each is tied to the
credentials it probably holds — by the integration that wrote it, by the URL var next to it, by a
readable var of the same name, or (for GitHub) by the Vercel project linked to the repository —
and marked PROBABLE (one candidate) or UNVERIFIED (several: never written blind). What cannot be
tied becomes an :class:`~keyroll.core.model.Unknown`. These functions read and extend a
:class:`~keyroll.inventory.resolve.Resolver`'s state (stage 4 of its module docstring).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from keyroll.core.model import (
    Confidence,
    Credential,
    CredentialKind,
    Form,
    Location,
    LocationKind,
    Unknown,
)
from keyroll.core.secret import Fingerprint
from keyroll.inventory.classify import KeyClass, classify_key, normalize_endpoint
from keyroll.inventory.locations import env_location
from keyroll.inventory.records import EnvRecord, GitHubSecretRecord
from keyroll.inventory.relate import record_class

if TYPE_CHECKING:  # the resolver calls these; they read its state
    from keyroll.inventory.resolve import Resolver

__all__ = ["github_locations", "key_links", "unreadable_locations"]

K = CredentialKind


def key_links(res: Resolver, r: EnvRecord) -> list[tuple[Fingerprint, str]]:
    """Secrets an unreadable var probably holds because a readable var of the same name holds
    them (its own project's first, then anywhere in the team), each with how it was linked."""
    if res.secrets is None or not res.secret_fps:
        return []
    key = r.key.upper()
    holders = [
        (o, res.candidate_of[id(o)])
        for o in res.readable()
        if o.key.upper() == key and res.candidate_of.get(id(o)) in res.secret_fps
    ]
    near = [
        (o, fp)
        for o, fp in holders
        if r.project_id
        and ((not o.shared and o.project_id == r.project_id) or r.project_id in o.linked_project_ids)
    ]
    out: dict[Fingerprint, str] = {}
    for o, fp in near or holders:
        out.setdefault(fp, f"a readable var of the same name holds it ({o.where()})")
    return sorted(out.items())


def _link_unreadable(
    res: Resolver, r: EnvRecord, cls: KeyClass, creds: dict[Fingerprint, Credential]
) -> list[tuple[Fingerprint, str]]:
    """Credentials an unreadable var probably holds, each with how it was linked."""
    links: dict[Fingerprint, str] = {}
    if r.configuration_id:
        label = res.vercel.configurations.get(r.configuration_id, "") or r.configuration_id
        res.readable()
        for other in res.by_configuration.get(r.configuration_id, ()):
            if id(other) not in res.candidate_of:
                continue
            ocls = record_class(other)
            if ocls is not None and ocls.product is cls.product and ocls.role == cls.role:
                fp = res.candidate_of[id(other)]
                links.setdefault(fp, f"same integration ({label}) as {other.where()}")
    url = res.sibling_url(r, cls)
    if url:
        want = {
            "token": {K.REST_TOKEN, K.INDEX_TOKEN, K.QSTASH_TOKEN},
            "readonly_token": {K.READONLY_REST_TOKEN, K.INDEX_READONLY_TOKEN},
            "password": {K.PASSWORD},
            "redis_url": {K.PASSWORD},
        }.get(cls.role, set())
        target = normalize_endpoint(url)
        by_url: dict[Fingerprint, str] = {}
        for fp, cred in creds.items():
            if (
                cred.product is cls.product
                and cred.kind in want
                and cred.endpoint
                and normalize_endpoint(cred.endpoint) == target
            ):
                name = cred.resource_name or cred.resource_id or url
                by_url[fp] = f"the URL var next to it points to {name}"
        # the resource's own credential (Developer API) beats other tokens seen on that endpoint
        authoritative = {fp: how for fp, how in by_url.items() if fp in res.base}
        for fp, how in (authoritative or by_url).items():
            links.setdefault(fp, how)
    return sorted(links.items())


def unreadable_locations(res: Resolver, creds: dict[Fingerprint, Credential]) -> None:
    """Add to ``res.env_locations`` what each unreadable Vercel var probably holds (or an unknown)."""
    for r in res.vercel.records:
        if r.value is not None:
            continue
        cls = record_class(r)
        credential_like = cls is not None and cls.is_credential
        if r.read_failed:
            res.unknowns.append(
                Unknown(
                    where=r.where(),
                    reason=f"value could not be read: {r.unreadable}",
                    key=r.key,
                    project_id=r.project_id,
                    targets=r.targets,
                )
            )
        if cls is None or not credential_like:
            if cls is None:
                _link_by_key(res, r)
            continue
        links = _link_unreadable(res, r, cls, creds)
        what = f"{cls.product.value} {cls.role.replace('_', ' ')}"
        if not links:
            if not r.read_failed:
                res.unknowns.append(
                    Unknown(
                        where=r.where(),
                        reason=f"{r.unreadable}; the name says {what}, "
                        "but no known credential could be tied to it",
                        key=r.key,
                        project_id=r.project_id,
                        targets=r.targets,
                    )
                )
            continue
        _add_links(res, r, links, f"{r.unreadable}; the name says {what}")


def _link_by_key(res: Resolver, r: EnvRecord) -> None:
    """An unreadable var whose name a readable secret-holding var shares: "probably the same
    value — unverified" (probable with one candidate; with several, unverified and never
    written blind)."""
    if res.secrets is None:
        return
    links = key_links(res, r)
    if not links:
        if r.type in ("sensitive", "secret") and not r.read_failed:
            res.unknowns.append(
                Unknown(
                    where=r.where(),
                    reason=f"{r.unreadable}; no readable var of the same name holds a known secret",
                    key=r.key,
                    project_id=r.project_id,
                    targets=r.targets,
                )
            )
        return
    _add_links(res, r, links, f"probably the same value — unverified: {r.unreadable}")


def _add_links(res: Resolver, r: EnvRecord, links: list[tuple[Fingerprint, str]], why: str) -> None:
    """Tie the unreadable var ``r`` to each candidate credential: probable with one candidate
    (and a var that could be read at all), else unverified (never written blind)."""
    confidence = Confidence.PROBABLE if len(links) == 1 and not r.read_failed else Confidence.UNVERIFIED
    for fp, how in links:
        reason = f"{why}; {how}"
        if len(links) > 1:
            reason += f" (one of {len(links)} candidates)"
        res.env_locations[id(r)].append(env_location(r, fp, Form.UNKNOWN, confidence, reason))


def github_locations(
    res: Resolver, secrets: Sequence[GitHubSecretRecord], creds: dict[Fingerprint, Credential]
) -> list[Location]:
    """What each GitHub Actions secret probably holds, by its name (GitHub never returns values)."""
    by_key: dict[str, list[Location]] = defaultdict(list)
    for locs in res.env_locations.values():
        for loc in locs:
            by_key[loc.key.upper()].append(loc)
    out: list[Location] = []
    for s in secrets:
        cls = classify_key(s.name)
        if cls is None and res.secrets is not None:
            out.extend(_github_by_name(res, s, by_key))
            continue
        if cls is None or not cls.is_credential:
            continue
        linked = _repo_projects(res, s.repo)
        same_name = by_key.get(s.name.upper(), [])
        candidates = {loc.fingerprint for loc in same_name}
        # a var of a project linked to the repository (or a team shared var linked to one)
        narrowed = {
            loc.fingerprint
            for loc in same_name
            if loc.project_id in linked or linked.intersection(loc.linked_project_ids)
        }
        how = "a Vercel var of the same name holds it"
        if not candidates:
            kinds = {K.PASSWORD} if cls.kind is K.URL_WITH_PASSWORD else {cls.kind}
            candidates = {fp for fp, c in creds.items() if c.product is cls.product and c.kind in kinds}
            narrowed = {
                loc.fingerprint
                for locs in res.env_locations.values()
                for loc in locs
                if loc.project_id in linked and loc.fingerprint in candidates
            }
            how = f"the only {cls.product.value} {cls.role.replace('_', ' ')} known"
        if narrowed:
            candidates = narrowed
            how += " in the Vercel project linked to this repository"
        updated = f", updated {s.updated_at}" if s.updated_at else ""
        if not candidates:
            res.unknowns.append(
                Unknown(
                    where=s.where(),
                    reason=f"name {s.name} (value unreadable{updated}) looks like a "
                    f"{cls.product.value} {cls.role.replace('_', ' ')}, but no known credential matches",
                    key=s.name,
                )
            )
            continue
        confidence = Confidence.PROBABLE if len(candidates) == 1 else Confidence.UNVERIFIED
        for fp in sorted(candidates):
            reason = f"name {s.name} (value unreadable{updated}); {how}"
            if len(candidates) > 1:
                reason = f"name {s.name} (value unreadable{updated}); one of {len(candidates)} credentials used under this name"
            out.append(
                Location(
                    kind=LocationKind.GITHUB_SECRET,
                    fingerprint=fp,
                    form=Form.UNKNOWN,
                    confidence=confidence,
                    reason=reason,
                    key=s.name,
                    repo=s.repo or (f"org:{s.org}" if s.org else ""),
                    secret_scope=s.scope,
                    secret_name=s.name,
                    updated_at=s.updated_at,
                )
            )
    return out


def _github_by_name(
    res: Resolver, s: GitHubSecretRecord, by_key: dict[str, list[Location]]
) -> list[Location]:
    """A GitHub secret named like a Vercel var that holds a secret beyond Upstash's: probably
    the same value — unverified (GitHub never returns values)."""
    same = [loc for loc in by_key.get(s.name.upper(), []) if loc.fingerprint in res.secret_fps]
    linked = _repo_projects(res, s.repo)
    fps = {loc.fingerprint for loc in same if loc.project_id in linked} or {loc.fingerprint for loc in same}
    updated = f", updated {s.updated_at}" if s.updated_at else ""
    return [
        Location(
            kind=LocationKind.GITHUB_SECRET,
            fingerprint=fp,
            form=Form.UNKNOWN,
            confidence=Confidence.PROBABLE if len(fps) == 1 else Confidence.UNVERIFIED,
            reason=f"probably the same value — unverified: name {s.name} (value unreadable{updated}); "
            "a Vercel var of the same name holds it"
            + (f" (one of {len(fps)} candidates)" if len(fps) > 1 else ""),
            key=s.name,
            repo=s.repo or (f"org:{s.org}" if s.org else ""),
            secret_scope=s.scope,
            secret_name=s.name,
            updated_at=s.updated_at,
        )
        for fp in sorted(fps)
    ]


def _repo_projects(res: Resolver, repo: str) -> set[str]:
    if not repo:
        return set()
    name = repo.rsplit("/", 1)[-1].lower()
    out = set()
    for p in res.vercel.projects.values():
        linked = p.repo.lower()
        by_link = bool(linked) and (linked == repo.lower() or linked.rsplit("/", 1)[-1] == name)
        if by_link or (not linked and p.name.lower() == name):
            out.add(p.id)
    return out
