"""A page by email reaches the paged person's own address (not the channel's ``to``) through a
real SMTP server (aiosmtpd on 127.0.0.1), with the exact subject and body; without an address
of their own, and for incident updates, the channel's ``to`` gets it. Chat channels store the
rendered title and body."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from incident_helpers import ANA, PAGE, incident_config, status_event
from notify_helpers import T0
from sqlalchemy.engine import Engine

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.incidents import service as incidents_service
from opsbook.incidents.models import Incident, IncidentNotice, IncidentStatus
from opsbook.notify import Deliverer, IncidentEmitter
from opsbook.notify.tables import notification


@dataclass
class Inbox:
    """An aiosmtpd handler that accepts and records every email."""

    received: list[Envelope] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 (aiosmtpd calls handle_<SMTP verb>)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(envelope)
        return "250 OK"

    def message(self, i: int = 0) -> EmailMessage:
        content = self.received[i].content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    box = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def _config(port: int, **extra: Any) -> Config:
    mail = {"host": "127.0.0.1", "port": port, "from": "opsbook@example.com"}
    return incident_config(
        {
            "mail": {"smtp": {**mail, "to": ["oncall@example.com"]}},
            "chat": {"apprise": "json://127.0.0.1:9/hook"},
        },
        **extra,
    )


def _declare(engine: Engine) -> Incident:
    with engine.begin() as conn:
        return incidents_service.declare(
            conn,
            title="Payment Processing Delays",
            severity="SEV1",
            actor="user:ana",
            now=T0,
            summary="Payment confirmation emails are delayed.",
        )


def _emit(engine: Engine, config: Config, clock: FrozenClock, *notices: IncidentNotice) -> None:
    with engine.begin() as conn:
        IncidentEmitter(config, clock=clock)(conn, notices)


def _page(incident: Incident, channel: str = "mail", **changes: Any) -> IncidentNotice:
    notice = IncidentNotice(
        kind="page",
        channel=channel,
        key=f"page:3:0:{channel}:ana",
        incident=incident,
        person=ANA,
        page=PAGE,
        at=T0 + timedelta(minutes=2),
    )
    return replace(notice, **changes)


async def test_a_page_goes_to_the_paged_persons_own_address(
    engine: Engine, clock: FrozenClock, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    config = _config(port)
    incident = _declare(engine)
    clock.advance(timedelta(minutes=2))
    _emit(engine, config, clock, _page(incident))
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    [envelope] = box.received
    assert envelope.rcpt_tos == ["ana@example.com"]
    message = box.message()
    assert message["To"] == "ana@example.com"
    assert message["Subject"] == f"PAGE SEV1: Payment Processing Delays (incident {incident.id})"
    assert message["X-Opsbook-Idempotency-Key"] == "page:3:0:mail:ana"
    i = incident.id
    body = (
        f"Ana Lima: you are paged for incident {i}, SEV1 (major outage).\n"
        "\n"
        "Payment Processing Delays\n"
        "Payment confirmation emails are delayed.\n"
        "\n"
        "Status: Investigating for 2m (declared 2026-11-22 13:09:10 UTC)\n"
        "Respond within: 15m\n"
        "Escalation: level 1 (schedule:primary)\n"
        "\n"
        f"Acknowledge: opsbook incident ack {i}\n"
        "or in one click: https://ops.example.com/ack/TOKEN\n"
        f"Details: https://ops.example.com/incidents/{i}\n"
    )
    # SMTP carries lines ending in CRLF (RFC 5321 section 2.3.8). The signed link differs on
    # every page (tests/notify/test_page_ack_link.py checks that it works).
    content = re.sub(r"/ack/[\w.-]+", "/ack/TOKEN", message.get_content())
    assert content == body.replace("\n", "\r\n")


async def test_a_page_to_someone_without_an_address_goes_to_the_channels_to(
    engine: Engine, clock: FrozenClock, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    config = _config(port)
    incident = _declare(engine)
    _emit(engine, config, clock, _page(incident, person=replace(ANA, email=None)))
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    assert box.received[0].rcpt_tos == ["oncall@example.com"]


async def test_an_incident_update_email_goes_to_the_channels_to(
    engine: Engine, clock: FrozenClock, inbox: tuple[Inbox, int]
) -> None:
    box, port = inbox
    config = _config(port)
    incident = _declare(engine)
    event = status_event("identified", "Stripe webhooks fail.", incident_id=incident.id)
    notice = IncidentNotice(
        kind="incident", channel="mail", key="incident:101:mail", incident=incident, event=event
    )
    _emit(engine, config, clock, notice)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    assert box.received[0].rcpt_tos == ["oncall@example.com"]
    message = box.message()
    assert message["Subject"] == (
        f"[Investigating] SEV1 Payment Processing Delays (incident {incident.id})"
    )
    assert "\r\nStripe webhooks fail.\r\n" in message.get_content()


def test_a_chat_channel_stores_the_rendered_title_and_body(
    engine: Engine, clock: FrozenClock
) -> None:
    config = _config(25)
    incident = _declare(engine)
    event = status_event("identified", "Stripe webhooks fail.", incident_id=incident.id)
    notice = IncidentNotice(
        kind="incident", channel="chat", key="incident:101:chat", incident=incident, event=event
    )
    _emit(engine, config, clock, notice)
    with engine.connect() as conn:
        [payload] = conn.scalars(sa.select(notification.c.payload))
    assert payload == {
        "title": "🚨 INCIDENT: Payment Processing Delays",
        "body": "Severity: SEV1\n"
        "Status: Investigating\n"
        "Impact: major outage\n"
        "Updates: Stripe webhooks fail.\n"
        f"https://ops.example.com/incidents/{incident.id}\n"
        "\n"
        "Last updated: 2026-11-22 13:09:10 UTC\n",
        "type": "failure",
        "person": None,
    }


def test_a_resolved_incidents_update_is_a_success_in_chat(
    engine: Engine, clock: FrozenClock
) -> None:
    config = _config(25)
    incident = _declare(engine)
    event = status_event("resolved", "Fixed.", incident_id=incident.id)
    resolved = replace(
        incident, status=IncidentStatus.RESOLVED, resolved_at=T0 + timedelta(minutes=30)
    )
    notice = IncidentNotice(
        kind="incident", channel="chat", key="incident:101:chat", incident=resolved, event=event
    )
    _emit(engine, config, clock, notice)
    with engine.connect() as conn:
        [payload] = conn.scalars(sa.select(notification.c.payload))
    assert payload["type"] == "success"
