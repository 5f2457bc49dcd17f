"""Routines: ``routine_run`` (one row per routine and due time a run was opened for; its
primary key keeps it to one run per due time, across restarts and processes).

Revision ID: 6b1d9e2f4a7c
Revises: 4ce80e03009a
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "6b1d9e2f4a7c"
down_revision: str | None = "4ce80e03009a"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "routine_run",
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("due_at", _at(), nullable=False),
        sa.Column("run_id", _id(), nullable=True),
        sa.Column("opened_at", _at(), nullable=False),
        sa.Column("overdue_at", _at(), nullable=True),
        sa.PrimaryKeyConstraint("runbook", "due_at", name=op.f("pk_routine_run")),
    )


def downgrade() -> None:
    op.drop_table("routine_run")
