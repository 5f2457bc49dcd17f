"""Announcing the page's updates to its subscribers, through the notification outbox.

``announce`` is one pass in one transaction; ``SubscriberTask`` runs it when the store's change
markers move (and every ``REFRESH_EVERY`` besides, for maintenance windows and derived statuses
that move with time alone).

Exactly once: each outbox row's idempotency key is ``status-subscriber:<id>:<update id>``, so
a pass that runs again (a rescan, a crash before the cursor moved, two processes) inserts
nothing new, and the deliverer sends each row with its ``Idempotency-Key``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from opsbook.alerts.maintenance import open_windows
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.incidents.tables import incident_event
from opsbook.notify import outbox
from opsbook.notify.smtp import email_payload
from opsbook.notify.webhook import encode
from opsbook.statuspage.availability import DayHistory
from opsbook.statuspage.build import snapshot_from
from opsbook.statuspage.snapshot import (
    ComponentStatus,
    IncidentUpdate,
    IncidentView,
    Maintenance,
    Snapshot,
)
from opsbook.statuspage.subscriber_payloads import (
    component_body,
    incident_body,
    incident_email,
    maintenance_body,
    maintenance_email,
)
from opsbook.statuspage.subscriber_tables import status_component_state, status_subscriber_cursor
from opsbook.statuspage.subscribers import (
    EMAIL_KIND,
    WEBHOOK_CHANNEL,
    WEBHOOK_KIND,
    Links,
    Subscriber,
    active_subscribers,
)
from opsbook.statuspage.updates import PUBLIC_KINDS
from opsbook.tasks import TaskFailures
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)

TASK = "status-subscribers"
CURSOR = "incident_event"
SETTLE = timedelta(seconds=30)
"""The cursor stays this far behind the newest event: an event whose transaction commits after
a later one's (PostgreSQL hands out ids before commit) is still read, and announced once."""
BATCH = 500
POLL_EVERY = timedelta(seconds=1)
REFRESH_EVERY = timedelta(seconds=30)
MAX_BACKOFF = timedelta(seconds=30)
COMPLETED_FOR = timedelta(hours=1)
"""A maintenance's "completed" is announced for this long after its end, not later: a first pass
(a new server, a first subscriber) does not announce the last month's windows."""


def _cursor(conn: Connection) -> int:
    found = conn.scalar(
        sa.select(status_subscriber_cursor.c.position).where(
            status_subscriber_cursor.c.name == CURSOR
        )
    )
    return int(found or 0)


def _save_cursor(conn: Connection, position: int, *, now: datetime) -> None:
    t = status_subscriber_cursor
    done = conn.execute(
        sa.update(t).where(t.c.name == CURSOR).values(position=position, updated_at=now)
    )
    if done.rowcount == 0:
        conn.execute(sa.insert(t).values(name=CURSOR, position=position, updated_at=now))


def _idle(conn: Connection, *, position: int, top: int, now: datetime) -> None:
    """Nobody to tell: skip the history, and forget the announced statuses, so the first
    subscriber is told of changes after it subscribed, not before."""
    if top > position:
        _save_cursor(conn, top, now=now)
    t = status_component_state
    if conn.scalar(sa.select(t.c.component).limit(1)) is not None:
        conn.execute(sa.delete(t))


def announce(
    conn: Connection, config: Config, *, now: datetime, history: DayHistory | None = None
) -> int:
    """Queue every subscriber's due updates in ``conn``; returns how many rows were queued.

    1. Public timeline events (``updates.PUBLIC_KINDS``) after the cursor, oldest first, at
       most ``BATCH``: for each one the snapshot shows as an update of a published incident,
       an email (to email subscribers) and the incident webhook body (to webhook
       subscribers), for each active subscriber confirmed by the event's time that wants one of
       the incident's or the update's components (or all).
    2. Each public component whose derived status differs from the one last announced: the
       change is claimed by a conditional update of ``status_component_state`` (so one process
       announces it) and its component webhook body queued for webhook subscribers. A component
       seen for the first time is recorded, not announced.
    3. Each maintenance's current status (``_maintenance_items``): its newest update, to email
       and webhook subscribers of its components, once per subscriber by the outbox key.
    4. The cursor moves past the events older than ``SETTLE``.

    Without active subscribers it only moves the cursor to the newest event and forgets the
    announced statuses (``_idle``): no snapshot is built.
    """
    e = incident_event.c
    position = _cursor(conn)
    # Read before the subscribers: an event after this id may be for one confirming now.
    top = int(conn.scalar(sa.select(sa.func.max(e.id))) or 0)
    subscribers = active_subscribers(conn)
    if not subscribers:
        _idle(conn, position=position, top=top, now=now)
        return 0
    events = conn.execute(
        sa.select(e.id, e.incident_id, e.at)
        .where(e.id > position, e.kind.in_(PUBLIC_KINDS))
        .order_by(e.id)
        .limit(BATCH)
    ).all()
    snapshot = snapshot_from(conn, config, now=now, history=history)
    links = Links(conn, config, now=now)
    items: list[outbox.NewNotification] = []
    by_update = {u.id: (x, u) for x in snapshot.incidents for u in x.updates}
    settled, is_settled = position, True
    for event in events:
        is_settled = is_settled and event.at <= now - SETTLE
        if is_settled:
            settled = int(event.id)
        found = by_update.get(f"{event.incident_id}-{event.id}")
        if found is not None:
            items += _incident_items(
                config, snapshot, links, subscribers, found[0], found[1], at=event.at
            )
    items += _component_items(conn, snapshot, links, subscribers, now=now)
    items += _maintenance_items(config, snapshot, links, subscribers, now=now)
    if len(events) == BATCH and is_settled:
        settled = int(events[-1].id)
    if settled != position:
        _save_cursor(conn, settled, now=now)
    inserted = outbox.enqueue_many(conn, items, now=now)
    if inserted:
        log.info("status_subscriber_updates_queued", notifications=len(inserted))
    return len(inserted)


