"""Create action_item: a postmortem's follow-ups, each with an owner and an optional due day.

Revision ID: 5d8f2b0c3e4a
Revises: 4c7e1a9b2d3f
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "5d8f2b0c3e4a"
down_revision: str | None = "4c7e1a9b2d3f"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _ts(name: str, *, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    # Types are spelled out, not imported, so this file keeps describing the schema of its date.
    op.create_table(
        "action_item",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("incident_id", _id(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        _ts("done_at", nullable=True),
        _ts("created_at", nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
            name=op.f("fk_action_item_incident_id_incident"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_item")),
    )
    op.create_index(op.f("ix_action_item_incident_id"), "action_item", ["incident_id"])
    op.create_index(op.f("ix_action_item_owner_done_at"), "action_item", ["owner", "done_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_action_item_owner_done_at"), table_name="action_item")
    op.drop_index(op.f("ix_action_item_incident_id"), table_name="action_item")
    op.drop_table("action_item")
