"""Indexes for the status page's reads of ``incident`` on every rebuild (statuspage/build.py):
the open incidents and those resolved in the 90 days the page shows (``resolved_at``), and
the most recent ones for ``incidents.json`` (``declared_at, id``, read backwards). Without
them each rebuild read every incident ever declared.

Revision ID: 1e5c7a3f9b2d
Revises: 2b7e4c9a1d6f
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision: str = "1e5c7a3f9b2d"
down_revision: str | None = "2b7e4c9a1d6f"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_incident_resolved_at"), "incident", ["resolved_at"])
    op.create_index(op.f("ix_incident_declared_at_id"), "incident", ["declared_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_declared_at_id"), table_name="incident")
    op.drop_index(op.f("ix_incident_resolved_at"), table_name="incident")
