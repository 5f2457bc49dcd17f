"""Create incident, incident_event and incident_alert.

Revision ID: 4c7e1a9b2d3f
Revises: 9e3a2c4d5f6b
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "4c7e1a9b2d3f"
down_revision: str | None = "9e3a2c4d5f6b"
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
        "incident",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        _ts("declared_at", nullable=False),
        _ts("acknowledged_at", nullable=True),
        _ts("mitigated_at", nullable=True),
        _ts("resolved_at", nullable=True),
        sa.Column("declared_by", sa.String(200), nullable=False),
        sa.Column("commander", sa.String(200), nullable=True),
        sa.Column("comms", sa.String(200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("merged_into", _id(), nullable=True),
        sa.Column("component", sa.String(200), nullable=True),
        sa.Column("root_alert_id", _id(), nullable=True),
        _ts("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident")),
    )
    op.create_index(op.f("ix_incident_status_declared_at"), "incident", ["status", "declared_at"])
    op.create_index(op.f("ix_incident_component"), "incident", ["component"])

    op.create_table(
        "incident_event",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("incident_id", _id(), nullable=False),
        _ts("at", nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", _json(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_event_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_event")),
    )
    op.create_index(
        op.f("ix_incident_event_incident_id_id"), "incident_event", ["incident_id", "id"]
    )

    op.create_table(
        "incident_alert",
        sa.Column("incident_id", _id(), nullable=False),
        sa.Column("alert_id", _id(), nullable=False),
        _ts("linked_at", nullable=False),
        sa.Column("alert_status", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_incident_alert_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("incident_id", "alert_id", name=op.f("pk_incident_alert")),
    )
    op.create_index(op.f("ix_incident_alert_alert_id"), "incident_alert", ["alert_id"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_alert_alert_id"), table_name="incident_alert")
    op.drop_table("incident_alert")
    op.drop_index(op.f("ix_incident_event_incident_id_id"), table_name="incident_event")
    op.drop_table("incident_event")
    op.drop_index(op.f("ix_incident_component"), table_name="incident")
    op.drop_index(op.f("ix_incident_status_declared_at"), table_name="incident")
    op.drop_table("incident")
