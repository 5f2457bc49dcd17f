"""The alert engine's ``Emit``: notices become outbox rows in the engine's own transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.alerts.models import AlertNotice
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.config.alerts import Channel
from opsbook.notify import outbox, render
from opsbook.notify.apprise import apprise_payload
from opsbook.notify.smtp import email_payload
from opsbook.notify.tables import notification
from opsbook.notify.webhook import render_alertmanager_payload
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

_KEY_TYPE = notification.c.idempotency_key.type
KEY_LENGTH = _KEY_TYPE.length if isinstance(_KEY_TYPE, sa.String) and _KEY_TYPE.length else 300


def idempotency_key(notice: AlertNotice) -> str:
    """``"<receiver>:<notice key>"``; a key longer than the column (long group labels) is
    replaced by a digest of itself, which is just as stable across retries."""
    key = f"{notice.receiver}:{notice.key}"
    if len(key) <= KEY_LENGTH:
        return key
    return f"{notice.receiver[:100]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


class OutboxEmitter:
    """Implements ``opsbook.alerts.models.Emit``: enqueue each notice for its receiver.

    The rows are written in the caller's ``conn``, so they commit (or roll back) with the alert
    transitions that caused them. A notice whose ``idempotency_key`` is already stored (the
    same pass retried) is skipped. A receiver that names no configured channel is skipped with
    a log line; config validation refuses such a receiver, so this only guards a bug.
    """

    def __init__(self, config: Config, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._config = config
        self._clock = clock

    def __call__(self, conn: Connection, notices: Sequence[AlertNotice]) -> None:
        items: list[outbox.NewNotification] = []
        for notice in notices:
            channel = self._config.channels.get(notice.receiver)
            if channel is None:
                log.warning("notice_for_unknown_channel", channel=notice.receiver, key=notice.key)
                continue
            items.append(
                outbox.NewNotification(
                    channel=notice.receiver,
                    kind="alert",
                    payload=self.payload(channel, notice),
                    idempotency_key=idempotency_key(notice),
                )
            )
        outbox.enqueue_many(conn, items, now=self._clock.now())

    def payload(self, channel: Channel, notice: AlertNotice) -> dict[str, JSONValue]:
        """What is stored for ``channel``: rendered now, so every retry sends the same bytes.

        A channel's own template that fails while rendering (``{{ alerts[9].name }}`` with one
        alert) is logged and replaced by the kind's shipped default: a broken template must
        not lose the page.
        """
        if channel.webhook is not None:
            return render_alertmanager_payload(notice)
        values = render.variables(notice, severities=list(self._config.severities))
        try:
            message = render.render(render.sources(channel.kind, channel.template), values)
        except ValueError as exc:
            log.warning("notification_template_failed", channel=notice.receiver, error=str(exc))
            message = render.render(render.sources(channel.kind, None), values)
        if channel.smtp is not None:
            return email_payload(subject=message.subject, body=message.body, to=channel.smtp.to)
        return apprise_payload(
            title=message.subject, body=message.body, resolved=notice.status == "resolved"
        )
