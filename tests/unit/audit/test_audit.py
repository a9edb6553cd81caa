"""Audit: classify activity events, tell keyroll's own writes from everybody else's, flag the unusual."""

from __future__ import annotations

from typing import Any

import pytest

from keyroll.audit.events import (
    EventCategory,
    classify_upstash_action,
    classify_vercel_type,
    from_upstash,
    from_vercel,
)
from keyroll.audit.own import own_actions
from keyroll.audit.run import DEFAULT_LOOKBACK_S, AuditOptions, audit, flag_events
from keyroll.config import Config
from keyroll.core.errors import KeyrollError, UnavailableError
from keyroll.providers.factory import Providers
from keyroll.providers.vercel.models import Event
from tests.unit.report import report_samples as S


@pytest.mark.parametrize(
    ("event_type", "category"),
    [
        ("env-variable-read", EventCategory.ENV_READ),
        ("shared-env-variable-read", EventCategory.ENV_READ),
        ("env-variable-add", EventCategory.ENV_CHANGE),
        ("env-variable-edit", EventCategory.ENV_CHANGE),
        ("env-variable-rotated", EventCategory.ENV_CHANGE),
        ("shared-env-variable-update", EventCategory.ENV_CHANGE),
        ("enforce-sensitive-environment-variables", EventCategory.ENV_CHANGE),
        ("deployment", EventCategory.DEPLOYMENT),
        ("instant-rollback-created", EventCategory.DEPLOYMENT),
        ("aliases-assigned", EventCategory.DEPLOYMENT),
        ("integration-configuration-credential-rotated", EventCategory.INTEGRATION),
        ("team-member-add", EventCategory.MEMBERSHIP),
        ("token-created", EventCategory.TOKEN),
        ("custom-environment-created", EventCategory.OTHER),
        ("project-created", EventCategory.OTHER),
    ],
)
def test_vercel_types(event_type: str, category: EventCategory) -> None:
    assert classify_vercel_type(event_type) is category


@pytest.mark.parametrize(
    ("action", "category"),
    [
        ("RESET_PASSWORD", EventCategory.CREDENTIAL),
        ("rotate qstash token", EventCategory.CREDENTIAL),
        ("ENABLE_CREDENTIAL_PROTECTION", EventCategory.CREDENTIAL),
        ("CREATE_API_KEY", EventCategory.TOKEN),
        ("ADD_TEAM_MEMBER", EventCategory.MEMBERSHIP),
        ("CREATE_DATABASE", EventCategory.OTHER),
    ],
)
def test_upstash_actions(action: str, category: EventCategory) -> None:
    assert classify_upstash_action(action) is category


def test_normalise_vercel_and_upstash_records() -> None:
    ev = from_vercel(
        Event(
            id="ev_1",
            type="env-variable-edit",
            text="edited KEY",
            createdAt=int(S.T0 * 1000),
            principalId="usr_1",
            payload={"projectId": "prj_web", "id": "env_w1"},
        )
    )
    assert (ev.at, ev.actor, ev.project_id, ev.entity_id, ev.category) == (
        S.T0,
        "usr_1",
        "prj_web",
        "env_w1",
        EventCategory.ENV_CHANGE,
    )
    raw = {
        "id": "ev_2",
        "type": "deployment",
        "createdAt": int(S.T0 * 1000),
        "principalId": "usr_2",
        "payload": {"project": {"id": "prj_api"}, "deployment": {"id": "dpl_1"}},
    }
    ev2 = from_vercel(raw)
    assert (ev2.project_id, ev2.entity_id) == ("prj_api", "dpl_1")
    up = from_upstash(
        {
            "log_id": "l1",
            "actor": "ops@acme.dev",
            "timestamp": int(S.T0 * 1000),
            "action": "RESET_PASSWORD",
            "entity": "db_1",
            "source": "API_KEY - keyroll",
        }
    )
    assert (up.source, up.at, up.category, up.entity_id) == (
        "upstash",
        S.T0,
        EventCategory.CREDENTIAL,
        "db_1",
    )
    assert "via API_KEY - keyroll" in up.text


def _vercel(ts: float, etype: str, actor: str, project: str = "", entity: str = "", eid: str = "") -> Any:
    payload: dict[str, Any] = {}
    if project:
        payload["projectId"] = project
    if entity:
        payload["id"] = entity
    return from_vercel(
        {
            "id": eid or f"ev{ts}",
            "type": etype,
            "createdAt": int((S.T0 + ts) * 1000),
            "principalId": actor,
            "payload": payload,
        }
    )


def test_own_writes_matched_and_others_flagged() -> None:
    own = own_actions([S.runlog()], tolerance_s=30)
    events = [
        _vercel(
            1.15, "env-variable-edit", "usr_me", "prj_web", entity="env_w1"
        ),  # keyroll's env write (by id)
        _vercel(1.8, "deployment", "usr_me", "prj_api", entity="dpl_api_new"),  # keyroll's redeploy (by id)
        _vercel(3.0, "env-variable-read", "usr_me", "prj_web"),  # keyroll reading during the run
        _vercel(-7200, "env-variable-read", "usr_evil", "prj_web"),  # an unknown actor before the rotation
        _vercel(5000, "env-variable-edit", "usr_me", "prj_web"),  # a write keyroll did not make
        _vercel(
            9000, "deployment", "usr_me", "prj_web", entity="dpl_other"
        ),  # a normal deploy by a known actor
    ]
    flagged, known = flag_events(events, own)
    assert known == ("usr_me",)
    by_id = {e.id: e for e in flagged}
    assert by_id[events[0].id].own and not by_id[events[0].id].unusual
    assert by_id[events[1].id].own and "redeploy" in by_id[events[1].id].reasons[0]
    assert by_id[events[2].id].own and not by_id[events[2].id].unusual
    assert by_id[events[3].id].unusual and "unknown actor" in by_id[events[3].id].reasons
    assert by_id[events[4].id].unusual and not by_id[events[4].id].own
    assert any("not made by keyroll" in r for r in by_id[events[4].id].reasons)
    assert not by_id[events[5].id].unusual
    assert [e.at for e in flagged] == sorted(e.at for e in flagged)


