"""Renderers for the CLI: a rich table grouped by credential, markdown, and versioned JSON.

Every renderer shows fingerprints and at most the last four characters of a value — never
a value. The JSON schema is documented in ``docs/inventory.md``; it is a superset of the
core model's JSON (:func:`keyroll.core.serde.to_dict` of the :class:`Inventory`), so
:func:`inventory_from_json` (and ``from_dict``) read it back.
"""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from keyroll.core.errors import UsageError
from keyroll.core.model import SCHEMA_VERSION, Confidence, Credential, Inventory, LocationKind
from keyroll.core.serde import from_dict, to_dict, to_jsonable
from keyroll.core.tables import FINGERPRINT_WIDTH, add_fingerprint_column
from keyroll.inventory.digest import digest

__all__ = [
    "BlastRadius",
    "InventoryFormat",
    "blast_radius",
    "inventory_from_json",
    "inventory_to_json",
    "render",
    "render_json",
    "render_markdown",
    "render_table",
    "render_text",
    "summary",
]


@dataclass(frozen=True)
class BlastRadius:
    """Everything a credential's rotation touches."""

    projects: tuple[str, ...] = ()
    """names (or ids) of projects whose deployments use it"""
    targets: tuple[str, ...] = ()
    env_vars: int = 0
    shared_vars: int = 0
    redeploy: tuple[str, ...] = ()
    """serving deployments to redeploy"""
    older_deployments: int = 0
    """older READY deployments that still answer with it"""
    ci_secrets: int = 0
    files: int = 0
    commits: int = 0
    unverified: int = 0
    """locations that are probable or unverified, not read and matched"""


def blast_radius(inventory: Inventory, fp: str) -> BlastRadius:
    """The blast radius of one credential."""
    names: dict[str, str] = {}
    for loc in inventory.locations:
        if loc.project_id and loc.project_name:
            names[loc.project_id] = loc.project_name
    locs = inventory.locations_of(fp)
    targets: dict[str, None] = {}
    redeploy: dict[str, None] = {}
    older: set[str] = set()
    files: set[tuple[str, int]] = set()
    commits: set[str] = set()
    for loc in locs:
        if loc.kind in (LocationKind.VERCEL_ENV, LocationKind.VERCEL_SHARED_ENV):
            for t in (*loc.targets, *loc.custom_environment_names()):
                targets[t] = None
        elif loc.kind is LocationKind.DEPLOYMENT:
            if loc.serving:
                redeploy[loc.deployment_id] = None
            else:
                older.add(loc.deployment_id)
        elif loc.kind is LocationKind.FILE:
            files.add((loc.path, loc.line))
        elif loc.kind is LocationKind.GIT_COMMIT:
            commits.add(loc.commit)
    projects = sorted(names.get(p, p) for p in inventory.affected_projects(fp))
    return BlastRadius(
        projects=tuple(projects),
        targets=tuple(sorted(targets)),
        env_vars=sum(1 for loc in locs if loc.kind is LocationKind.VERCEL_ENV),
        shared_vars=sum(1 for loc in locs if loc.kind is LocationKind.VERCEL_SHARED_ENV),
        redeploy=tuple(sorted(redeploy)),
        older_deployments=len(older),
        ci_secrets=sum(1 for loc in locs if loc.kind is LocationKind.GITHUB_SECRET),
        files=len(files),
        commits=len(commits),
        unverified=sum(1 for loc in locs if loc.confidence is not Confidence.EXACT),
    )


def summary(inventory: Inventory) -> dict[str, Any]:
    """Counts for the summary line and the JSON ``summary`` object."""
    projects: set[str] = set()
    for c in inventory.credentials:
        projects.update(inventory.affected_projects(c.fingerprint))
    return {
        "credentials": len(inventory.credentials),
        "locations": len(inventory.locations),
        "affected_projects": len(projects),
        "deployments_to_redeploy": sum(1 for d in inventory.deployments if d.serving),
        "older_deployments": sum(1 for d in inventory.deployments if not d.serving),
        "unverified_locations": sum(
            1 for loc in inventory.locations if loc.confidence is not Confidence.EXACT
        ),
        "unknowns": len(inventory.unknowns),
        "complete": inventory.complete,
    }