def _incident_items(
    config: Config,
    snapshot: Snapshot,
    links: Links,
    subscribers: list[Subscriber],
    incident: IncidentView,
    update: IncidentUpdate,
    *,
    at: datetime,
) -> list[outbox.NewNotification]:
    touched = [*incident.components, *(a.code for a in update.affected_components or ())]
    names = {c.id: c.name for c in snapshot.components}
    channel = config.status_page.subscribers.email_channel
    items = []
    for s in subscribers:
        if s.confirmed_at is None or s.confirmed_at > at or not s.wants(touched):
            continue
        item = _notice(
            s,
            channel,
            unsubscribe=links.unsubscribe(s.id),
            key=f"status-subscriber:{s.id}:incident:{update.id}",
            email=partial(incident_email, snapshot, incident, update, names=names),
            webhook=partial(incident_body, snapshot, incident),
        )
        if item is not None:
            items.append(item)
    return items


def _notice(
    s: Subscriber,
    channel: str | None,
    *,
    unsubscribe: str,
    key: str,
    email: Callable[..., tuple[str, str]],
    webhook: Callable[..., Any],
) -> outbox.NewNotification | None:
    """One subscriber's notification of an update: ``email(unsubscribe=...)`` gives an email's
    subject and text, ``webhook(unsubscribe=...)`` a webhook's body; None for an email
    subscriber when no email channel is configured."""
    if s.kind == "email":
        if channel is None or s.email is None:
            return None
        subject, body = email(unsubscribe=unsubscribe)
        return _email(channel, s, s.email, subject, body, unsubscribe, key)
    payload: dict[str, JSONValue] = {
        "subscriber": s.id,
        "body": _text(webhook(unsubscribe=unsubscribe)),
    }
    return outbox.NewNotification(WEBHOOK_CHANNEL, WEBHOOK_KIND, payload, key)


