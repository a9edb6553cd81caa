"""Moving a project onto its own (narrower) Redis ACL user — the plan, as pure data.

Checks 2 (read-only suffices) and 3 (one credential shared by several projects) both end in
the same fix: a dedicated ACL user per project with the commands and key patterns its code
uses, and the project's env vars rewritten to that user's credential. A :class:`Move` says
which user, which rules, and which env vars change into which form; :mod:`keyroll.harden.fixes`
carries it out (mint, journal, write, redeploy, wait READY, probe).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from keyroll.core.model import CredentialKind, LocationKind, Product
from keyroll.harden.analysis import commands as cmdtable
from keyroll.harden.analysis.keys import AclRules, acl_rules
from keyroll.harden.context import HardenContext, is_public_key

__all__ = ["EnvRewrite", "Move", "plan_move", "user_name"]

FULL_KINDS = frozenset({CredentialKind.REST_TOKEN, CredentialKind.PASSWORD, CredentialKind.URL_WITH_PASSWORD})
"""Credentials of the default user: every command on every key."""
_FORM_OF_KIND = {
    CredentialKind.REST_TOKEN: "rest_token",
    CredentialKind.READONLY_REST_TOKEN: "rest_token",
    CredentialKind.ACL_REST_TOKEN: "rest_token",
    CredentialKind.PASSWORD: "password",
    CredentialKind.ACL_PASSWORD: "password",
    CredentialKind.URL_WITH_PASSWORD: "redis_url",
}


@dataclass(frozen=True)
class EnvRewrite:
    """One project env var that gets the new user's credential, in the form it holds now."""

    env_id: str
    key: str
    form: str
    """``rest_token`` | ``password`` | ``redis_url``"""
    old_fingerprint: str
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Move:
    """Put one project on its own ACL user of one database."""

    project_id: str
    project_name: str
    database_id: str
    database_name: str
    rest_url: str
    credential: str
    """fingerprint of the credential the project uses now"""
    acl: AclRules
    rewrites: tuple[EnvRewrite, ...]
    blockers: tuple[str, ...] = ()
    """why keyroll cannot carry it out (shared var only, unknown endpoint …); empty = fixable"""

    @property
    def fixable(self) -> bool:
        """True when nothing blocks the move."""
        return not self.blockers and bool(self.rewrites)


def user_name(project_name: str, *, read_only: bool) -> str:
    """``svc-<project>`` (``-ro`` for read-only users); only ``[a-z0-9-]`` kept."""
    slug = re.sub(r"[^a-z0-9-]+", "-", project_name.lower()).strip("-") or "project"
    return f"svc-{slug}-ro" if read_only else f"svc-{slug}"


def plan_move(ctx: HardenContext, project_id: str, fp: str, *, read_only: bool) -> Move | None:
    """The move of ``project_id`` off credential ``fp`` (a Redis credential); ``None`` if not Redis."""
    cred = ctx.credential(fp)
    if cred is None or cred.product is not Product.REDIS:
        return None
    db = ctx.database_of(cred)
    related = {fp, *cred.related}
    if db is not None:
        related |= set(db.fingerprints)
    rewrites: list[EnvRewrite] = []
    shared_only = False
    for loc in ctx.env_locations():
        if loc.fingerprint not in related:
            continue
        c = ctx.credential(loc.fingerprint)
        if c is None:
            continue
        if loc.kind is LocationKind.VERCEL_SHARED_ENV and project_id in loc.linked_project_ids:
            shared_only = True
            continue
        if loc.kind is not LocationKind.VERCEL_ENV or loc.project_id != project_id:
            continue
        if is_public_key(loc.key):
            continue  # a client-exposed copy is removed by hand (client-exposure), never re-filled
        if read_only and c.kind is CredentialKind.READONLY_REST_TOKEN:
            continue  # already read-only
        form = _FORM_OF_KIND.get(c.kind)
        if form is None:
            continue
        rewrites.append(EnvRewrite(loc.env_id, loc.key, form, loc.fingerprint, loc.targets))
    facts = ctx.projects.get(project_id)
    name = facts.name if facts else ctx.project_name(project_id)
    full = facts.analysis if facts else None
    # only the code paths whose clients read the variables being moved decide the rights
    analysis = full.relevant(frozenset(r.key for r in rewrites)) if full is not None else None
    blockers: list[str] = []
    if analysis is not None and analysis.calls and analysis.complete:
        commands = set(analysis.commands)
        shapes = [k for c in analysis.calls for k in c.keys]
        if any(c.via for c in analysis.calls) and "script" in commands:
            commands.discard("script")  # SCRIPT LOAD is not needed when EVAL falls back
        rules = acl_rules(user_name(name, read_only=read_only), sorted(commands), shapes, read_only=read_only)
    else:
        # nothing (reliable) known about the code: same rights, but a credential of its own
        rules = AclRules(
            user=user_name(name, read_only=read_only),
            key_patterns=("*",),
            commands=("@read",) if read_only else (),
            narrowed_keys=False,
            read_only=read_only,
        )
    if shared_only and not rewrites:
        blockers.append("the credential reaches this project only through a team shared variable")
    rest_url = (db.rest_url if db is not None and db.rest_url else "") or cred.endpoint
    if not rest_url:
        blockers.append("the database's REST URL is unknown")
    if read_only and any(not (cmdtable.is_read(c) or c.startswith("@")) for c in rules.commands):
        blockers.append("the code also writes")
    return Move(
        project_id=project_id,
        project_name=name,
        database_id=db.id if db is not None else cred.resource_id,
        database_name=db.name if db is not None else cred.resource_name,
        rest_url=rest_url,
        credential=fp,
        acl=rules,
        rewrites=tuple(sorted(rewrites, key=lambda r: (r.key, r.env_id))),
        blockers=tuple(blockers),
    )
