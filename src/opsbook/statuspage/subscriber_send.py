"""Sending subscribers' outbox rows: the deliverer calls these for the ``status_email`` and
``status_webhook`` kinds (``Deliverer(senders=...)``), with its retries, dead letters and
``Idempotency-Key``.

Each send first reads the subscriber: an update for one who unsubscribed (or was deleted) after
it was queued is dropped, not sent, so "nothing more after unsubscribing" holds even for rows
already in the queue. A webhook's URL is read from the store at send time, never copied into
the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import structlog
from sqlalchemy.engine import Engine

from opsbook.config import Config
from opsbook.config.alerts import WebhookChannel
from opsbook.errors import DeliveryError, NotFound
from opsbook.notify import smtp, webhook
from opsbook.notify.outbox import Pending
from opsbook.statuspage.subscribers import (
    EMAIL_KIND,
    WEBHOOK_KIND,
    Subscriber,
    get_subscriber,
    mask_email,
)

log = structlog.get_logger(__name__)

Send = Callable[[aiohttp.ClientSession, Pending], Awaitable[None]]


class SubscriberSender:
    def __init__(self, config: Config, engine: Engine) -> None:
        self._config = config
        self._engine = engine

    def senders(self) -> Mapping[str, Send]:
        """The deliverer's ``senders`` entry for each subscriber kind."""
        return {EMAIL_KIND: self.email, WEBHOOK_KIND: self.webhook}

    def _subscriber(self, item: Pending) -> Subscriber | None:
        found = item.payload.get("subscriber")
        if not isinstance(found, int):
            raise DeliveryError("the notification names no subscriber", permanent=True)
        try:
            with self._engine.connect() as conn:
                return get_subscriber(conn, found)
        except NotFound:
            return None

    async def email(self, _session: aiohttp.ClientSession, item: Pending) -> None:
        subscriber = await asyncio.to_thread(self._subscriber, item)
        is_confirmation = item.payload.get("purpose") == "confirm"
        if (
            subscriber is None
            or subscriber.state == "unsubscribed"
            or (subscriber.state != "active" and not is_confirmation)
        ):
            log.info("status_subscriber_gone", notification=item.id)
            return
        name = self._config.status_page.subscribers.email_channel
        channel = self._config.channels.get(name) if name is not None else None
        if channel is None or channel.smtp is None:
            raise DeliveryError(
                "status_page.subscribers.email_channel names no smtp channel any more",
                permanent=True,
            )
        try:
            await smtp.send(channel.smtp, item.payload, idempotency_key=item.idempotency_key)
        except DeliveryError as exc:
            # The server's reply may quote the address: keep it out of logs and dead letters.
            address = subscriber.email or ""
            message = str(exc).replace(address, mask_email(address)) if address else str(exc)
            raise DeliveryError(message, permanent=exc.permanent) from None

    async def webhook(self, session: aiohttp.ClientSession, item: Pending) -> None:
        subscriber = await asyncio.to_thread(self._subscriber, item)
        if subscriber is None or subscriber.state != "active" or subscriber.url is None:
            log.info("status_subscriber_gone", notification=item.id)
            return
        body = item.payload.get("body")
        if not isinstance(body, str):
            raise DeliveryError("the notification holds no webhook body", permanent=True)
        channel = WebhookChannel.model_validate(
            {
                "url": subscriber.url,
                "timeout": self._config.status_page.subscribers.webhook_timeout,
            }
        )
        await webhook.send(session, channel, body.encode(), idempotency_key=item.idempotency_key)
