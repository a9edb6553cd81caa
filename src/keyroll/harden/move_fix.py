"""Carry out :class:`~keyroll.harden.moves.Move` s: a project onto its own Redis ACL user, zero downtime.

For each move, in order (the old credential stays valid throughout — nothing is revoked):

1. ``ACL GENTOKEN`` mints the user's password (falls back to a locally generated one when the
   server has no GENTOKEN); it is written to the harden journal (AES-GCM, the rotation journal's
   format, its own file) **before** it is used anywhere;
2. ``ACL SETUSER <user> on >… ~patterns -@all +commands`` and ``ACL RESTTOKEN`` (journaled too);
3. the new credential is probed with a command the user may run;
4. the project's env vars are rewritten in place (``PATCH`` value only — type, targets, branch,
   comment kept), in the form each holds (REST token, password, ``rediss://user:pw@host`` URL);
5. every serving deployment is redeployed and awaited READY — the old deployments serve until
   the new ones are live, so no request fails;
6. optionally each new deployment is requested (``probe_path``) and must not answer 5xx.

A failure after step 4 restores the old values (still valid) so the next build is unchanged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from keyroll.core.errors import ConfigError, KeyrollError, ProviderError, RotationError
from keyroll.core.model import StepState
from keyroll.core.progress import Progress
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec
from keyroll.harden.context import HardenContext
from keyroll.harden.deploys import probe_new, redeploy_serving
from keyroll.harden.journal import HardenJournal
from keyroll.harden.moves import FULL_KINDS, Move
from keyroll.providers.factory import Providers
from keyroll.providers.upstash.acl_rules import check_rules

__all__ = ["MoveResult", "MoveRunner", "probe_command"]


@dataclass
class MoveResult:
    """What happened to one move."""

    applied: bool
    summary: str
    steps: list[str] = field(default_factory=list)
    error: str = ""
    dry_run: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)


def probe_command(move: Move) -> list[str] | None:
    """A harmless command the new user is allowed to run (a read on one of its key patterns)."""
    cmds = set(move.acl.commands)
    if not cmds:
        return ["PING"]
    if "ping" in cmds:
        return ["PING"]
    pattern = move.acl.key_patterns[0] if move.acl.key_patterns else "*"
    key = pattern[:-1] + "keyroll-probe" if pattern.endswith("*") else pattern
    key = key.replace("\\", "")
    for cmd in (
        "exists",
        "get",
        "ttl",
        "type",
        "strlen",
        "hlen",
        "llen",
        "scard",
        "zcard",
        "hgetall",
        "smembers",
    ):
        if cmd in cmds:
            return [cmd.upper(), key]
    if "@read" in cmds:
        return ["EXISTS", key]
    return None


class MoveRunner:
    """Runs moves concurrently (one pipeline per project), journaling minted secrets first."""

    def __init__(
        self,
        providers: Providers,
        ctx: HardenContext,
        options: Any,
        progress: Progress,
        journal: HardenJournal | None = None,
    ) -> None:
        self.providers = providers
        self.ctx = ctx
        self.options = options
        self.progress = progress
        self.journal = journal
        self._admin: dict[str, Secret] = {}

    def _note(self, m: Move, state: StepState, detail: dict[str, Any]) -> None:
        if self.journal is not None:
            self.journal.note(
                f"harden:{m.project_id}:{m.acl.user}",
                state,
                detail,
                project_id=m.project_id,
                credential=m.credential,
            )

    # -- running -------------------------------------------------------------------------
    async def run(self, moves: list[Move]) -> dict[tuple[str, str], MoveResult]:
        """Carry out every move; results keyed by ``(project id, credential)``."""
        out: dict[tuple[str, str], MoveResult] = {}
        if not moves:
            return out
        if self.options.dry_run:
            for m in moves:
                out[(m.project_id, m.credential)] = self._describe(m)
            return out
        if self.journal is None or not self.journal.has_key:
            raise ConfigError(
                "moving projects mints credentials, and there is no key to journal them with",
                hint="set KEYROLL_JOURNAL_KEY (≥ 32 characters) or make an OS keyring available",
            )
        results = await asyncio.gather(*(self._guarded(m) for m in moves))
        for m, r in zip(moves, results, strict=True):
            out[(m.project_id, m.credential)] = r
        return out

    def _describe(self, m: Move) -> MoveResult:
        steps = [
            f"ACL GENTOKEN {m.acl.user} (journaled encrypted before use)",
            m.acl.line(),
            f"ACL RESTTOKEN {m.acl.user} <token>",
            *(
                f"PATCH project {m.project_name} env {r.key} ({r.env_id}) → {m.acl.user}'s {r.form}"
                for r in m.rewrites
            ),
            f"redeploy every serving deployment of {m.project_name}, wait READY",
        ]
        if m.blockers:
            return MoveResult(
                False, f"{m.project_name}: cannot move ({'; '.join(m.blockers)})", steps, dry_run=True
            )
        return MoveResult(False, f"would move {m.project_name} onto {m.acl.user}", steps, dry_run=True)

    async def _guarded(self, m: Move) -> MoveResult:
        if m.blockers:
            return MoveResult(False, f"{m.project_name}: not moved", error="; ".join(m.blockers))
        try:
            return await self._move(m)
        except KeyrollError as exc:
            self._note(m, StepState.FAILED, {"error": exc.message})
            return MoveResult(False, f"{m.project_name}: not moved", error=exc.format_message())

    async def _admin_token(self, m: Move) -> Secret:
        if m.database_id in self._admin:
            return self._admin[m.database_id]
        token: Secret | None = None
        if self.providers.upstash is not None and m.database_id:
            try:
                db = await self.providers.upstash.get_redis(m.database_id)
                token = db.rest_token
            except KeyrollError:
                token = None
        if token is None:
            cred = self.ctx.credential(m.credential)
            if cred is not None and cred.kind in FULL_KINDS and cred.value is not None:
                token = cred.value if cred.kind.value == "rest_token" else None
        if token is None:
            for c in self.ctx.inventory.credentials:
                if c.resource_id == m.database_id and c.kind.value == "rest_token" and c.value is not None:
                    token = c.value
                    break
        if token is None:
            raise RotationError(
                f"no full-access REST token of database {m.database_name or m.database_id} to manage ACL users with",
                hint="configure UPSTASH_EMAIL/UPSTASH_API_KEY (Developer API) for this account",
            )
        self._admin[m.database_id] = token
        return token

    async def _mint(self, m: Move, admin: Secret) -> tuple[Secret, Secret]:
        redis = self.providers.redis
        assert redis is not None
        problems = check_rules(["on", *m.acl.rules()])
        if problems:
            raise RotationError(f"ACL SETUSER {m.acl.user}: {problems[0]}")
        # Upstash's ACL SETUSER takes GENTOKEN passwords only (plain >password is refused)
        password = Secret(str(await redis.command(m.rest_url, admin, "ACL", "GENTOKEN", m.acl.user)))
        assert self.journal is not None
        self.journal.put_secret(f"{m.acl.user}:password", password)
        self._note(m, StepState.RUNNING, {"minted": m.acl.user, "password_fingerprint": password.fingerprint})
        await redis.command(
            m.rest_url,
            admin,
            "ACL",
            "SETUSER",
            m.acl.user,
            "on",
            Secret(f">{password.reveal()}"),
            *m.acl.rules(),
        )
        token = Secret(
            str(await redis.command(m.rest_url, admin, "ACL", "RESTTOKEN", m.acl.user, password.reveal()))
        )
        self.journal.put_secret(f"{m.acl.user}:rest_token", token)
        self._note(
            m, StepState.RUNNING, {"acl_user": m.acl.user, "rest_token_fingerprint": token.fingerprint}
        )
        return password, token

    async def _probe(self, m: Move, token: Secret) -> str:
        cmd = probe_command(m)
        if cmd is None:
            return "no harmless command to probe with (the deployments are checked instead)"
        redis = self.providers.redis
        assert redis is not None
        try:
            await redis.command(m.rest_url, token, *cmd)
        except ProviderError as exc:
            text = exc.message
            if "NOPERM" in text and "key" in text and "command" not in text:
                return ""  # authenticated; limited to its own keys
            raise RotationError(
                f"the new user {m.acl.user} cannot run {cmd[0]}: {text}",
                hint="nothing was written; the project keeps its current credential",
            ) from None
        return ""

    def _value_for(
        self, form: str, m: Move, password: Secret, token: Secret, current: Secret | None
    ) -> Secret:
        if form == "rest_token":
            return token
        if form == "password":
            return password
        from keyroll.rotate.render import render_url

        return Secret(
            render_url(current.reveal() if current else None, m.acl.user, password.reveal(), GroupSpec())
        )

    async def _move(self, m: Move) -> MoveResult:
        vercel = self.providers.vercel
        assert vercel is not None and self.providers.redis is not None
        t0 = time.monotonic()
        steps: list[str] = []
        admin = await self._admin_token(m)
        password, token = await self._mint(m, admin)
        steps.append(f"created ACL user {m.acl.user}: {' '.join(m.acl.rules())}")
        self.progress.note(f"{m.project_name}: ACL user {m.acl.user} created and journaled")
        note = await self._probe(m, token)
        steps.append("probed the new credential" + (f" ({note})" if note else ""))
        # read current values (URL forms keep their host/port/path), then write the new ones
        olds: dict[str, Secret | None] = {}
        for r in m.rewrites:
            olds[r.env_id] = (await vercel.get_env(m.project_id, r.env_id)).value
        written: list[str] = []
        try:
            for r in m.rewrites:
                new = self._value_for(r.form, m, password, token, olds[r.env_id])
                await vercel.edit_env(m.project_id, r.env_id, value=new)
                written.append(r.env_id)
                if self.journal is not None:
                    self.journal.written(
                        f"harden:{m.project_id}:{m.acl.user}", m.project_id, r.env_id, r.key, new.fingerprint
                    )
                steps.append(f"wrote {r.key} ({r.form}, {new.fingerprint})")
            redeployed = await redeploy_serving(
                self.providers,
                m.project_id,
                m.project_name,
                timeout_s=float(self.options.build_timeout_s),
                poll_s=float(self.options.poll_interval_s),
                progress=self.progress,
            )
            for d in redeployed:
                steps.append(f"redeployed {d.old_id} → {d.new_id} ({d.target}) READY in {d.seconds:.1f}s")
                self.progress.note(f"{m.project_name}: READY {d.new_id} ({d.target})")
            probe_path = getattr(self.options, "probe_path", "")
            if probe_path:
                keys = {r.key for r in m.rewrites}
                for d in redeployed:
                    ok, status = await probe_new(d.url, probe_path, keys)
                    if not ok:
                        raise RotationError(
                            f"deployment {d.new_id} answers {status} on {probe_path} after the move",
                            hint="the old values were restored; check the app's Redis usage",
                        )
                steps.append(f"{len(redeployed)} new deployment(s) answer {probe_path} without errors")
        except KeyrollError:
            await self._restore(m, olds, written)
            raise
        self._note(
            m,
            StepState.DONE,
            {
                "redeployed": [[d.old_id, d.new_id] for d in redeployed],
                "seconds": round(time.monotonic() - t0, 2),
            },
        )
        return MoveResult(
            True,
            f"{m.project_name} moved onto {m.acl.user}",
            steps,
            evidence={
                "project": m.project_name,
                "user": m.acl.user,
                "rest_token_fingerprint": token.fingerprint,
                "deployments": [[d.old_id, d.new_id] for d in redeployed],
                "seconds": round(time.monotonic() - t0, 2),
            },
        )

    async def _restore(self, m: Move, olds: dict[str, Secret | None], written: list[str]) -> None:
        vercel = self.providers.vercel
        assert vercel is not None
        for env_id in written:
            old = olds.get(env_id)
            if old is not None:
                try:
                    await vercel.edit_env(m.project_id, env_id, value=old)
                    if self.journal is not None:
                        key = next((r.key for r in m.rewrites if r.env_id == env_id), "")
                        self.journal.written(
                            f"harden:{m.project_id}:{m.acl.user}", m.project_id, env_id, key, old.fingerprint
                        )
                except KeyrollError as exc:
                    self._note(m, StepState.FAILED, {"restore_failed": env_id, "error": exc.message})
        self._note(m, StepState.ROLLED_BACK, {"restored": written})
