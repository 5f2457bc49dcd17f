"""Create check_result, check_rollup, check_state and opsbook_run.

Revision ID: 7c1e0a2b3d4f
Revises: 5a0f3c1e2d4b
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "7c1e0a2b3d4f"
down_revision: str | None = "5a0f3c1e2d4b"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Types are spelled out rather than imported from opsbook so that this file keeps describing
    # the schema as it was on this date, whatever the models become later.
    op.create_table(
        "check_result",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("failed_conditions", _json(), nullable=False),
        sa.Column("values", _json(), nullable=False),
        sa.Column("timings", _json(), nullable=False),
        sa.Column("is_change", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_check_result")),
    )
    op.create_index(
        op.f("ix_check_result_check_id_started_at"), "check_result", ["check_id", "started_at"]
    )
    op.create_index(op.f("ix_check_result_started_at"), "check_result", ["started_at"])
    op.create_table(
        "check_rollup",
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("resolution", sa.String(8), nullable=False),
        sa.Column("bucket_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_up", sa.Integer(), nullable=False),
        sa.Column("n_degraded", sa.Integer(), nullable=False),
        sa.Column("n_down", sa.Integer(), nullable=False),
        sa.Column("up_seconds", sa.Float(), nullable=False),
        sa.Column("degraded_seconds", sa.Float(), nullable=False),
        sa.Column("down_seconds", sa.Float(), nullable=False),
        sa.Column("histogram", _json(), nullable=False),
        sa.Column("latency_sum_ms", sa.Float(), nullable=False),
        sa.Column("latency_max_ms", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "check_id", "resolution", "bucket_start", name=op.f("pk_check_rollup")
        ),
    )
    op.create_index(op.f("ix_check_rollup_bucket_start"), "check_rollup", ["bucket_start"])
    op.create_table(
        "check_state",
        sa.Column("check_id", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_result_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_latency_ms", sa.Float(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("check_id", name=op.f("pk_check_state")),
    )
    op.create_table(
        "opsbook_run",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_opsbook_run")),
    )
    op.create_index(op.f("ix_opsbook_run_started_at"), "opsbook_run", ["started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_opsbook_run_started_at"), table_name="opsbook_run")
    op.drop_table("opsbook_run")
    op.drop_table("check_state")
    op.drop_index(op.f("ix_check_rollup_bucket_start"), table_name="check_rollup")
    op.drop_table("check_rollup")
    op.drop_index(op.f("ix_check_result_started_at"), table_name="check_result")
    op.drop_index(op.f("ix_check_result_check_id_started_at"), table_name="check_result")
    op.drop_table("check_result")
