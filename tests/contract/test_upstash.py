"""Upstash's contract: the Developer API (databases, resets, indexes, the QStash user), the Redis
REST API with its ACL commands, QStash signing keys and the Vector/Search data APIs — the same
answers from the fakes and from the sandbox through keyroll's Upstash clients."""

from __future__ import annotations

import pytest

from keyroll.core.errors import AuthError, NotFoundError, ProviderError
from keyroll.core.secret import Secret
from keyroll.providers.upstash.developer import QStashUser, RedisDatabase
from keyroll.providers.upstash.probe import ProbeResult
from tests import canary
from tests.contract.conftest import Backend


async def _db(b: Backend, name: str) -> RedisDatabase:
    (db,) = [d for d in await b.upstash.list_redis() if d.database_name == name]
    return await b.upstash.get_redis(db.database_id)


def _token(db: RedisDatabase) -> Secret:
    assert db.rest_token is not None
    canary.register(db.rest_token.reveal())
    return db.rest_token


async def _qstash_user(b: Backend) -> QStashUser:
    (user,) = await b.upstash.list_qstash_users()
    assert user.token is not None
    canary.register(user.token.reveal())
    return user


# -- Developer API: databases -----------------------------------------------------------------
async def test_native_databases_are_listed_integration_ones_are_not(backend: Backend) -> None:
    names = {d.database_name for d in await backend.upstash.list_redis()}
    assert "cache" in names and "kv" not in names, "the integration's database lives in Vercel's account"
    cache = await _db(backend, "cache")
    assert cache.endpoint and cache.acl_enabled
    assert (
        cache.password is not None and cache.rest_token is not None and cache.read_only_rest_token is not None
    )
    with pytest.raises(NotFoundError):
        await backend.upstash.get_redis("00000000-0000-0000-0000-000000000000")


async def test_a_password_reset_kills_the_old_credentials(backend: Backend) -> None:
    before = await _db(backend, "cache")
    old = _token(before)
    assert await backend.redis.probe(before.rest_url, old) is ProbeResult.ACCEPTED
    after = await backend.upstash.reset_redis_password(before.database_id)
    new = _token(after)
    assert after.database_id == before.database_id
    assert new.fingerprint != old.fingerprint
    assert after.password is not None and before.password is not None
    assert after.password.fingerprint != before.password.fingerprint
    assert await backend.redis.probe(after.rest_url, new) is ProbeResult.ACCEPTED
    assert await backend.redis.probe(before.rest_url, old) is ProbeResult.REJECTED
    with pytest.raises(AuthError):
        await backend.redis.command(before.rest_url, old, "PING")
    with pytest.raises(NotFoundError):
        await backend.upstash.reset_redis_password("00000000-0000-0000-0000-000000000000")


# -- Redis REST -------------------------------------------------------------------------------
async def test_commands_with_the_standard_and_the_read_only_token(backend: Backend) -> None:
    db = await _db(backend, "cache")
    rw, ro = _token(db), db.read_only_rest_token
    assert ro is not None
    key = backend.name("contract:key")
    assert await backend.redis.command(db.rest_url, rw, "PING") == "PONG"
    assert await backend.redis.command(db.rest_url, rw, "SET", key, "v1") == "OK"
    assert await backend.redis.command(db.rest_url, ro, "GET", key) == "v1"
    with pytest.raises(ProviderError) as denied:
        await backend.redis.command(db.rest_url, ro, "SET", key, "v2")
    assert "NOPERM" in str(denied.value)
    assert await backend.redis.pipeline(db.rest_url, rw, [["GET", key], ["EXISTS", key]]) == ["v1", 1]


