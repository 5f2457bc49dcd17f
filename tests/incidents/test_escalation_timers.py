"""Escalation timers on both store backends: levels paged at exactly their due time, acks and
restarts, repeats, catch-up after downtime and schedules resolved at each level's due time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from paging_helpers import (
    NOW,
    Recorder,
    declare,
    escalations,
    kinds,
    make_config,
    messages,
    minutes,
    passes,
)
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from opsbook.incidents import service
from opsbook.store import create_engine

CONFIG = make_config()
LEVEL_1 = [(1, 0, "ana", "pager"), (1, 0, "ana", "email")]
LEVEL_2 = [(2, 0, "cto", "pager"), (2, 0, "-", "ops-room")]


def test_level_one_is_paged_in_the_same_pass_as_the_auto_declare(engine: Engine) -> None:
    with engine.begin() as conn:
        fired = open_rule_alert(
            conn, "api-down", check="api", now=NOW, annotations={"summary": "api is down"}
        )
    emit = Recorder()
    report = passes(engine, CONFIG, emit, NOW)
    [incident_id] = report.declared
    assert len(emit.calls) == 2  # react (the declared update), then the escalation's pages
    pages = [n for n in emit.notices if n.kind == "page"]
    assert report.notices == len(emit.notices) == 3
    assert emit.pages() == LEVEL_1
    [run] = escalations(engine, incident_id)
    assert pages[0].key == f"page:{run.id}:0:pager:ana"
    assert pages[0].incident.id == incident_id
    assert [(a.id, a.name, a.status) for a in pages[0].alerts] == [(fired, "api-down", "firing")]
    assert pages[0].person is not None and pages[0].person.email == "ana@shop.example"
    assert pages[0].page is not None and pages[0].page.via == "schedule:l1"
    assert kinds(engine, incident_id, "escalation_started", "paged") == [
        "escalation_started",
        "paged",
    ]
    assert messages(engine, incident_id, "paged") == [
        "level 1: paged Ana (schedule:l1) via pager, email"
    ]
    assert (run.state, run.step, run.next_at) == ("active", 1, minutes(5))


def test_no_ack_pages_level_two_at_exactly_start_plus_wait(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert emit.pages() == LEVEL_1
    passes(engine, CONFIG, emit, minutes(5) - timedelta(seconds=1))
    assert emit.pages() == []
    passes(engine, CONFIG, emit, minutes(5))
    assert emit.pages() == LEVEL_2
    assert messages(engine, incident_id, "paged")[-1] == (
        "level 2: paged CTO (person:cto) via pager; channel ops-room"
    )
    [run] = escalations(engine, incident_id)
    assert (run.step, run.next_at) == (2, minutes(15))


def test_an_ack_before_the_wait_stops_the_escalation(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    emit.take()
    with engine.begin() as conn:
        service.acknowledge(conn, incident_id, actor="user:ana", now=minutes(2))
    passes(engine, CONFIG, emit, minutes(2))
    passes(engine, CONFIG, emit, minutes(5))
    passes(engine, CONFIG, emit, minutes(60))
    assert emit.pages() == []
    [run] = escalations(engine, incident_id)
    assert (run.state, run.next_at, run.ended_at) == ("acknowledged", None, minutes(2))
    assert run.ended_reason == "acknowledged by user:ana"
    assert messages(engine, incident_id, "escalation_stopped") == [
        "escalation default stopped: acknowledged by user:ana"
    ]


def test_an_ack_the_reactions_have_not_seen_yet_still_stops_paging(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    with engine.begin() as conn:
        service.acknowledge(conn, incident_id, actor="user:ana", now=minutes(6))
        from opsbook.incidents import run_escalations

        run_escalations(conn, config=CONFIG, emit=emit, now=minutes(6))
    assert [p for p in emit.pages() if p[0] == 2] == []
    assert escalations(engine, incident_id)[0].state == "acknowledged"


def test_repeat_pages_the_levels_again_then_it_is_exhausted(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    paged = []
    for at in (0, 5, 15, 20, 29, 30, 60):
        passes(engine, CONFIG, emit, minutes(at))
        paged.append(emit.pages())
    assert paged == [
        LEVEL_1,
        LEVEL_2,
        [(1, 1, "ben", "pager")],
        [(2, 1, "cto", "pager"), (2, 1, "-", "ops-room")],
        [],
        [],
        [],
    ]
    [run] = escalations(engine, incident_id)
    assert (run.state, run.ended_at, run.next_at) == ("exhausted", minutes(30), None)
    assert kinds(engine, incident_id, "paged", "escalation_exhausted")[-2:] == [
        "paged",
        "escalation_exhausted",
    ]


def test_a_last_level_without_wait_ends_the_escalation_when_paged(engine: Engine) -> None:
    incident_id = declare(engine, "SEV2")
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert emit.pages() == [(1, 0, "ana", "pager"), (1, 0, "ana", "email")]
    [run] = escalations(engine, incident_id)
    assert run.state == "exhausted"


def test_the_schedule_resolves_to_who_is_on_call_at_the_level_due_time(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    for at in (0, 5, 15):
        passes(engine, CONFIG, emit, minutes(at))
    assert messages(engine, incident_id, "paged")[-1] == (
        "level 1 (round 2): paged Ben (schedule:l1) via pager"
    )


def test_a_restart_continues_from_the_stored_step(engine: Engine) -> None:
    incident_id = declare(engine)
    first = Recorder()
    passes(engine, CONFIG, first, NOW)
    passes(engine, CONFIG, first, minutes(5))
    # A new process: new engine, config and emitter; only the store carries over.
    again = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        emit = Recorder()
        passes(again, make_config(), emit, minutes(14))
        assert emit.pages() == []
        passes(again, make_config(), emit, minutes(15))
        assert emit.pages() == [(1, 1, "ben", "pager")]
    finally:
        again.dispose()
    [run] = escalations(engine, incident_id)
    assert (run.step, run.next_at) == (3, minutes(20))


def test_catch_up_after_downtime_pages_each_overdue_step_once(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    emit.take()
    passes(engine, CONFIG, emit, minutes(21))
    # Level 2 round 2 would page the CTO on the pager and ops-room again: not twice a pass.
    assert emit.pages() == [(2, 0, "cto", "pager"), (2, 0, "-", "ops-room"), (1, 1, "ben", "pager")]
    assert messages(engine, incident_id, "paged")[1:] == [
        "level 2: paged CTO (person:cto) via pager; channel ops-room",
        "level 1 (round 2): paged Ben (schedule:l1) via pager",
        "level 2 (round 2): nobody new (already paged in this pass)",
    ]
    [run] = escalations(engine, incident_id)
    # Anchored at the start: the next due time is 12:30, not 21 minutes + the wait.
    assert (run.state, run.step, run.next_at) == ("active", 4, minutes(30))
    passes(engine, CONFIG, emit, minutes(30))
    assert escalations(engine, incident_id)[0].state == "exhausted"


def test_a_policy_removed_from_the_config_cancels_its_escalation(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    base = make_config()
    severities = dict(base.severities)
    severities["SEV1"] = severities["SEV1"].model_copy(update={"escalation": "short"})
    oncall = base.oncall.model_copy(
        update={"escalation": {"short": base.oncall.escalation["short"]}}
    )
    changed = base.model_copy(update={"severities": severities, "oncall": oncall})
    emit.take()
    passes(engine, changed, emit, minutes(5))
    assert emit.pages() == []
    [run] = escalations(engine, incident_id)
    assert (run.state, run.ended_reason) == (
        "cancelled",
        "policy 'default' is no longer configured",
    )
    assert kinds(engine, incident_id)[-1] == "escalation_stopped"


@pytest.mark.parametrize("severity", ["SEV3", "SEV4"])
def test_a_severity_without_escalation_pages_nobody(engine: Engine, severity: str) -> None:
    incident_id = declare(engine, severity)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    passes(engine, CONFIG, emit, minutes(60))
    assert emit.pages() == []
    assert escalations(engine, incident_id) == []
