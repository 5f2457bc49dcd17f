"""On-call overrides added at run time: ``oncall_override`` (who covers which schedule from when
to when, who added it and why), read by schedule and end time.

Revision ID: 3f6c8e1a5b7d
Revises: 9b2d4f6a8c1e
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "3f6c8e1a5b7d"
down_revision: str | None = "9b2d4f6a8c1e"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # Types are spelled out, not imported, so this file keeps describing the schema of its date.
    op.create_table(
        "oncall_override",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("start_at", _at(), nullable=False),
        sa.Column("end_at", _at(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _at(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_override")),
    )
    op.create_index(
        op.f("ix_oncall_override_schedule_end_at"), "oncall_override", ["schedule", "end_at"]
    )


def downgrade() -> None:
    op.drop_table("oncall_override")