def _label(c: Credential) -> str:
    return f"{c.fingerprint} …{c.last4}" if c.last4 else str(c.fingerprint)


def _what(c: Credential) -> str:
    resource = c.resource_name or c.resource_id
    if c.adapter:  # recognised by a provider adapter: its name and the login it belongs to
        login = f" {c.acl_user}" if c.acl_user else ""
        return f"{c.adapter}{login}" + (f" ({resource})" if resource else "")
    if c.service:
        return f"{c.service} {c.kind.value}" + (f" ({resource})" if resource else "")
    return f"{c.product.value} {c.kind.value}" + (f" ({resource})" if resource else "")


def _radius_text(b: BlastRadius) -> str:
    lines = []
    if b.projects:
        shown = ", ".join(b.projects[:5]) + (f" +{len(b.projects) - 5}" if len(b.projects) > 5 else "")
        lines.append(f"{len(b.projects)} project(s): {shown}")
    if b.targets:
        lines.append("targets: " + ", ".join(b.targets))
    if b.env_vars or b.shared_vars:
        lines.append(f"vars: {b.env_vars} project, {b.shared_vars} shared")
    if b.redeploy or b.older_deployments:
        lines.append(
            f"redeploy {len(b.redeploy)}"
            + (f" (+{b.older_deployments} older)" if b.older_deployments else "")
        )
    extra = [
        f"{n} {what}" for n, what in ((b.ci_secrets, "CI"), (b.files, "file"), (b.commits, "commit")) if n
    ]
    if extra:
        lines.append(" · ".join(extra))
    return "\n".join(lines) or "not found outside Upstash"


def render_table(inventory: Inventory) -> RenderableType:
    """Rich renderables: credentials with their blast radius, then what could not be seen."""
    table = Table(title="Credentials and their blast radius", show_lines=True)
    add_fingerprint_column(table, min_width=FINGERPRINT_WIDTH + len(" …abcd"))
    table.add_column("product / kind")
    table.add_column("management")
    table.add_column("strategy")
    table.add_column("blast radius")
    table.add_column("unverified", justify="right")
    for c in inventory.credentials:
        b = blast_radius(inventory, c.fingerprint)
        table.add_row(
            _label(c),
            _what(c),
            c.management.value,
            c.strategy.value if c.strategy else "-",
            _radius_text(b),
            str(b.unverified) if b.unverified else "",
        )
    parts: list[RenderableType] = [table]
    updates = [loc for loc in inventory.locations if loc.kind is LocationKind.FILE and loc.reason]
    if updates:
        files = Table(title="Copies outside Vercel and the command that updates each", show_lines=False)
        files.add_column("credential", no_wrap=True)
        files.add_column("copy")
        files.add_column("update with")
        for loc in updates:
            files.add_row(str(loc.fingerprint), f"{loc.path}:{loc.line} {loc.key}".strip(), loc.reason)
        parts.append(files)
    if inventory.unknowns:
        unk = Table(title="Could not be verified", show_lines=False)
        unk.add_column("where")
        unk.add_column("why")
        for u in inventory.unknowns:
            unk.add_row(u.where, u.reason)
        parts.append(unk)
    s = summary(inventory)
    status = "complete" if s["complete"] else "INCOMPLETE"
    parts.append(
        Text(
            f"{s['credentials']} credentials · {s['locations']} locations · {s['affected_projects']} projects · "
            f"{s['deployments_to_redeploy']} deployments to redeploy · {s['unverified_locations']} unverified · "
            f"{s['unknowns']} unknown — {status}"
        )
    )
    return Group(*parts)