async def test_acl_users_get_rest_tokens_and_die_with_deluser(backend: Backend) -> None:
    db = await _db(backend, "cache")
    admin = _token(db)
    user = backend.name("contract_user").lower()
    with pytest.raises(ProviderError):  # Upstash takes only GENTOKEN passwords
        made_up = Secret(">made-up-password-0123456789")
        await backend.redis.command(db.rest_url, admin, "ACL", "SETUSER", user, "on", made_up, "~*", "+@all")
    password = Secret(str(await backend.redis.command(db.rest_url, admin, "ACL", "GENTOKEN", user)))
    canary.register(password.reveal())
    rule = Secret(">" + password.reveal())
    ok = await backend.redis.command(db.rest_url, admin, "ACL", "SETUSER", user, "on", rule, "~*", "+@all")
    assert ok == "OK"
    token = Secret(str(await backend.redis.command(db.rest_url, admin, "ACL", "RESTTOKEN", user, password)))
    canary.register(token.reveal())
    assert await backend.redis.command(db.rest_url, token, "ACL", "WHOAMI") == user
    assert await backend.redis.probe(db.rest_url, token) is ProbeResult.ACCEPTED
    wrong = Secret("wrong-password-0123456789")
    with pytest.raises(ProviderError):
        await backend.redis.command(db.rest_url, admin, "ACL", "RESTTOKEN", user, wrong)
    assert await backend.redis.command(db.rest_url, admin, "ACL", "DELUSER", user) == 1
    assert await backend.redis.probe(db.rest_url, token) is ProbeResult.REJECTED
    with pytest.raises(ProviderError):
        await backend.redis.command(db.rest_url, admin, "ACL", "DELUSER", "default")


# -- QStash -----------------------------------------------------------------------------------
async def test_signing_keys_roll_next_into_current(backend: Backend) -> None:
    user = await _qstash_user(backend)
    assert user.token is not None
    keys = await backend.qstash.get_keys(user.token)
    canary.register(keys.current.reveal())
    canary.register(keys.next.reveal())
    rolled = await backend.qstash.rotate_keys(user.token)
    canary.register(rolled.next.reveal())
    assert rolled.current.fingerprint == keys.next.fingerprint
    assert rolled.next.fingerprint not in (keys.current.fingerprint, keys.next.fingerprint)
    again = await backend.qstash.get_keys(user.token)
    assert (again.current.fingerprint, again.next.fingerprint) == (
        rolled.current.fingerprint,
        rolled.next.fingerprint,
    )
    with pytest.raises(AuthError):
        await backend.qstash.get_keys(Secret("eyJVc2VySUQiOiJub2JvZHkifQ=="))


async def test_a_qstash_token_rotation_kills_the_old_token(backend: Backend) -> None:
    user = await _qstash_user(backend)
    assert user.token is not None
    assert await backend.qstash.check_token(user.token) is True
    rotated = await backend.upstash.rotate_qstash_token(user.id)
    assert rotated.id == user.id and rotated.token is not None
    canary.register(rotated.token.reveal())
    assert rotated.token.fingerprint != user.token.fingerprint
    assert await backend.qstash.check_token(rotated.token) is True
    assert await backend.qstash.check_token(user.token) is False
    with pytest.raises(NotFoundError):
        await backend.upstash.rotate_qstash_token("no-such-user")


# -- Vector / Search --------------------------------------------------------------------------
@pytest.mark.parametrize("product", ["vector", "search"])
async def test_index_tokens_read_write_and_reset(backend: Backend, product: str) -> None:
    lister = backend.upstash.list_vector if product == "vector" else backend.upstash.list_search
    resetter = backend.upstash.reset_vector if product == "vector" else backend.upstash.reset_search
    api = backend.vector if product == "vector" else backend.search
    (index,) = await lister()
    assert index.token is not None and index.read_only_token is not None
    canary.register(index.token.reveal())
    await api.info(index.rest_url, index.token)
    await api.info(index.rest_url, index.read_only_token)
    assert await api.check_write(index.rest_url, index.token) is True
    assert await api.check_write(index.rest_url, index.read_only_token) is False
    after = await resetter(index.id)
    assert after.token is not None and after.token.fingerprint != index.token.fingerprint
    canary.register(after.token.reveal())
    await api.info(after.rest_url, after.token)
    with pytest.raises(AuthError):
        await api.info(index.rest_url, index.token)
