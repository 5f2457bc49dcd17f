"""Escalations and incident notifications: the ``escalation`` table (one row per run of an
escalation policy for an incident, with the timer for its next level), ``notification.incident_id``
(which incident a notification is about, so its delivery lands on that timeline), and
``incident_event.handled_at`` (when the incidents task turned the event into notifications and
escalation changes; events already stored are marked handled, so upgrading sends nothing old).

Revision ID: 6e9a3c1d4f5b
Revises: 5d8f2b0c3e4a
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "6e9a3c1d4f5b"
down_revision: str | None = "5d8f2b0c3e4a"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Types are spelled out, not imported, so this file keeps describing the schema of its date.
    op.create_table(
        "escalation",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("incident_id", _id(), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        _ts("next_at", nullable=True),
        _ts("started_at", nullable=False),
        _ts("ended_at", nullable=True),
        sa.Column("ended_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_escalation_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalation")),
    )
    op.create_index(op.f("ix_escalation_state_next_at"), "escalation", ["state", "next_at"])
    op.create_index(op.f("ix_escalation_incident_id"), "escalation", ["incident_id"])
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("incident_id", _id(), nullable=True))
        batch.create_index(op.f("ix_notification_incident_id"), ["incident_id"])
    with op.batch_alter_table("incident_event") as batch:
        batch.add_column(_ts("handled_at", nullable=True))
        batch.create_index(op.f("ix_incident_event_handled_at"), ["handled_at"])
    op.execute(sa.text("UPDATE incident_event SET handled_at = at WHERE handled_at IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("incident_event") as batch:
        batch.drop_index(op.f("ix_incident_event_handled_at"))
        batch.drop_column("handled_at")
    with op.batch_alter_table("notification") as batch:
        batch.drop_index(op.f("ix_notification_incident_id"))
        batch.drop_column("incident_id")
    op.drop_index(op.f("ix_escalation_incident_id"), table_name="escalation")
    op.drop_index(op.f("ix_escalation_state_next_at"), table_name="escalation")
    op.drop_table("escalation")
