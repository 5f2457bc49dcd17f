"""The incidents domain's ``EmitIncident``: pages and incident updates become outbox rows in the
caller's transaction, rendered now so every retry sends the same bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection

from opsbook.accounts.links import LINK_TTL, sign, signing_key
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.config.alerts import Channel
from opsbook.incidents.models import IncidentEvent, IncidentNotice
from opsbook.incidents.records import row_to_event
from opsbook.incidents.tables import incident_event
from opsbook.notify import outbox
from opsbook.notify.apprise import apprise_payload
from opsbook.notify.emitter import KEY_LENGTH
from opsbook.notify.incident_render import (
    ACK_ACTION,
    external_url,
    is_update,
    render_incident,
    signed_ack_link,
)
from opsbook.notify.incident_webhook import incident_payload
from opsbook.notify.smtp import email_payload
from opsbook.types import JSONValue

log = structlog.get_logger(__name__)


def incident_key(notice: IncidentNotice) -> str:
    """``notice.key``, or a digest of it when longer than the column (just as stable)."""
    if len(notice.key) <= KEY_LENGTH:
        return notice.key
    return f"{notice.kind}:sha256:{hashlib.sha256(notice.key.encode()).hexdigest()}"


class IncidentEmitter:
    """Implements ``opsbook.incidents.models.EmitIncident``: one outbox row per notice.

    The rows (``kind`` "page" or "incident", ``incident_id`` set) are written in the caller's
    ``conn``, so a page commits with the escalation step that caused it. A notice whose key is
    already stored is skipped; one for a channel not in the config is skipped with a log line.

    Every stored payload carries ``person`` (``{id, name, ...}`` or null): the webhook sends it
    as part of its body, email and chat senders ignore it, and the deliverer names the person
    in the timeline event it writes for the outcome.

    A page to a person carries a signed, single-use acknowledge link (``ack_link``, valid
    ``LINK_TTL``) that acts as that person: one click on a phone, no login. A page to a channel
    named directly (no person) has none, since the link must act as someone; nor does any
    message without ``server.public_url``.
    """

    def __init__(self, config: Config, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._config = config
        self._clock = clock

    def __call__(self, conn: Connection, notices: Sequence[IncidentNotice]) -> None:
        items: list[outbox.NewNotification] = []
        latest: dict[int, IncidentEvent | None] = {}
        diagnoses: dict[int, str] = {}
        key: bytes | None = None
        for notice in notices:
            channel = self._config.channels.get(notice.channel)
            if channel is None:
                log.warning("incident_notice_for_unknown_channel", channel=notice.channel)
                continue
            incident_id = notice.incident.id
            if not is_update(notice.event) and incident_id not in latest:
                latest[incident_id] = latest_update(conn, incident_id)
            if notice.kind == "page" and incident_id not in diagnoses:
                diagnoses[incident_id] = latest_diagnosis(conn, incident_id)
            link = ""
            person = notice.person
            if notice.kind == "page" and person is not None and external_url(self._config):
                key = key if key is not None else signing_key(conn, now=self._clock.now())
                link = self.ack_link(key, incident_id=incident_id, person=person.id)
            items.append(
                outbox.NewNotification(
                    channel=notice.channel,
                    kind=notice.kind,
                    payload=self.payload(
                        channel,
                        notice,
                        latest=latest.get(incident_id),
                        ack_link=link,
                        diagnosis=diagnoses.get(incident_id, ""),
                    ),
                    idempotency_key=incident_key(notice),
                    incident_id=incident_id,
                )
            )
        outbox.enqueue_many(conn, items, now=self._clock.now())

    def ack_link(self, key: bytes, *, incident_id: int, person: str) -> str:
        """``{public_url}/ack/<token>``: acknowledges ``incident_id`` as ``person``, once,
        within ``LINK_TTL``."""
        token = sign(
            key,
            action=ACK_ACTION,
            incident_id=incident_id,
            person=person,
            expires_at=self._clock.now() + LINK_TTL,
        )
        return signed_ack_link(self._config, token)

    def payload(
        self,
        channel: Channel,
        notice: IncidentNotice,
        *,
        latest: IncidentEvent | None = None,
        ack_link: str = "",
        diagnosis: str = "",
    ) -> dict[str, JSONValue]:
        """What is stored for ``channel``: the webhook's JSON body (with ``diagnosis`` when a
        page has one), or a rendered message showing ``ack_link`` (the page's signed
        acknowledge link, "" when none) and ``diagnosis`` (the auto-diagnosis's short form)."""
        if channel.webhook is not None:
            body = incident_payload(self._config, notice)
            return {**body, "diagnosis": diagnosis} if diagnosis else body
        message = render_incident(
            self._config,
            notice,
            now=self._clock.now(),
            latest=latest,
            ack_link=ack_link,
            diagnosis=diagnosis,
        )
        person = notice.person
        meta: JSONValue = {"id": person.id, "name": person.name} if person else None
        if channel.smtp is not None:
            # A page goes to the paged person's own address when they have one.
            to = [person.email] if notice.kind == "page" and person and person.email else None
            payload = email_payload(
                subject=message.subject, body=message.body, to=to or channel.smtp.to
            )
        else:
            resolved = notice.kind == "incident" and not notice.incident.is_open
            payload = apprise_payload(title=message.subject, body=message.body, resolved=resolved)
        return {**payload, "person": meta}


def latest_update(conn: Connection, incident_id: int) -> IncidentEvent | None:
    """The incident's most recent status event, the ``update`` a non-update notice shows."""
    t = incident_event
    row = conn.execute(
        sa.select(t)
        .where(t.c.incident_id == incident_id, t.c.kind == "status")
        .order_by(t.c.at.desc(), t.c.id.desc())
        .limit(1)
    ).one_or_none()
    return row_to_event(row) if row is not None else None


def latest_diagnosis(conn: Connection, incident_id: int) -> str:
    """The short form of the incident's latest auto-diagnosis (``runbooks.diagnostics``), ""
    when none finished yet."""
    t = incident_event
    message = conn.execute(
        sa.select(t.c.message)
        .where(t.c.incident_id == incident_id, t.c.kind == "diagnosis")
        .order_by(t.c.at.desc(), t.c.id.desc())
        .limit(1)
    ).scalar()
    return str(message or "")
