"""Indexes for ``runbook_run``'s hot reads: an incident's runs, newest first (the incident page,
the approval's channels), and the run an alert's auto-diagnosis started (each diagnostics pass
looks it up per firing alert). Without them both read every run ever recorded.

Revision ID: 5d2a7c9e1f3b
Revises: 6b1d9e2f4a7c
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision: str = "5d2a7c9e1f3b"
down_revision: str | None = "6b1d9e2f4a7c"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_runbook_run_incident_id_id"), "runbook_run", ["incident_id", "id"])
    op.create_index(
        op.f("ix_runbook_run_trigger_kind_trigger_detail"),
        "runbook_run",
        ["trigger_kind", "trigger_detail"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_runbook_run_trigger_kind_trigger_detail"), table_name="runbook_run")
    op.drop_index(op.f("ix_runbook_run_incident_id_id"), table_name="runbook_run")
