"""Gather the facts for the checks: projects, inventory, databases, sources, assets, env files.

Network reads go through the provider clients (rate limited, retried); the static analysis
and the file searches are CPU work and run in a thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keyroll.config import parse_env_text
from keyroll.core.errors import ConfigError, KeyrollError, UsageError
from keyroll.core.model import Confidence, Inventory, LocationKind, Unknown
from keyroll.core.progress import NULL_PROGRESS, Progress
from keyroll.core.secret import Fingerprint, Secret, fingerprint_of
from keyroll.harden.analysis.project import analyze_sources
from keyroll.harden.analysis.walk import iter_asset_files, read_text
from keyroll.harden.context import AssetHit, DatabaseFacts, EnvFileHit, HardenContext, ProjectFacts
from keyroll.harden.journal import written_values
from keyroll.providers.factory import Providers
from keyroll.providers.vercel.models import Project
from keyroll.scan.known import KnownValues

__all__ = ["SourceSpec", "collect", "database_facts", "map_sources"]

MAX_ASSET_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class SourceSpec:
    """A source root and (optionally) the project it belongs to (``--source web=./apps/web``)."""

    path: Path
    project: str = ""

    @classmethod
    def parse(cls, text: str) -> SourceSpec:
        """``PATH`` or ``PROJECT=PATH``.

        :raises UsageError: the path does not exist.
        """
        project, sep, path = text.partition("=")
        spec = cls(Path(path), project) if sep and project and not Path(text).exists() else cls(Path(text))
        if not spec.path.exists():
            raise UsageError(
                f"source {spec.path} does not exist", hint="--source takes an existing directory or file"
            )
        return spec


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def database_facts(db: Any) -> DatabaseFacts:
    """Facts from a Developer API ``RedisDatabase`` (protection and plan flags read leniently)."""
    extra: dict[str, Any] = dict(getattr(db, "model_extra", None) or {})
    protection = None
    for key in ("credential_protection", "credential_protection_enabled", "credentialProtection"):
        protection = _flag(extra.get(key, getattr(db, key, None)))
        if protection is not None:
            break
    # a declared field of RedisDatabase (so not in model_extra); read leniently like protection
    supported = _flag(extra.get("prod_pack_enabled", getattr(db, "prod_pack_enabled", None)))
    if supported is None:
        supported = _flag(extra.get("credential_protection_supported"))
    fps = tuple(
        s.fingerprint
        for s in (
            getattr(db, "password", None),
            getattr(db, "rest_token", None),
            getattr(db, "read_only_rest_token", None),
        )
        if isinstance(s, Secret) and s
    )
    if protection is None:
        # No documented field says it; with protection on, Upstash no longer stores (so no longer
        # returns) the credentials — a database whose GET carries them is not protected.
        protection = not fps
    rest_url = ""
    try:
        rest_url = str(db.rest_url) if getattr(db, "endpoint", "") else ""
    except Exception:
        rest_url = ""
    return DatabaseFacts(
        id=str(db.database_id),
        name=str(getattr(db, "database_name", "") or db.database_id),
        rest_url=rest_url,
        credential_protection=protection,
        protection_supported=supported,
        fingerprints=fps,
    )


def map_sources(
    specs: Sequence[SourceSpec], projects: Sequence[Project]
) -> tuple[dict[str, list[Path]], list[str]]:
    """Source roots per project id, and the roots no project could be found for.

    A root maps by, in order: the explicit ``PROJECT=`` of its spec; ``.vercel/project.json``
    (what ``vercel link`` writes); ``package.json`` ``name`` or the directory name equal to a
    project name; the only project in scope.

    :raises UsageError: an explicit project that is not in scope.
    """
    by_id = {p.id: p for p in projects}
    by_name = {p.name: p for p in projects}
    out: dict[str, list[Path]] = {}
    unmapped: list[str] = []
    for spec in specs:
        root = spec.path
        pid = ""
        if spec.project:
            p = by_id.get(spec.project) or by_name.get(spec.project)
            if p is None:
                raise UsageError(
                    f"--source {spec.project}={root}: no project {spec.project} in scope",
                    hint="use a project name or id listed by `keyroll inventory`",
                )
            pid = p.id
        base = root if root.is_dir() else root.parent
        if not pid:
            linked = base / ".vercel" / "project.json"
            try:
                pid = (
                    str(json.loads(linked.read_text("utf-8")).get("projectId", ""))
                    if linked.is_file()
                    else ""
                )
            except (OSError, ValueError, AttributeError):
                pid = ""
            if pid and pid not in by_id:
                pid = ""
        if not pid:
            names = [base.resolve().name]
            try:
                pkg = json.loads((base / "package.json").read_text("utf-8"))
                if isinstance(pkg, dict) and isinstance(pkg.get("name"), str):
                    names.insert(0, pkg["name"].split("/")[-1])
            except (OSError, ValueError):
                pass
            pid = next((by_name[n].id for n in names if n in by_name), "")
        if not pid and len(projects) == 1:
            pid = projects[0].id
        if pid:
            out.setdefault(pid, []).append(root)
        else:
            unmapped.append(str(root))
    return out, unmapped


def _scan_assets(root: Path, matcher: KnownValues, project_id: str) -> list[AssetHit]:
    hits: list[AssetHit] = []
    if not len(matcher):
        return hits
    for path, rel in iter_asset_files(root):
        try:
            if path.stat().st_size > MAX_ASSET_BYTES:
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            continue
        seen: set[tuple[str, int]] = set()
        for line, col, m in matcher.iter_lines(text):
            if (m.fingerprint, line) in seen:
                continue
            seen.add((m.fingerprint, line))
            hits.append(AssetHit(str(root), rel, line, col, m.fingerprint, m.form.value, project_id))
    return hits


def _env_files(root: Path) -> list[Path]:
    base = root if root.is_dir() else root.parent
    out = []
    for p in sorted(base.glob(".env*")) + sorted(base.glob("*/.env*")) + sorted(base.glob("*/*/.env*")):
        if (
            p.is_file()
            and "node_modules" not in p.parts
            and not p.name.endswith((".example", ".sample", ".template"))
        ):
            out.append(p)
    return out


def _scan_env_files(root: Path, matcher: KnownValues, project_id: str) -> tuple[list[EnvFileHit], int]:
    from keyroll.inventory import classify_key

    hits: list[EnvFileHit] = []
    bad = 0
    base = root if root.is_dir() else root.parent
    for path in _env_files(root):
        text, reason = read_text(path)
        if text is None or reason is not None:
            bad += 1
            continue
        try:
            values, _ = parse_env_text(text, source=path.name)
        except ConfigError:
            bad += 1
            continue
        lines = text.splitlines()
        rel = path.relative_to(base).as_posix()
        for key, value in values.items():
            if not value:
                continue
            found = matcher.find(value) if len(matcher) else []
            if found:
                fp = found[0].fingerprint
            else:
                kc = classify_key(key)
                if kc is None or not kc.is_credential or len(value) < 8:
                    continue
                fp = fingerprint_of(value)
            line = next(
                (
                    i + 1
                    for i, ln in enumerate(lines)
                    if ln.lstrip().removeprefix("export ").lstrip().startswith(key)
                ),
                0,
            )
            hits.append(EnvFileHit(str(root), rel, line, key, fp, project_id))
    return hits, bad


def _local_work(
    ctx: HardenContext, sources: dict[str, list[Path]], unmapped: list[Path], matcher: KnownValues
) -> None:
    for pid, roots in sources.items():
        facts = ctx.projects[pid]
        facts.sources = list(roots)
        facts.analysis = analyze_sources(roots)
    for pid, roots in [*sources.items(), ("", unmapped)]:
        for root in roots:
            ctx.asset_hits.extend(_scan_assets(root, matcher, pid))
            hits, bad = _scan_env_files(root, matcher, pid)
            ctx.env_file_hits.extend(hits)
            if bad:
                ctx.unknowns.append(f"{bad} env file(s) under {root} could not be parsed")


async def collect(
    providers: Providers,
    *,
    projects: Sequence[str] = (),
    sources: Sequence[SourceSpec] = (),
    inventory: Inventory | None = None,
    progress: Progress = NULL_PROGRESS,
    journal_override: str = "",
) -> HardenContext:
    """Read everything the checks need.

    :raises ConfigError: Vercel is not configured (harden is about Vercel projects).
    :raises UsageError: an unknown project, a bad source spec.
    :raises ProviderError: the project list cannot be read.
    """
    if providers.vercel is None:
        raise ConfigError(
            "VERCEL_TOKEN is not set", hint="harden reads Vercel projects; set it in --env-file"
        )
    all_projects = await providers.vercel.list_projects()
    if projects:
        wanted = set(projects)
        scoped = [p for p in all_projects if p.id in wanted or p.name in wanted]
        missing = wanted - {p.id for p in scoped} - {p.name for p in scoped}
        if missing:
            raise UsageError(
                f"unknown project {sorted(missing)[0]}", hint="check the name with `keyroll inventory`"
            )
    else:
        scoped = list(all_projects)
    mapping, unmapped = map_sources(sources, scoped)
    if inventory is None:
        from keyroll.inventory import InventoryOptions, take_inventory

        inv_paths = tuple(p for roots in mapping.values() for p in roots) + tuple(Path(u) for u in unmapped)
        inventory = await take_inventory(
            providers,
            InventoryOptions(
                projects=tuple(p.id for p in scoped), paths=inv_paths, include_deployments=False
            ),
            progress,
        )
    writes, minted = written_values(providers.config, journal_override)
    inventory = _apply_harden_writes(inventory, writes)
    ctx = HardenContext(inventory=inventory, projects={p.id: ProjectFacts(p.id, p.name) for p in scoped})
    ctx.minted = minted
    ctx.unmapped_sources = list(unmapped)
    for unknown in inventory.unknowns:
        ctx.unknowns.append(_unknown_text(unknown))
    if providers.upstash is not None:
        try:
            dbs = await providers.upstash.list_redis()
            ctx.databases = [database_facts(db) for db in dbs]
        except KeyrollError as exc:
            ctx.unknowns.append(
                f"upstash: databases could not be listed ({exc.message}); credential protection not checked"
            )
    else:
        ctx.unknowns.append(
            "upstash: UPSTASH_EMAIL/UPSTASH_API_KEY not set; credential protection not checked"
        )
    values = [c.value for c in inventory.credentials if c.value is not None and c.value]
    matcher = KnownValues(values)
    task = progress.task("analyse sources", total=None)
    await asyncio.to_thread(_local_work, ctx, mapping, [Path(u) for u in unmapped], matcher)
    progress.finish(task)
    for u in unmapped:
        ctx.unknowns.append(f"source {u}: no project found (use --source PROJECT={u})")
    return ctx


def _apply_harden_writes(inventory: Inventory, writes: dict[str, dict[str, str]]) -> Inventory:
    """Unreadable (sensitive) vars that ``keyroll harden --fix`` wrote hold what the journal says."""
    if not writes:
        return inventory
    locations = []
    for loc in inventory.locations:
        w = writes.get(loc.env_id) if loc.kind is LocationKind.VERCEL_ENV else None
        if w is not None and loc.confidence is not Confidence.EXACT and w.get("fingerprint"):
            loc = dataclasses.replace(
                loc,
                fingerprint=Fingerprint(w["fingerprint"]),
                confidence=Confidence.PROBABLE,
                reason="value unreadable; keyroll harden --fix wrote it (harden journal)",
            )
        locations.append(loc)
    return dataclasses.replace(inventory, locations=tuple(locations))


def _unknown_text(u: Unknown) -> str:
    where = u.where + (f" {u.key}" if u.key else "")
    return f"{where}: {u.reason}"
