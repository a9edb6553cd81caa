"""Postgres and Neon adapters: what they recognise (pure), role alternation, URL rebuilding,
SCRAM verifiers, and the adapter settings in the configuration."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from keyroll.adapters.neon import NeonAdapter, endpoint_id_of
from keyroll.adapters.postgres import PostgresAdapter, alternate_role, connection_url, parse_url
from keyroll.adapters.registry import get_registry
from keyroll.config import load_config
from keyroll.core.errors import ConfigError
from keyroll.core.secret import Secret
from keyroll.core.steps import GroupSpec
from keyroll.rotate.render import render_url
from keyroll.sandbox.postgres.server import scram_verifier

PW = "s3cr3t-Pa55word-0123456789"


def test_parse_url_needs_user_password_and_host() -> None:
    assert parse_url(f"postgres://app:{PW}@db.example.com/shop") == {
        "scheme": "postgres",
        "user": "app",
        "password": PW,
        "host": "db.example.com",
        "port": "5432",
        "database": "shop",
        "query": "",
    }
    assert parse_url("postgresql://app@db.example.com/shop") is None  # no password: nothing to rotate
    assert parse_url("postgresql://db.example.com/shop") is None
    assert parse_url(f"mysql://app:{PW}@db.example.com/shop") is None
    assert parse_url(f"rediss://default:{PW}@x.upstash.io:6379") is None
    encoded = parse_url("postgresql://app:p%40ss%2Fw0rd@h:6543/d?sslmode=require&password=leak")
    assert encoded is not None
    assert (encoded["password"], encoded["port"], encoded["query"]) == (
        "p@ss/w0rd",
        "6543",
        "sslmode=require",
    )


def test_postgres_detect_returns_the_password_and_a_value_free_endpoint() -> None:
    found = PostgresAdapter().detect(f"postgresql://app:{PW}@db.example.com:5433/shop?sslmode=require")
    assert found is not None
    assert found.secret == Secret(PW)
    assert (found.adapter, found.kind, found.principal, found.in_url) == (
        "postgres",
        "postgres_password",
        "app",
        True,
    )
    assert found.endpoint == "postgres://db.example.com:5433/shop?sslmode=require"
    assert PW not in found.endpoint


def test_neon_hosts_are_neon_and_outrank_postgres() -> None:
    pooled = f"postgresql://neondb_owner:{PW}@ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech/neondb?sslmode=require"
    direct = pooled.replace("-pooler", "")
    assert (
        endpoint_id_of("ep-cool-darkness-a1b2c3d4-pooler.us-east-2.aws.neon.tech")
        == "ep-cool-darkness-a1b2c3d4"
    )
    assert endpoint_id_of("db.example.com") == ""
    for url in (pooled, direct):
        found = get_registry().detect(url, key="DATABASE_URL")
        assert found is not None and found.adapter == "neon"
        assert (found.resource_id, found.secret) == ("ep-cool-darkness-a1b2c3d4", Secret(PW))
    plain = get_registry().detect(f"postgres://app:{PW}@db.internal:5432/app")
    assert plain is not None and plain.adapter == "postgres"
    assert NeonAdapter().detect(f"postgres://app:{PW}@db.internal:5432/app") is None
    redis = get_registry().detect(f"rediss://default:{PW}@eu1-x-1.upstash.io:6379")
    assert redis is not None and redis.adapter == "upstash"


def test_roles_alternate_like_aws_user_and_user_clone() -> None:
    assert alternate_role("app") == "app_clone"
    assert alternate_role("app_clone") == "app"
    assert alternate_role("_clone") == "_clone_clone"


def test_connection_url_and_url_copies_keep_everything_but_the_login() -> None:
    url = connection_url("postgres://h:5432/shop?sslmode=require", "app_clone", Secret("n3w/pw"))
    assert url.reveal() == "postgresql://app_clone:n3w%2Fpw@h:5432/shop?sslmode=require"
    # a copy of the old URL is rewritten in place: scheme, host, port, path and query kept
    old = f"postgres://app:{PW}@h:5432/shop?application_name=preview"
    assert (
        render_url(old, "app_clone", "NEW", GroupSpec())
        == "postgres://app_clone:NEW@h:5432/shop?application_name=preview"
    )
    # an unreadable copy is rebuilt from the group spec (a Postgres URL, not a Redis one)
    spec = GroupSpec(scheme="postgresql", host="h", port=5432, path="/shop", query="sslmode=require")
    assert (
        render_url(None, "app_clone", "NEW", spec) == "postgresql://app_clone:NEW@h:5432/shop?sslmode=require"
    )


def test_scram_verifier_is_what_postgres_checks() -> None:
    verifier = scram_verifier("pencil")
    head, keys = verifier.split("$", 2)[1:]
    iterations, salt = head.split(":")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", base64.b64decode(salt), int(iterations))
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert stored == hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert server == hmac.new(salted, b"Server Key", hashlib.sha256).digest()


def test_adapter_settings_come_from_the_env_file_as_secrets(tmp_path: Path) -> None:
    env = tmp_path / "keyroll.env"
    env.write_text(
        f"KEYROLL_POSTGRES_ADMIN_URL=postgresql://rotator:{PW}@h/postgres\nNEON_API_KEY=napi_x\nKEYROLL_NEON_API_URL=http://127.0.0.1:9\n"
    )
    cfg = load_config(env, environ={})
    assert set(cfg.adapter_settings) == {"KEYROLL_POSTGRES_ADMIN_URL", "NEON_API_KEY", "KEYROLL_NEON_API_URL"}
    assert all(isinstance(v, Secret) for v in cfg.adapter_settings.values())
    assert PW not in repr(cfg)
    bad = tmp_path / "bad.env"
    bad.write_text("KEYROLL_POSTGRES_ADMIN=oops\n")
    with pytest.raises(ConfigError, match="unknown setting KEYROLL_POSTGRES_ADMIN"):
        load_config(bad, environ={})
