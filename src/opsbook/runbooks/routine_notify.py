"""A routine's reminders as outbox rows (``kind`` "routine"), rendered for each channel's kind in
the caller's transaction, so they commit with the run they announce.

The webhook body (``"version": "1"``, ``"type": "routine"``) is a public contract, documented in
docs/runbooks.md ("Routines"): add fields, never rename or remove one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.engine import Connection

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.config.alerts import Channel
from opsbook.notify import outbox
from opsbook.notify.apprise import apprise_payload
from opsbook.notify.emitter import KEY_LENGTH
from opsbook.notify.smtp import email_payload
from opsbook.notify.webhook import rfc3339
from opsbook.runbooks.routines import RoutineNotice
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

VERSION = "1"
KIND = "routine"


def routine_key(notice: RoutineNotice) -> str:
    """One key per routine, due time, reminder and channel: the same reminder never queues
    twice."""
    key = f"routine:{notice.routine}:{rfc3339(notice.due_at)}:{notice.kind}:{notice.channel}"
    if len(key) <= KEY_LENGTH:
        return key
    return f"routine:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


class RoutineEmitter:
    """Implements ``routine_task.EmitRoutine``. A notice for a channel not in the config is
    skipped with a log line (``opsbook check`` names such a channel before it gets here)."""

    def __init__(self, config: Config, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._config = config
        self._clock = clock

    def __call__(self, conn: Connection, notices: Sequence[RoutineNotice]) -> None:
        items = []
        for notice in notices:
            channel = self._config.channels.get(notice.channel)
            if channel is None:
                log.warning(
                    "routine_notice_for_unknown_channel",
                    channel=notice.channel,
                    routine=notice.routine,
                )
                continue
            items.append(
                outbox.NewNotification(
                    channel=notice.channel,
                    kind=KIND,
                    payload=self.payload(channel, notice),
                    idempotency_key=routine_key(notice),
                )
            )
        outbox.enqueue_many(conn, items, now=self._clock.now())

    def payload(self, channel: Channel, notice: RoutineNotice) -> dict[str, JSONValue]:
        if channel.webhook is not None:
            return webhook_body(self._config, notice)
        subject, body = text(self._config, notice)
        if channel.smtp is not None:
            return email_payload(subject=subject, body=body, to=channel.smtp.to)
        return apprise_payload(title=subject, body=body, resolved=False)


def run_link(config: Config, run_id: int) -> str:
    """The run's page (``{public_url}/runs/{id}``, where a person ticks its steps), or "" without
    ``server.public_url``: a bare path is no link in a chat message or an email."""
    base = str(config.server.public_url or "").rstrip("/")
    return f"{base}/runs/{run_id}" if base else ""


def run_api_link(config: Config, run_id: int) -> str:
    """The run as JSON (``{public_url}/api/v1/runs/{id}``), or "" without a public URL."""
    base = str(config.server.public_url or "").rstrip("/")
    return f"{base}/api/v1/runs/{run_id}" if base else ""


def webhook_body(config: Config, notice: RoutineNotice) -> dict[str, JSONValue]:
    return {
        "version": VERSION,
        "type": KIND,
        "event": notice.kind,
        "routine": {"name": notice.routine, "title": notice.title, "timezone": notice.timezone},
        "run": {
            "id": notice.run_id,
            "due_at": rfc3339(notice.due_at),
            "steps_done": notice.steps_done,
            "steps_total": notice.steps_total,
            "url": run_link(config, notice.run_id) or None,
            "api_url": run_api_link(config, notice.run_id) or None,
        },
        "at": rfc3339(notice.at),
    }


def text(config: Config, notice: RoutineNotice) -> tuple[str, str]:
    """The subject and body of a chat or email reminder."""
    due = notice.due_at.astimezone(ZoneInfo(notice.timezone)).strftime("%Y-%m-%d %H:%M")
    when = f"due {due} {notice.timezone}"
    if notice.kind == "opened":
        subject = f"[{config.service}] routine {notice.routine} is due: {notice.title}"
        first = f"Run {notice.run_id} of {notice.routine} is open ({when})."
    else:
        subject = f"[{config.service}] routine {notice.routine} is overdue: {notice.title}"
        first = (
            f"Run {notice.run_id} of {notice.routine} is still open ({when}), "
            f"{notice.steps_done}/{notice.steps_total} steps ticked."
        )
    lines = [
        first,
        f"Tick its steps: opsbook runbook tick {notice.run_id} STEP",
    ]
    link = run_link(config, notice.run_id)
    if link:
        lines.append(link)
    return subject, "\n".join(lines)
