"""Declaring and changing incidents on both store backends: every transition, the timeline and
the audit trail, merges, and that a refused change writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from opsbook.errors import Conflict, InputError, NotFound
from opsbook.incidents import records, service
from opsbook.incidents.models import Incident, IncidentStatus, Role
from opsbook.incidents.tables import incident, incident_event
from opsbook.store.audit import list_audit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANA = "user:ana"
S = IncidentStatus
DAY = timedelta(days=1)


def _declare(engine: Engine, title: str = "Checkout down", **fields: object) -> Incident:
    with engine.begin() as conn:
        return service.declare(
            conn,
            title=title,
            severity=str(fields.pop("severity", "SEV1")),
            actor=ANA,
            now=NOW,
            origin="cli",
            **fields,  # type: ignore[arg-type]
        )


def _update(engine: Engine, incident_id: int, status: S, minutes: int = 1) -> Incident:
    with engine.begin() as conn:
        return service.update(
            conn,
            incident_id,
            status=status,
            message=f"now {status}",
            actor=ANA,
            now=NOW + timedelta(minutes=minutes),
            origin="cli",
        )


def _kinds(engine: Engine, incident_id: int) -> list[str]:
    with engine.begin() as conn:
        return [e.kind for e in records.timeline(conn, incident_id)]


def _counts(engine: Engine) -> tuple[int, int]:
    with engine.begin() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(incident_event)).scalar()
        changed = conn.execute(sa.select(sa.func.max(incident.c.updated_at))).scalar()
    return int(rows or 0), int(changed.timestamp()) if changed else 0


def test_declare_opens_an_investigating_incident_with_a_timeline_and_audit(engine: Engine) -> None:
    created = _declare(engine, summary="  500s on /checkout ")
    assert created.status is S.INVESTIGATING
    assert (created.title, created.severity, created.summary) == (
        "Checkout down",
        "SEV1",
        "500s on /checkout",
    )
    assert created.declared_at == NOW and created.declared_by == ANA
    with engine.begin() as conn:
        [event] = records.timeline(conn, created.id)
        audit = list_audit(conn)
    assert (event.kind, event.actor, event.message) == (
        "declared",
        ANA,
        "declared SEV1: Checkout down",
    )
    assert [(a.action, a.subject, a.actor, a.origin) for a in audit] == [
        ("incident.declared", f"incident:{created.id}", ANA, "cli")
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"title": " "}, "title", "title: say what is wrong"),
        ({"severity": "SEV7", "severities": ["SEV1"]}, "severity", "not a configured severity"),
        ({"severity": "high"}, "severity", "severity: not a severity name"),
        ({"title": "x" * 301}, "title", "title: at most 300 characters (this one has 301)"),
    ],
    ids=["blank-title", "unconfigured-severity", "bad-severity", "long-title"],
)
def test_declare_rejects_bad_input_naming_the_field(
    engine: Engine, fields: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        _declare(engine, **fields)  # type: ignore[arg-type]
    assert message in str(caught.value)
    assert caught.value.field == field
    assert _counts(engine) == (0, 0)


def test_declare_links_alerts_and_puts_their_firing_on_the_timeline(engine: Engine) -> None:
    with engine.begin() as conn:
        fired = open_rule_alert(conn, "site-down", check="api", now=NOW - timedelta(minutes=3))
    created = _declare(engine, alert_ids=[fired])
    with engine.begin() as conn:
        events = records.timeline(conn, created.id)
        assert records.alert_ids(conn, created.id) == [fired]
    assert [(e.kind, e.message, e.at) for e in events] == [
        ("alert_firing", "alert site-down firing", NOW - timedelta(minutes=3)),
        ("declared", "declared SEV1: Checkout down", NOW),
    ]
    with pytest.raises(Conflict, match=f"alert {fired} already belongs to incident {created.id}"):
        _declare(engine, alert_ids=[fired])
    with pytest.raises(NotFound, match="alert_ids\\[1\\]: no alert with id 999"):
        _declare(engine, alert_ids=[fired, 999])


@pytest.mark.parametrize(
    "path",
    [
        [S.IDENTIFIED, S.MONITORING, S.RESOLVED],
        [S.MONITORING, S.INVESTIGATING, S.IDENTIFIED, S.RESOLVED],
        [S.RESOLVED],
        [S.INVESTIGATING, S.IDENTIFIED, S.IDENTIFIED, S.RESOLVED],
    ],
    ids=lambda p: "-".join(str(s) for s in p),
)
def test_legal_status_updates_are_applied_and_recorded(engine: Engine, path: list[S]) -> None:
    created = _declare(engine)
    for minute, status in enumerate(path, start=1):
        changed = _update(engine, created.id, status, minute)
        assert changed.status is status
    assert _kinds(engine, created.id) == ["declared"] + ["status"] * len(path)
    with engine.begin() as conn:
        last = records.timeline(conn, created.id)[-1]
    assert last.message == "resolved: now resolved"
    assert last.detail == {
        "from": str(path[-2]) if len(path) > 1 else "investigating",
        "to": "resolved",
    }


def test_mitigated_and_resolved_times_are_kept(engine: Engine) -> None:
    created = _declare(engine)
    _update(engine, created.id, S.MONITORING, 10)
    _update(engine, created.id, S.INVESTIGATING, 20)
    _update(engine, created.id, S.MONITORING, 30)
    done = _update(engine, created.id, S.RESOLVED, 40)
    assert done.mitigated_at == NOW + timedelta(minutes=10)
    assert done.resolved_at == NOW + timedelta(minutes=40)
    assert done.time_to_mitigate == timedelta(minutes=10)
    assert done.time_to_resolve == timedelta(minutes=40)


@pytest.mark.parametrize(
    ("path", "target", "message"),
    [
        (
            [S.IDENTIFIED],
            S.INVESTIGATING,
            "incident {id} cannot go back from identified to investigating: statuses move "
            "forward, and only monitoring may go back to investigating (a regression)",
        ),
        (
            [S.MONITORING],
            S.IDENTIFIED,
            "incident {id} cannot go back from monitoring to identified: statuses move "
            "forward, and only monitoring may go back to investigating (a regression)",
        ),
        (
            [S.RESOLVED],
            S.MONITORING,
            "incident {id} cannot go from resolved to monitoring: a resolved incident only "
            "reopens (opsbook incident reopen)",
        ),
        (
            [S.RESOLVED],
            S.RESOLVED,
            "incident {id} cannot go from resolved to resolved: a resolved incident only "
            "reopens (opsbook incident reopen)",
        ),
    ],
)
def test_illegal_status_updates_are_refused_and_change_nothing(
    engine: Engine, path: list[S], target: S, message: str
) -> None:
    created = _declare(engine)
    for status in path:
        _update(engine, created.id, status)
    before = _counts(engine)
    with pytest.raises(Conflict) as caught:
        _update(engine, created.id, target, 5)
    assert str(caught.value) == message.format(id=created.id)
    assert _counts(engine) == before


def test_an_update_needs_a_message(engine: Engine) -> None:
    created = _declare(engine)
    with engine.begin() as conn, pytest.raises(InputError, match="message: say what changed"):
        service.update(conn, created.id, status=S.IDENTIFIED, message=" ", actor=ANA, now=NOW)


def test_reopen_moves_a_resolved_incident_back_to_investigating(engine: Engine) -> None:
    created = _declare(engine)
    with (
        engine.begin() as conn,
        pytest.raises(
            Conflict,
            match=f"incident {created.id} is investigating, not resolved; update it instead",
        ),
    ):
        service.reopen(conn, created.id, message="again", actor=ANA, now=NOW)
    _update(engine, created.id, S.RESOLVED)
    with engine.begin() as conn:
        again = service.reopen(conn, created.id, message="back", actor=ANA, now=NOW + DAY)
    assert (again.status, again.resolved_at) == (S.INVESTIGATING, None)
    assert _kinds(engine, created.id)[-1] == "reopened"


def test_acknowledge_once(engine: Engine) -> None:
    created = _declare(engine)
    at = NOW + timedelta(minutes=4)
    with engine.begin() as conn:
        acked = service.acknowledge(conn, created.id, actor=ANA, now=at)
    assert acked.acknowledged_at == at
    assert acked.time_to_acknowledge == timedelta(minutes=4)
    with (
        engine.begin() as conn,
        pytest.raises(
            Conflict, match=f"incident {created.id} was already acknowledged at 2026-11-22T12:04:00"
        ),
    ):
        service.acknowledge(conn, created.id, actor=ANA, now=at)
    with engine.begin() as conn, pytest.raises(NotFound, match="no incident with id 999"):
        service.acknowledge(conn, 999, actor=ANA, now=at)


def test_severity_roles_and_notes_are_on_the_timeline(engine: Engine) -> None:
    created = _declare(engine)
    with engine.begin() as conn:
        service.change_severity(
            conn, created.id, severity="SEV2", actor=ANA, now=NOW, severities=["SEV1", "SEV2"]
        )
        service.set_role(conn, created.id, role=Role.COMMANDER, person="ana", actor=ANA, now=NOW)
        service.set_role(conn, created.id, role=Role.COMMANDER, person="ben", actor=ANA, now=NOW)
        service.set_role(conn, created.id, role=Role.COMMS, person="cy", actor=ANA, now=NOW)
        found = service.add_note(conn, created.id, message="rolled back 1.4", actor=ANA, now=NOW)
        messages = [e.message for e in records.timeline(conn, created.id)]
    assert (found.severity, found.commander, found.comms) == ("SEV2", "ben", "cy")
    assert messages == [
        "declared SEV1: Checkout down",
        "severity SEV1 -> SEV2",
        "commander is ana",
        "commander is ben (was ana)",
        "comms is cy",
        "rolled back 1.4",
    ]
    with engine.begin() as conn, pytest.raises(Conflict, match="is already SEV2"):
        service.change_severity(conn, created.id, severity="SEV2", actor=ANA, now=NOW)
    with engine.begin() as conn, pytest.raises(InputError, match="person: name the person"):
        service.set_role(conn, created.id, role=Role.COMMS, person="", actor=ANA, now=NOW)


def test_merge_moves_alerts_and_resolves_the_source_as_merged(engine: Engine) -> None:
    with engine.begin() as conn:
        a = open_rule_alert(conn, "api-down", check="api", now=NOW)
        b = open_rule_alert(conn, "db-down", check="db", now=NOW)
    into = _declare(engine, "API down", alert_ids=[a])
    source = _declare(engine, "DB down", alert_ids=[b])
    later = NOW + timedelta(minutes=5)
    with engine.begin() as conn:
        merged = service.merge(conn, source.id, into=into.id, actor=ANA, now=later)
        gone = records.get_incident(conn, source.id)
        assert records.alert_ids(conn, into.id) == [a, b]
        assert records.alert_ids(conn, source.id) == []
        source_events = records.timeline(conn, source.id)
        into_events = records.timeline(conn, into.id)
    assert merged.id == into.id
    assert (gone.status, gone.merged_into, gone.resolved_at) == (S.RESOLVED, into.id, later)
    assert source_events[-1].message == f"merged into incident {into.id}: API down"
    assert into_events[-1].message == f"incident {source.id} merged in (DB down; 1 alerts moved)"
    with (
        engine.begin() as conn,
        pytest.raises(Conflict, match=f"incident {source.id} was merged into incident {into.id}"),
    ):
        service.update(conn, source.id, status=S.IDENTIFIED, message="x", actor=ANA, now=later)


def test_merge_refuses_itself_and_a_resolved_target(engine: Engine) -> None:
    one = _declare(engine)
    two = _declare(engine)
    with engine.begin() as conn, pytest.raises(InputError, match="cannot be merged into itself"):
        service.merge(conn, one.id, into=one.id, actor=ANA, now=NOW)
    _update(engine, two.id, S.RESOLVED)
    before = _counts(engine)
    with (
        engine.begin() as conn,
        pytest.raises(
            Conflict, match=f"incident {two.id} is resolved; reopen it before merging into it"
        ),
    ):
        service.merge(conn, one.id, into=two.id, actor=ANA, now=NOW)
    assert _counts(engine) == before


def test_list_shows_open_incidents_newest_first(engine: Engine) -> None:
    old = _declare(engine, "old")
    new = _declare(engine, "new")
    _update(engine, old.id, S.RESOLVED)
    with engine.begin() as conn:
        assert [i.id for i in records.list_incidents(conn)] == [new.id]
        assert [i.id for i in records.list_incidents(conn, include_resolved=True)] == [
            new.id,
            old.id,
        ]