def test_own_writes_are_matched_by_identity_never_by_time() -> None:
    """Issue 17 item 9: a person's env-var delete 7 s before the run, or an edit of another var of
    the same project during keyroll's write, is not keyroll's; keyroll's own write of a var is
    keyroll's only inside that step's journaled window."""
    own = own_actions([S.runlog()])
    events = [
        _vercel(
            -7.0, "env-variable-delete", "usr_me", "prj_web", entity="env_other", eid="x1"
        ),  # a person, before
        _vercel(
            1.1, "env-variable-delete", "usr_me", "prj_web", entity="env_w1", eid="x2"
        ),  # keyroll never deletes it
        _vercel(
            1.1, "env-variable-edit", "usr_me", "prj_web", entity="env_other", eid="x3"
        ),  # another var, same moment
        _vercel(1.1, "env-variable-edit", "usr_me", "prj_web", eid="x4"),  # no id: nothing to identify it by
        _vercel(
            900.0, "env-variable-edit", "usr_me", "prj_web", entity="env_w1", eid="x5"
        ),  # keyroll's var, later
        _vercel(1.1, "env-variable-edit", "usr_me", "prj_web", entity="env_w1", eid="x6"),  # keyroll's write
    ]
    flagged, _ = flag_events(events, own)
    by_id = {e.id: e for e in flagged}
    assert [by_id[e.id].own for e in events] == [False, False, False, False, False, True]
    for e in events[:5]:
        assert by_id[e.id].unusual and any("not made by keyroll" in r for r in by_id[e.id].reasons)


def test_known_actors_given_by_the_user() -> None:
    own = own_actions([])
    events = [_vercel(0, "deployment", "usr_ci", "prj_web")]
    flagged, _ = flag_events(events, own)
    assert flagged[0].unusual
    flagged, _ = flag_events(events, own, ["usr_ci"])
    assert not flagged[0].unusual


class _FakeVercel:
    def __init__(self, events: list[Any], fail: bool = False) -> None:
        self.events = events
        self.fail = fail
        self.calls: list[dict[str, Any]] = []

    async def list_events(
        self, *, since: int | None = None, until: int | None = None, types: list[str] | None = None
    ) -> list[Any]:
        self.calls.append({"since": since, "until": until})
        if self.fail:
            raise UnavailableError("Vercel answered 503", service="vercel", status=503)
        return self.events


class _FakeUpstash:
    async def list_audit_logs(self) -> list[dict[str, Any]]:
        return [
            {
                "log_id": "l1",
                "actor": "ops@acme.dev",
                "timestamp": int((S.T0 + 6.1) * 1000),
                "action": "RESET_PASSWORD",
                "entity": "db_1",
            },
            {
                "log_id": "l2",
                "actor": "mallory@evil.dev",
                "timestamp": int((S.T0 - 100) * 1000),
                "action": "CREATE_API_KEY",
            },
            {
                "log_id": "l3",
                "actor": "old@acme.dev",
                "timestamp": int((S.T0 - 90 * 86400) * 1000),
                "action": "CREATE_API_KEY",
            },
        ]


async def test_audit_default_window_and_sources() -> None:
    vercel = _FakeVercel(
        [
            {
                "id": "e1",
                "type": "env-variable-edit",
                "createdAt": int((S.T0 + 1.1) * 1000),
                "principalId": "usr_me",
                "payload": {"projectId": "prj_web", "id": "env_w1"},
            },
        ]
    )
    providers = Providers(config=Config(), vercel=vercel, upstash=_FakeUpstash())  # type: ignore[arg-type]
    result = await audit(
        providers, AuditOptions(known_actors=("ops@acme.dev",)), [S.runlog()], clock=lambda: S.T0 + 600
    )
    assert result.since == S.T0 - DEFAULT_LOOKBACK_S and result.until == S.T0 + 600
    assert vercel.calls == [{"since": int(result.since * 1000), "until": int(result.until * 1000)}]
    assert result.sources == ("vercel", "upstash")
    ids = {e.id for e in result.events}
    assert ids == {"e1", "l1", "l2"}  # l3 is outside the window
    flagged = {e.id for e in result.flagged}
    assert flagged == {"l2"}  # the reset at +6.1 s is keyroll's revoke; l2 is an unknown actor minting a key
    assert result.counts()["credential"] == 1


async def test_audit_reports_unreadable_sources_as_notes() -> None:
    providers = Providers(config=Config(), vercel=_FakeVercel([], fail=True), upstash=object())  # type: ignore[arg-type]
    result = await audit(providers, AuditOptions(since=S.T0 - 10, until=S.T0), [], clock=lambda: S.T0)
    assert result.sources == ()
    assert any("Vercel activity not read" in n and "503" in n for n in result.notes)
    assert any("Upstash audit logs not read" in n for n in result.notes)
    no_clients = await audit(Providers(config=Config()), AuditOptions(), [], clock=lambda: S.T0)
    assert any("VERCEL_TOKEN" in n for n in no_clients.notes)
    with pytest.raises(KeyrollError):
        await audit(Providers(config=Config()), AuditOptions(since=S.T0, until=S.T0 - 1), [])
