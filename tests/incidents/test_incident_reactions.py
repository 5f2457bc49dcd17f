"""Reactions to timeline events on both store backends: escalations start on declare, reopen and
severity changes and stop on ack, resolve and merge; the severity's notify channels hear of each
notified event exactly once."""

from __future__ import annotations

from paging_helpers import (
    NOW,
    Recorder,
    declare,
    escalations,
    make_config,
    minutes,
    passes,
    unhandled,
)
from sqlalchemy.engine import Engine

from opsbook.incidents import react, service
from opsbook.incidents.models import IncidentStatus

CONFIG = make_config()


def test_a_severity_upgrade_starts_an_escalation(engine: Engine) -> None:
    incident_id = declare(engine, "SEV3")
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert escalations(engine, incident_id) == []
    with engine.begin() as conn:
        service.change_severity(
            conn, incident_id, severity="SEV1", actor="user:ana", now=minutes(1)
        )
    passes(engine, CONFIG, emit, minutes(1))
    [run] = escalations(engine, incident_id)
    assert (run.policy, run.state, run.started_at) == ("default", "active", minutes(1))
    assert emit.pages() == [(1, 0, "ana", "pager"), (1, 0, "ana", "email")]


def test_resolving_stops_the_escalation(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    with engine.begin() as conn:
        service.update(
            conn,
            incident_id,
            status=IncidentStatus.RESOLVED,
            message="fixed",
            actor="user:ben",
            now=minutes(2),
        )
    passes(engine, CONFIG, emit, minutes(2))
    [run] = escalations(engine, incident_id)
    assert (run.state, run.ended_reason) == ("resolved", "resolved by user:ben")


def test_merging_stops_the_merged_incident_escalation_only(engine: Engine) -> None:
    first, second = declare(engine), declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    with engine.begin() as conn:
        service.merge(conn, first, into=second, actor="user:ana", now=minutes(1))
    passes(engine, CONFIG, emit, minutes(1))
    assert [e.state for e in escalations(engine, first)] == ["merged"]
    assert [e.state for e in escalations(engine, second)] == ["active"]


def test_a_reopened_incident_is_paged_again(engine: Engine) -> None:
    incident_id = declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    with engine.begin() as conn:
        service.update(
            conn,
            incident_id,
            status=IncidentStatus.RESOLVED,
            message="fixed",
            actor="user:ben",
            now=minutes(1),
        )
    passes(engine, CONFIG, emit, minutes(1))
    with engine.begin() as conn:
        service.reopen(conn, incident_id, message="back", actor="user:ben", now=minutes(3))
    emit.take()
    passes(engine, CONFIG, emit, minutes(3))
    assert [e.state for e in escalations(engine, incident_id)] == ["resolved", "active"]
    assert emit.pages() == [(1, 0, "ana", "pager"), (1, 0, "ana", "email")]


def test_notify_channels_hear_each_notified_event_once(engine: Engine) -> None:
    incident_id = declare(engine, "SEV3")
    other = declare(engine, "SEV4")
    emit = Recorder()
    steps = [
        lambda conn, at: service.update(
            conn,
            incident_id,
            status=IncidentStatus.IDENTIFIED,
            message="bad deploy",
            actor="user:ana",
            now=at,
            fields={"impact": "checkout fails"},
        ),
        lambda conn, at: service.add_note(
            conn, incident_id, message="looking", actor="user:ana", now=at
        ),
        lambda conn, at: service.acknowledge(conn, incident_id, actor="user:ana", now=at),
        lambda conn, at: service.change_severity(
            conn, incident_id, severity="SEV1", actor="user:ana", now=at
        ),
        lambda conn, at: service.update(
            conn,
            incident_id,
            status=IncidentStatus.RESOLVED,
            message="rolled back",
            actor="user:ana",
            now=at,
        ),
        lambda conn, at: service.reopen(
            conn, incident_id, message="back", actor="user:ana", now=at
        ),
        lambda conn, at: service.merge(conn, incident_id, into=other, actor="user:ana", now=at),
    ]
    passes(engine, CONFIG, emit, NOW)
    for i, step in enumerate(steps, start=1):
        with engine.begin() as conn:
            step(conn, minutes(i))
        passes(engine, CONFIG, emit, minutes(i))
    passes(engine, CONFIG, emit, minutes(30))
    with engine.begin() as conn:
        assert react(conn, config=CONFIG, emit=emit, now=minutes(31)) == 0
    updates = [n for n in emit.notices if n.kind == "incident"]
    assert [(n.incident.id, n.event.kind if n.event else None, n.channel) for n in updates] == [
        (incident_id, "declared", "status"),
        (incident_id, "status", "status"),
        (incident_id, "severity", "status"),
        (incident_id, "status", "status"),
        (incident_id, "reopened", "status"),
        (incident_id, "merged", "status"),
    ]
    assert len({n.key for n in updates}) == len(updates)
    assert all(n.key == f"incident:{n.event.id}:status" for n in updates if n.event)
    assert updates[1].event is not None
    assert updates[1].event.detail["fields"] == {"impact": "checkout fails"}
    assert unhandled(engine) == 0
    # Acknowledged before the upgrade: the SEV1 policy does not start.
    assert escalations(engine, incident_id) == []


def test_events_written_by_the_task_are_already_handled(engine: Engine) -> None:
    declare(engine)
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    assert unhandled(engine) == 0


def test_each_update_says_what_was_true_when_it_was_posted(engine: Engine) -> None:
    # Two updates and a severity change handled in one pass: each notice carries the status
    # and severity its own event set, not the incident's latest.
    incident_id = declare(engine, "SEV3")
    emit = Recorder()
    passes(engine, CONFIG, emit, NOW)
    emit.take()
    with engine.begin() as conn:
        for status, at in ((IncidentStatus.IDENTIFIED, 1), (IncidentStatus.MONITORING, 2)):
            service.update(
                conn, incident_id, status=status, message="x", actor="user:ana", now=minutes(at)
            )
        service.change_severity(
            conn, incident_id, severity="SEV1", actor="user:ana", now=minutes(3)
        )
    passes(engine, CONFIG, emit, minutes(4))
    updates = [n for n in emit.take() if n.kind == "incident"]
    assert [(n.incident.status, n.incident.severity, n.at) for n in updates] == [
        (IncidentStatus.IDENTIFIED, "SEV3", minutes(1)),
        (IncidentStatus.MONITORING, "SEV3", minutes(2)),
        (IncidentStatus.MONITORING, "SEV1", minutes(3)),
    ]
