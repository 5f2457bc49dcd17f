"""Subscribers to the status page: email (double opt-in) and webhook, stored in
``status_subscriber``. Every function takes the caller's connection and transaction.

Tokens: a confirmation token is random, sent once by email, stored only as its SHA-256 digest,
expires after ``status_page.subscribers.confirm_within`` and is cleared when used. An unsubscribe
token is ``<id>.<HMAC>`` under a key derived from the store's server key, so every update can
carry one without storing it, and it keeps working for as long as the subscription does.
Neither is ever logged; addresses appear in logs and the audit trail only masked
(``mask_email``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from opsbook.accounts.links import signing_key
from opsbook.config import Config
from opsbook.config.fields import check_channel_url
from opsbook.errors import InputError, NotFound, Throttled
from opsbook.notify import outbox
from opsbook.notify.smtp import email_payload
from opsbook.notify.webhook import display_url
from opsbook.statuspage.build import public_components
from opsbook.statuspage.site import server_url
from opsbook.statuspage.subscriber_tables import status_subscriber
from opsbook.store.audit import record_audit
from opsbook.types import JSONValue

Kind: TypeAlias = Literal["email", "webhook"]
State: TypeAlias = Literal["pending", "active", "unsubscribed"]

EMAIL_KIND = "status_email"
"""The outbox ``kind`` of a subscriber's email (confirmation or update)."""
WEBHOOK_KIND = "status_webhook"
"""The outbox ``kind`` of a webhook subscriber's POST."""
WEBHOOK_CHANNEL = "status-page"
"""The outbox ``channel`` of webhook subscribers' rows (they name no configured channel)."""

THROTTLE_WINDOW = timedelta(hours=1)
MAX_EMAIL_CHARS = 254  # RFC 5321's path limit less the angle brackets
MAX_URL_CHARS = 2000
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_UNSUBSCRIBE_CONTEXT = b"opsbook status-page unsubscribe v1"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A stored subscriber. ``components`` None: every component."""

    id: int
    kind: Kind
    email: str | None
    url: str | None
    components: tuple[str, ...] | None
    state: State
    created_at: datetime
    created_by: str
    confirmed_at: datetime | None

    def wants(self, touched: Sequence[str]) -> bool:
        """Whether an update about ``touched`` components (none: the whole page) is for it."""
        if self.components is None or not touched:
            return True
        return any(c in self.components for c in touched)


def _row(row: Any) -> Subscriber:
    components = row.components
    return Subscriber(
        id=int(row.id),
        kind=row.kind,
        email=row.email,
        url=row.url,
        components=tuple(components) if isinstance(components, list) else None,
        state=row.state,
        created_at=row.created_at,
        created_by=row.created_by,
        confirmed_at=row.confirmed_at,
    )


def mask_email(address: str) -> str:
    """``a***@example.com``: enough to tell two subscribers apart in a log, not to write to."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Validation: every problem is an InputError naming the field, raised before anything is written.


