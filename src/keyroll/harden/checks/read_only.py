"""Check 2 — a full-access token where the code only reads (medium).

From the static analysis of a project's sources: if every Redis command it sends reads (or is
neutral, like ``PING``), and the analysis is complete (no dynamic dispatch, no client handed to
unknown code, no skipped file that mentions Redis), the project needs no write access. The fix
is a read-only ACL user with exactly those commands on the keys the code touches; ``--fix``
creates it and moves the project's variables to it with a redeploy (zero failed requests).
"""

from __future__ import annotations

from keyroll.core.model import CredentialKind
from keyroll.harden.analysis import commands as cmdtable
from keyroll.harden.context import HardenContext, is_public_key
from keyroll.harden.findings import Evidence, Finding, Rule, Severity, finding_id
from keyroll.harden.moves import plan_move

__all__ = ["check"]

MAX_EVIDENCE = 8


def check(ctx: HardenContext) -> list[Finding]:
    """One finding per (project, full-access credential) whose code only reads."""
    findings: list[Finding] = []
    for pid, facts in sorted(ctx.projects.items()):
        if facts.analysis is None:
            continue
        for fp in ctx.credentials_of_project(pid):
            cred = ctx.credential(fp)
            if cred is None or not ctx.is_default_full(cred):
                continue  # an ACL user's rights are its own (keyroll harden may have narrowed them)
            keys = frozenset(
                loc.key
                for loc in ctx.env_locations()
                if loc.fingerprint == fp
                and (loc.project_id == pid or pid in loc.linked_project_ids)
                and not is_public_key(loc.key)
            )
            # only the code paths whose clients are built from these variables count
            a = facts.analysis.relevant(keys)
            if not a.calls or not a.complete or not all(cmdtable.is_read(c) for c in a.commands):
                continue
            move = plan_move(ctx, pid, fp, read_only=True)
            if move is None:
                continue
            sites = [c for c in a.calls if c.command not in cmdtable.NEUTRAL]
            evidence = [
                Evidence(f"the project's env holds {fp} ({cred.kind.value}, full access)", "vercel env")
            ]
            evidence += [
                Evidence(
                    f"{c.command.upper()} on {', '.join(k.describe() for k in c.keys) or 'no key'}",
                    f"file {c.path}:{c.line}",
                )
                for c in sites[:MAX_EVIDENCE]
            ]
            evidence.append(
                Evidence(
                    f"{a.files_scanned} file(s) analysed; commands used: {', '.join(sorted(a.commands))} — all reads",
                    f"source {a.root}",
                )
            )
            if cred.kind is CredentialKind.REST_TOKEN and not move.acl.narrowed_keys:
                evidence.append(
                    Evidence(
                        "some keys are computed at run time: the key space cannot be narrowed", "analysis"
                    )
                )
            findings.append(
                Finding(
                    id=finding_id(Rule.READ_ONLY_SUFFICES, pid, fp),
                    rule=Rule.READ_ONLY_SUFFICES,
                    severity=Severity.MEDIUM,
                    title=f"project {facts.name}: a full-access Redis credential where read-only suffices",
                    evidence=tuple(evidence),
                    fix=(
                        f"Give {facts.name} a read-only ACL user ({move.acl.user}) with only the commands it uses, "
                        "then move its variables to that user's token (write env, redeploy, verify). "
                        "The database's read-only REST token is the simpler alternative when the code uses neither SCAN nor KEYS."
                    ),
                    fixable_by_keyroll=move.fixable,
                    project=facts.name,
                    credential=fp,
                    details={
                        "acl_setuser": move.acl.line(),
                        "user": move.acl.user,
                        "commands": list(move.acl.commands),
                        "key_patterns": list(move.acl.key_patterns),
                        "vars": [r.key for r in move.rewrites],
                        "blockers": list(move.blockers),
                    },
                )
            )
    return findings