def _email(
    channel: str,
    s: Subscriber,
    address: str,
    subject: str,
    body: str,
    unsubscribe: str,
    key: str,
) -> outbox.NewNotification:
    payload: dict[str, JSONValue] = {
        **email_payload(subject=subject, body=body, to=[address]),
        # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs.
        "headers": {
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
        "subscriber": s.id,
        "purpose": "update",
    }
    return outbox.NewNotification(channel, EMAIL_KIND, payload, key)


def _since(maintenance: Maintenance, *, now: datetime) -> datetime | None:
    """Since when the maintenance's current status holds, for announcing it (None: too late
    to announce). "scheduled" holds from when the page first shows the window, which a config
    window does not record, so it counts as holding since now: every subscriber confirmed
    while the window is still ahead is told of it once."""
    if maintenance.status == "scheduled":
        return now
    if maintenance.status == "completed":
        end = maintenance.resolved_at or maintenance.scheduled_until
        return end if now - end <= COMPLETED_FOR else None
    return maintenance.started_at or maintenance.scheduled_for


def _maintenance_items(
    config: Config,
    snapshot: Snapshot,
    links: Links,
    subscribers: list[Subscriber],
    *,
    now: datetime,
) -> list[outbox.NewNotification]:
    """Each shown maintenance's newest update (``scheduled`` while the window is ahead,
    ``in_progress`` while it is open, ``completed`` for ``COMPLETED_FOR`` after) to every active
    subscriber of its components confirmed since that status holds (``_since``). Keyed
    ``status-subscriber:<id>:maintenance:<maintenance id>-<status>``: once per transition."""
    names = {c.id: c.name for c in snapshot.components}
    channel = config.status_page.subscribers.email_channel
    items = []
    for m in snapshot.maintenances:
        since = _since(m, now=now)
        if since is None or not m.updates or m.updates[0].status != m.status:
            continue
        update = m.updates[0]
        for s in subscribers:
            if s.confirmed_at is None or s.confirmed_at > since or not s.wants(m.components):
                continue
            item = _notice(
                s,
                channel,
                unsubscribe=links.unsubscribe(s.id),
                key=f"status-subscriber:{s.id}:maintenance:{update.id}",
                email=partial(maintenance_email, snapshot, m, update, names=names),
                webhook=partial(maintenance_body, snapshot, m),
            )
            if item is not None:
                items.append(item)
    return items


def _component_items(
    conn: Connection,
    snapshot: Snapshot,
    links: Links,
    subscribers: list[Subscriber],
    *,
    now: datetime,
) -> list[outbox.NewNotification]:
    t = status_component_state
    known = {row.component: row for row in conn.execute(sa.select(t))}
    items = []
    for component in snapshot.components:
        seen = known.get(component.id)
        if seen is None:
            with contextlib.suppress(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(
                    sa.insert(t).values(
                        component=component.id, status=component.status, seq=0, changed_at=now
                    )
                )
            continue
        if seen.status == component.status:
            continue
        claimed = conn.execute(
            sa.update(t)
            .where(t.c.component == component.id, t.c.seq == seen.seq)
            .values(status=component.status, seq=seen.seq + 1, changed_at=now)
        )
        if claimed.rowcount != 1:
            continue  # another process announced it
        change_id = f"{component.id}-{seen.seq + 1}"
        old: ComponentStatus = seen.status
        for s in subscribers:
            if s.kind != "webhook" or not s.wants([component.id]):
                continue
            body = component_body(
                snapshot,
                component,
                change_id=change_id,
                old=old,
                at=now,
                unsubscribe=links.unsubscribe(s.id),
            )
            items.append(
                outbox.NewNotification(
                    WEBHOOK_CHANNEL,
                    WEBHOOK_KIND,
                    {"subscriber": s.id, "body": _text(body)},
                    f"status-subscriber:{s.id}:component:{change_id}",
                )
            )
    return items


def _text(body: dict[str, JSONValue]) -> str:
    # Stored as text: PostgreSQL's JSONB would not keep Statuspage's key order, and every
    # retry sends these exact bytes.
    return encode(body).decode()


class SubscriberTask:
    """Runs ``announce`` whenever ``marker`` (the store's change markers, read in the pass's
    connection), the open maintenance windows or the day change, and every
    ``refresh_every`` besides; calls ``after_commit`` when it queued something (the
    deliverer's wake). A failing pass is logged and counted, and retried at the next poll."""

    def __init__(
        self,
        engine: Engine,
        *,
        config: Config,
        clock: Clock = SYSTEM_CLOCK,
        marker: Callable[[Connection], Hashable] = lambda _conn: None,
        after_commit: Callable[[], None] = lambda: None,
        poll_every: timedelta = POLL_EVERY,
        refresh_every: timedelta = REFRESH_EVERY,
        failures: TaskFailures | None = None,
    ) -> None:
        self._engine = engine
        self._config = config
        self._clock = clock
        self._marker = marker
        self._after_commit = after_commit
        self._poll_every = poll_every
        self._refresh_every = refresh_every
        self._failures = failures
        self._history = DayHistory()
        self._last: tuple[Hashable, float] | None = None

    def run_once(self) -> int:
        """One pass when something may have changed (blocking; the store in this thread)."""
        now = self._clock.now()
        mono = self._clock.monotonic()
        with self._engine.begin() as conn:
            windows = tuple((w.name, w.start) for w in open_windows(self._config, now))
            key = (self._marker(conn), windows, now.date())
            last = self._last
            if (
                last is not None
                and last[0] == key
                and mono - last[1] < self._refresh_every.total_seconds()
            ):
                return 0
            queued = announce(conn, self._config, now=now, history=self._history)
        self._last = (key, mono)
        return queued

    async def run(self) -> None:
        failed = 0
        while True:
            try:
                queued = await asyncio.to_thread(self.run_once)
                failed = 0
            except Exception as exc:
                # A store that is down fails every pass: log and count once per backoff step.
                failed += 1
                log.error("status_subscribers_pass_failed", error_type=type(exc).__name__)
                if self._failures is not None:
                    self._failures.item_failed(TASK)
                queued = 0
            if queued:
                self._after_commit()
            wait = self._poll_every * (2 ** min(failed, 5))
            await asyncio.sleep(min(wait, MAX_BACKOFF).total_seconds())
