"""Credential resets shared by the Developer API and the sandbox "dashboard" (admin service).

Every reset takes effect at once, as Upstash documents: a Redis password reset replaces the
password *and* both REST tokens on the real redis-server (existing TCP connections of
``default``/``default_ro`` are killed); index resets replace both tokens; a QStash token
reset rejects the old token from the next request on.
"""

from __future__ import annotations

from keyroll.sandbox.upstash import tokens
from keyroll.sandbox.upstash.redis_server import ADMIN_USER, ServerError
from keyroll.sandbox.upstash.state import (
    QStashUser,
    RedisDB,
    SearchIndex,
    TokenBinding,
    UpstashState,
    VectorIndex,
)

__all__ = [
    "integration_values",
    "reset_qstash_token",
    "reset_redis",
    "reset_search",
    "reset_vector",
    "roll_signing_keys",
]

# Audit-log action codes (the real numbering is not documented; these only need to be stable).
ACTION_RESET_PASSWORD = 21
ACTION_RESET_VECTOR = 41
ACTION_RESET_SEARCH = 51
ACTION_ROTATE_QSTASH = 61
ACTION_ROLL_KEYS = 62


async def reset_redis(state: UpstashState, db: RedisDB, *, source: str = "") -> None:
    """New password, REST token and read-only token; the old ones stop working now.

    :raises ServerError: the redis-server did not accept the change (nothing was swapped).
    """
    password = tokens.new_password()
    rest = tokens.redis_rest_token(db.tcp_port, db.id, password)
    readonly = tokens.redis_readonly_token(db.tcp_port, db.id)
    server = db.server
    if server is not None:  # not started yet: the server is created from the new values
        await server.admin("ACL", "SETUSER", "default", "resetpass", ">" + password)
        await server.admin("ACL", "SETUSER", "default_ro", "resetpass", ">" + readonly)
        victims = ["default", "default_ro"]
        if db.reset_drops_acl_users:
            # the fleet chose the undocumented alternative: every ACL user loses its passwords
            users = await server.admin("ACL", "USERS")
            for raw in users or []:
                name = raw.decode() if isinstance(raw, bytes) else str(raw)
                if name not in ("default", "default_ro", ADMIN_USER):
                    await server.admin("ACL", "SETUSER", name, "resetpass")
                    victims.append(name)
            for token in [t for t, b in db.tokens.items() if b.kind == "acl"]:
                del db.tokens[token]
        for user in victims:
            try:
                await server.admin("CLIENT", "KILL", "USER", user)
            except ServerError:
                pass
        try:
            await server.admin("ACL", "SAVE")
        except ServerError:
            pass
    for token in (db.rest_token, db.readonly_token):
        db.tokens.pop(token, None)
    db.password, db.rest_token, db.readonly_token = password, rest, readonly
    db.tokens[rest] = TokenBinding("default", password, "rest")
    db.tokens[readonly] = TokenBinding("default_ro", readonly, "readonly")
    state.log(ACTION_RESET_PASSWORD, "Reset Password", db.name, source=source)


def reset_vector(state: UpstashState, index: VectorIndex, *, source: str = "") -> None:
    """Replace both tokens of a Vector index."""
    index.token = tokens.index_token(1, index.id)
    index.readonly_token = tokens.index_token(2, index.id)
    state.log(ACTION_RESET_VECTOR, "Reset Vector Index Password", index.name, source=source)


def reset_search(state: UpstashState, index: SearchIndex, *, source: str = "") -> None:
    """Replace both tokens of a Search index."""
    index.token = tokens.index_token(1, index.id)
    index.readonly_token = tokens.index_token(2, index.id)
    state.log(ACTION_RESET_SEARCH, "Reset Search Index Password", index.name, source=source)


def reset_qstash_token(state: UpstashState, user: QStashUser, *, source: str = "") -> None:
    """New QStash token (and read-only token); the old one is rejected from now on."""
    user.token = tokens.qstash_token(user.id)
    user.readonly_token = tokens.qstash_token(user.id)
    state.log(ACTION_ROTATE_QSTASH, "Rotate QStash Token", user.id, source=source)


def roll_signing_keys(state: UpstashState, user: QStashUser) -> None:
    """``POST /v2/keys/rotate``: current ← next, next ← new."""
    user.current_signing_key, user.next_signing_key = user.next_signing_key, tokens.signing_key()
    state.log(ACTION_ROLL_KEYS, "Rotate Signing Keys", user.id, source="QSTASH_TOKEN")


def integration_values(kind: str, resource: object, urls: dict[str, str]) -> dict[str, str]:
    """The env vars the Vercel integration keeps in sync for a resource, by key."""
    if isinstance(resource, RedisDB):
        rest_url = urls.get(resource.service, "")
        redis_url = f"redis://default:{resource.password}@127.0.0.1:{resource.tcp_port}"
        out = {
            "UPSTASH_REDIS_REST_URL": rest_url,
            "KV_REST_API_URL": rest_url,
            "UPSTASH_REDIS_REST_TOKEN": resource.rest_token,
            "KV_REST_API_TOKEN": resource.rest_token,
            "UPSTASH_REDIS_REST_READ_ONLY_TOKEN": resource.readonly_token,
            "KV_REST_API_READ_ONLY_TOKEN": resource.readonly_token,
            "KV_URL": redis_url,
            "REDIS_URL": redis_url,
        }
        p = resource.env_prefix
        if p:  # the names of a store connected with a custom prefix
            out.update(
                {
                    f"{p}_REST_API_URL": rest_url,
                    f"{p}_REST_API_TOKEN": resource.rest_token,
                    f"{p}_REST_API_READ_ONLY_TOKEN": resource.readonly_token,
                    f"{p}_URL": redis_url,
                }
            )
        return out
    if isinstance(resource, VectorIndex):
        return {
            "UPSTASH_VECTOR_REST_URL": urls.get(resource.service, ""),
            "UPSTASH_VECTOR_REST_TOKEN": resource.token,
            "UPSTASH_VECTOR_REST_READONLY_TOKEN": resource.readonly_token,
        }
    if isinstance(resource, SearchIndex):
        return {
            "UPSTASH_SEARCH_REST_URL": urls.get(resource.service, ""),
            "UPSTASH_SEARCH_REST_TOKEN": resource.token,
            "UPSTASH_SEARCH_REST_READONLY_TOKEN": resource.readonly_token,
        }
    if isinstance(resource, QStashUser):
        return {
            "QSTASH_TOKEN": resource.token,
            "QSTASH_CURRENT_SIGNING_KEY": resource.current_signing_key,
            "QSTASH_NEXT_SIGNING_KEY": resource.next_signing_key,
        }
    raise ValueError(f"unknown resource kind {kind}")
