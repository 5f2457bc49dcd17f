"""Create ping.

Revision ID: 8d2f1b3c4e5a
Revises: 7c1e0a2b3d4f
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "8d2f1b3c4e5a"
down_revision: str | None = "7c1e0a2b3d4f"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Types are spelled out, not imported, so this file keeps describing the schema of its date.
    op.create_table(
        "ping",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("exit_status", sa.Integer(), nullable=True),
        sa.Column("rid", sa.String(36), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("remote_addr", sa.String(100), nullable=True),
        sa.Column("user_agent", sa.String(200), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ping")),
    )
    op.create_index(op.f("ix_ping_check_id_id"), "ping", ["check_id", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ping_check_id_id"), table_name="ping")
    op.drop_table("ping")
