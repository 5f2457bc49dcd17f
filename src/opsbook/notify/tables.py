"""The notify domain's tables: the transactional outbox.

A ``notification`` row is inserted in the same transaction as the event that causes it (an
alert transition, later an incident event), so a notification is never lost and never invented.
Delivery workers claim due rows (``state`` pending, ``due_at`` passed, ``claimed_until`` passed),
send, and mark them delivered, or schedule a retry, or move them to ``dead`` with the reason.
``idempotency_key`` is unique: the same event never enqueues twice, and it is sent as the
``Idempotency-Key`` header so receivers that honour it never act twice on a retry.
"""

from __future__ import annotations

import sqlalchemy as sa

from opsbook.store.metadata import UTCDateTime, id_type, json_type, metadata

notification = sa.Table(
    "notification",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    sa.Column("idempotency_key", sa.String(300), nullable=False, unique=True),
    sa.Column("channel", sa.String(200), nullable=False),
    # "alert", "page" (a person paged by an escalation) or "incident" (an incident update).
    sa.Column("kind", sa.String(32), nullable=False),
    # What to send, already rendered for the channel kind (the webhook body, as JSON).
    sa.Column("payload", json_type(), nullable=False),
    # "pending", "delivered", "dead".
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("claimed_until", UTCDateTime(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("delivered_at", UTCDateTime(), nullable=True),
    sa.Column("dead_at", UTCDateTime(), nullable=True),
    # The incident a page or an incident update is about (its delivery goes on that timeline).
    sa.Column("incident_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Index(None, "state", "due_at"),
    sa.Index(None, "incident_id"),
)
