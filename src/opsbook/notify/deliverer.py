"""The delivery worker: claims due notifications from the outbox, sends them, records outcomes.

Delivery is at least once: a crash between a send and its record sends again once the claim's
lease has passed, with the same ``Idempotency-Key`` so receivers that honour it act once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

import aiohttp
import structlog
from sqlalchemy.engine import Engine

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.errors import DeliveryError
from opsbook.notify import apprise, outbox, retry, smtp, webhook
from opsbook.notify.incident_outcome import record_outcome
from opsbook.notify.outbox import Pending
from opsbook.tasks import TaskFailures, finish_then_cancel, set_from_any_thread

log = structlog.get_logger(__name__)
_T = TypeVar("_T")

Send = Callable[[aiohttp.ClientSession, Pending], Awaitable[None]]
"""A sender for rows of one ``kind`` that names no configured channel (status page subscribers):
returns once sent, raises ``DeliveryError`` like the channels do."""

TASK = "delivery"
POLL_EVERY = timedelta(seconds=1)
# Longer than any send can take (2 x the slowest channel's timeout, at least this), so a claim
# only lapses when its worker is gone.
MIN_LEASE = timedelta(minutes=1)
# How long a shutdown lets deliveries in flight finish before it cancels them.
DRAIN_TIMEOUT = timedelta(seconds=5)


class Deliverer:
    """Sends the outbox's notifications through the channels in ``config``.

    ``run()`` loops until cancelled:

    1. Claim due rows, up to the free delivery slots (``concurrency``), in one short
       transaction in a thread; each claim is a lease of ``lease``.
    2. Send each claimed row in its own task over one shared HTTP session.
    3. Record each outcome in its own short transaction: delivered; a retry at the backoff
       time (``retry.after_failure``); or dead, with the reason. A page or incident update's
       delivery or death also goes on its incident's timeline, in that same transaction.
    4. Wait until ``wake()`` is called, a slot frees up, or the next row is due (at most
       ``poll_every``), then go to 1.

    On cancellation it stops claiming, lets deliveries in flight finish for up to
    ``drain_timeout``, then cancels the rest; a cancelled send gives its claim back so a restart
    sends it at once. A store write is never interrupted.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        clock: Clock = SYSTEM_CLOCK,
        concurrency: int = 16,
        batch: int = 100,
        poll_every: timedelta = POLL_EVERY,
        drain_timeout: timedelta = DRAIN_TIMEOUT,
        rng: random.Random | None = None,
        failures: TaskFailures | None = None,
        on_pass: Callable[[BaseException | None], None] = lambda _exc: None,
        senders: Mapping[str, Send] | None = None,
    ) -> None:
        self._config = config
        # Kinds sent by a later stage (given here so notify never imports it).
        self._senders = dict(senders or {})
        # Notifications opsbook itself failed on (not a receiver's refusal), and how each
        # claim went: the server's /metrics and /ready.
        self._failures = failures
        self._on_pass = on_pass
        self._engine = engine
        self._clock = clock
        self._concurrency = max(1, concurrency)
        self._batch = max(1, batch)
        self._poll_every = poll_every
        self._drain_timeout = drain_timeout
        self._rng = rng or random.Random()
        timeouts = [c.webhook.timeout for c in config.channels.values() if c.webhook is not None]
        timeouts += [c.smtp.timeout for c in config.channels.values() if c.smtp is not None]
        self.lease = max(MIN_LEASE, 2 * max(timeouts, default=timedelta()) + timedelta(seconds=30))
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self.waits = 0
        """How many times ``run()`` has gone idle: after this counts up, only ``wake()``, a
        finished delivery or the next due time starts another pass (tests wait for it)."""

    def wake(self) -> None:
        """Look for due notifications now. Safe to call from any thread (the alert engine calls
        it after committing notices, from its worker thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._wake.set()  # not running yet: the first pass sees it
            return
        set_from_any_thread(loop, self._wake)

    async def deliver_due(self) -> int:
        """One pass: claim every due row (up to ``batch``), send them concurrently and record
        each outcome. Returns how many notifications it tried to send."""
        claimed = await self._claim(self._batch)
        if not claimed:
            return 0
        slots = asyncio.Semaphore(self._concurrency)

        async def one(session: aiohttp.ClientSession, item: Pending) -> None:
            async with slots:
                await self._deliver(session, item)

        if self._session is not None:
            await asyncio.gather(*(one(self._session, item) for item in claimed))
        else:
            async with webhook.new_session() as session:
                await asyncio.gather(*(one(session, item) for item in claimed))
        return len(claimed)

    async def run(self) -> None:
        """Deliver until cancelled (see the class docstring)."""
        self._loop = asyncio.get_running_loop()
        inflight: set[asyncio.Task[None]] = set()
        async with webhook.new_session() as session:
            self._session = session
            try:
                while True:
                    free = self._concurrency - len(inflight)
                    if free <= 0:
                        await asyncio.wait(inflight, return_when=asyncio.FIRST_COMPLETED)
                        inflight = {t for t in inflight if not t.done()}
                        continue
                    claimed = await self._claim(free)
                    for item in claimed:
                        inflight.add(asyncio.create_task(self._deliver(session, item)))
                    if len(claimed) == free:
                        continue
                    wait_s = await self._idle_for()
                    self.waits += 1
                    await self._wait(inflight, wait_s=wait_s)
                    inflight = {t for t in inflight if not t.done()}
            finally:
                self._session = None
                await _drain(inflight, grace=self._drain_timeout)

    async def _wait(self, inflight: Collection[asyncio.Task[None]], *, wait_s: float) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait(
                {waiter, *inflight}, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        # Cleared before the next claim, so a wake() during that claim is not lost.
        self._wake.clear()

    async def _idle_for(self) -> float:
        """Seconds until the next row is due, at most ``poll_every``."""
        poll = self._poll_every.total_seconds()
        try:
            now = self._clock.now()
            next_at = await finish_then_cancel(asyncio.to_thread(self._next_due_at))
        except Exception as exc:
            log.warning("notification_next_due_unknown", error_type=type(exc).__name__)
            return poll
        if next_at is None:
            return poll
        return min(poll, max(0.0, (next_at - now).total_seconds()))

    def _next_due_at(self) -> datetime | None:
        with self._engine.connect() as conn:
            return outbox.next_due_at(conn, now=self._clock.now())

    async def _claim(self, limit: int) -> list[Pending]:
        try:
            claimed = await finish_then_cancel(asyncio.to_thread(self._claim_sync, limit))
        except Exception as exc:
            # The store may be briefly unreachable: nothing was claimed, try again next time.
            log.warning("notifications_not_claimed", error_type=type(exc).__name__)
            self._on_pass(exc)
            return []
        self._on_pass(None)
        return claimed

    def _claim_sync(self, limit: int) -> list[Pending]:
        with self._engine.begin() as conn:
            return outbox.claim_due(conn, now=self._clock.now(), limit=limit, lease=self.lease)

    async def _deliver(self, session: aiohttp.ClientSession, item: Pending) -> None:
        error: DeliveryError | None = None
        try:
            await self._send(session, item)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await finish_then_cancel(asyncio.to_thread(self._release, item.id))
            raise
        except DeliveryError as exc:
            error = exc
        except Exception as exc:
            # A bug, not the receiver: keep the row (retried with backoff) and keep delivering.
            log.exception("notification_send_crashed", notification=item.id, channel=item.channel)
            if self._failures is not None:
                self._failures.item_failed(TASK)
            error = DeliveryError(f"opsbook failed while sending ({type(exc).__name__})")
        try:
            await finish_then_cancel(asyncio.to_thread(self._record, item, error))
        except Exception as exc:
            # The claim lapses after the lease and the row is sent again (at least once).
            log.warning(
                "notification_outcome_not_recorded",
                notification=item.id,
                channel=item.channel,
                error_type=type(exc).__name__,
            )

    async def _send(self, session: aiohttp.ClientSession, item: Pending) -> None:
        sender = self._senders.get(item.kind)
        if sender is not None:
            await sender(session, item)
            return
        channel = self._config.channels.get(item.channel)
        if channel is None:
            raise DeliveryError(
                f"channel {item.channel!r} is not in the config any more", permanent=True
            )
        if channel.smtp is not None:
            await smtp.send(channel.smtp, item.payload, idempotency_key=item.idempotency_key)
        elif channel.apprise is not None:
            await apprise.send(channel.apprise, item.payload)
        elif channel.webhook is not None:
            if "version" not in item.payload:
                raise DeliveryError(
                    "the notification was not rendered as a webhook body "
                    "(did the channel change kind?)",
                    permanent=True,
                )
            await webhook.send(
                session,
                channel.webhook,
                webhook.encode(item.payload),
                idempotency_key=item.idempotency_key,
            )

    def _release(self, notification_id: int) -> None:
        with self._engine.begin() as conn:
            outbox.release(conn, [notification_id])

    def _record(self, item: Pending, error: DeliveryError | None) -> None:
        now = self._clock.now()
        decision: retry.Retry | retry.GiveUp | None = None
        with self._engine.begin() as conn:
            if error is None:
                if outbox.mark_delivered(conn, item.id, now=now):
                    record_outcome(conn, item, error=None, now=now)
            else:
                retry_after = error.retry_after if isinstance(error, webhook.WebhookError) else None
                decision = retry.after_failure(
                    error,
                    attempts=item.attempts,
                    now=now,
                    jitter=self._rng.uniform(*retry.JITTER),
                    retry_after=retry_after,
                )
                if isinstance(decision, retry.Retry):
                    outbox.mark_retry(conn, item.id, due_at=decision.due_at, error=decision.error)
                else:
                    if outbox.mark_dead(conn, item.id, reason=decision.reason, now=now):
                        record_outcome(conn, item, error=decision.reason, now=now)
        # Logged after the commit: a line says what the store holds.
        fields = {"notification": item.id, "channel": item.channel, "attempt": item.attempts}
        if decision is None:
            log.info("notification_delivered", **fields)
        elif isinstance(decision, retry.Retry):
            wait_s = round((decision.due_at - now).total_seconds(), 3)
            log.warning("notification_retry", **fields, retry_in_s=wait_s, error=decision.error)
        else:
            log.error("notification_dead", **fields, reason=decision.reason)


async def _drain(tasks: set[asyncio.Task[None]], *, grace: timedelta) -> None:
    if not tasks:
        return
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait(tasks, timeout=grace.total_seconds())
    for task in tasks:
        task.cancel()
    while not all(task.done() for task in tasks):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(tasks)