def check_email(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError("email: an email address is required", field="email")
    address = value.strip()
    if len(address) > MAX_EMAIL_CHARS or not _EMAIL.fullmatch(address) or ".." in address:
        raise InputError(
            "email: not an email address (write it as name@example.com)", field="email"
        )
    local, _, domain = address.partition("@")
    # The domain part is case-insensitive (RFC 5321 section 2.4): one row per mailbox.
    return f"{local}@{domain.lower()}"


def check_components(value: object, config: Config) -> tuple[str, ...] | None:
    """``None``, ``"all"`` or an empty list: every component; else a list of public component
    ids (in page order, without repeats)."""
    if value is None or value == "all" or value == []:
        return None
    if isinstance(value, str):
        value = [value]
    public = public_components(config)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InputError('components: give "all" or a list of component ids', field="components")
    for i, name in enumerate(value):
        if name not in public:
            known = ", ".join(public) or "none are public"
            raise InputError(
                f"components[{i}]: no public component by that name (known: {known})",
                field="components",
            )
    return tuple(c for c in public if c in value)


def check_url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError("url: a webhook URL is required", field="url")
    if len(value) > MAX_URL_CHARS:
        raise InputError(f"url: at most {MAX_URL_CHARS} characters", field="url")
    try:
        return check_channel_url(value.strip())
    except ValueError as exc:
        raise InputError(f"url: {exc}", field="url") from None


# Links.


def _unsubscribe_key(conn: Connection, now: datetime) -> bytes:
    return hmac.new(signing_key(conn, now=now), _UNSUBSCRIBE_CONTEXT, hashlib.sha256).digest()


def unsubscribe_token(key: bytes, subscriber_id: int) -> str:
    mac = hmac.new(key, str(subscriber_id).encode(), hashlib.sha256).hexdigest()[:40]
    return f"{subscriber_id}.{mac}"


def _token_subscriber(key: bytes, token: str) -> int | None:
    found, _, _ = token.partition(".")
    if not found.isdigit() or len(found) > 18:
        return None
    expected = unsubscribe_token(key, int(found))
    return int(found) if hmac.compare_digest(expected, token) else None


class Links:
    """The subscribe, confirm and unsubscribe URLs on the server (``site.server_url``: a
    published copy of the page on a static host has none of these routes)."""

    def __init__(self, conn: Connection, config: Config, *, now: datetime) -> None:
        self.base = server_url(config)
        self._key = _unsubscribe_key(conn, now)

    def confirm(self, token: str) -> str:
        return f"{self.base}/status/subscribe/confirm?token={token}"

    def unsubscribe(self, subscriber_id: int) -> str:
        return f"{self.base}/status/unsubscribe?token={unsubscribe_token(self._key, subscriber_id)}"

    def page(self) -> str:
        return f"{self.base}/status"


# Email subscribers.


def _find_email(conn: Connection, address: str) -> Any:
    t = status_subscriber
    return conn.execute(sa.select(t).where(t.c.email == address)).one_or_none()


def subscribe_email(
    conn: Connection,
    *,
    email: object,
    components: object,
    config: Config,
    now: datetime,
    origin: str,
) -> None:
    """Record a subscription request and queue its confirmation email (in ``conn``).

    The answer never says whether the address was known, so the form cannot be used to find
    out who subscribed. An active subscriber asking again gets a new confirmation that, used,
    replaces its components. Raises ``InputError`` (``email``, ``components``), ``NotFound``
    when email subscriptions are off, and ``Throttled`` after
    ``confirmations_per_hour`` confirmation emails to the address within the hour.
    """
    settings = config.status_page.subscribers
    if settings.email_channel is None:
        raise NotFound("this status page takes no email subscribers")
    address = check_email(email)
    wanted = check_components(components, config)
    t = status_subscriber
    row = _find_email(conn, address)
    if row is None:
        inserted = conn.execute(
            sa.insert(t)
            .values(
                kind="email",
                email=address,
                state="pending",
                confirm_sends=0,
                created_at=now,
                created_by=origin[:200],
            )
            .returning(t.c.id)
        )
        subscriber_id = int(inserted.scalar_one())
        window_at, sends, state = now, 0, "pending"
    else:
        subscriber_id = int(row.id)
        window_at, sends, state = row.confirm_window_at, int(row.confirm_sends), row.state
        if window_at is None or window_at <= now - THROTTLE_WINDOW:
            window_at, sends = now, 0
    if sends >= settings.confirmations_per_hour:
        wait = int((window_at + THROTTLE_WINDOW - now).total_seconds()) + 1
        raise Throttled(
            "email: too many confirmation emails to this address; try again later",
            retry_after_s=max(1, wait),
        )
    token = secrets.token_urlsafe(32)
    conn.execute(
        sa.update(t)
        .where(t.c.id == subscriber_id)
        .values(
            state="active" if state == "active" else "pending",
            requested_components=list(wanted) if wanted is not None else None,
            confirm_token_hash=digest(token),
            confirm_expires_at=now + settings.confirm_within,
            confirm_window_at=window_at,
            confirm_sends=sends + 1,
        )
    )
    links = Links(conn, config, now=now)
    title = config.status_page.title or config.service
    shown = ", ".join(config.components[c].name for c in wanted) if wanted else "all components"
    body = (
        f"Someone (hopefully you) asked to receive {title} status updates for {shown} at this "
        f"address.\n\nConfirm the subscription:\n{links.confirm(token)}\n\n"
        f"The link works once, for {_span(settings.confirm_within)}. If you did not ask for "
        "this, ignore this email: nothing will be sent without the confirmation.\n"
    )
    payload: dict[str, JSONValue] = {
        **email_payload(
            subject=f"Confirm your {title} status subscription", body=body, to=[address]
        ),
        "subscriber": subscriber_id,
        "purpose": "confirm",
    }
    outbox.enqueue(
        conn,
        channel=settings.email_channel,
        kind=EMAIL_KIND,
        payload=payload,
        idempotency_key=f"status-subscriber:{subscriber_id}:confirm:{digest(token)[:24]}",
        now=now,
    )
    record_audit(
        conn,
        actor="anonymous",
        action="status_subscriber.subscribe",
        subject=f"status_subscriber:{subscriber_id}",
        detail={"email": mask_email(address), "components": list(wanted) if wanted else "all"},
        origin=origin,
        at=now,
    )


def _span(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    if hours >= 1 and hours == int(hours):
        return f"{int(hours)} hour{'s' if hours != 1 else ''}"
    return f"{int(delta.total_seconds() // 60)} minutes"


def confirm(conn: Connection, *, token: str, now: datetime, origin: str) -> Subscriber:
    """Activate the subscription ``token`` confirms; the token is then used up.

    Raises ``InputError`` (field ``token``) for a token that is unknown, used or expired.
    """
    t = status_subscriber
    row = conn.execute(
        sa.select(t).where(t.c.confirm_token_hash == digest(token or "-"))
    ).one_or_none()
    if row is None or row.confirm_expires_at is None or row.confirm_expires_at <= now:
        raise InputError(
            "token: this confirmation link is not valid (mistyped, expired or already used); "
            "subscribe again to get a new one",
            field="token",
            location="query",
        )
    conn.execute(
        sa.update(t)
        .where(t.c.id == row.id)
        .values(
            state="active",
            components=row.requested_components,
            requested_components=None,
            confirm_token_hash=None,
            confirm_expires_at=None,
            confirmed_at=row.confirmed_at if row.state == "active" else now,
            unsubscribed_at=None,
        )
    )
    record_audit(
        conn,
        actor="anonymous",
        action="status_subscriber.confirm",
        subject=f"status_subscriber:{row.id}",
        detail={"email": mask_email(row.email or "")},
        origin=origin,
        at=now,
    )
    return get_subscriber(conn, int(row.id))


def unsubscribe(conn: Connection, *, token: str, now: datetime, origin: str) -> Subscriber:
    """End the subscription ``token`` names (an email subscriber stays as ``unsubscribed``; a
    webhook subscriber is deleted). Unsubscribing twice is not an error.

    Raises ``InputError`` (field ``token``) for a token that is not one of ours.
    """
    subscriber_id = _token_subscriber(_unsubscribe_key(conn, now), token or "")
    found = _get(conn, subscriber_id) if subscriber_id is not None else None
    if found is None:
        raise InputError(
            "token: this unsubscribe link is not valid (mistyped, or the subscription was deleted)",
            field="token",
            location="query",
        )
    if found.state != "unsubscribed":
        _end(conn, found, actor="anonymous", now=now, origin=origin)
    return found


def _end(conn: Connection, found: Subscriber, *, actor: str, now: datetime, origin: str) -> None:
    t = status_subscriber
    if found.kind == "webhook":
        conn.execute(sa.delete(t).where(t.c.id == found.id))
    else:
        conn.execute(
            sa.update(t)
            .where(t.c.id == found.id)
            .values(
                state="unsubscribed",
                unsubscribed_at=now,
                confirm_token_hash=None,
                confirm_expires_at=None,
            )
        )
    record_audit(
        conn,
        actor=actor,
        action="status_subscriber.unsubscribe",
        subject=f"status_subscriber:{found.id}",
        detail={"kind": found.kind, **_shown(found)},
        origin=origin,
        at=now,
    )


def _shown(found: Subscriber) -> dict[str, JSONValue]:
    if found.kind == "webhook":
        return {"url": display_url(found.url or "")}
    return {"email": mask_email(found.email or "")}


# Webhook subscribers (created by a responder through the API).


def add_webhook(
    conn: Connection,
    *,
    url: object,
    components: object,
    config: Config,
    actor: str,
    now: datetime,
    origin: str,
) -> Subscriber:
    """Add an active webhook subscriber (audited); raises ``InputError`` naming ``url`` or
    ``components`` before anything is written."""
    checked_url = check_url(url)
    wanted = check_components(components, config)
    t = status_subscriber
    subscriber_id = conn.execute(
        sa.insert(t)
        .values(
            kind="webhook",
            url=checked_url,
            components=list(wanted) if wanted is not None else None,
            state="active",
            confirm_sends=0,
            created_at=now,
            created_by=actor,
            confirmed_at=now,
        )
        .returning(t.c.id)
    ).scalar_one()
    found = get_subscriber(conn, int(subscriber_id))
    record_audit(
        conn,
        actor=actor,
        action="status_subscriber.add",
        subject=f"status_subscriber:{found.id}",
        detail={"kind": "webhook", **_shown(found), "components": list(wanted or ["all"])},
        origin=origin,
        at=now,
    )
    return found


def remove_subscriber(
    conn: Connection, subscriber_id: int, *, actor: str, now: datetime, origin: str
) -> None:
    """Delete a webhook subscriber or unsubscribe an email one (audited); raises ``NotFound``."""
    found = get_subscriber(conn, subscriber_id)
    _end(conn, found, actor=actor, now=now, origin=origin)


def _get(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(
        sa.select(status_subscriber).where(status_subscriber.c.id == subscriber_id)
    ).one_or_none()
    return _row(row) if row is not None else None


def get_subscriber(conn: Connection, subscriber_id: int) -> Subscriber:
    found = _get(conn, subscriber_id)
    if found is None:
        raise NotFound(f"no subscriber {subscriber_id}", field="id")
    return found


def list_subscribers(conn: Connection, *, kind: Kind | None = None) -> list[Subscriber]:
    """Subscribers that are pending or active, oldest first."""
    t = status_subscriber
    query = sa.select(t).where(t.c.state.in_(("pending", "active"))).order_by(t.c.id)
    if kind is not None:
        query = query.where(t.c.kind == kind)
    return [_row(row) for row in conn.execute(query)]


def active_subscribers(conn: Connection) -> list[Subscriber]:
    t = status_subscriber
    rows = conn.execute(sa.select(t).where(t.c.state == "active").order_by(t.c.id))
    return [_row(row) for row in rows]
