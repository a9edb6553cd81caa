"""Stale copies: is any copy of an old value left anywhere keyroll can see?

Compares two inventories — ``before`` (the one the rotation was planned from, in the journal)
and ``after`` (taken now with the old values as ``extra_values``, so every exact copy of them
shows up as a location of an old fingerprint) — plus the env writes the journal records.

* Vercel project and shared env vars (any target, branch, custom environment): an exact old
  copy fails; a var that held an old copy now holds another value → pass; a sensitive var
  cannot be read back → pass only when the journal shows keyroll wrote it, else unknown.
* GitHub Actions secrets (never readable): pass when ``updated_at`` is after the rotation; a
  repository the ``after`` inventory could not search (no ``GITHUB_TOKEN``, a GitLab link …) is
  an unknown for every credential — a copy there may still hold the old value.
* Local files: an exact old copy fails; a file that held one and was rescanned → pass.
* Git history is not rewritten: copies there are warnings in their own category.
* The provider itself (``upstash`` locations) still holding an old value as current → fail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from keyroll.core.model import Confidence, Inventory, Location, LocationKind
from keyroll.journal.runlog import EnvWrite
from keyroll.verify.result import Check, CheckCategory, CheckStatus, Evidence, EvidenceSource
from keyroll.verify.times import iso, parse_time

__all__ = ["StaleInput", "stale_checks"]

_VERCEL = (LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV)


@dataclass(frozen=True)
class StaleInput:
    """What the stale-copy checks for one credential look at."""

    fp: str
    """the credential (its old fingerprint)"""
    old_fps: frozenset[str]
    """every old value rotated with it (password, read-only token, URL forms)"""
    rotated_at: float
    """when the rotation of this credential started (first journal entry)"""
    after_read_at: float
    """when the ``after`` inventory was taken"""
    before: Inventory | None = None
    after: Inventory | None = None
    after_error: str = ""
    """why no ``after`` inventory is available"""
    writes: tuple[EnvWrite, ...] = ()
    scanned_paths: tuple[Path, ...] = ()
    """files/directories the ``after`` inventory searched"""
    new_fps: frozenset[str] = frozenset()
    """the values that replaced them: a GitHub secret the ``after`` inventory ties to one of
    these only by its name was still not written if it is older than the rotation"""


def _ident(loc: Location) -> tuple[str, ...]:
    k = loc.kind
    if k is LocationKind.VERCEL_ENV:
        return (k.value, loc.project_id, loc.env_id or f"{loc.key}|{','.join(loc.targets)}|{loc.git_branch}")
    if k is LocationKind.VERCEL_SHARED_ENV:
        return (k.value, loc.env_id or loc.key)
    if k is LocationKind.GITHUB_SECRET:
        return (k.value, loc.repo, loc.secret_scope, loc.secret_name)
    if k is LocationKind.FILE:
        return (k.value, loc.path, str(loc.line))
    if k is LocationKind.GIT_COMMIT:
        return (k.value, loc.commit, loc.path, str(loc.line))
    return (k.value, loc.key, loc.deployment_id)


def _slug(ident: tuple[str, ...]) -> str:
    return ":".join(p for p in ident if p)


def _covering_write(loc: Location, writes: Sequence[EnvWrite], since: float) -> EnvWrite | None:
    best: EnvWrite | None = None
    for w in writes:
        if w.at < since:
            continue
        if w.env_id and loc.env_id:
            hit = w.env_id == loc.env_id
        elif w.key and loc.key:
            projects = (loc.project_id,) if loc.project_id else loc.linked_project_ids
            hit = w.key == loc.key and (not w.project_id or w.project_id in projects or w.shared)
        else:
            projects = (loc.project_id,) if loc.project_id else loc.linked_project_ids
            hit = w.project_id in projects
        if hit and (best is None or w.at > best.at):
            best = w
    return best


def _unknown_about(after: Inventory, loc: Location) -> bool:
    for u in after.unknowns:
        if loc.project_id and u.project_id == loc.project_id:
            return True
        if loc.repo and loc.repo in u.where:
            return True
    return False


def _under(path: str, roots: Sequence[Path]) -> bool:
    p = Path(path)
    for root in roots:
        try:
            if p == root or p.resolve().is_relative_to(root.resolve()):
                return True
        except OSError:
            continue
    return False


def _check(
    inp: StaleInput,
    loc: Location,
    status: CheckStatus,
    title: str,
    evidence: Sequence[Evidence],
    hint: str = "",
) -> Check:
    category = CheckCategory.HISTORY if loc.kind is LocationKind.GIT_COMMIT else CheckCategory.STALE
    return Check(
        id=f"{category.value}:{inp.fp}:{_slug(_ident(loc))}",
        category=category,
        status=status,
        title=title,
        credential=inp.fp,
        project_id=loc.project_id,
        evidence=tuple(evidence),
        hint=hint,
    )


def _exact_old_copy(inp: StaleInput, loc: Location) -> Check | None:
    seen = Evidence(
        EvidenceSource.GIT
        if loc.kind is LocationKind.GIT_COMMIT
        else (EvidenceSource.FILE if loc.kind is LocationKind.FILE else EvidenceSource.API),
        f"{loc.describe()} holds {loc.fingerprint} ({loc.form.value})",
        inp.after_read_at,
        loc.env_id or loc.path or loc.commit,
    )
    k = loc.kind
    if k in _VERCEL:
        return _check(
            inp,
            loc,
            CheckStatus.FAIL,
            f"stale copy: {loc.describe()}",
            [seen],
            "write the new value there (or delete the var), then redeploy",
        )
    if k is LocationKind.FILE:
        return _check(
            inp,
            loc,
            CheckStatus.FAIL,
            f"stale copy: {loc.describe()}",
            [seen],
            # a file a tool wrote (vercel env pull, a Doppler / Infisical export): the command that updates it
            loc.reason or "replace or remove it (keyroll apply --rewrite-files does it in place)",
        )
    if k is LocationKind.GIT_COMMIT:
        return _check(
            inp,
            loc,
            CheckStatus.WARN,
            f"in git history: {loc.describe()}",
            [seen],
            "history is not rewritten: the value is dead once revoked; rewrite history if the repo is public",
        )
    if k is LocationKind.UPSTASH:
        cred = inp.after.credential(loc.fingerprint) if inp.after is not None else None
        if cred is not None and not cred.resource_id:
            # not the provider's record: a control-plane token keyroll was configured with
            return _check(
                inp,
                loc,
                CheckStatus.WARN,
                f"keyroll's own configuration still holds the old {cred.resource_name or cred.kind.value}",
                [seen],
                f"put the new value into {cred.resource_name or 'the variable'} (environment or --env-file)",
            )
        return _check(
            inp,
            loc,
            CheckStatus.FAIL,
            f"Upstash still reports {loc.fingerprint} as a current value",
            [seen],
            "the credential was not rotated at the provider: finish the rotation",
        )
    return None


def _vercel_before(
    inp: StaleInput, loc: Location, after_by_id: dict[tuple[str, ...], list[Location]]
) -> Check:
    assert inp.after is not None
    now = [a for a in after_by_id.get(_ident(loc), []) if a.fingerprint not in inp.old_fps]
    exact = [a for a in now if a.confidence is Confidence.EXACT]
    if exact:
        fps = ", ".join(sorted({a.fingerprint for a in exact}))
        ev = Evidence(EvidenceSource.API, f"{loc.describe()} now holds {fps}", inp.after_read_at, loc.env_id)
        return _check(inp, loc, CheckStatus.PASS, f"replaced: {loc.describe()}", [ev])
    if now or loc.confidence is not Confidence.EXACT:
        w = _covering_write(loc, inp.writes, inp.rotated_at)
        if w is not None:
            ev = Evidence(
                EvidenceSource.JOURNAL,
                f"keyroll wrote {w.key or loc.key} ({w.project_id or 'shared'})",
                w.at,
                w.env_id,
            )
            return _check(
                inp,
                loc,
                CheckStatus.PASS,
                f"replaced (written by keyroll; not readable back): {loc.describe()}",
                [ev],
            )
        ev = Evidence(
            EvidenceSource.API,
            f"{loc.describe()}: value not readable ({loc.reason or 'sensitive'})",
            inp.after_read_at,
            loc.env_id,
        )
        return _check(
            inp,
            loc,
            CheckStatus.UNKNOWN,
            f"unverifiable: {loc.describe()}",
            [ev],
            "its value cannot be read back: overwrite it with the new value (keyroll apply) or check by hand",
        )
    if _unknown_about(inp.after, loc):
        ev = Evidence(
            EvidenceSource.API,
            f"project {loc.project_id} could not be read",
            inp.after_read_at,
            loc.project_id,
        )
        return _check(
            inp, loc, CheckStatus.UNKNOWN, f"not rechecked: {loc.describe()}", [ev], "rerun keyroll verify"
        )
    ev = Evidence(EvidenceSource.API, f"{loc.describe()} no longer exists", inp.after_read_at, loc.env_id)
    return _check(inp, loc, CheckStatus.PASS, f"removed: {loc.describe()}", [ev])


def _github(inp: StaleInput, loc: Location, after_by_id: dict[tuple[str, ...], list[Location]]) -> Check:
    assert inp.after is not None
    now = after_by_id.get(_ident(loc), [])
    if not now:
        if _unknown_about(inp.after, loc):
            ev = Evidence(EvidenceSource.API, f"{loc.repo} could not be read", inp.after_read_at, loc.repo)
            return _check(
                inp,
                loc,
                CheckStatus.UNKNOWN,
                f"not rechecked: {loc.describe()}",
                [ev],
                "check GITHUB_TOKEN's scopes",
            )
        ev = Evidence(EvidenceSource.API, f"{loc.describe()} no longer exists", inp.after_read_at, loc.repo)
        return _check(inp, loc, CheckStatus.PASS, f"removed: {loc.describe()}", [ev])
    updated = max((parse_time(a.updated_at) or 0.0) for a in now)
    if not updated:
        ev = Evidence(EvidenceSource.API, f"{loc.describe()}: no updated_at", inp.after_read_at, loc.repo)
        return _check(
            inp,
            loc,
            CheckStatus.UNKNOWN,
            f"unverifiable: {loc.describe()}",
            [ev],
            "update the secret by hand",
        )
    ev = Evidence(
        EvidenceSource.API, f"{loc.describe()} updated_at {iso(updated)}", inp.after_read_at, loc.repo
    )
    if updated >= math.floor(inp.rotated_at):  # GitHub's updated_at has whole seconds
        return _check(inp, loc, CheckStatus.PASS, f"updated after the rotation: {loc.describe()}", [ev])
    return _check(
        inp,
        loc,
        CheckStatus.FAIL,
        f"not updated since the rotation: {loc.describe()}",
        [ev],
        "put the new value into the secret (gh secret set …), or delete it",
    )


def _file(inp: StaleInput, loc: Location) -> Check:
    if _under(loc.path, inp.scanned_paths):
        ev = Evidence(EvidenceSource.FILE, f"{loc.path} rescanned: no old value", inp.after_read_at, loc.path)
        return _check(inp, loc, CheckStatus.PASS, f"removed: {loc.describe()}", [ev])
    return _check(
        inp,
        loc,
        CheckStatus.UNKNOWN,
        f"not rescanned: {loc.describe()}",
        [],
        f"rerun keyroll verify --path {loc.path}",
    )


def _hidden_vars(inp: StaleInput) -> list[Check]:
    """A project that hides production vars from the token (``hiddenProductionEnvCount``) may keep
    an old copy keyroll cannot see: unknown for every project the credential was found in."""
    assert inp.after is not None
    projects = (
        {loc.project_id for loc in inp.before.locations if loc.fingerprint in inp.old_fps and loc.project_id}
        if inp.before is not None
        else None
    )
    out = []
    for u in inp.after.unknowns:
        if "hiddenProductionEnvCount" not in u.reason or (
            projects is not None and u.project_id not in projects
        ):
            continue
        out.append(
            Check(
                id=f"stale:{inp.fp}:hidden:{u.project_id}",
                category=CheckCategory.STALE,
                status=CheckStatus.UNKNOWN,
                title=f"{u.where}: {u.reason.split(':', 1)[0]}",
                credential=inp.fp,
                hint="rerun keyroll verify with a token that may see production variables",
            )
        )
    return out


def stale_checks(inp: StaleInput) -> list[Check]:
    """Every stale-copy and history check for one credential."""
    if inp.after is None:
        return [
            Check(
                id=f"stale:{inp.fp}:inventory",
                category=CheckCategory.STALE,
                status=CheckStatus.UNKNOWN,
                title=f"stale copies not checked: {inp.after_error or 'no inventory'}",
                credential=inp.fp,
                hint="configure the Vercel/GitHub tokens and rerun keyroll verify",
            )
        ]
    out: dict[str, Check] = {}
    after_by_id: dict[tuple[str, ...], list[Location]] = {}
    for a in inp.after.locations:
        after_by_id.setdefault(_ident(a), []).append(a)
    for a in inp.after.locations:
        if a.fingerprint in inp.old_fps and a.confidence is Confidence.EXACT:
            c = _exact_old_copy(inp, a)
            if c is not None:
                out.setdefault(c.id, c)
    for c in _hidden_vars(inp):
        out.setdefault(c.id, c)
    before = inp.before.locations if inp.before is not None else ()
    github_after = [
        a
        for a in inp.after.locations
        if a.kind is LocationKind.GITHUB_SECRET and a.fingerprint in inp.old_fps | inp.new_fps
    ]
    for b in (*before, *github_after):
        if b.fingerprint not in inp.old_fps and b not in github_after:
            continue
        if b.kind in _VERCEL:
            c = _vercel_before(inp, b, after_by_id)
        elif b.kind is LocationKind.GITHUB_SECRET:
            c = _github(inp, b, after_by_id)
        elif b.kind is LocationKind.FILE:
            c = _file(inp, b)
        elif b.kind is LocationKind.GIT_COMMIT:
            c = _exact_old_copy(inp, b) or _file(inp, b)
        else:
            continue
        existing = out.get(c.id)
        if existing is None or (existing.status is CheckStatus.PASS and c.status is not CheckStatus.PASS):
            out[c.id] = c
    for u in inp.after.unknowns:
        if u.where == "github" or u.where.startswith("github "):
            c = Check(
                id=f"stale:{inp.fp}:{u.where}",
                category=CheckCategory.STALE,
                status=CheckStatus.UNKNOWN,
                title=f"not searched: {u.where}: {u.reason}",
                credential=inp.fp,
                hint="set GITHUB_TOKEN (and GITHUB_REPOS, --github-repo or --github-org for repositories "
                "no Vercel project links) and rerun keyroll verify; check GitLab/Bitbucket CI by hand",
            )
            out.setdefault(c.id, c)
    return list(out.values())
