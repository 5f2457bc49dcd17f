"""Delivery to a real webhook receiver: exact payload and headers, retries, dead letters, leases.

Time is a ``FrozenClock``: a retry is due when the test moves the clock, and ``deliver_due()`` is
one pass of the worker.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import ssl
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import trustme
from aiohttp import web
from notify_helpers import HMAC_SECRET, T0, Answer, Sink, make_config, make_notice
from sqlalchemy.engine import Engine
from structlog.testing import capture_logs

from opsbook import __version__
from opsbook.alerts.models import AlertNotice
from opsbook.clock import FrozenClock
from opsbook.config import Config
from opsbook.notify import Deliverer, OutboxEmitter, outbox, render_alertmanager_payload
from opsbook.notify.tables import notification
from opsbook.tasks import TaskFailures

S = timedelta(seconds=1)


def _emit(engine: Engine, config: Config, clock: FrozenClock, *notices: AlertNotice) -> None:
    with engine.begin() as conn:
        OutboxEmitter(config, clock=clock)(conn, notices or (make_notice(),))


def _row(engine: Engine) -> outbox.Notification:
    with engine.connect() as conn:
        [row_id] = conn.scalars(sa.select(notification.c.id))
        return outbox.get_notification(conn, row_id)


def _hook(sink: Sink, **spec: Any) -> Config:
    return make_config(oncall={"url": f"{sink.url}/hook", **spec})


def _shown(sink: Sink) -> str:
    return f"POST {sink.url}/***"


async def test_a_notice_reaches_the_webhook_once_with_the_exact_body_and_headers(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _hook(sink, secret=HMAC_SECRET, headers={"X-Team": "core"})
    notice = make_notice()
    _emit(engine, config, clock, notice)
    deliverer = Deliverer(config, engine, clock=clock)
    assert await deliverer.deliver_due() == 1
    assert await deliverer.deliver_due() == 0
    [got] = sink.received
    assert (got.method, got.path) == ("POST", "/hook")
    assert got.json() == render_alertmanager_payload(notice)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"] == f"opsbook/{__version__}"
    assert got.headers["Idempotency-Key"] == 'oncall:oncall:{alertname="api-down"}#1'
    assert got.headers["X-Team"] == "core"
    # The receiver's check, as docs/notifications.md gives it.
    expected = "sha256=" + hmac.new(HMAC_SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-Opsbook-Signature"], expected)
    row = _row(engine)
    assert (row.state, row.attempts, row.delivered_at, row.last_error) == ("delivered", 1, T0, None)


async def test_without_a_secret_nothing_is_signed(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _hook(sink)
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    assert "X-Opsbook-Signature" not in sink.received[0].headers


async def test_configured_headers_never_replace_the_ones_receivers_rely_on(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    headers = {
        "content-type": "text/plain",
        "Idempotency-Key": "mine",
        "X-Opsbook-Signature": "sha256=forged",
        "User-Agent": "shop-notifier/2",
        "Authorization": "Bearer receiver-token-123",
    }
    config = _hook(sink, secret=HMAC_SECRET, headers=headers)
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    got = sink.received[0].headers
    assert got["Content-Type"] == "application/json"
    assert got["Idempotency-Key"] == 'oncall:oncall:{alertname="api-down"}#1'
    assert got["X-Opsbook-Signature"] != "sha256=forged"
    assert got["User-Agent"] == "shop-notifier/2"
    assert got["Authorization"] == "Bearer receiver-token-123"


async def test_a_500_is_retried_with_backoff_and_the_same_idempotency_key(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(500, "database is down"))
    config = _hook(sink)
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    assert await deliverer.deliver_due() == 1
    row = _row(engine)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.last_error == f"{_shown(sink)} answered 500 Internal Server Error: database is down"
    assert T0 + 0.8 * S <= row.due_at <= T0 + 1.2 * S
    clock.advance(0.7 * S)
    assert await deliverer.deliver_due() == 0
    clock.advance(0.5 * S)
    assert await deliverer.deliver_due() == 1
    first, second = sink.received
    assert first.body == second.body
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    row = _row(engine)
    assert (row.state, row.attempts, row.last_error) == ("delivered", 2, None)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(404, "Not Found"), (401, "Unauthorized"), (400, "Bad Request"), (410, "Gone")],
)
async def test_a_4xx_goes_to_dead_letters_at_once_with_the_reason(
    status: int, reason: str, engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(status, "no such hook"))
    config = _hook(sink)
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    with capture_logs() as logs:
        assert await deliverer.deliver_due() == 1
    row = _row(engine)
    message = f"{_shown(sink)} answered {status} {reason}: no such hook"
    assert (row.state, row.attempts, row.dead_at, row.last_error) == ("dead", 1, T0, message)
    assert {"event": "notification_dead", "reason": message}.items() <= logs[-1].items()
    with engine.connect() as conn:
        assert [d.id for d in outbox.list_dead_letters(conn)] == [row.id]
    clock.advance(timedelta(hours=1))
    assert await deliverer.deliver_due() == 0
    assert len(sink.received) == 1


@pytest.mark.parametrize("status", [408, 425, 429, 502, 503, 504])
async def test_statuses_that_mean_not_now_are_retried(
    status: int, engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(status, ""))
    config = _hook(sink)
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert row.state == "pending"
    assert row.last_error is not None and row.last_error.startswith(
        f"{_shown(sink)} answered {status}"
    )


async def test_a_redirect_is_not_followed_and_is_permanent(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(302, "", headers={"Location": "/elsewhere"}))
    config = _hook(sink)
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert row.state == "dead"
    assert row.last_error == (
        f"{_shown(sink)} answered 302 Found (redirects are not followed: configure the final URL)"
    )
    assert len(sink.received) == 1


async def test_retry_after_is_honoured(engine: Engine, clock: FrozenClock, sink: Sink) -> None:
    sink.answer(Answer(429, "slow down", headers={"Retry-After": "30"}))
    config = _hook(sink)
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    await deliverer.deliver_due()
    assert _row(engine).due_at == T0 + 30 * S
    clock.advance(29 * S)
    assert await deliverer.deliver_due() == 0
    clock.advance(1 * S)
    assert await deliverer.deliver_due() == 1
    assert _row(engine).state == "delivered"


async def test_ten_failures_go_to_dead_letters_after_growing_waits(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.always = Answer(503, "maintenance")
    config = _hook(sink)
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    waits: list[timedelta] = []
    for attempt in range(1, 11):
        assert await deliverer.deliver_due() == 1
        row = _row(engine)
        assert row.attempts == attempt
        if attempt < 10:
            assert row.state == "pending"
            waits.append(row.due_at - clock.now())
            clock.advance(row.due_at - clock.now())
    for n, wait in enumerate(waits, start=1):
        nominal = min(S * 2 ** (n - 1), timedelta(minutes=5))
        assert nominal * 0.8 <= wait <= nominal * 1.2, (n, wait)
    row = _row(engine)
    assert row.state == "dead"
    assert row.last_error == (
        f"gave up after 10 attempts: {_shown(sink)} answered 503 Service Unavailable: maintenance"
    )
    assert len(sink.received) == 10
    clock.advance(timedelta(hours=1))
    assert await deliverer.deliver_due() == 0


async def test_a_timeout_is_transient(engine: Engine, clock: FrozenClock, sink: Sink) -> None:
    sink.answer(Answer(200, delay_s=5))
    config = _hook(sink, timeout="200ms")
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert (row.state, row.last_error) == ("pending", f"{_shown(sink)} timed out after 200ms")


async def test_a_refused_connection_is_transient(engine: Engine, clock: FrozenClock) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = make_config(oncall={"url": f"http://127.0.0.1:{port}/hook/T0K3N-in-path"})
    _emit(engine, config, clock)
    await Deliverer(config, engine, clock=clock).deliver_due()
    row = _row(engine)
    assert row.state == "pending"
    assert row.last_error is not None
    assert row.last_error.startswith(f"POST http://127.0.0.1:{port}/*** failed: cannot connect")
    assert "T0K3N" not in row.last_error


async def test_a_lapsed_claim_is_delivered_again(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _hook(sink)
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    # A worker claims the row and dies before sending or recording anything.
    with engine.begin() as conn:
        assert len(outbox.claim_due(conn, now=clock.now(), limit=10, lease=deliverer.lease)) == 1
    assert await deliverer.deliver_due() == 0
    clock.advance(deliverer.lease - S)
    assert await deliverer.deliver_due() == 0
    clock.advance(S)
    assert await deliverer.deliver_due() == 1
    assert len(sink.received) == 1
    row = _row(engine)
    assert (row.state, row.attempts) == ("delivered", 2)


async def test_the_lease_outlasts_the_slowest_channel(engine: Engine, sink: Sink) -> None:
    config = make_config(fast={"url": sink.url}, slow={"url": sink.url, "timeout": "2m"})
    assert Deliverer(config, engine).lease == timedelta(minutes=4, seconds=30)
    assert Deliverer(make_config(), engine).lease == timedelta(minutes=1)


async def test_a_channel_removed_from_the_config_is_a_dead_letter(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    _emit(engine, _hook(sink), clock)
    await Deliverer(make_config(), engine, clock=clock).deliver_due()
    row = _row(engine)
    assert (row.state, row.last_error) == (
        "dead",
        "channel 'oncall' is not in the config any more",
    )
    assert sink.received == []


async def test_webhook_secrets_never_reach_errors_or_logs(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    path_token, query_token = "PathT0ken9f8e7d6c", "QueryT0ken1a2b3c4d"
    header_token = "HeaderT0ken5e6f7a8b"
    config = make_config(
        oncall={
            "url": f"{sink.url}/hook/{path_token}?token={query_token}",
            "secret": HMAC_SECRET,
            "headers": {"Authorization": f"Bearer {header_token}"},
        }
    )
    # The worst receiver: it answers 500 and echoes the request, secrets included.
    sink.answer(Answer(500, echo=True), Answer(401, echo=True))
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock)
    errors = []
    with capture_logs() as logs:
        await deliverer.deliver_due()
        errors.append(_row(engine).last_error)
        clock.advance(2 * S)
        await deliverer.deliver_due()
        errors.append(_row(engine).last_error)
    assert _row(engine).state == "dead"
    assert query_token in sink.received[0].path  # the receiver did get them
    seen = repr(errors) + repr(logs)
    for secret in (path_token, query_token, header_token, HMAC_SECRET):
        assert secret not in seen
    assert all(e is not None and e.startswith(f"{_shown(sink)} answered") for e in errors)


async def test_run_delivers_when_woken_from_another_thread_and_stops_cleanly(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _hook(sink)
    deliverer = Deliverer(config, engine, clock=clock, poll_every=timedelta(hours=1))
    task = asyncio.create_task(deliverer.run())
    # Once it has found nothing to do it sleeps for an hour: only wake() brings it back now.
    while deliverer.waits == 0:  # noqa: ASYNC110 - a counter is the only signal it offers
        await asyncio.sleep(0.01)
    _emit(engine, config, clock)
    await asyncio.to_thread(deliverer.wake)
    await sink.wait_for(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _row(engine).state == "delivered"


async def test_run_sends_notifications_already_due_when_it_starts(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    config = _hook(sink)
    _emit(engine, config, clock, make_notice(sequence=1), make_notice(sequence=2))
    task = asyncio.create_task(Deliverer(config, engine, clock=clock).run())
    await sink.wait_for(2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    keys = sorted(r.headers["Idempotency-Key"] for r in sink.received)
    assert keys == [f'oncall:oncall:{{alertname="api-down"}}#{n}' for n in (1, 2)]


async def test_a_shutdown_mid_send_gives_the_claim_back(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    sink.answer(Answer(200, delay_s=30))
    config = _hook(sink, timeout="1m")
    _emit(engine, config, clock)
    deliverer = Deliverer(config, engine, clock=clock, drain_timeout=timedelta(milliseconds=50))
    task = asyncio.create_task(deliverer.run())
    await sink.wait_for(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    row = _row(engine)
    # Not delivered as far as we know; claimable at once by the next run, attempt not counted.
    assert (row.state, row.attempts) == ("pending", 0)
    with engine.connect() as conn:
        assert outbox.next_due_at(conn, now=clock.now()) == T0


async def test_an_untrusted_certificate_is_named(
    engine: Engine, clock: FrozenClock, sink: Sink
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", sink.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    host, port = runner.addresses[0][:2]
    try:
        config = make_config(oncall={"url": f"https://{host}:{port}/hook"})
        _emit(engine, config, clock)
        await Deliverer(config, engine, clock=clock).deliver_due()
    finally:
        await runner.cleanup()
    row = _row(engine)
    assert row.state == "pending"
    assert row.last_error == (
        f"POST https://{host}:{port}/*** failed: TLS handshake failed "
        "(unable to get local issuer certificate)"
    )
    assert sink.received == []


async def test_a_notification_opsbook_fails_on_is_counted_and_the_claims_reported(
    engine: Engine, clock: FrozenClock, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(payload: object) -> bytes:
        raise KeyError("a renderer bug")

    monkeypatch.setattr("opsbook.notify.webhook.encode", crash)
    config = _hook(sink)
    _emit(engine, config, clock)
    failures = TaskFailures()
    passes: list[BaseException | None] = []
    deliverer = Deliverer(config, engine, clock=clock, failures=failures, on_pass=passes.append)
    assert await deliverer.deliver_due() == 1
    row = _row(engine)
    assert (row.state, row.last_error) == ("pending", "opsbook failed while sending (KeyError)")
    assert failures.items == {"delivery": 1}
    assert passes == [None]  # the claim itself went well
