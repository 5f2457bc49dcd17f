"""Apprise through its ``json://`` service against a real local receiver: the exact title and
body; a 500 is retried; a URL Apprise does not know is a dead letter; the URL's token never
shows."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from notify_helpers import T0, Answer, Sink, make_alert, make_notice
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from opsbook.alerts.models import AlertStatus
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.notify import Deliverer, OutboxEmitter, outbox
from opsbook.notify.tables import notification

S = timedelta(seconds=1)
TOKEN = "tok-5d1e0a9b7c3f"


def _config(url: str, **channel: Any) -> Config:
    return Config.model_validate(
        {"service": "shop", "channels": {"chat": {"apprise": url, **channel}}}
    )


def _json_url(sink: Sink) -> str:
    return sink.url.replace("http://", "json://") + f"/hooks/{TOKEN}"


def _emit(engine: Engine, config: Config, clock: FrozenClock, **notice: Any) -> None:
    with engine.begin() as conn:
        OutboxEmitter(config, clock=clock)(conn, [make_notice(receiver="chat", **notice)])


def _row(engine: Engine) -> outbox.Notification:
    with engine.connect() as conn:
        [row_id] = conn.scalars(sa.select(notification.c.id))
        return outbox.get_notification(conn, row_id)


CHAT_BODY = """api-down FIRING: api down: [STATUS] (500) == 200
values: status=500, latency_ms=12.5
runbook: site-down
https://ops.example.com/alerts/1"""


async def test_a_notice_reaches_the_service_with_the_exact_title_and_body(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _config(_json_url(sink))
    _emit(engine, config, clock)
    assert await Deliverer(config, engine, clock=clock).deliver_due() == 1
    [got] = sink.received
    assert (got.method, got.path) == ("POST", f"/hooks/{TOKEN}")
    body = got.json()
    assert (body["title"], body["message"], body["type"]) == (
        "[FIRING] SEV1 api-down",
        CHAT_BODY,  # Apprise trims the trailing newline
        "failure",
    )
    row = _row(engine)
    assert (row.state, row.attempts, row.delivered_at) == ("delivered", 1, T0)


async def test_a_resolved_notice_is_a_success_message(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _config(_json_url(sink))
    alert = make_alert(status=AlertStatus.RESOLVED, resolved_at=T0)
    _emit(engine, config, clock, alerts=(alert,), status="resolved")
    await Deliverer(config, engine, clock=clock).deliver_due()
    body = sink.received[0].json()
    assert (body["title"], body["type"]) == ("[RESOLVED] SEV1 api-down", "success")
    assert body["message"].startswith("api-down RESOLVED: api down")


async def test_a_500_is_retried_and_the_token_never_shows(
    engine: Engine, clock: FrozenClock, sink: Sink, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sink.answer(Answer(status=500, text="down"))
    config = _config(_json_url(sink))
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    with capture_logs() as logs:
        await deliverer.deliver_due()
    row = _row(engine)
    error = "apprise json://*** failed (Apprise reports no detail; see its log)"
    assert (row.state, row.attempts, row.last_error) == ("pending", 1, error)
    assert TOKEN not in repr(logs)
    # The test receiver's own access log (aiohttp.access) is not opsbook's.
    records = [r for r in caplog.records if not r.name.startswith("aiohttp")]
    assert any(r.name == "apprise" for r in records)  # Apprise did log, without the token
    assert not [r for r in records if TOKEN in r.getMessage()]
    clock.advance(2 * S)
    assert await deliverer.deliver_due() == 1
    assert _row(engine).state == "delivered"
    assert len(sink.received) == 2
    assert sink.received[0].body == sink.received[1].body


async def test_a_url_apprise_does_not_know_is_a_dead_letter(
    engine: Engine, clock: FrozenClock
) -> None:
    config = _config(f"nosuchservice://{TOKEN}")
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert (row.state, row.last_error) == (
        "dead",
        "apprise nosuchservice://***: Apprise does not understand this URL "
        "(see its wiki for the scheme's form)",
    )


async def test_a_named_template_is_sent(engine: Engine, clock: FrozenClock, sink: Sink) -> None:
    config = _config(_json_url(sink), template="chat-update")
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    body = sink.received[0].json()
    assert (body["title"], body["message"]) == (
        "SEV1 FIRING: api-down",
        "Severity: SEV1\nStatus: FIRING\nImpact: api down: [STATUS] (500) == 200\n"
        "Runbook: site-down\nLink: https://ops.example.com/alerts/1",
    )
