"""Silences: amtool matcher syntax, Alertmanager matching, and the stored, audited lifecycle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.alerts.models import Matcher, Silence
from opsbook.alerts.silences import (
    active_silences,
    create_silence,
    expire_silence,
    get_silence,
    list_silences,
    matches,
    parse_matchers,
)
from opsbook.alerts.tables import silence
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.store.audit import list_audit

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('alertname="api-down"', Matcher("alertname", "api-down")),
        ("alertname=api-down", Matcher("alertname", "api-down")),
        (" severity != SEV4 ", Matcher("severity", "SEV4", is_equal=False)),
        ('instance=~"api-[0-9]+"', Matcher("instance", "api-[0-9]+", is_regex=True)),
        ("env!~stag.*", Matcher("env", "stag.*", is_regex=True, is_equal=False)),
        ('summary="say \\"hi\\""', Matcher("summary", 'say "hi"')),
        ('team=""', Matcher("team", "")),
        ("api-down", Matcher("alertname", "api-down")),  # amtool: a bare first word
    ],
)
def test_it_parses_amtool_matchers(text: str, expected: Matcher) -> None:
    assert parse_matchers([text]) == (expected,)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (
            ["alertname=x", "instance=~api-("],
            "matchers[1]: the value is not a regular expression "
            "(it breaks at character 5; use Python's syntax, e.g. api-.*)",
        ),
        (
            ["alertname=x", "just-a-word"],
            "matchers[1]: not a matcher "
            '(use name="value", name!="value", name=~"regex" or name!~"regex")',
        ),
        (
            ["1abc=x"],
            "matchers[0]: not a matcher "
            '(use name="value", name!="value", name=~"regex" or name!~"regex")',
        ),
        (['a="open'], "matchers[0]: not a matcher: the value opens a quote it does not close"),
        (
            ['a="x\\q"'],
            "matchers[0]: not a matcher: an unknown escape in the value "
            '(use \\", \\\\, \\n or \\t)',
        ),
    ],
)
def test_a_bad_matcher_names_its_index(texts: list[str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_matchers(texts)
    assert str(caught.value) == message
    assert caught.value.field == message.split(":")[0]


LABELS = {"alertname": "api-down", "instance": "api-12", "severity": "SEV1"}


@pytest.mark.parametrize(
    ("texts", "hit"),
    [
        (["alertname=api-down"], True),
        (["alertname=api-down", "severity=SEV2"], False),
        (["instance=~api-[0-9]+"], True),
        (["instance=~api"], False),  # anchored at both ends, as in Alertmanager
        (["instance!~db-.*"], True),
        (["severity!=SEV1"], False),
        (['team=""', "alertname=api-down"], True),  # a missing label is the empty string
        (["team!=ops", "alertname=api-down"], True),
        (["team=~.+"], False),
    ],
)
def test_matching_follows_alertmanager(texts: list[str], hit: bool) -> None:
    assert matches(parse_matchers(texts), LABELS) is hit


def test_no_matchers_match_nothing() -> None:
    assert matches((), LABELS) is False


def _create(engine: Engine, **overrides: Any) -> Silence:
    fields: dict[str, Any] = {
        "matchers": parse_matchers(["alertname=api-down"]),
        "starts_at": T0,
        "ends_at": T0 + HOUR,
        "created_by": "ana",
        "comment": "deploying",
        "now": T0,
        "origin": "cli",
    }
    fields.update(overrides)
    with engine.begin() as conn:
        return create_silence(conn, **fields)


def test_create_stores_and_audits_in_one_transaction(engine: Engine) -> None:
    created = _create(engine)
    with engine.begin() as conn:
        found = get_silence(conn, created.id)
        [audit] = list_audit(conn)
    assert found == created
    assert found.matchers == (Matcher("alertname", "api-down"),)
    assert (found.starts_at, found.ends_at, found.created_by, found.comment) == (
        T0,
        T0 + HOUR,
        "ana",
        "deploying",
    )
    assert (audit.actor, audit.action, audit.subject, audit.origin) == (
        "user:ana",
        "silence.create",
        f"silence:{found.id}",
        "cli",
    )
    assert audit.detail["matchers"] == ['alertname="api-down"']
    assert audit.detail["comment"] == "deploying"


def test_a_start_in_the_past_becomes_now(engine: Engine) -> None:
    created = _create(engine, starts_at=T0 - HOUR, now=T0 + timedelta(minutes=5))
    assert created.starts_at == T0 + timedelta(minutes=5)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"matchers": ()},
            "matchers",
            'matchers: a silence needs at least one matcher (e.g. alertname="api-down")',
        ),
        (
            {"matchers": parse_matchers(["team=~.*"])},
            "matchers",
            "matchers: at least one matcher must not match the empty string, "
            "or the silence would mute every alert",
        ),
        (
            {"matchers": (Matcher("alertname", "x"), Matcher("i", "(", is_regex=True))},
            "matchers[1]",
            "matchers[1]: the value is not a regular expression "
            "(it breaks at character 1; use Python's syntax, e.g. api-.*)",
        ),
        ({"ends_at": T0}, "ends_at", "ends_at: the silence would end in the past"),
        (
            {"starts_at": T0 - 2 * HOUR, "ends_at": T0 - HOUR},
            "ends_at",
            "ends_at: the silence would end in the past",
        ),
        (
            {"starts_at": T0 + 2 * HOUR, "ends_at": T0 + HOUR},
            "ends_at",
            "ends_at: the silence must end after it starts",
        ),
        ({"comment": "  "}, "comment", "comment: say why the alerts are silenced"),
        ({"created_by": ""}, "created_by", "created_by: say who creates the silence"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    engine: Engine, overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        _create(engine, **overrides)
    assert (caught.value.field, str(caught.value)) == (field, message)
    with engine.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(silence)).scalar() == 0
        assert list_audit(conn) == []


def test_state_and_lists_follow_time(engine: Engine) -> None:
    active = _create(engine)
    pending = _create(engine, starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)
    ended = _create(engine, ends_at=T0 + timedelta(minutes=1))
    now = T0 + timedelta(minutes=30)
    assert [s.state(now) for s in (active, pending, ended)] == [
        "active",
        "pending",
        "expired",
    ]
    with engine.begin() as conn:
        assert active_silences(conn, now=now) == [active]
        assert list_silences(conn, now=now) == [active, pending]
        assert list_silences(conn, now=now, include_expired=True) == [active, pending, ended]


def test_expire_ends_it_now_and_audits(engine: Engine) -> None:
    created = _create(engine)
    later = T0 + timedelta(minutes=10)
    with engine.begin() as conn:
        expired = expire_silence(conn, created.id, now=later, actor="user:ben", origin="api")
        audit = list_audit(conn)[0]
    assert (expired.ends_at, expired.state(later)) == (later, "expired")
    assert (audit.action, audit.actor, audit.origin) == ("silence.expire", "user:ben", "api")
    with pytest.raises(Conflict) as caught, engine.begin() as conn:
        expire_silence(conn, created.id, now=later, actor="user:ben", origin="api")
    assert str(caught.value) == (
        f"silence {created.id} already expired at 2026-11-22T12:10:00+00:00"
    )


def test_expiring_a_pending_silence_ends_it_before_it_starts(engine: Engine) -> None:
    created = _create(engine, starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)
    with engine.begin() as conn:
        expired = expire_silence(conn, created.id, now=T0, actor="user:ana", origin="cli")
    assert (expired.starts_at, expired.ends_at) == (T0, T0)


def test_an_unknown_id_is_not_found(engine: Engine) -> None:
    with pytest.raises(NotFound) as caught, engine.begin() as conn:
        expire_silence(conn, "nope", now=T0, actor="user:ana", origin="cli")
    assert str(caught.value) == "no silence with this id"
    with pytest.raises(NotFound):
        _create(engine, silence_id="nope")


def test_updating_a_pending_silence_changes_it_in_place(engine: Engine) -> None:
    created = _create(engine, starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)
    updated = _create(engine, silence_id=created.id, starts_at=T0 + HOUR, ends_at=T0 + 3 * HOUR)
    assert updated.id == created.id
    assert updated.ends_at == T0 + 3 * HOUR
    with engine.begin() as conn:
        assert [a.action for a in list_audit(conn)] == ["silence.update", "silence.create"]


def test_updating_an_active_silence_expires_it_and_creates_a_new_one(engine: Engine) -> None:
    created = _create(engine)
    now = T0 + timedelta(minutes=5)
    updated = _create(engine, silence_id=created.id, ends_at=T0 + 2 * HOUR, now=now)
    assert updated.id != created.id
    with engine.begin() as conn:
        old = get_silence(conn, created.id)
        actions = [a.action for a in list_audit(conn)]
    assert old.state(now) == "expired"
    assert actions == ["silence.create", "silence.expire", "silence.create"]
