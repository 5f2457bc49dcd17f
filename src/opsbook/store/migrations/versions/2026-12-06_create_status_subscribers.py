"""Status page subscribers (issue 14): ``status_subscriber`` (email, double opt-in, and webhook
subscribers), ``status_subscriber_cursor`` (how far the incident timeline was announced) and
``status_component_state`` (each component's last announced status).

Revision ID: 2b7e4c9a1d6f
Revises: 5d2a7c9e1f3b
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2b7e4c9a1d6f"
down_revision: str | None = "5d2a7c9e1f3b"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "status_subscriber",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("components", _json(), nullable=True),
        sa.Column("requested_components", _json(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("confirm_token_hash", sa.String(64), nullable=True),
        sa.Column("confirm_expires_at", _at(), nullable=True),
        sa.Column("confirm_window_at", _at(), nullable=True),
        sa.Column("confirm_sends", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", _at(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("confirmed_at", _at(), nullable=True),
        sa.Column("unsubscribed_at", _at(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_subscriber")),
    )
    op.create_index(op.f("ix_status_subscriber_email"), "status_subscriber", ["email"], unique=True)
    op.create_index(
        op.f("ix_status_subscriber_confirm_token_hash"),
        "status_subscriber",
        ["confirm_token_hash"],
        unique=True,
    )
    op.create_index(op.f("ix_status_subscriber_state_id"), "status_subscriber", ["state", "id"])
    op.create_table(
        "status_subscriber_cursor",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", _at(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_status_subscriber_cursor")),
    )
    op.create_table(
        "status_component_state",
        sa.Column("component", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("changed_at", _at(), nullable=False),
        sa.PrimaryKeyConstraint("component", name=op.f("pk_status_component_state")),
    )


def downgrade() -> None:
    op.drop_table("status_component_state")
    op.drop_table("status_subscriber_cursor")
    op.drop_index(op.f("ix_status_subscriber_state_id"), table_name="status_subscriber")
    op.drop_index(op.f("ix_status_subscriber_confirm_token_hash"), table_name="status_subscriber")
    op.drop_index(op.f("ix_status_subscriber_email"), table_name="status_subscriber")
    op.drop_table("status_subscriber")
