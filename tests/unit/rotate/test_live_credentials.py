"""Which value of a role is live, which copies are stale, who holds a Redis database (issue #17, 1-2)."""

from __future__ import annotations

from keyroll.core.model import (
    Confidence,
    Credential,
    CredentialKind,
    Inventory,
    Location,
    LocationKind,
    Management,
    Product,
    Strategy,
)
from keyroll.core.secret import Fingerprint
from keyroll.rotate.groups import Group
from keyroll.rotate.pipeline import PlanContext
from keyroll.rotate.strategies.common import live_credentials

K = CredentialKind
DEAD = "the Redis endpoint rejects this token (already revoked, or another endpoint)"


def cred(fp: str, kind: CredentialKind, user: str = "default", notes: tuple[str, ...] = ()) -> Credential:
    return Credential(
        Fingerprint(fp),
        Product.REDIS,
        kind,
        "db1",
        "cache",
        Management.NATIVE,
        Strategy.REDIS_ACL,
        "https://cache.upstash.io",
        user,
        notes=notes,
    )


def vercel(fp: str, key: str, confidence: Confidence = Confidence.EXACT) -> Location:
    return Location(
        LocationKind.VERCEL_ENV,
        Fingerprint(fp),
        confidence=confidence,
        project_id="p",
        env_id=f"e{key}",
        key=key,
    )


def upstash(fp: str) -> Location:
    return Location(LocationKind.UPSTASH, Fingerprint(fp))


def live(creds: list[Credential], locations: list[Location]) -> dict:  # type: ignore[type-arg]
    inv = Inventory(credentials=tuple(creds), locations=tuple(locations))
    return live_credentials(PlanContext(inv, Group(Strategy.REDIS_ACL, creds), 1.0))


def test_the_listed_value_is_live_and_a_dead_copy_sorting_first_is_stale() -> None:
    creds = [cred("sha256:00000001", K.REST_TOKEN, notes=(DEAD,)), cred("sha256:ffffffff", K.REST_TOKEN)]
    out = live(
        creds, [vercel("sha256:00000001", "A"), vercel("sha256:ffffffff", "B"), upstash("sha256:ffffffff")]
    )
    assert out["credentials"]["rest_token"] == "sha256:ffffffff"
    assert "dead copy" in out["stale"]["sha256:00000001"]
    assert out["users"] == ["default"] and out["current_user"] == "default"


def test_an_unlisted_default_value_in_use_is_stale_next_to_the_listed_one() -> None:
    creds = [cred("sha256:00000001", K.PASSWORD), cred("sha256:ffffffff", K.PASSWORD)]
    out = live(creds, [vercel("sha256:00000001", "REDIS_URL"), upstash("sha256:ffffffff")])
    assert out["credentials"]["password"] == "sha256:ffffffff"
    assert "stale copy" in out["stale"]["sha256:00000001"]


def test_a_database_held_by_keyroll_a_is_keyroll_as_and_the_listed_default_is_not_stale() -> None:
    creds = [
        cred("sha256:aaaaaaaa", K.REST_TOKEN),  # the default's live token: listed, no copy
        cred("sha256:bbbbbbbb", K.READONLY_REST_TOKEN, "default_ro"),
        cred("sha256:cccccccc", K.ACL_REST_TOKEN, "keyroll-a"),
        cred("sha256:dddddddd", K.ACL_PASSWORD, "keyroll-a"),  # its redis:// URL
        # keyroll-ro-a's token: WHOAMI is denied to it, so the inventory guessed default_ro
        cred("sha256:00000000", K.READONLY_REST_TOKEN, "default_ro"),
    ]
    locs = [
        upstash("sha256:aaaaaaaa"),
        upstash("sha256:bbbbbbbb"),
        vercel("sha256:cccccccc", "T"),
        vercel("sha256:dddddddd", "REDIS_URL"),
        vercel("sha256:00000000", "RO"),
        vercel("sha256:aaaaaaaa", "SENSITIVE", Confidence.PROBABLE),  # a guess says nothing of its user
    ]
    out = live(creds, locs)
    assert out["users"] == ["keyroll-a"] and out["current_user"] == "keyroll-a"
    assert out["credentials"] == {
        "rest_token": "sha256:cccccccc",
        "password": "sha256:dddddddd",
        "readonly_rest_token": "sha256:00000000",
    }
    assert out["stale"] == {}
