"""The status page's subscribers, and what the subscriber task has already announced.

``status_subscriber``: one row per email address (unique) or webhook. An email subscriber is
``pending`` until its confirmation link is used, then ``active`` until it unsubscribes
(``unsubscribed``; the row stays, so a new subscription is throttled and confirmed again). Only
the SHA-256 digest of a confirmation token is stored. A webhook's ``url`` is a credential: it is
never shown whole (``webhook.display_url``).

``status_subscriber_cursor``: how far the subscriber task has read the incident timeline.
``status_component_state``: each public component's last announced status and how many
changes were announced (``seq``, part of each change's id), so a change is announced once
across passes, restarts and processes.
"""

from __future__ import annotations

import sqlalchemy as sa

from opsbook.store.metadata import UTCDateTime, id_type, json_type, metadata

status_subscriber = sa.Table(
    "status_subscriber",
    metadata,
    sa.Column("id", id_type(), primary_key=True, autoincrement=True),
    # "email" or "webhook".
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("url", sa.Text(), nullable=True),
    # A list of component ids, or null: every component.
    sa.Column("components", json_type(), nullable=True),
    # What the pending confirmation will set ``components`` to.
    sa.Column("requested_components", json_type(), nullable=True),
    # "pending", "active", "unsubscribed".
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("confirm_token_hash", sa.String(64), nullable=True),
    sa.Column("confirm_expires_at", UTCDateTime(), nullable=True),
    # The throttle: confirmation emails sent since ``confirm_window_at``.
    sa.Column("confirm_window_at", UTCDateTime(), nullable=True),
    sa.Column("confirm_sends", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
    sa.Index(None, "email", unique=True),
    sa.Index(None, "confirm_token_hash", unique=True),
    sa.Index(None, "state", "id"),
)

status_subscriber_cursor = sa.Table(
    "status_subscriber_cursor",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

status_component_state = sa.Table(
    "status_component_state",
    metadata,
    sa.Column("component", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
)
