"""Incidents from paging alerts: grouping by component and dependency root, the severity
policy, and alert fired/resolved events on the timeline (both store backends)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alert_helpers import open_rule_alert
from opsbook.alerts import records as alert_records
from opsbook.alerts.models import AlertStatus
from opsbook.alerts.tables import alert
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.config.schema import IncidentsConfig
from opsbook.incidents import records, service, sync_alerts
from opsbook.incidents.loop import incidents_loop, run_pass
from opsbook.incidents.models import IncidentStatus
from opsbook.store.audit import list_audit

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONFIG = Config.model_validate(
    {
        "service": "shop",
        "checks": {
            "api": {"http": {"url": "http://127.0.0.1:1/healthz"}},
            "web": {"http": {"url": "http://127.0.0.1:1/"}},
            "db": {"tcp": {"host": "127.0.0.1", "port": 1}},
        },
        "components": {
            "frontend": {"name": "Frontend", "checks": ["api", "web"]},
            "backend": {"name": "Backend", "checks": ["db"]},
        },
    }
)


def _fire(engine: Engine, rule: str, check: str, *, ago: int = 1, **columns: Any) -> int:
    with engine.begin() as conn:
        alert_id = open_rule_alert(
            conn,
            rule,
            check=check,
            now=NOW - timedelta(minutes=ago),
            annotations={"summary": f"{check} is down"},
        )
        if columns:
            conn.execute(alert.update().where(alert.c.id == alert_id).values(**columns))
    return alert_id


def _sync(engine: Engine, at: datetime = NOW) -> list[int]:
    with engine.begin() as conn:
        return sync_alerts(conn, config=CONFIG, now=at)


def _linked(engine: Engine, incident_id: int) -> list[int]:
    with engine.begin() as conn:
        return records.alert_ids(conn, incident_id)


def test_two_alerts_of_one_component_are_one_incident(engine: Engine) -> None:
    api = _fire(engine, "api-down", "api", ago=3)
    web = _fire(engine, "web-down", "web", ago=2)
    [declared] = _sync(engine)
    assert _linked(engine, declared) == [api, web]
    with engine.begin() as conn:
        found = records.get_incident(conn, declared)
        events = records.timeline(conn, declared)
        audit = list_audit(conn)
    assert (found.title, found.severity, found.component, found.declared_by) == (
        "api is down",
        "SEV1",
        "frontend",
        "system:incidents",
    )
    assert [(e.kind, e.message) for e in events] == [
        ("alert_firing", "alert api-down firing"),
        ("alert_firing", "alert web-down firing"),
        ("declared", "declared SEV1: api is down"),
    ]
    assert {a.origin for a in audit} == {"runner"}
    assert _sync(engine) == []
    third = _fire(engine, "api-slow", "api")
    assert _sync(engine) == []
    assert _linked(engine, declared) == [api, web, third]


def test_alerts_of_different_components_are_separate_incidents(engine: Engine) -> None:
    _fire(engine, "api-down", "api")
    _fire(engine, "db-down", "db")
    assert len(_sync(engine)) == 2


def test_alerts_of_other_components_within_group_within_join_the_incident(
    engine: Engine,
) -> None:
    window = IncidentsConfig(group_within=timedelta(minutes=2))
    grouped = CONFIG.model_copy(update={"incidents": window})
    api = _fire(engine, "api-down", "api", ago=3)
    with engine.begin() as conn:
        [declared] = sync_alerts(conn, config=grouped, now=NOW - timedelta(minutes=3))
    # The backend fires 2 minutes after the declaration: the same outage.
    db = _fire(engine, "db-down", "db", ago=1)
    with engine.begin() as conn:
        assert sync_alerts(conn, config=grouped, now=NOW) == []
    assert _linked(engine, declared) == [api, db]
    # Payments fires 4 minutes after it: another outage.
    _fire(engine, "pay-down", "db", ago=-1, labels={"component": "payments"})
    with engine.begin() as conn:
        [other] = sync_alerts(conn, config=grouped, now=NOW + timedelta(minutes=1))
    assert other != declared
    # Without the window, components never share an incident.
    assert CONFIG.incidents.group_within == timedelta()


def test_a_suppressed_dependent_joins_its_roots_incident(engine: Engine) -> None:
    root = _fire(engine, "db-down", "db", ago=3)
    dependent = _fire(engine, "api-down", "api", ago=2, suppressed_by=root)
    [declared] = _sync(engine)
    assert _linked(engine, declared) == [root, dependent]
    with engine.begin() as conn:
        assert records.get_incident(conn, declared).component == "backend"


def test_a_dependent_finds_its_root_in_a_later_pass(engine: Engine) -> None:
    root = _fire(engine, "db-down", "db", ago=3)
    [declared] = _sync(engine)
    dependent = _fire(engine, "api-down", "api", ago=1, suppressed_by=root)
    assert _sync(engine) == []
    assert _linked(engine, declared) == [root, dependent]


def test_an_alert_whose_severity_does_not_page_declares_nothing(engine: Engine) -> None:
    _fire(engine, "pool-pressure", "db", severity="SEV3")
    assert _sync(engine) == []
    with engine.begin() as conn:
        assert records.list_incidents(conn, include_resolved=True) == []


def test_pending_and_resolved_alerts_declare_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        open_rule_alert(conn, "api-down", check="api", now=NOW, status=AlertStatus.PENDING)
    assert _sync(engine) == []


def test_a_resolved_incident_is_not_joined(engine: Engine) -> None:
    _fire(engine, "api-down", "api")
    [first] = _sync(engine)
    with engine.begin() as conn:
        service.update(
            conn, first, status=IncidentStatus.RESOLVED, message="ok", actor="user:ana", now=NOW
        )
    _fire(engine, "web-down", "web")
    [second] = _sync(engine)
    assert second != first


def test_linked_alerts_resolving_is_on_the_timeline_once(engine: Engine) -> None:
    api = _fire(engine, "api-down", "api", ago=5)
    [declared] = _sync(engine)
    resolved_at = NOW + timedelta(minutes=2)
    with engine.begin() as conn:
        current = alert_records.get_alert(conn, api)
        alert_records.set_status(
            conn, current, AlertStatus.RESOLVED, now=resolved_at, message="resolved"
        )
    later = NOW + timedelta(minutes=3)
    _sync(engine, later)
    _sync(engine, later)
    with engine.begin() as conn:
        events = records.timeline(conn, declared)
    assert [(e.kind, e.message, e.at) for e in events] == [
        ("alert_firing", "alert api-down firing", NOW - timedelta(minutes=5)),
        ("declared", "declared SEV1: api is down", NOW),
        ("alert_resolved", "alert api-down resolved", resolved_at),
    ]


def _no_emit(conn: object, notices: object) -> None:
    pass


def test_run_pass_commits_its_pass(engine: Engine) -> None:
    _fire(engine, "api-down", "api")
    [declared] = run_pass(engine, config=CONFIG, emit=_no_emit, now=NOW).declared
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(alert)).scalar()
        assert count == 1
        assert records.get_incident(conn, declared).status.value == "investigating"


def test_the_loop_syncs_then_waits(engine: Engine) -> None:
    _fire(engine, "api-down", "api")

    async def one_pass() -> None:
        task = asyncio.create_task(
            incidents_loop(engine, config=CONFIG, emit=_no_emit, clock=FrozenClock(NOW))
        )
        for _ in range(200):
            await asyncio.sleep(0.01)
            with engine.connect() as conn:
                if records.list_incidents(conn):
                    break
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(one_pass())
    with engine.connect() as conn:
        assert [i.title for i in records.list_incidents(conn)] == ["api is down"]
