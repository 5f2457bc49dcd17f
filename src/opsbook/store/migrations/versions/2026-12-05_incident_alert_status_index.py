"""An index on ``incident_alert.alert_status``: the incidents pass looks up the links whose alert
may have resolved since (those the timeline last saw not resolved), a handful, by index instead
of reading every link ever made on every pass (issue 10).

Revision ID: 8a1c5e3f7b2d
Revises: 7f0b4d2e5a6c
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision: str = "8a1c5e3f7b2d"
down_revision: str | None = "7f0b4d2e5a6c"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_incident_alert_alert_status"), "incident_alert", ["alert_status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_incident_alert_alert_status"), table_name="incident_alert")
