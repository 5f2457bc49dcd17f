"""The deliverer writes a page's or incident update's outcome on the incident's timeline, in the
transaction that records it in the outbox: delivered (with the attempt), or failed (dead: at
once, or after the last retry) with the reason; a retried dead letter that gets through too."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from incident_helpers import ANA, PAGE, incident_config, status_event
from notify_helpers import T0, Answer, Sink, make_notice
from sqlalchemy.engine import Engine

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents_service
from opsbook.incidents.models import Incident, IncidentEvent, IncidentNotice
from opsbook.incidents.records import timeline
from opsbook.notify import Deliverer, IncidentEmitter, OutboxEmitter, outbox
from opsbook.notify.tables import notification
from opsbook.store.audit import list_audit

S = timedelta(seconds=1)
NOTIFY_KINDS = {"page_delivered", "page_failed", "notification_delivered", "notification_failed"}


def _config(sink: Sink) -> Config:
    return incident_config({"pager": {"webhook": {"url": f"{sink.url}/hook"}}})


def _declare(engine: Engine) -> Incident:
    with engine.begin() as conn:
        return incidents_service.declare(
            conn, title="Payment Processing Delays", severity="SEV1", actor="user:ana", now=T0
        )


def _page(engine: Engine, config: Config, clock: FrozenClock, incident: Incident) -> None:
    notice = IncidentNotice(
        kind="page",
        channel="pager",
        key="page:3:0:pager:ana",
        incident=incident,
        person=ANA,
        page=PAGE,
    )
    with engine.begin() as conn:
        IncidentEmitter(config, clock=clock)(conn, [notice])


def _notify_events(engine: Engine, incident: Incident) -> list[IncidentEvent]:
    with engine.connect() as conn:
        return [e for e in timeline(conn, incident.id) if e.kind in NOTIFY_KINDS]


def _row_id(engine: Engine) -> int:
    with engine.connect() as conn:
        [row_id] = conn.scalars(sa.select(notification.c.id))
        return int(row_id)


def _shown(sink: Sink) -> str:
    return f"POST {sink.url}/***"


async def test_a_delivered_page_is_on_the_timeline(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _config(sink)
    incident = _declare(engine)
    _page(engine, config, clock, incident)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    [event] = _notify_events(engine, incident)
    assert (event.kind, event.actor, event.at) == ("page_delivered", "system:notify", T0)
    assert event.message == "page to Ana Lima via pager delivered (attempt 1)"
    assert event.detail == {
        "notification_id": _row_id(engine),
        "channel": "pager",
        "person": "ana",
        "attempts": 1,
    }
    with engine.connect() as conn:
        [audit] = [a for a in list_audit(conn) if a.action == "incident.page_delivered"]
    assert audit.origin == "notify"


async def test_a_page_refused_with_404_is_a_failed_page_with_the_reason(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(404, ""))
    config = _config(sink)
    incident = _declare(engine)
    _page(engine, config, clock, incident)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    [event] = _notify_events(engine, incident)
    reason = f"{_shown(sink)} answered 404 Not Found"
    assert event.kind == "page_failed"
    assert event.message == f"page to Ana Lima via pager failed: {reason}"
    assert event.detail == {
        "notification_id": _row_id(engine),
        "channel": "pager",
        "person": "ana",
        "attempts": 1,
        "error": reason,
    }


async def test_a_page_delivered_on_the_second_attempt_says_so_and_nothing_else(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(500, "database is down"))
    config = _config(sink)
    incident = _declare(engine)
    _page(engine, config, clock, incident)
    deliverer = Deliverer(config, engine, clock=clock)
    assert await deliverer.deliver_due() == 1
    assert _notify_events(engine, incident) == []
    clock.advance(2 * S)
    assert await deliverer.deliver_due() == 1
    [event] = _notify_events(engine, incident)
    assert event.kind == "page_delivered"
    assert event.message == "page to Ana Lima via pager delivered (attempt 2)"
    assert event.detail["attempts"] == 2
    assert event.at == T0 + 2 * S


async def test_a_page_that_exhausts_its_retries_is_failed_once(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.always = Answer(503, "maintenance")
    config = _config(sink)
    incident = _declare(engine)
    _page(engine, config, clock, incident)
    deliverer = Deliverer(config, engine, clock=clock)
    for _ in range(10):
        assert await deliverer.deliver_due() == 1
        with engine.connect() as conn:
            due_at = conn.scalar(sa.select(notification.c.due_at))
        assert isinstance(due_at, datetime)
        clock.advance(max(timedelta(), due_at - clock.now()))
    [event] = _notify_events(engine, incident)
    assert event.kind == "page_failed"
    assert event.detail["attempts"] == 10
    assert event.detail["error"] == (
        f"gave up after 10 attempts: {_shown(sink)} answered 503 Service Unavailable: maintenance"
    )


async def test_a_retried_dead_page_that_gets_through_is_delivered_on_the_timeline(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(404, ""))
    config = _config(sink)
    incident = _declare(engine)
    _page(engine, config, clock, incident)
    deliverer = Deliverer(config, engine, clock=clock)
    assert await deliverer.deliver_due() == 1
    clock.advance(timedelta(minutes=10))
    with engine.begin() as conn:
        outbox.requeue(conn, _row_id(engine), now=clock.now(), actor="user:ana", origin="cli")
    assert await deliverer.deliver_due() == 1
    failed, delivered = _notify_events(engine, incident)
    assert (failed.kind, delivered.kind) == ("page_failed", "page_delivered")
    assert delivered.message == "page to Ana Lima via pager delivered (attempt 1)"
    assert delivered.at == T0 + timedelta(minutes=10)


async def test_an_incident_update_is_a_notification_event(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(410, ""))
    config = incident_config(
        {
            "pager": {"webhook": {"url": f"{sink.url}/hook"}},
            "status": {"webhook": {"url": f"{sink.url}/status"}},
        }
    )
    incident = _declare(engine)
    event = status_event("identified", "Stripe webhooks fail.", incident_id=incident.id)
    notices = [
        IncidentNotice(
            kind="incident",
            channel=name,
            key=f"incident:{event.id}:{name}",
            incident=incident,
            event=event,
        )
        for name in ("pager", "status")
    ]
    with engine.begin() as conn:
        IncidentEmitter(config, clock=clock)(conn, notices)
    assert await Deliverer(config, engine, clock=clock, concurrency=1).deliver_due() == 2
    events = sorted(_notify_events(engine, incident), key=lambda e: e.kind)
    assert [(e.kind, e.message) for e in events] == [
        ("notification_delivered", "incident update via status delivered (attempt 1)"),
        (
            "notification_failed",
            f"incident update via pager failed: {_shown(sink)} answered 410 Gone",
        ),
    ]
    assert all(e.detail["person"] is None for e in events)


async def test_an_alert_notification_writes_no_incident_event(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _config(sink)
    incident = _declare(engine)
    with engine.begin() as conn:
        OutboxEmitter(config, clock=clock)(conn, [make_notice(receiver="pager")])
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    assert _notify_events(engine, incident) == []