def render_text(inventory: Inventory, width: int = 160) -> str:
    """The table as plain text (for ``--out`` files)."""
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False, highlight=False)
    console.print(render_table(inventory))
    return buf.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def render_markdown(inventory: Inventory) -> str:
    """A markdown report: summary, one table row per credential, then every location."""
    s = summary(inventory)
    out = [
        "# keyroll inventory",
        "",
        f"Generated {inventory.generated_at} · digest `{digest(inventory)}` · "
        + ("**complete**" if s["complete"] else "**incomplete** (see below)"),
        "",
        f"{s['credentials']} credentials · {s['locations']} locations · {s['affected_projects']} projects · "
        f"{s['deployments_to_redeploy']} deployments to redeploy · {s['unverified_locations']} unverified · "
        f"{s['unknowns']} unknown",
        "",
        "| credential | product / kind | management | strategy | blast radius | unverified |",
        "|---|---|---|---|---|---|",
    ]
    for c in inventory.credentials:
        b = blast_radius(inventory, c.fingerprint)
        out.append(
            f"| `{_label(c)}` | {_md(_what(c))} | {c.management.value} | "
            f"{c.strategy.value if c.strategy else '-'} | {_md(_radius_text(b))} | {b.unverified or ''} |"
        )
    for c in inventory.credentials:
        locs = [loc for loc in inventory.locations_of(c.fingerprint) if loc.kind is not LocationKind.UPSTASH]
        if not locs:
            continue
        out += ["", f"## `{c.fingerprint}` — {_md(_what(c))}", ""]
        if c.related:
            out += [f"Rotates with: {', '.join(f'`{r}`' for r in c.related)}", ""]
        for loc in locs:
            flags = [loc.form.value]
            if loc.confidence is not Confidence.EXACT:
                flags.append(loc.confidence.value)
            if loc.kind is LocationKind.DEPLOYMENT:
                flags.append("serving" if loc.serving else "older")
            line = f"- {_md(loc.describe())} ({', '.join(flags)})"
            if loc.reason:
                line += f" — {_md(loc.reason)}"
            out.append(line)
    if inventory.unknowns:
        out += ["", "## Could not be verified", ""]
        out += [f"- **{_md(u.where)}** — {_md(u.reason)}" for u in inventory.unknowns]
    return "\n".join(out) + "\n"


def inventory_to_json(inventory: Inventory) -> dict[str, Any]:
    """The documented ``--json`` object (``version`` first; fingerprints, never values)."""
    base = to_dict(inventory)
    creds = []
    for c, d in zip(inventory.credentials, base["credentials"], strict=True):
        d["blast_radius"] = to_jsonable(asdict(blast_radius(inventory, c.fingerprint)))
        creds.append(d)
    return {
        "version": inventory.version,
        "generated_at": inventory.generated_at,
        "complete": inventory.complete,
        "digest": digest(inventory),
        "summary": summary(inventory),
        "credentials": creds,
        "locations": base["locations"],
        "deployments": base["deployments"],
        "unknowns": base["unknowns"],
    }


def render_json(inventory: Inventory) -> str:
    """``inventory_to_json`` as indented text."""
    return json.dumps(inventory_to_json(inventory), indent=2) + "\n"


def inventory_from_json(data: dict[str, Any]) -> Inventory:
    """Read an inventory back from ``keyroll inventory --json`` output (values are not in it).

    :raises UsageError: not an inventory object, or a newer format version than this keyroll reads.
    """
    if not isinstance(data, dict) or "credentials" not in data:
        raise UsageError(
            "not a keyroll inventory (no credentials)", hint="create one with keyroll inventory --json"
        )
    version = data.get("version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UsageError(
            f"inventory format version {version} is newer than this keyroll reads ({SCHEMA_VERSION})",
            hint="upgrade keyroll",
        )
    try:
        return from_dict(Inventory, data)
    except (TypeError, ValueError, KeyError) as exc:
        raise UsageError(
            f"malformed inventory: {exc}", hint="recreate it with keyroll inventory --json"
        ) from None


class InventoryFormat(enum.StrEnum):
    """``--format`` choices."""

    TABLE = "table"
    JSON = "json"
    MARKDOWN = "markdown"
    MD = "md"
    """the same as ``markdown`` (``report`` and ``harden`` spell it ``md``)"""

    @property
    def renderer(self) -> Callable[[Inventory], str]:
        """The function that renders this format as text."""
        return _RENDERERS[self]


_RENDERERS: dict[InventoryFormat, Callable[[Inventory], str]] = {
    InventoryFormat.TABLE: render_text,
    InventoryFormat.JSON: render_json,
    InventoryFormat.MARKDOWN: render_markdown,
    InventoryFormat.MD: render_markdown,
}


def render(inventory: Inventory, fmt: InventoryFormat) -> str:
    """Render ``inventory`` in ``fmt``."""
    return fmt.renderer(inventory)
