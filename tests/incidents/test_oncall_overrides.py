"""Stored on-call overrides on both store backends: add, list what is on or to come, remove,
each audited; refused input names the field and writes nothing; and paging picks the person of
a stored override (above the configured one, a later one above an earlier one)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from paging_helpers import (
    NOW,
    Recorder,
    config_body,
    declare,
    make_config,
    messages,
    minutes,
    passes,
)
from sqlalchemy.engine import Engine

from opsbook.config import Config
from opsbook.errors import InputError, NotFound
from opsbook.incidents import overrides
from opsbook.incidents.overrides import oncall_override
from opsbook.oncall import who
from opsbook.store import list_audit

CONFIG = make_config()
HOUR = timedelta(hours=1)


def add(
    engine: Engine,
    person: str = "ben",
    *,
    start: datetime = NOW,
    end: datetime = NOW + HOUR,
    schedule: str = "l1",
    now: datetime = NOW,
    reason: str | None = None,
) -> overrides.StoredOverride:
    with engine.begin() as conn:
        return overrides.add_override(
            conn,
            CONFIG,
            schedule=schedule,
            person=person,
            start=start,
            end=end,
            reason=reason,
            actor="user:ana",
            origin="api 127.0.0.1",
            now=now,
        )


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(oncall_override)).scalar())


def test_it_stores_an_override_and_audits_it(engine: Engine) -> None:
    created = add(engine, reason="dentist")
    assert (created.schedule, created.person, created.start, created.end) == (
        "l1",
        "ben",
        NOW,
        NOW + HOUR,
    )
    assert (created.created_by, created.created_at, created.reason) == ("user:ana", NOW, "dentist")
    with engine.connect() as conn:
        [event] = list_audit(conn)
    assert (event.actor, event.action, event.subject, event.origin) == (
        "user:ana",
        "oncall_override.add",
        f"oncall_override:{created.id}",
        "api 127.0.0.1",
    )
    assert event.detail == {
        "schedule": "l1",
        "person": "ben",
        "start": NOW.isoformat(),
        "end": (NOW + HOUR).isoformat(),
        "reason": "dentist",
    }


def test_it_lists_only_overrides_on_now_or_to_come_oldest_first(engine: Engine) -> None:
    past = add(engine, start=NOW - 3 * HOUR, end=NOW - HOUR, now=NOW - 4 * HOUR)
    on = add(engine, "cto", start=NOW - HOUR, end=NOW + HOUR, now=NOW - 2 * HOUR)
    later = add(engine, start=NOW + 2 * HOUR, end=NOW + 3 * HOUR)
    with engine.connect() as conn:
        found = overrides.list_overrides(conn, schedules=["l1"], after=NOW)
        assert [o.id for o in found] == [on.id, later.id]
        assert past.id not in [o.id for o in found]
        assert overrides.list_overrides(conn, schedules=["other"], after=NOW) == []
        assert overrides.list_overrides(conn, schedules=[], after=NOW) == []
        by = overrides.overrides_by_schedule(conn, schedules=["l1", "other"], after=NOW)
    assert [o.person for o in by["l1"]] == ["cto", "ben"]
    assert by["other"] == []


def test_removing_deletes_it_and_audits_it(engine: Engine) -> None:
    created = add(engine)
    with engine.begin() as conn:
        removed = overrides.remove_override(
            conn, created.id, actor="user:ben", origin="ui 10.0.0.7", now=NOW
        )
    assert removed == created
    assert count(engine) == 0
    with engine.connect() as conn:
        event = list_audit(conn)[0]
    assert (event.actor, event.action, event.subject) == (
        "user:ben",
        "oncall_override.remove",
        f"oncall_override:{created.id}",
    )


def test_removing_an_unknown_override_is_not_found(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(NotFound) as caught:
        overrides.remove_override(conn, 4242, actor="user:ben", origin="cli", now=NOW)
    assert caught.value.field == "override_id"
    with engine.connect() as conn:
        assert list_audit(conn) == []


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"schedule": "nope"}, "schedule", "schedule: not a configured schedule (known: l1)"),
        (
            {"person": "zed"},
            "person",
            "person: not one of oncall.people; add the person to opsbook.yaml first",
        ),
        ({"end": NOW}, "end", "end: must be after start"),
        ({"end": NOW - HOUR}, "end", "end: must be after start"),
        (
            {"start": NOW - 2 * HOUR, "end": NOW - HOUR},
            "end",
            "end: must be in the future",
        ),
        (
            {"end": NOW + timedelta(days=90, seconds=1)},
            "end",
            "end: an override lasts at most 90 days (add several for longer)",
        ),
        ({"reason": "x" * 501}, "reason", "reason: at most 500 characters"),
    ],
)
def test_it_refuses_bad_input_naming_the_field_and_writes_nothing(
    engine: Engine, fields: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        add(engine, **fields)  # type: ignore[arg-type]
    assert (caught.value.field, caught.value.message) == (field, message)
    assert count(engine) == 0
    with engine.connect() as conn:
        assert list_audit(conn) == []


def test_ninety_days_exactly_is_accepted(engine: Engine) -> None:
    add(engine, end=NOW + timedelta(days=90))
    assert count(engine) == 1


def test_stored_overrides_win_over_configured_ones_and_later_over_earlier(engine: Engine) -> None:
    # The configured override has Ben on l1 from 12:10 to 13:00.
    at = minutes(20)
    assert who(CONFIG, "l1", at).person == "ben"
    add(engine, "cto", start=NOW, end=NOW + HOUR)
    add(engine, "ana", start=minutes(15), end=minutes(30), now=minutes(1))
    with engine.connect() as conn:
        stored = overrides.schedule_overrides(conn, "l1", after=at)
    assert who(CONFIG, "l1", at, overrides=stored).person == "ana"
    assert who(CONFIG, "l1", minutes(40), overrides=stored).person == "cto"
    shift = who(CONFIG, "l1", minutes(40), overrides=stored)
    assert (shift.override, shift.layer) == (True, "override")


def test_paging_resolves_the_schedule_to_a_stored_override(engine: Engine) -> None:
    add(engine, "cto", start=NOW - HOUR, end=NOW + HOUR, now=NOW - 2 * HOUR)
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert emit.pages() == [(1, 0, "cto", "pager")]
    assert messages(engine, incident_id, "paged") == ["level 1: paged CTO (schedule:l1) via pager"]


def test_an_escalation_pages_the_override_in_force_at_each_level_due_time(engine: Engine) -> None:
    # Ana is on l1 at 12:00; the stored override puts cto on it from 12:05 to 12:30, so round 2
    # of level 1 (due 12:15) pages cto, not Ben of the configured override (12:10-13:00).
    add(engine, "cto", start=minutes(5), end=minutes(30))
    incident_id = declare(engine)
    emit = Recorder()
    for at in (0, 5, 15):
        passes(engine, CONFIG, emit, minutes(at))
    said = messages(engine, incident_id, "paged")
    assert said[0] == "level 1: paged Ana (schedule:l1) via pager, email"
    assert said[-1] == "level 1 (round 2): paged CTO (schedule:l1) via pager"


def test_a_removed_override_no_longer_pages(engine: Engine) -> None:
    created = add(engine, "cto", start=NOW - HOUR, end=NOW + HOUR, now=NOW - 2 * HOUR)
    with engine.begin() as conn:
        overrides.remove_override(conn, created.id, actor="user:ana", origin="cli", now=NOW)
    declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert emit.pages() == [(1, 0, "ana", "pager"), (1, 0, "ana", "email")]


def test_reading_overrides_goes_through_the_schedule_end_index(engine: Engine) -> None:
    for i in range(20):
        add(engine, start=NOW - (i + 2) * HOUR, end=NOW - (i + 1) * HOUR, now=NOW - 30 * HOUR)
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "oncall_override" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with engine.connect() as conn:
            overrides.overrides_by_schedule(conn, schedules=["l1", "l2"], after=NOW)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    [(statement, parameters)] = sent
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            plan = " ".join(
                str(row[-1])
                for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "USING INDEX ix_oncall_override_schedule_end_at" in plan, plan
            assert "SCAN oncall_override" not in plan, plan
        else:
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = " ".join(
                str(row[0]) for row in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            )
            assert "ix_oncall_override_schedule_end_at" in plan, plan
            assert "Seq Scan" not in plan, plan


def test_a_person_who_cannot_be_paged_cannot_cover_a_paged_schedule(engine: Engine) -> None:
    body = config_body()
    body["oncall"]["people"]["dee"] = {"name": "Dee"}  # no notify channels
    config = Config.model_validate(body)
    with engine.begin() as conn, pytest.raises(InputError) as caught:
        overrides.add_override(
            conn,
            config,
            schedule="l1",
            person="dee",
            start=NOW,
            end=NOW + HOUR,
            reason=None,
            actor="user:ana",
            origin="cli",
            now=NOW,
        )
    assert caught.value.field == "person"
    assert caught.value.message == (
        "person: has no notify channels, and this schedule is paged (escalation policy "
        "default); add notify: [CHANNEL, ...] to the person first"
    )
    assert count(engine) == 0
