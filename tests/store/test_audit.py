from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from opsbook.store import list_audit, record_audit

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def test_an_event_round_trips_with_an_aware_utc_time(engine: Engine) -> None:
    with engine.begin() as conn:
        event_id = record_audit(
            conn,
            actor="user:ana",
            action="check.create",
            subject="check:api-uptime",
            detail={"every": "30s", "conditions": ["[STATUS] == 200"], "n": 3, "ok": True},
            origin="api 10.0.0.7",
            at=T0,
        )
    with engine.connect() as conn:
        [event] = list_audit(conn, limit=10)
    assert event.id == event_id
    assert event.at == T0
    assert event.at.tzinfo is UTC
    assert (event.actor, event.action, event.subject, event.origin) == (
        "user:ana",
        "check.create",
        "check:api-uptime",
        "api 10.0.0.7",
    )
    assert event.detail == {"every": "30s", "conditions": ["[STATUS] == 200"], "n": 3, "ok": True}


def test_times_in_other_zones_are_stored_as_the_same_instant_in_utc(engine: Engine) -> None:
    paris = timezone(timedelta(hours=1))
    with engine.begin() as conn:
        record_audit(
            conn,
            actor="a",
            action="x",
            subject="s",
            detail={},
            origin="cli",
            at=T0.astimezone(paris),
        )
    with engine.connect() as conn:
        [event] = list_audit(conn, limit=1)
    assert event.at == T0
    assert event.at.utcoffset() == timedelta(0)


def test_it_lists_newest_first_and_honours_the_limit(engine: Engine) -> None:
    with engine.begin() as conn:
        for minutes in (0, 2, 1):
            record_audit(
                conn,
                actor="system:runner",
                action=f"tick.{minutes}",
                subject="runner",
                detail={},
                origin="runner",
                at=T0 + timedelta(minutes=minutes),
            )
    with engine.connect() as conn:
        assert [e.action for e in list_audit(conn, limit=2)] == ["tick.2", "tick.1"]
        assert [e.action for e in list_audit(conn, limit=10)] == ["tick.2", "tick.1", "tick.0"]


def test_it_rejects_a_naive_time_and_records_nothing(engine: Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"), engine.begin() as conn:
        record_audit(
            conn,
            actor="a",
            action="x",
            subject="s",
            detail={},
            origin="cli",
            at=datetime(2026, 1, 1),
        )
    with engine.connect() as conn:
        assert list_audit(conn, limit=10) == []


def test_a_rolled_back_write_leaves_no_audit_event(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as conn:
        record_audit(conn, actor="a", action="x", subject="s", detail={}, origin="cli", at=T0)
        raise RuntimeError("the write this event describes failed")
    with engine.connect() as conn:
        assert list_audit(conn, limit=10) == []


def test_limit_must_be_positive(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(ValueError, match="limit must be at least 1"):
        list_audit(conn, limit=0)
