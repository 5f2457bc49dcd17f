"""Create alert, alert_event, silence, alert_group and notification.

Revision ID: 9e3a2c4d5f6b
Revises: 8d2f1b3c4e5a
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "9e3a2c4d5f6b"
down_revision: str | None = "8d2f1b3c4e5a"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Types are spelled out, not imported, so this file keeps describing the schema of its date.
    op.create_table(
        "alert",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("open_key", sa.String(64), nullable=True),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(200), nullable=True),
        sa.Column("integration", sa.String(200), nullable=True),
        sa.Column("dedup_key", sa.String(255), nullable=True),
        sa.Column("check_id", sa.String(200), nullable=True),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("annotations", _json(), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("started_at", nullable=False),
        _ts("fired_at", nullable=True),
        _ts("resolved_at", nullable=True),
        _ts("ends_at", nullable=True),
        _ts("last_seen_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.Column("values", _json(), nullable=False),
        sa.Column("true_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("false_count", sa.Integer(), server_default="0", nullable=False),
        _ts("false_since", nullable=True),
        sa.Column("flapping", sa.Boolean(), server_default=sa.false(), nullable=False),
        _ts("acknowledged_at", nullable=True),
        sa.Column("suppressed_by", _id(), nullable=True),
        sa.Column("suppressed_reason", sa.Text(), nullable=True),
        sa.Column("silenced_by", _json(), nullable=False),
        sa.Column("maintenance", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.UniqueConstraint("open_key", name=op.f("uq_alert_open_key")),
    )
    op.create_index(op.f("ix_alert_status_updated_at"), "alert", ["status", "updated_at"])
    op.create_index(op.f("ix_alert_fingerprint_started_at"), "alert", ["fingerprint", "started_at"])
    op.create_index(op.f("ix_alert_rule"), "alert", ["rule"])

    op.create_table(
        "alert_event",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("alert_id", _id(), nullable=False),
        _ts("at", nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=True),
        sa.Column("values", _json(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alert.id"],
            name=op.f("fk_alert_event_alert_id_alert"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_event")),
    )
    op.create_index(op.f("ix_alert_event_alert_id_id"), "alert_event", ["alert_id", "id"])
    op.create_index(op.f("ix_alert_event_at"), "alert_event", ["at"])

    op.create_table(
        "silence",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("matchers", _json(), nullable=False),
        _ts("starts_at", nullable=False),
        _ts("ends_at", nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _ts("created_at", nullable=False),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silence")),
    )
    op.create_index(op.f("ix_silence_ends_at"), "silence", ["ends_at"])

    op.create_table(
        "alert_group",
        sa.Column("group_key", sa.String(500), nullable=False),
        sa.Column("receivers", _json(), nullable=False),
        sa.Column("group_labels", _json(), nullable=False),
        sa.Column("notified_firing", _json(), nullable=False),
        sa.Column("notified_resolved", _json(), nullable=False),
        _ts("first_seen_at", nullable=False),
        _ts("last_notified_at", nullable=True),
        sa.Column("sequence", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("group_key", name=op.f("pk_alert_group")),
    )

    op.create_table(
        "notification",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _ts("created_at", nullable=False),
        _ts("due_at", nullable=False),
        _ts("claimed_until", nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _ts("delivered_at", nullable=True),
        _ts("dead_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_idempotency_key")),
    )
    op.create_index(op.f("ix_notification_state_due_at"), "notification", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_notification_state_due_at"), table_name="notification")
    op.drop_table("notification")
    op.drop_table("alert_group")
    op.drop_index(op.f("ix_silence_ends_at"), table_name="silence")
    op.drop_table("silence")
    op.drop_index(op.f("ix_alert_event_at"), table_name="alert_event")
    op.drop_index(op.f("ix_alert_event_alert_id_id"), table_name="alert_event")
    op.drop_table("alert_event")
    op.drop_index(op.f("ix_alert_rule"), table_name="alert")
    op.drop_index(op.f("ix_alert_fingerprint_started_at"), table_name="alert")
    op.drop_index(op.f("ix_alert_status_updated_at"), table_name="alert")
    op.drop_table("alert")
