"""Email through a real SMTP server (aiosmtpd on 127.0.0.1): exact subject, body and recipients;
5xx replies are dead letters with the server's reason, 4xx replies and refused connections are
retried, and the password never shows."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from notify_helpers import T0, make_notice
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.notify import Deliverer, OutboxEmitter, outbox
from opsbook.notify.tables import notification

S = timedelta(seconds=1)
PASSWORD = "smtp-pass-7f3a9c1e55"


@dataclass
class Mailbox:
    """An aiosmtpd handler: records each accepted email; answers DATA from ``replies`` first."""

    received: list[Envelope] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (aiosmtpd calls handle_<SMTP verb>)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.replies:
            return self.replies.pop(0)
        self.received.append(envelope)
        return "250 OK"

    def message(self, i: int = 0) -> EmailMessage:
        content = self.received[i].content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def _config(port: int, **smtp: Any) -> Config:
    spec = {"to": ["oncall@example.com", "lead@example.com"], "from": "opsbook@example.com"}
    return Config.model_validate(
        {
            "service": "shop",
            "channels": {"oncall": {"smtp": {**spec, "port": port, **smtp}}},
        }
    )


def _emit(engine: Engine, config: Config, clock: FrozenClock) -> None:
    with engine.begin() as conn:
        OutboxEmitter(config, clock=clock)(conn, [make_notice()])


def _row(engine: Engine) -> outbox.Notification:
    with engine.connect() as conn:
        [row_id] = conn.scalars(sa.select(notification.c.id))
        return outbox.get_notification(conn, row_id)


BODY = """FIRING: api-down (SEV1), first notification.

FIRING SEV1 api-down
  api down: [STATUS] (500) == 200
  values: status=500, latency_ms=12.5
  since: 2026-11-22 13:09:10 UTC
  runbook: site-down
  https://ops.example.com/alerts/1

Sent by opsbook to oncall at 2026-11-22 13:09:10 UTC.
"""


async def test_an_email_reaches_the_server_with_the_exact_subject_body_and_recipients(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    config = _config(port)
    _emit(engine, config, clock)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    [envelope] = box.received
    assert envelope.mail_from == "opsbook@example.com"
    assert envelope.rcpt_tos == ["oncall@example.com", "lead@example.com"]
    message = box.message()
    assert message["Subject"] == "[FIRING:1] SEV1 api-down"
    assert message["From"] == "opsbook@example.com"
    assert message["To"] == "oncall@example.com, lead@example.com"
    assert message["X-Opsbook-Idempotency-Key"] == 'oncall:oncall:{alertname="api-down"}#1'
    assert message.get_content_type() == "text/plain"
    # SMTP carries lines ending in CRLF (RFC 5321 section 2.3.8).
    assert message.get_content() == BODY.replace("\n", "\r\n")
    row = _row(engine)
    assert (row.state, row.attempts, row.delivered_at, row.last_error) == ("delivered", 1, T0, None)


async def test_a_single_address_is_one_recipient(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    config = _config(port, to="oncall@example.com")
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    assert box.received[0].rcpt_tos == ["oncall@example.com"]


async def test_a_550_reply_is_a_dead_letter_with_the_servers_reason(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.replies.append("550 5.7.1 message rejected as spam")
    config = _config(port)
    _emit(engine, config, clock)
    with capture_logs() as logs:
        await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    reason = f"SMTP 127.0.0.1:{port} answered 550 5.7.1 message rejected as spam"
    assert (row.state, row.attempts, row.dead_at, row.last_error) == ("dead", 1, T0, reason)
    assert [e["reason"] for e in logs if e["event"] == "notification_dead"] == [reason]
    assert box.received == []


async def test_an_email_refused_for_some_recipients_is_sent_to_the_others_and_logged(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.refuse.add("lead@example.com")
    config = _config(port)
    _emit(engine, config, clock)
    with capture_logs() as logs:
        await Deliverer(config, engine, clock=clock).deliver_due()
    assert box.received[0].rcpt_tos == ["oncall@example.com"]
    assert _row(engine).state == "delivered"
    [event] = [e for e in logs if e["event"] == "email_recipients_refused"]
    assert event["refused"] == {"lead@example.com": "550 5.1.1 no such user"}


async def test_every_recipient_refused_is_a_dead_letter(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.refuse.update({"oncall@example.com", "lead@example.com"})
    config = _config(port)
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert (row.state, row.last_error) == (
        "dead",
        f"SMTP 127.0.0.1:{port} refused every recipient: "
        "oncall@example.com: 550 5.1.1 no such user; lead@example.com: 550 5.1.1 no such user",
    )


async def test_a_451_reply_is_retried_and_then_delivered(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    box.replies.append("451 4.3.0 try again later")
    config = _config(port)
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    await deliverer.deliver_due()
    row = _row(engine)
    error = f"SMTP 127.0.0.1:{port} answered 451 4.3.0 try again later"
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, error)
    assert row.due_at > T0
    clock.advance(2 * S)
    assert await deliverer.deliver_due() == 1
    row = _row(engine)
    assert (row.state, row.attempts, row.last_error) == ("delivered", 2, None)
    assert box.message()["Subject"] == "[FIRING:1] SEV1 api-down"


async def test_a_refused_connection_is_retried(engine: Engine, clock: FrozenClock) -> None:
    port = _free_port()
    config = _config(port)
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert row.state == "pending"
    assert row.last_error == f"SMTP 127.0.0.1:{port} failed: Connection refused"


async def test_the_password_never_appears_in_errors_or_logs(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    _, port = mailbox
    # aiosmtpd offers no AUTH without TLS: the login is refused before the password is sent.
    config = _config(port, username="opsbook", password=PASSWORD)
    _emit(engine, config, clock)
    with capture_logs() as logs:
        await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert row.state == "dead"
    assert row.last_error == (
        f"SMTP 127.0.0.1:{port} cannot do what the channel asks: "
        "SMTP AUTH extension not supported by server."
    )
    assert PASSWORD not in repr(logs)
    assert PASSWORD not in repr(config)


async def test_text_no_encoder_takes_is_repaired_and_the_email_delivered(
    engine: Engine, clock: FrozenClock, mailbox: tuple[Mailbox, int]
) -> None:
    # Queued by an older version (or written straight into the store) from a poisoned alert:
    # SQLite keeps a lone surrogate inside JSON. The page must still go out, repaired.
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL cannot store a lone surrogate (its JSONB refuses it)")
    box, port = mailbox
    config = _config(port)
    _emit(engine, config, clock)
    with engine.begin() as conn:
        payload = dict(conn.execute(sa.select(notification.c.payload)).scalar_one())
        payload.update(subject="[FIRING:2] SEV1 x\ud800", body="x\ud800\n" + BODY)
        conn.execute(notification.update().values(payload=payload))
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    message = box.message()
    assert message["Subject"] == "[FIRING:2] SEV1 x\ufffd"
    assert message.get_content().startswith("x\ufffd\r\nFIRING: api-down")
    assert _row(engine).state == "delivered"
