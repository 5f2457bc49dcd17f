"""Pages and incident updates to a webhook: the exact documented JSON body, signed, with the
notice's key as ``Idempotency-Key``, received by a real HTTP sink through the real Deliverer;
the same notice enqueued twice is one row."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa
from incident_helpers import ALERT, ANA, PAGE, incident_config, make_incident, status_event
from notify_helpers import HMAC_SECRET, T0, Sink
from sqlalchemy.engine import Engine

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents_service
from opsbook.incidents.models import Incident, IncidentNotice
from opsbook.notify import Deliverer, IncidentEmitter
from opsbook.notify.incident_emitter import incident_key
from opsbook.notify.tables import notification


def _config(sink: Sink) -> Config:
    hook = {"webhook": {"url": f"{sink.url}/incidents", "secret": HMAC_SECRET}}
    return incident_config({"pager": hook})


def _declare(engine: Engine) -> Incident:
    with engine.begin() as conn:
        return incidents_service.declare(
            conn,
            title="Payment Processing Delays",
            severity="SEV1",
            actor="user:ana",
            now=T0,
            summary="Payment confirmation emails are delayed.",
            component="payments",
        )


def _emit(engine: Engine, config: Config, clock: FrozenClock, *notices: IncidentNotice) -> None:
    with engine.begin() as conn:
        IncidentEmitter(config, clock=clock)(conn, notices)


def _incident_json(incident: Incident, **changes: object) -> dict[str, object]:
    url = f"https://ops.example.com/incidents/{incident.id}"
    return {
        "id": incident.id,
        "title": "Payment Processing Delays",
        "severity": "SEV1",
        "status": "investigating",
        "summary": "Payment confirmation emails are delayed.",
        "component": "payments",
        "declared_at": "2026-11-22T13:09:10Z",
        "acknowledged_at": None,
        "resolved_at": None,
        "commander": None,
        "url": url,
        **changes,
    }


def _links(incident: Incident) -> dict[str, object]:
    return {
        "incident": f"https://ops.example.com/incidents/{incident.id}",
        "acknowledge": f"https://ops.example.com/api/v1/incidents/{incident.id}/ack",
    }


def _check_signed(body: bytes, signature: str) -> None:
    # The receiver's check, as docs/notifications.md gives it.
    expected = "sha256=" + hmac.new(HMAC_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)


async def test_a_page_reaches_the_webhook_as_the_documented_json(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _config(sink)
    incident = _declare(engine)
    key = f"page:{PAGE.escalation_id}:0:pager:ana"
    page = IncidentNotice(
        kind="page",
        channel="pager",
        key=key,
        incident=incident,
        alerts=(ALERT,),
        person=ANA,
        page=PAGE,
        at=T0 + timedelta(minutes=1),
    )
    _emit(engine, config, clock, page)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    [got] = sink.received
    assert (got.method, got.path) == ("POST", "/incidents")
    assert got.json() == {
        "version": "1",
        "type": "page",
        "incident": _incident_json(incident),
        "event": None,
        "page": {"escalation_id": 3, "level": 1, "round": 0, "via": "schedule:primary"},
        "person": {
            "id": "ana",
            "name": "Ana Lima",
            "email": "ana@example.com",
            "phone": "+351 910 000 000",
        },
        "alerts": [
            {
                "id": 7,
                "name": "payment-webhook-errors",
                "status": "firing",
                "severity": "SEV1",
                "summary": "stripe webhook 5xx rate 12%",
            }
        ],
        "links": _links(incident),
    }
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Idempotency-Key"] == key
    _check_signed(got.body, got.headers["X-Opsbook-Signature"])


async def test_an_update_reaches_the_webhook_with_its_event_and_fields(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _config(sink)
    incident = replace(_declare(engine), commander="ana")
    event = status_event(
        "identified",
        "Stripe webhooks fail signature checks.",
        fields={"workaround": "Check your Stripe dashboard.", "next_update": "30 minutes"},
        incident_id=incident.id,
    )
    key = f"incident:{event.id}:pager"
    update = IncidentNotice(
        kind="incident", channel="pager", key=key, incident=incident, event=event, at=event.at
    )
    _emit(engine, config, clock, update)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    [got] = sink.received
    assert got.json() == {
        "version": "1",
        "type": "incident",
        "incident": _incident_json(incident, commander="ana"),
        "event": {
            "id": 101,
            "kind": "status",
            "message": "identified: Stripe webhooks fail signature checks.",
            "actor": "user:ana",
            "at": "2026-11-22T13:29:10Z",
            "fields": {
                "workaround": "Check your Stripe dashboard.",
                "next_update": "30 minutes",
            },
        },
        "page": None,
        "person": None,
        "alerts": [],
        "links": _links(incident),
    }
    assert got.headers["Idempotency-Key"] == key
    _check_signed(got.body, got.headers["X-Opsbook-Signature"])


async def test_without_a_public_url_the_links_are_null(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    hook = {"webhook": {"url": f"{sink.url}/incidents"}}
    config = incident_config({"pager": hook}, public_url=None)
    incident = _declare(engine)
    notice = IncidentNotice(kind="page", channel="pager", key="page:1:0:pager:-", incident=incident)
    _emit(engine, config, clock, notice)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    body = sink.received[0].json()
    assert body["links"] == {"incident": None, "acknowledge": None}
    assert body["incident"]["url"] is None
    assert "X-Opsbook-Signature" not in sink.received[0].headers


def test_the_same_notice_enqueued_twice_is_one_row(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _config(sink)
    incident = _declare(engine)
    notice = IncidentNotice(
        kind="page", channel="pager", key="page:3:0:pager:ana", incident=incident, person=ANA
    )
    _emit(engine, config, clock, notice)
    _emit(engine, config, clock, notice, notice)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(notification.c.kind, notification.c.incident_id, notification.c.channel)
        ).all()
    assert [tuple(r) for r in rows] == [("page", incident.id, "pager")]


def test_a_notice_for_an_unknown_channel_is_skipped(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    incident = _declare(engine)
    notice = IncidentNotice(kind="page", channel="gone", key="page:3:0:gone:-", incident=incident)
    _emit(engine, _config(sink), clock, notice)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(notification)) == 0


def test_a_key_longer_than_the_column_is_digested_stably() -> None:
    notice = IncidentNotice(kind="incident", channel="c", key="x" * 400, incident=make_incident())
    key = incident_key(notice)
    assert key == incident_key(notice)
    assert key.startswith("incident:sha256:") and len(key) <= 300
    short = replace(notice, key="incident:9:c")
    assert incident_key(short) == "incident:9:c"


def test_the_stored_body_holds_no_channel_secret(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    token = "hdr-token-9c1e55aa"
    hook = {"url": f"{sink.url}/hooks/{token}", "secret": HMAC_SECRET, "headers": {"X-T": token}}
    config = incident_config({"pager": {"webhook": hook}})
    notice = IncidentNotice(
        kind="page", channel="pager", key="page:3:0:pager:ana", incident=_declare(engine)
    )
    _emit(engine, config, clock, notice)
    with engine.connect() as conn:
        [payload] = conn.scalars(sa.select(notification.c.payload))
    stored = json.dumps(payload)
    assert HMAC_SECRET not in stored
    assert token not in stored
