"""Runbook runs: ``runbook_run`` (one run: trigger, parameters with secrets masked, state),
``runbook_run_step`` (each step's state and masked outcome, in order) and ``runbook_approval``
(another person's approval of a step, bound to its digest and the parameters' digest).

Revision ID: 4ce80e03009a
Revises: 3f6c8e1a5b7d
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "4ce80e03009a"
down_revision: str | None = "3f6c8e1a5b7d"
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _at() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Types are spelled out, not imported, so this file keeps describing the schema of its date.
    op.create_table(
        "runbook_run",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("runbook", sa.String(200), nullable=False),
        sa.Column("runbook_digest", sa.String(64), nullable=False),
        sa.Column("trigger_kind", sa.String(16), nullable=False),
        sa.Column("trigger_detail", sa.String(500), nullable=False),
        sa.Column("incident_id", _id(), nullable=True),
        sa.Column("params", _json(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _at(), nullable=False),
        sa.Column("started_at", _at(), nullable=True),
        sa.Column("ended_at", _at(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_run")),
    )
    op.create_index(op.f("ix_runbook_run_state"), "runbook_run", ["state"])
    op.create_index(op.f("ix_runbook_run_runbook_id"), "runbook_run", ["runbook", "id"])

    op.create_table(
        "runbook_run_step",
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.String(200), nullable=False),
        sa.Column("step_digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("risk", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("confirmed_by", sa.String(200), nullable=True),
        sa.Column("confirmed_at", _at(), nullable=True),
        sa.Column("confirmed_digest", sa.String(64), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("rows", _json(), nullable=True),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("started_at", _at(), nullable=True),
        sa.Column("ended_at", _at(), nullable=True),
        sa.Column("done_by", sa.String(200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runbook_run.id"],
            name=op.f("fk_runbook_run_step_run_id_runbook_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "position", name=op.f("pk_runbook_run_step")),
    )

    op.create_table(
        "runbook_approval",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("run_id", _id(), nullable=False),
        sa.Column("step_id", sa.String(200), nullable=False),
        sa.Column("step_digest", sa.String(64), nullable=False),
        sa.Column("params_digest", sa.String(64), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", _at(), nullable=False),
        sa.Column("expires_at", _at(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", _at(), nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runbook_run.id"],
            name=op.f("fk_runbook_approval_run_id_runbook_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_approval")),
    )
    op.create_index(
        op.f("ix_runbook_approval_run_id_step_id"), "runbook_approval", ["run_id", "step_id"]
    )


def downgrade() -> None:
    op.drop_table("runbook_approval")
    op.drop_table("runbook_run_step")
    op.drop_table("runbook_run")
