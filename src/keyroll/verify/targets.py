"""What ``verify`` checks: one :class:`Target` per credential (group) of a run or an inventory.

A target gathers, for one credential, its old values (that must now be rejected) and new values
(that must be accepted) with what each value is (product, kind, endpoint, ACL user), the
projects it reached and when their env was written, and when it was rotated and revoked. From a
journal (:func:`targets_from_log`) or, without one, from an inventory plus the leaked values
(:func:`targets_from_inventory`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from keyroll.core.errors import UsageError
from keyroll.core.model import Credential, CredentialKind, Inventory
from keyroll.core.secret import Secret
from keyroll.journal.read import JournalReader, read_secrets
from keyroll.journal.runlog import RunLog
from keyroll.verify.probes import descriptor_for

__all__ = ["Target", "select_credentials", "targets_from_inventory", "targets_from_log"]


@dataclass
class Target:
    """One credential (group) to verify."""

    fp: str
    credential: Credential | None
    old_fps: set[str] = field(default_factory=set)
    old_values: list[Secret] = field(default_factory=list)
    new_fps: set[str] = field(default_factory=set)
    new_values: list[Secret] = field(default_factory=list)
    projects: tuple[str, ...] = ()
    env_written: dict[str, float] = field(default_factory=dict)
    rotated_at: float | None = None
    revoked_at: float | None = None
    descriptors: dict[str, Credential] = field(default_factory=dict)
    """what each journaled value is (product, kind, endpoint, ACL user), from the rotation's group spec"""


def select_credentials(fps: Sequence[str], wanted: Sequence[str]) -> list[str]:
    """The fingerprints ``wanted`` names (each a fingerprint or a unique prefix); all when empty.

    :raises UsageError: a wanted one matches none or several.
    """
    if not wanted:
        return list(fps)
    out: list[str] = []
    for w in wanted:
        matches = [
            fp for fp in fps if fp == w or fp.startswith(w) or fp.removeprefix("sha256:").startswith(w)
        ]
        if len(matches) != 1:
            known = ", ".join(fps[:8]) or "none"
            raise UsageError(
                f"credential {w!r} {'matches several credentials' if matches else 'is not part of this run'}",
                hint=f"credentials of the run: {known}",
            )
        out.append(matches[0])
    return list(dict.fromkeys(out))


def _group_fps(inv: Inventory | None, fp: str) -> set[str]:
    fps = {fp}
    cred = inv.credential(fp) if inv is not None else None
    if cred is not None:
        fps.update(cred.related)
    return fps


def targets_from_log(log: RunLog, journal: JournalReader | None, wanted: Sequence[str]) -> list[Target]:
    """One target per selected credential of the run: its old and new values (decrypted from the
    journal when it is open) and what each value is, from the rotation's group spec."""
    fps = select_credentials(log.credentials(), wanted)
    out: list[Target] = []
    for fp in fps:
        spec = log.group_spec(fp)
        users = log.minted_users(fp)
        old_fps = set(log.old_fingerprints(fp))
        new_fps = set(log.new_fingerprints(fp)) - old_fps
        names: dict[str, str] = {}
        descriptors: dict[str, Credential] = {}
        tcp = next(
            (
                c.endpoint
                for c in (log.inventory.credentials if log.inventory is not None else ())
                if c.fingerprint in old_fps and c.endpoint.startswith(("redis://", "rediss://"))
            ),
            "",
        )
        prefix = f"{log.gid(fp)}:"
        rendered: set[str] = set()
        for name, value_fp in sorted(log.secret_fps.items()):
            if not name.startswith(prefix):
                continue
            value_set, role = name.split(":")[1], name.rsplit(":", 1)[-1]
            if value_set == "rendered":
                # a composite written somewhere (a Redis URL around a new password, an encoded
                # form): a URL is probed as such; other encodings are covered by their decoded part
                if value_fp in new_fps:
                    names.setdefault(value_fp, name)
                    rendered.add(value_fp)
                    d = descriptor_for(
                        spec, "password", value_fp, user=users.get(value_fp, ""), tcp_endpoint=tcp
                    )
                    if d is not None:
                        descriptors.setdefault(value_fp, replace(d, kind=CredentialKind.URL_WITH_PASSWORD))
                continue
            if not ((value_set == "old" and value_fp in old_fps) or value_fp in new_fps):
                continue
            names.setdefault(value_fp, name)
            user = users.get(value_fp, "") if value_set != "old" else ""
            d = descriptor_for(spec, role, value_fp, user=user, tcp_endpoint=tcp)
            if d is not None:
                descriptors.setdefault(value_fp, d)
        for value_fp, role, _, _ in log.distributed(fp).values():
            if value_fp in new_fps and value_fp not in descriptors:
                d = descriptor_for(spec, role, value_fp, tcp_endpoint=tcp)
                if d is not None:
                    descriptors[value_fp] = d
        values: tuple[Secret, ...] = ()
        if journal is not None and log.run is not None:
            values = read_secrets(journal, log.run.id, names.values())
        for v in values:
            if v.fingerprint in rendered and not v.reveal().startswith(("redis://", "rediss://")):
                new_fps = new_fps - {v.fingerprint}
        out.append(
            Target(
                fp=fp,
                credential=log.inventory.credential(fp) if log.inventory is not None else None,
                old_fps=old_fps,
                old_values=[v for v in values if v.fingerprint in old_fps],
                new_fps=new_fps,
                new_values=[v for v in values if v.fingerprint in new_fps],
                projects=log.affected_projects(fp),
                env_written=log.env_written_projects(fp),
                rotated_at=log.started_at(fp),
                revoked_at=log.revoked_at(fp),
                descriptors=descriptors,
            )
        )
    return out


def targets_from_inventory(
    inv: Inventory, old_values: Sequence[Secret], wanted: Sequence[str]
) -> list[Target]:
    """Without a journal: each selected credential of the inventory, and the old values given."""
    fps = select_credentials([c.fingerprint for c in inv.credentials], wanted)
    olds: dict[str, Secret] = {s.fingerprint: s for s in old_values}
    out: list[Target] = []
    for fp in fps:
        cred = inv.credential(fp)
        group = _group_fps(inv, fp)
        out.append(
            Target(
                fp=fp,
                credential=cred,
                old_fps=set(olds) & group if olds else set(),
                old_values=[olds[f] for f in group if f in olds],
                new_fps={fp} - set(olds),
                new_values=[cred.value]
                if cred is not None and cred.value is not None and fp not in olds
                else [],
                projects=inv.affected_projects(fp),
            )
        )
    # old values that belong to no listed credential still have to be rejected
    for s in old_values:
        if not any(s.fingerprint in t.old_fps for t in out) and (not wanted or s.fingerprint in wanted):
            out.append(
                Target(
                    fp=s.fingerprint,
                    credential=inv.credential(s.fingerprint),
                    old_fps={s.fingerprint},
                    old_values=[s],
                )
            )
    return out
